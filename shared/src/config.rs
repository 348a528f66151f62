//! Production adapters built once from the environment at cold start. A missing variable
//! is named in the error.

use crate::crypto::kms::KmsKeyProvider;
use crate::crypto::{CryptoError, KeyProvider, TOKEN_KMS_KEY_ENV};
use crate::slack::settings::ChatDirectory;
use std::collections::HashMap;
use std::sync::Arc;

use crate::bus::{Bus, QueueBus, RoutingTable};
use crate::clock::{SharedClock, SystemClock};
use crate::queue::sqs::SqsQueue;
use crate::queue::{dlq_name, Queue};
use crate::store::dynamodb::DynamoDbTable;
use crate::store::Table;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(String),
}

pub fn env(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::Missing(name.to_owned()))
}

/// Everything a function may need. SDK clients are built once and shared.
pub struct AwsAdapters {
    pub sdk: aws_config::SdkConfig,
    pub clock: SharedClock,
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
    pub bus: Arc<dyn Bus>,
}

impl AwsAdapters {
    /// Reads `TABLE_NAME` and, for every queue of the routing table and the ingest inbox,
    /// `QUEUE_URL_<NAME>` / `DLQ_URL_<NAME>` where present (a function has the URLs of the
    /// queues it consumes and of those its events are routed to).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let clock: SharedClock = Arc::new(SystemClock);
        let routing = RoutingTable::builtin().clone();
        let table = DynamoDbTable::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            env("TABLE_NAME")?,
            clock.clone(),
        );
        let mut urls = HashMap::new();
        let inbox = std::iter::once(routing.ingest_rule.inbox.name.as_str());
        for name in routing.queue_names().chain(inbox) {
            let upper = name.to_ascii_uppercase();
            if let Ok(url) = env(&format!("QUEUE_URL_{upper}")) {
                urls.insert(name.to_owned(), url);
            }
            if let Ok(url) = env(&format!("DLQ_URL_{upper}")) {
                urls.insert(dlq_name(name), url);
            }
        }
        let queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), urls));
        let bus = QueueBus::new(routing.clone(), queue.clone(), clock.clone());
        Ok(Self {
            sdk,
            clock,
            table: Arc::new(table),
            queue,
            bus: Arc::new(bus),
        })
    }

    /// What seals Slack bot tokens on Lambda: KMS, with the key `SLACK_TOKEN_KMS_KEY_ID` names
    /// (the CDK stack sets it; a missing one fails the cold start, naming it).
    pub fn token_keys(&self) -> Result<Arc<dyn KeyProvider>, CryptoError> {
        let key_id = env(TOKEN_KMS_KEY_ENV).map_err(|e| CryptoError::Key(e.to_string()))?;
        Ok(Arc::new(KmsKeyProvider::new(&self.sdk, key_id)))
    }

    /// Where alerts go (`slack::web::chat_directory_with_keys`), tokens opened with
    /// [`Self::token_keys`].
    pub fn chat_directory(&self) -> Result<Arc<dyn ChatDirectory>, CryptoError> {
        crate::slack::web::chat_directory_with_keys(self.table.clone(), || self.token_keys())
    }
}
