//! The one routing table (`shared/routing.json`). The bus routes with it and the CDK app
//! generates the infrastructure from the same file.

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
    /// How long the event source mapping gathers a batch (Lambda's MaximumBatchingWindow).
    #[serde(default)]
    pub batching_window_seconds: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IngestRule {
    pub detail_type: String,
    pub function: String,
    /// The FIFO queue the function forwards each admitted record to.
    pub queue: String,
    pub inbox: Inbox,
}

/// The Kinesis stream the ingest rule puts CloudTrail events on, partitioned by account, which
/// the ingest function drains in batches (decision 1060): EventBridge cannot give a FIFO target
/// a message group per account, and a Lambda target is one invocation per event.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Inbox {
    pub name: String,
    pub shards: u32,
    pub batch_size: usize,
    pub batching_window_seconds: f64,
    pub retry_attempts: u32,
    pub consumer_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Route {
    pub detail_type: String,
    pub queue: String,
    pub ordered_by: OrderedBy,
    /// The functions that publish this detail-type: the CDK app lets them send to the queue.
    pub producers: Vec<String>,
}

/// What a route's events are delivered in order by: the message group. Different groups are
/// processed concurrently.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderedBy {
    /// One tenant's AWS account (`<tenant>/<account>`): the order in which its resources changed.
    Account,
    /// One tenant: its alerts and Slack commands, one at a time.
    Tenant,
}

impl OrderedBy {
    pub fn group(self, tenant: &str, account: &str) -> String {
        match self {
            OrderedBy::Account if !account.is_empty() => format!("{tenant}/{account}"),
            _ => tenant.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("routing table is not valid JSON: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("route for {detail_type:?} targets unknown queue {queue:?}")]
    UnknownQueue { detail_type: String, queue: String },
    #[error("detail-type {0:?} is routed more than once")]
    Duplicate(String),
    #[error("route for {0:?} names no producer")]
    NoProducer(String),
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
            if r.producers.is_empty() {
                return Err(RoutingError::NoProducer(r.detail_type.clone()));
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
    fn cost_and_drift_are_ordered_per_account_alerts_per_tenant() {
        let t = RoutingTable::builtin();
        let by = |d: &str| t.route(d).unwrap().ordered_by;
        assert_eq!(by("dd0c.CostEvent"), OrderedBy::Account);
        assert_eq!(by("dd0c.DriftEvent"), OrderedBy::Account);
        assert_eq!(by("dd0c.Finding"), OrderedBy::Tenant);
        assert_eq!(OrderedBy::Account.group("t", "123"), "t/123");
        assert_eq!(OrderedBy::Account.group("t", ""), "t");
        assert_eq!(OrderedBy::Tenant.group("t", "123"), "t");
    }

    #[test]
    fn rejects_a_route_without_producers() {
        let json = ROUTING_JSON.replace("\"producers\": [\"slack\"]", "\"producers\": []");
        assert!(matches!(
            RoutingTable::parse(&json),
            Err(RoutingError::NoProducer(d)) if d == "dd0c.SlackCommand"
        ));
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
