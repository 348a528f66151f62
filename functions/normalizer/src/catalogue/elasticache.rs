//! ElastiCache clusters and replication groups: nodes × node type.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing;

use super::read::{count, get, list, num, text};
use super::{apply, Context};

fn priced(
    ctx: &Context,
    resource_type: &str,
    id: Option<&str>,
    node_type: Option<&str>,
    nodes: u32,
    notes: Vec<String>,
) -> Vec<CostEvent> {
    let mut event = ctx.event(
        "elasticache",
        resource_type,
        CostAction::Create,
        id.map(str::to_owned).into_iter().collect(),
        nodes,
    );
    match node_type {
        Some(t) => {
            event.sku = Some(t.to_owned());
            apply(
                &mut event,
                pricing::elasticache_node(t, ctx.region()).times(nodes),
            );
        }
        None => event
            .pricing_notes
            .push("node type not in the event: price unknown".to_owned()),
    }
    event.pricing_notes.extend(notes);
    vec![event]
}

/// CreateCacheCluster: `numCacheNodes` (default 1) × `cacheNodeType`.
pub fn create_cache_cluster(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let nodes = num(req, &["numCacheNodes"]).and_then(count).unwrap_or(1);
    let node_type = text(req, &["cacheNodeType"]).or_else(|| text(resp, &["cacheNodeType"]));
    let id = text(req, &["cacheClusterId"]).or_else(|| text(resp, &["cacheClusterId"]));
    priced(ctx, "elasticache:cluster", id, node_type, nodes, Vec::new())
}

/// CreateReplicationGroup: `numCacheClusters` nodes, or shards × (replicas + 1) in cluster
/// mode; one primary node when the request names no count (the API default).
pub fn create_replication_group(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let mut notes = Vec::new();
    let node_groups = list(get(req, "nodeGroupConfiguration"));
    let nodes = if let Some(n) = num(req, &["numCacheClusters"]).and_then(count) {
        n
    } else if !node_groups.is_empty() {
        node_groups
            .iter()
            .map(|g| num(g, &["replicaCount"]).and_then(count).unwrap_or(0) + 1)
            .sum()
    } else if let Some(shards) = num(req, &["numNodeGroups"]).and_then(count) {
        let replicas = num(req, &["replicasPerNodeGroup"])
            .and_then(count)
            .unwrap_or(0);
        notes.push(format!(
            "{shards} shards × ({replicas} replicas + 1 primary)"
        ));
        shards * (replicas + 1)
    } else {
        notes.push("no node count in the request: one primary node (the API default)".to_owned());
        1
    };
    let node_type = text(req, &["cacheNodeType"]).or_else(|| text(resp, &["cacheNodeType"]));
    let id = text(req, &["replicationGroupId"]).or_else(|| text(resp, &["replicationGroupId"]));
    priced(
        ctx,
        "elasticache:replication-group",
        id,
        node_type,
        nodes,
        notes,
    )
}
