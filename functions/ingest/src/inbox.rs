//! Draining the inbox: the Kinesis stream the ingest rule puts CloudTrail events on, partitioned
//! by account (decision 1060). A batch of EventBridge events becomes the ingest queue's messages,
//! sent ten to a request; the account gate and the checks are [`Ingest::admit`]'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use dd0c_shared::batch::HandlerError;
use dd0c_shared::batch::{dead_letter, process_batch, BatchMessage, BatchOutcome, Failure};
use dd0c_shared::bus::RoutingTable;
use dd0c_shared::queue::{Queue, MAX_RECEIVE_COUNT};
use serde_json::Value;

use crate::{count_metrics, Admitted, Ingest, IngestError, IngestSend};

/// The inbox's logical name (`shared/routing.json`); its dead-letter queue (standard SQS) is
/// `<name>-dlq`.
pub fn inbox_name() -> &'static str {
    &RoutingTable::builtin().ingest_rule.inbox.name
}

impl From<IngestError> for HandlerError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Record(e) => HandlerError::malformed(e),
            IngestError::Queue(e) => e.into(),
            IngestError::Store(e) => e.into(),
        }
    }
}

impl Ingest {
    /// Handles one batch of inbox records, each an EventBridge event. A record that is not an
    /// event goes to the inbox's dead-letter queue with its reason at once; one whose account
    /// link cannot be read, or whose CloudTrail records cannot all be sent, is reported failed:
    /// the stream is read again from the first such record (what was sent after it is dropped
    /// again by its deduplication id), and a message that comes with its last receive (a queue
    /// redelivering) is dead-lettered with the reason instead. Forwarding is all the ingest
    /// function does with a record: the order that matters is the ingest queue's, per account.
    pub async fn handle_inbox(
        &self,
        messages: &[BatchMessage],
        dead_letters: &dyn Queue,
    ) -> BatchOutcome {
        let inbox = inbox_name();
        let standalone: Vec<BatchMessage> = messages
            .iter()
            .map(|m| BatchMessage {
                group_id: m.message_id.clone(),
                ..m.clone()
            })
            .collect();
        let index_of: HashMap<&str, usize> = standalone
            .iter()
            .enumerate()
            .map(|(i, m)| (m.message_id.as_str(), i))
            .collect();
        let admitted: Mutex<Vec<(usize, Admitted)>> = Mutex::new(Vec::new());
        let mut outcome = process_batch(&standalone, inbox, dead_letters, |m| {
            let index = index_of[m.message_id.as_str()];
            let body = m.body.clone();
            let admitted = &admitted;
            async move {
                let event: Value = serde_json::from_str(&body).map_err(|e| {
                    HandlerError::malformed(format!("the inbox message is not a JSON event: {e}"))
                })?;
                let admit = self.admit(event).await?;
                lock(admitted).push((index, admit));
                Ok(())
            }
        })
        .await;

        let admitted = admitted.into_inner().unwrap_or_else(|e| e.into_inner());
        let dropped: usize = admitted.iter().map(|(_, a)| a.dropped).sum();
        let (sources, sends): (Vec<usize>, Vec<IngestSend>) = admitted
            .into_iter()
            .flat_map(|(index, a)| a.messages.into_iter().map(move |m| (index, m)))
            .unzip();
        let results = self.forward_all(sends).await;
        let mut unsent: BTreeMap<usize, IngestError> = BTreeMap::new();
        let mut forwarded = 0;
        for (source, result) in sources.into_iter().zip(results) {
            match result {
                Ok(()) => forwarded += 1,
                Err(e) => {
                    unsent.entry(source).or_insert(e);
                }
            }
        }
        count_metrics(forwarded, dropped);

        for (index, error) in unsent {
            let message = &standalone[index];
            outcome.succeeded.retain(|id| id != &message.message_id);
            let reason = format!("could not forward to the ingest queue: {error}");
            let retry = HandlerError::from(error);
            if !retry.is_permanent() && message.receive_count < MAX_RECEIVE_COUNT {
                tracing::warn!(message_id = %message.message_id, %reason, "inbox message kept for a retry");
                outcome.failures.push(Failure {
                    message_id: message.message_id.clone(),
                    reason,
                });
                continue;
            }
            match dead_letter(dead_letters, inbox, message, &reason).await {
                Ok(()) => outcome.dead_lettered.push(Failure {
                    message_id: message.message_id.clone(),
                    reason,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "dead-lettering failed");
                    outcome.failures.push(Failure {
                        message_id: message.message_id.clone(),
                        reason,
                    });
                }
            }
        }
        outcome
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
