//! Redshift provisioned clusters: nodes × node type.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing;

use super::read::{count, num, text};
use super::{apply, Context};

/// CreateCluster: `numberOfNodes` × `nodeType`; a `single-node` cluster has one node.
pub fn create_cluster(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(req, &["clusterIdentifier"])
        .or_else(|| text(resp, &["clusterIdentifier"]))
        .map(str::to_owned);
    let nodes = num(req, &["numberOfNodes"])
        .or_else(|| num(resp, &["numberOfNodes"]))
        .and_then(count)
        .unwrap_or(1);
    let node_type = text(req, &["nodeType"]).or_else(|| text(resp, &["nodeType"]));
    let mut event = ctx.event(
        "redshift",
        "redshift:cluster",
        CostAction::Create,
        id.into_iter().collect(),
        nodes,
    );
    match node_type {
        Some(t) => {
            event.sku = Some(t.to_owned());
            apply(
                &mut event,
                pricing::redshift_node(t, ctx.region()).times(nodes),
            );
        }
        None => event
            .pricing_notes
            .push("node type not in the event: price unknown".to_owned()),
    }
    vec![event]
}
