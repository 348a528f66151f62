//! The Slack function: slash commands, interactive actions and OAuth install, one
//! [`dd0c_shared::http::HttpHandler`] for Lambda and `dd0c serve`.

mod actions;
mod app;
mod commands;
mod deferral;
pub mod deferred;
mod dispatch;
mod finding_changes;
pub mod function_env;
mod incident_actions;
mod install;
mod modals;
pub mod oauth;
mod pause_command;
mod remediate;
mod reply;
mod stack_command;

pub use app::{SlackApp, SlackSecrets};
pub use oauth::{OAuthAccess, OAuthConfig, OAuthExchange, SlackOAuth};

pub use dd0c_shared::slack::web::{chat_directory_from_env, key_provider_from_env};
