//! hyper ⇄ [`HttpRequest`]/[`HttpResponse`]: what API Gateway does in production (lower-case
//! headers, raw body bytes, decoded query), plus the body limit and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dd0c_shared::http::{HttpRequest, HttpResponse};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::server::LocalServer;

/// Request bodies above this are refused with 413 (API Gateway's own limit is 10 MB; nothing
/// dd0c accepts comes close to 1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long in-flight requests get to finish after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accepts connections until `shutdown` completes, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    server: Arc<LocalServer>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the others.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let server = server.clone();
                let service = service_fn(move |request| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(answer(server, request, peer).await) }
                });
                let connection = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running at shutdown");
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn answer(
    server: Arc<LocalServer>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let request = match to_http_request(request, peer).await {
        Ok(r) => r,
        Err(problem) => return to_hyper(*problem, &method),
    };
    // A handler that panics must not take the connection down with it: the client gets a 500
    // (and the fuzz test sees it as the bug it is).
    let response = match tokio::spawn(async move { server.handle(request).await }).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(%method, %path, error = %e, "handler panicked");
            HttpResponse::problem(
                500,
                "Internal error",
                "the handler failed; see the server log",
                None,
            )
        }
    };
    tracing::debug!(%method, %path, status = response.status, "request");
    to_hyper(response, &method)
}

async fn to_http_request(
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<HttpRequest, Box<HttpResponse>> {
    let too_large = || {
        Box::new(HttpResponse::problem(
            413,
            "Payload too large",
            &format!("the request body must be at most {MAX_BODY_BYTES} bytes"),
            Some("body"),
        ))
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => {
            return Err(Box::new(HttpResponse::problem(
                400,
                "Bad request",
                &format!("the request body could not be read: {e}"),
                Some("body"),
            )))
        }
    };
    let mut headers = std::collections::BTreeMap::new();
    for (name, value) in &parts.headers {
        // Header names arrive lower-cased from hyper; repeated headers join as API Gateway joins them.
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v: &mut String| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(HttpRequest {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_owned(),
        query: parts
            .uri
            .query()
            .map(HttpRequest::parse_query)
            .unwrap_or_default(),
        headers,
        body,
        source_ip: Some(peer.ip().to_string()),
    })
}

fn to_hyper(response: HttpResponse, method: &str) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = if method == "HEAD" || response.status == 204 || response.status == 304 {
        Bytes::new()
    } else {
        Bytes::from(response.body)
    };
    builder.body(Full::new(body)).unwrap_or_else(|e| {
        // A handler produced a header hyper refuses (e.g. a newline in a value).
        tracing::error!(error = %e, "invalid response");
        let mut r = Response::new(Full::new(Bytes::from_static(
            br#"{"type":"about:blank","title":"Internal error","status":500,"detail":"the handler produced an invalid response"}"#,
        )));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/problem+json"),
        );
        r
    })
}
