//! `dd0c serve` and `dd0c token`: the embedded pipeline behind a local HTTP server on
//! 127.0.0.1 that exposes every route API Gateway exposes in production, through the same
//! [`HttpHandler`](dd0c_shared::http::HttpHandler)s, plus the static dashboard. See
//! `../shared/CONTRACTS.md`.

pub mod assets;
pub mod chat;
pub mod compose;
pub mod http;
pub mod routing;
pub mod secrets;
pub mod server;
pub mod token;

#[cfg(test)]
mod tests;
