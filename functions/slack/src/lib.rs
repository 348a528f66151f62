//! The Slack function: slash commands, interactive actions and OAuth install, one
//! [`dd0c_shared::http::HttpHandler`] for Lambda and `dd0c serve`.

mod app;
pub mod deferred;
pub mod function_env;
pub mod oauth;

pub use app::{SlackApp, SlackSecrets};
pub use oauth::{OAuthAccess, OAuthConfig, OAuthExchange, SlackOAuth};

pub use dd0c_shared::slack::web::{chat_directory_from_env, key_provider_from_env};
