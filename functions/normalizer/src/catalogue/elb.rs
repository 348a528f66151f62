//! Elastic Load Balancing: v2 (application, network, gateway) and classic load balancers share
//! the event source and the event name; the request shape tells them apart.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing;

use super::read::{get, list, text};
use super::{apply, Context};

/// The kind from a v2 ARN (`…:loadbalancer/app/…`, `/net/`, `/gwy/`).
fn kind_from_arn(arn: &str) -> Option<&'static str> {
    let rest = arn.split_once(":loadbalancer/")?.1;
    match rest.split('/').next()? {
        "app" => Some("application"),
        "net" => Some("network"),
        "gwy" => Some("gateway"),
        _ => None,
    }
}

pub fn create_load_balancer(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let created = list(get(resp, "loadBalancers"));
    let v2 = !created.is_empty() || text(req, &["name"]).is_some();
    let (kind, id) = if v2 {
        let arn = created.iter().find_map(|lb| text(lb, &["loadBalancerArn"]));
        let kind = created
            .iter()
            .find_map(|lb| text(lb, &["type"]))
            .or_else(|| text(req, &["type"]))
            // The API's default type.
            .unwrap_or("application");
        (kind, arn.or_else(|| text(req, &["name"])))
    } else {
        ("classic", text(req, &["loadBalancerName"]))
    };
    let mut event = ctx.event(
        "elasticloadbalancing",
        "elb:load-balancer",
        CostAction::Create,
        id.map(str::to_owned).into_iter().collect(),
        1,
    );
    event.sku = Some(kind.to_owned());
    apply(&mut event, pricing::load_balancer(kind, ctx.region()));
    vec![event]
}

/// DeleteLoadBalancer: what the load balancer was costing (its kind is in a v2 ARN).
pub fn delete_load_balancer(ctx: &Context) -> Vec<CostEvent> {
    let req = ctx.record.request();
    let (kind, id) = match text(req, &["loadBalancerArn"]) {
        Some(arn) => (kind_from_arn(arn), arn),
        None => match text(req, &["loadBalancerName"]) {
            Some(name) => (Some("classic"), name),
            None => return Vec::new(),
        },
    };
    let mut event = ctx.event(
        "elasticloadbalancing",
        "elb:load-balancer",
        CostAction::Delete,
        vec![id.to_owned()],
        1,
    );
    match kind {
        Some(kind) => {
            event.sku = Some(kind.to_owned());
            apply(&mut event, pricing::load_balancer(kind, ctx.region()));
        }
        None => event
            .pricing_notes
            .push("load balancer type not recognisable from its ARN: price unknown".to_owned()),
    }
    vec![event]
}
