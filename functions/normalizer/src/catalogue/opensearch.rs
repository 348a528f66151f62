//! OpenSearch Service domains (event source `es` or `opensearch`): data nodes plus dedicated
//! master and warm nodes, per instance-hour. EBS storage is not estimated.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing;
use serde_json::Value;

use super::read::{count, flag, get, num, text};
use super::{apply, sum, unknown, Context};

pub fn create_domain(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let config = get(req, "clusterConfig")
        .or_else(|| get(req, "elasticsearchClusterConfig"))
        .unwrap_or(&Value::Null);
    let status = get(resp, "domainStatus").unwrap_or(resp);
    let id = text(status, &["aRN"])
        .or_else(|| text(status, &["arn"]))
        .or_else(|| text(req, &["domainName"]))
        .map(str::to_owned);
    let data_type = text(config, &["instanceType"]);
    let data_count = num(config, &["instanceCount"]).and_then(count).unwrap_or(1);
    let mut parts = Vec::new();
    let mut nodes = data_count;
    match data_type {
        Some(t) => parts.push(pricing::opensearch_instance(t, ctx.region()).times(data_count)),
        None => parts.push(unknown(
            "data node instance type not in the event: price unknown",
        )),
    }
    if flag(config, &["dedicatedMasterEnabled"]) == Some(true) {
        let n = num(config, &["dedicatedMasterCount"])
            .and_then(count)
            .unwrap_or(3);
        nodes += n;
        parts.push(match text(config, &["dedicatedMasterType"]) {
            Some(t) => pricing::opensearch_instance(t, ctx.region()).times(n),
            None => unknown("dedicated master type not in the event: price unknown"),
        });
    }
    if flag(config, &["warmEnabled"]) == Some(true) {
        let n = num(config, &["warmCount"]).and_then(count).unwrap_or(0);
        nodes += n;
        parts.push(match text(config, &["warmType"]) {
            Some(t) => pricing::opensearch_instance(t, ctx.region()).times(n),
            None => unknown("warm node type not in the event: price unknown"),
        });
    }
    let mut event = ctx.event(
        "opensearch",
        "opensearch:domain",
        CostAction::Create,
        id.into_iter().collect(),
        nodes,
    );
    event.sku = data_type.map(str::to_owned);
    apply(&mut event, sum(parts));
    vec![event]
}
