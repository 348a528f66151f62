//! The one routing table (`shared/routing.json`). The bus adapters route with it and the CDK
//! app generates the infrastructure from the same file.

use std::sync::OnceLock;

use serde::Deserialize;

pub const ROUTING_JSON: &str = include_str!("../../routing.json");

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RoutingTable {
    pub bus_name: String,
    pub internal_source: String,
    pub queues: Vec<QueueSpec>,
    pub ingest_rule: IngestRule,
    pub routes: Vec<Route>,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct QueueSpec {
    pub name: String,
    pub consumer: String,
    pub consumer_timeout_seconds: u64,
    pub batch_size: usize,
    /// On for queues fed by EventBridge rules (EventBridge requires it for FIFO targets).
    #[serde(default)]
    pub content_based_deduplication: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IngestRule {
    pub detail_type: String,
    pub function: String,
    pub queue: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Route {
    pub detail_type: String,
    pub queue: String,
    /// EventBridge SQS targets take one static message group id per rule.
    pub message_group: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("routing table is not valid JSON: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("route for {detail_type:?} targets unknown queue {queue:?}")]
    UnknownQueue { detail_type: String, queue: String },
    #[error("detail-type {0:?} is routed more than once")]
    Duplicate(String),
}

impl RoutingTable {
    pub fn parse(json: &str) -> Result<Self, RoutingError> {
        let table: RoutingTable = serde_json::from_str(json)?;
        let mut seen = std::collections::HashSet::new();
        for r in &table.routes {
            if !table.queues.iter().any(|q| q.name == r.queue) {
                return Err(RoutingError::UnknownQueue {
                    detail_type: r.detail_type.clone(),
                    queue: r.queue.clone(),
                });
            }
            if !seen.insert(r.detail_type.as_str()) {
                return Err(RoutingError::Duplicate(r.detail_type.clone()));
            }
        }
        if !table
            .queues
            .iter()
            .any(|q| q.name == table.ingest_rule.queue)
        {
            return Err(RoutingError::UnknownQueue {
                detail_type: table.ingest_rule.detail_type.clone(),
                queue: table.ingest_rule.queue.clone(),
            });
        }
        Ok(table)
    }

    /// The table compiled into this binary.
    pub fn builtin() -> &'static RoutingTable {
        static TABLE: OnceLock<RoutingTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            RoutingTable::parse(ROUTING_JSON).expect("shared/routing.json is valid")
        })
    }

    pub fn route(&self, detail_type: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.detail_type == detail_type)
    }

    pub fn queue(&self, name: &str) -> Option<&QueueSpec> {
        self.queues.iter().find(|q| q.name == name)
    }

    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(|q| q.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_routes_every_domain_event() {
        let t = RoutingTable::builtin();
        assert_eq!(t.route("dd0c.CostEvent").unwrap().queue, "score");
        assert_eq!(t.route("dd0c.Finding").unwrap().queue, "alerts");
        assert!(t.route("nope").is_none());
        assert_eq!(t.max_receive_count, crate::queue::REDRIVE_RECEIVE_COUNT);
    }

    #[test]
    fn rejects_a_route_to_an_unknown_queue() {
        let json = ROUTING_JSON.replace("\"queue\": \"alerts\"", "\"queue\": \"nowhere\"");
        assert!(matches!(
            RoutingTable::parse(&json),
            Err(RoutingError::UnknownQueue { .. })
        ));
    }
}
