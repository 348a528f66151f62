//! EC2 instances.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::json::{items, str_at};
use dd0c_shared::pricing::{self, Platform, Tenancy};

use super::Context;

/// RunInstances: the type is in the request, or only in the response items when the call
/// used a launch template; the count is the number of instances the response lists.
pub fn run_instances(ctx: &Context) -> Vec<CostEvent> {
    let request = ctx.record.request();
    let response = ctx.record.response();
    let launched = items(response.get("instancesSet"));
    let instance_type = str_at(request, &["instanceType"])
        .or_else(|| launched.iter().find_map(|i| str_at(i, &["instanceType"])));
    let ids: Vec<String> = launched
        .iter()
        .filter_map(|i| str_at(i, &["instanceId"]).map(str::to_owned))
        .collect();
    let count = if launched.is_empty() {
        // No response (rare): fall back to the minimum the request asked for.
        items(request.get("instancesSet"))
            .iter()
            .filter_map(|i| dd0c_shared::json::number_at(i, &["minCount"]))
            .sum::<f64>()
            .max(1.0) as u32
    } else {
        launched.len() as u32
    };
    let spot = str_at(request, &["instanceMarketOptions", "marketType"]) == Some("spot");
    let platform = match launched.iter().find_map(|i| str_at(i, &["platform"])) {
        Some(p) if p.eq_ignore_ascii_case("windows") => Platform::Windows,
        _ => Platform::Linux,
    };
    let tenancy = match launched
        .iter()
        .find_map(|i| str_at(i, &["placement", "tenancy"]))
        .or_else(|| str_at(request, &["placement", "tenancy"]))
    {
        Some("dedicated") | Some("host") => Tenancy::Dedicated,
        _ => Tenancy::Shared,
    };
    let mut event = ctx.event("ec2", "ec2:instance", CostAction::Create, ids, count);
    event.spot = spot;
    match instance_type {
        Some(t) => {
            event.sku = Some(t.to_owned());
            let estimate =
                pricing::ec2_instance(t, &ctx.record.aws_region, platform, tenancy, spot);
            event.hourly_cost = estimate.hourly_usd.map(|h| h * f64::from(count));
            event.pricing_notes = estimate.reasons;
            if count > 1 {
                event
                    .pricing_notes
                    .push(format!("{count} instances launched"));
            }
        }
        None => event
            .pricing_notes
            .push("instance type not in the event".to_owned()),
    }
    vec![event]
}
