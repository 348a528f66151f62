//! Production chat adapters over HTTPS: Slack's Web API (`chat.postMessage`, `chat.update`)
//! with a bot token, and an incoming webhook (`SLACK_WEBHOOK_URL`, post only).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::chat::{ChatError, ChatMessage, ChatSink, Posted};
use crate::crypto::KeyProvider;
use crate::slack::settings::{self, ChatDirectory, InstallationStatus};
use crate::store::Table;

/// Errors that mean the token can never work again: stop, mark the installation broken.
const REVOKED: [&str; 6] = [
    "token_revoked",
    "invalid_auth",
    "account_inactive",
    "not_authed",
    "team_disabled",
    "app_uninstalled",
];

/// Maps one Web API answer to the port's errors: HTTP 429 → `RateLimited` (Retry-After,
/// default 30 s), `ok: false` with a revocation error → `Revoked`, other `ok: false` → `Api`.
pub fn interpret(status: u16, retry_after: Option<&str>, body: &Value) -> Result<Value, ChatError> {
    if status == 429 || body["error"] == "ratelimited" {
        let seconds = retry_after
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(30);
        return Err(ChatError::RateLimited {
            retry_after_seconds: seconds,
        });
    }
    if body["ok"] == true {
        return Ok(body.clone());
    }
    let error = body["error"].as_str().unwrap_or("unknown_error");
    if REVOKED.contains(&error) {
        return Err(ChatError::Revoked(error.to_owned()));
    }
    if status >= 500 {
        return Err(ChatError::Transport(format!("HTTP {status}: {error}")));
    }
    Err(ChatError::Api(error.to_owned()))
}

pub struct SlackWebApi {
    http: reqwest::Client,
    token: String,
    base_url: String,
}

/// Slack's Web API: `SLACK_API_URL` when set (the local cloud's Slack), else slack.com.
pub fn api_base_url() -> String {
    std::env::var("SLACK_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://slack.com/api".into())
}

/// Every call to Slack gives up after this long: a hung connection must not hold a batch
/// until the function times out.
pub fn http_client() -> reqwest::Client {
    crate::http::client(std::time::Duration::from_secs(10))
}

impl SlackWebApi {
    pub fn new(http: reqwest::Client, token: impl Into<String>) -> Self {
        Self {
            http,
            token: token.into(),
            base_url: api_base_url(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    async fn call(&self, method: &str, body: Value) -> Result<Value, ChatError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base_url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| ChatError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        interpret(status, retry_after.as_deref(), &body)
    }
}

fn payload(message: &ChatMessage) -> Value {
    let mut body = json!({
        "channel": message.channel,
        "text": message.text,
        "blocks": message.blocks,
        "unfurl_links": false,
    });
    if let Some(ts) = &message.thread_ts {
        body["thread_ts"] = json!(ts);
    }
    body
}

#[async_trait]
impl ChatSink for SlackWebApi {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let answer = self.call("chat.postMessage", payload(&message)).await?;
        Ok(Posted {
            channel: answer["channel"]
                .as_str()
                .unwrap_or(&message.channel)
                .to_owned(),
            ts: answer["ts"].as_str().unwrap_or_default().to_owned(),
        })
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        let mut body = payload(&message);
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", body).await.map(|_| ())
    }

    async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), ChatError> {
        self.call(
            "views.open",
            json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(|_| ())
    }
}

/// An incoming webhook: posts only (the channel is the webhook's own).
pub struct IncomingWebhook {
    http: reqwest::Client,
    url: String,
}

impl IncomingWebhook {
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
        }
    }
}

#[async_trait]
impl ChatSink for IncomingWebhook {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let response = self
            .http
            .post(&self.url)
            .json(&json!({"text": message.text, "blocks": message.blocks}))
            .send()
            .await
            .map_err(|e| ChatError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        match status {
            200..=299 => Ok(Posted {
                channel: message.channel,
                ts: String::new(),
            }),
            429 => Err(interpret(429, retry_after.as_deref(), &Value::Null).unwrap_err()),
            // Slack answers a deleted webhook with 404/410 and `no_service`/`channel_not_found`.
            403 | 404 | 410 => Err(ChatError::Revoked(text)),
            _ => Err(ChatError::Api(format!("HTTP {status}: {text}"))),
        }
    }

    async fn update(
        &self,
        _channel: &str,
        _ts: &str,
        _message: ChatMessage,
    ) -> Result<(), ChatError> {
        Err(ChatError::Api(
            "incoming webhooks cannot update messages".into(),
        ))
    }
}

/// Each tenant's installed workspace: the installation's sealed bot token, opened per call.
pub struct InstalledSlack {
    table: Arc<dyn Table>,
    keys: Arc<dyn KeyProvider>,
    http: reqwest::Client,
}

impl InstalledSlack {
    pub fn new(table: Arc<dyn Table>, keys: Arc<dyn KeyProvider>, http: reqwest::Client) -> Self {
        Self { table, keys, http }
    }
}

#[async_trait]
impl ChatDirectory for InstalledSlack {
    async fn chat_for(&self, tenant: &str) -> Result<Option<Arc<dyn ChatSink>>, ChatError> {
        let installation = settings::load_installation(self.table.as_ref(), tenant)
            .await
            .map_err(|e| ChatError::Transport(e.to_string()))?;
        let Some(installation) = installation.filter(|i| i.status == InstallationStatus::Active)
        else {
            return Ok(None);
        };
        let sealed: crate::crypto::Sealed = serde_json::from_value(installation.token.clone())
            .map_err(|e| ChatError::Api(format!("stored token unreadable: {e}")))?;
        let token = crate::crypto::open(self.keys.as_ref(), &sealed, tenant)
            .await
            .map_err(|e| ChatError::Transport(e.to_string()))?;
        let token = String::from_utf8(token)
            .map_err(|_| ChatError::Api("stored token is not UTF-8".into()))?;
        let bot = SlackWebApi::new(self.http.clone(), token);
        let webhook = match &installation.webhook {
            Some(sealed) => {
                let sealed: crate::crypto::Sealed = serde_json::from_value(sealed.clone())
                    .map_err(|e| ChatError::Api(format!("stored webhook unreadable: {e}")))?;
                let url = crate::crypto::open(self.keys.as_ref(), &sealed, tenant)
                    .await
                    .map_err(|e| ChatError::Transport(e.to_string()))?;
                String::from_utf8(url)
                    .ok()
                    .map(|url| IncomingWebhook::new(self.http.clone(), url))
            }
            None => None,
        };
        Ok(Some(Arc::new(ChannelFallback {
            bot,
            webhook,
            table: self.table.clone(),
            tenant: tenant.to_owned(),
            had_problem: installation.channel_problem.is_some(),
        })))
    }
}

/// Slack errors that mean "this channel, not this message": the bot is not in it, it is
/// gone or archived, or posting there is restricted.
const CHANNEL_ERRORS: &[&str] = &[
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
];

/// The bot's chat, with the channel chosen at install as a fallback: an alert whose channel the
/// bot cannot post to goes to the install channel's webhook with a notice saying what to fix,
/// and the problem is recorded for the dashboard; no alert is lost to an unset or unjoined
/// channel.
pub struct ChannelFallback {
    bot: SlackWebApi,
    webhook: Option<IncomingWebhook>,
    table: Arc<dyn Table>,
    tenant: String,
    had_problem: bool,
}

/// The notice that heads an alert delivered through the fallback.
pub fn channel_problem_notice(channel: &str, error: &str) -> String {
    let (channel, error) = (
        super::blocks::escape_mrkdwn(channel),
        super::blocks::escape_mrkdwn(error),
    );
    format!(
        ":warning: dd0c could not post to {channel} ({error}). Invite the dd0c app to that \
         channel (`/invite @dd0c`) or choose another channel on the dashboard's Slack page; \
         until then alerts come here."
    )
}

#[async_trait]
impl ChatSink for ChannelFallback {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let channel = message.channel.clone();
        match self.bot.post(message.clone()).await {
            Ok(posted) => {
                if self.had_problem {
                    let now = chrono::Utc::now();
                    if let Err(e) =
                        settings::set_channel_problem(self.table.as_ref(), &self.tenant, None, now)
                            .await
                    {
                        tracing::warn!(error = %e, "could not clear the channel problem");
                    }
                }
                Ok(posted)
            }
            Err(ChatError::Api(error)) if CHANNEL_ERRORS.contains(&error.as_str()) => {
                let Some(webhook) = &self.webhook else {
                    return Err(ChatError::Api(error));
                };
                let notice = channel_problem_notice(&channel, &error);
                tracing::warn!(tenant = %self.tenant, %channel, %error, "alert sent to the install channel instead");
                let problem = format!("{error}: {channel}");
                if let Err(e) = settings::set_channel_problem(
                    self.table.as_ref(),
                    &self.tenant,
                    Some(&problem),
                    chrono::Utc::now(),
                )
                .await
                {
                    tracing::warn!(error = %e, "could not record the channel problem");
                }
                let mut blocks = vec![json!({
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": notice}
                })];
                if let Some(original) = message.blocks.as_array() {
                    blocks.extend(original.iter().cloned());
                }
                let fallback = ChatMessage {
                    text: format!("{notice}\n{}", message.text),
                    blocks: Value::Array(blocks),
                    ..message
                };
                webhook.post(fallback).await
            }
            Err(e) => Err(e),
        }
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.bot.update(channel, ts, message).await
    }

    async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), ChatError> {
        self.bot.open_view(trigger_id, view).await
    }
}

use crate::crypto::{CryptoError, LocalKeyProvider, LOCAL_KEY_ENV};
use crate::slack::settings::SingleChat;

/// The local key that seals Slack tokens: `DD0C_LOCAL_KEY` (64 hex characters). Lambdas use
/// KMS instead (`config::AwsAdapters::token_keys`).
pub fn key_provider_from_env() -> Result<Arc<dyn KeyProvider>, CryptoError> {
    match std::env::var(LOCAL_KEY_ENV) {
        Ok(k) if !k.is_empty() => Ok(Arc::new(LocalKeyProvider::from_hex(&k, "local")?)),
        _ => Err(CryptoError::Key(format!("{LOCAL_KEY_ENV} is not set"))),
    }
}

/// [`chat_directory_with_keys`] with tokens sealed by the local key (`DD0C_LOCAL_KEY`).
pub fn chat_directory_from_env(
    table: Arc<dyn Table>,
) -> Result<Arc<dyn ChatDirectory>, CryptoError> {
    chat_directory_with_keys(table, key_provider_from_env)
}

/// Where alerts go, from the environment: `SLACK_BOT_TOKEN` (one workspace), else
/// `SLACK_WEBHOOK_URL` (one incoming webhook), else each tenant's installation, its token
/// opened with `keys`.
pub fn chat_directory_with_keys(
    table: Arc<dyn Table>,
    keys: impl FnOnce() -> Result<Arc<dyn KeyProvider>, CryptoError>,
) -> Result<Arc<dyn ChatDirectory>, CryptoError> {
    let http = http_client();
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("SLACK_BOT_TOKEN") {
        return Ok(Arc::new(SingleChat(Arc::new(SlackWebApi::new(
            http, token,
        )))));
    }
    if let Some(url) = var("SLACK_WEBHOOK_URL") {
        return Ok(Arc::new(SingleChat(Arc::new(IncomingWebhook::new(
            http, url,
        )))));
    }
    Ok(Arc::new(InstalledSlack::new(table, keys()?, http)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_slack_answers_to_port_errors() {
        assert_eq!(
            interpret(429, Some("17"), &Value::Null),
            Err(ChatError::RateLimited {
                retry_after_seconds: 17
            })
        );
        assert_eq!(
            interpret(429, None, &Value::Null),
            Err(ChatError::RateLimited {
                retry_after_seconds: 30
            })
        );
        assert_eq!(
            interpret(200, None, &json!({"ok": false, "error": "token_revoked"})),
            Err(ChatError::Revoked("token_revoked".into()))
        );
        assert_eq!(
            interpret(
                200,
                None,
                &json!({"ok": false, "error": "channel_not_found"})
            ),
            Err(ChatError::Api("channel_not_found".into()))
        );
        assert!(matches!(
            interpret(503, None, &Value::Null),
            Err(ChatError::Transport(_))
        ));
        assert_eq!(
            interpret(200, None, &json!({"ok": true, "ts": "1.2"})).unwrap()["ts"],
            "1.2"
        );
    }

    #[tokio::test]
    async fn posts_to_a_local_web_api_and_reads_retry_after() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let answer = |status: &str, extra: &str, body: &str| {
                format!("HTTP/1.1 {status}\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            };
            let answers = [
                answer(
                    "429 Too Many Requests",
                    "Retry-After: 9\r\n",
                    r#"{"ok":false,"error":"ratelimited"}"#,
                ),
                answer("200 OK", "", r#"{"ok":true,"channel":"C1","ts":"111.222"}"#),
            ];
            let mut seen = Vec::new();
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 65536];
                let n = socket.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        let api = SlackWebApi::new(http_client(), "xoxb-t").with_base_url(format!("http://{addr}"));
        let msg = ChatMessage {
            channel: "C1".into(),
            text: "hi".into(),
            blocks: json!([]),
            thread_ts: Some("1.0".into()),
        };
        assert_eq!(
            api.post(msg.clone()).await,
            Err(ChatError::RateLimited {
                retry_after_seconds: 9
            })
        );
        assert_eq!(
            api.post(msg).await.unwrap(),
            Posted {
                channel: "C1".into(),
                ts: "111.222".into()
            }
        );
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("POST /chat.postMessage"));
        assert!(seen[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer xoxb-t"));
        assert!(seen[1].contains("\"thread_ts\":\"1.0\""));
    }
}
