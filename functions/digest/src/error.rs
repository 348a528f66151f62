//! What a digest run or tick can fail with.

use dd0c_shared::chat::ChatError;
use dd0c_shared::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The invocation payload is neither a scheduler tick nor a one-tenant run.
    #[error("unexpected invocation: {0}")]
    Payload(String),
    /// Some due digests could not be posted (already logged per tenant); the scheduler's retry
    /// of the same tick posts them, and skips those already sent.
    #[error("digest tick incomplete: {0}")]
    Incomplete(String),
}
