//! EKS: the control plane per cluster-hour, and managed node groups (EC2 capacity).

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing::{self, Platform, Tenancy};

use super::read::{count, get, list, num, text};
use super::{apply, Context};

pub fn create_cluster(ctx: &Context) -> Vec<CostEvent> {
    cluster(ctx, CostAction::Create)
}

pub fn delete_cluster(ctx: &Context) -> Vec<CostEvent> {
    cluster(ctx, CostAction::Delete)
}

/// The control plane a CreateCluster starts or a DeleteCluster stops paying for.
fn cluster(ctx: &Context, action: CostAction) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(resp, &["cluster", "arn"])
        .or_else(|| text(req, &["name"]))
        .map(str::to_owned);
    let mut event = ctx.event("eks", "eks:cluster", action, id.into_iter().collect(), 1);
    event.sku = Some("eks-control-plane".to_owned());
    apply(&mut event, pricing::eks_cluster(ctx.region()));
    vec![event]
}

/// CreateNodegroup: `scalingConfig.desiredSize` × the instance type. Without types and
/// without a launch template the API launches t3.medium; with a launch template the type
/// may be in it (not in the event).
pub fn create_nodegroup(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(resp, &["nodegroup", "nodegroupArn"])
        .or_else(|| text(req, &["nodegroupName"]))
        .map(str::to_owned);
    let desired = num(req, &["scalingConfig", "desiredSize"])
        .or_else(|| num(resp, &["nodegroup", "scalingConfig", "desiredSize"]))
        .and_then(count);
    let spot = text(req, &["capacityType"]) == Some("SPOT");
    let types: Vec<&str> = list(get(req, "instanceTypes"))
        .into_iter()
        .filter_map(|t| t.as_str())
        .collect();
    let platform = match text(req, &["amiType"]) {
        Some(ami) if ami.to_ascii_uppercase().starts_with("WINDOWS") => Platform::Windows,
        _ => Platform::Linux,
    };
    let mut event = ctx.event(
        "eks",
        "eks:nodegroup",
        CostAction::Create,
        id.into_iter().collect(),
        desired.unwrap_or(0),
    );
    event.spot = spot;
    let instance_type = match (types.as_slice(), get(req, "launchTemplate")) {
        ([one], _) => Some(*one),
        ([], None) => {
            event
                .pricing_notes
                .push("no instance type given: the API default t3.medium".to_owned());
            Some("t3.medium")
        }
        ([], Some(_)) => {
            event.pricing_notes.push(
                "instance type is in the launch template (not in the event): price unknown"
                    .to_owned(),
            );
            None
        }
        ([first, ..], _) if !spot => {
            event.pricing_notes.push(format!(
                "on-demand node groups launch the first listed type ({first}) while it is available"
            ));
            Some(*first)
        }
        (many, _) => {
            event.sku = Some(many.join(","));
            event.pricing_notes.push(format!(
                "a Spot node group may launch any of {} types: price unknown",
                many.len()
            ));
            None
        }
    };
    match (instance_type, desired) {
        (Some(t), Some(n)) => {
            event.sku = Some(t.to_owned());
            apply(
                &mut event,
                pricing::ec2_instance(t, ctx.region(), platform, Tenancy::Shared, spot).times(n),
            );
        }
        (Some(_), None) => event
            .pricing_notes
            .push("desired size not in the event: price unknown".to_owned()),
        (None, _) => {}
    }
    event.pricing_notes.push(
        "the group's instances also appear as RunInstances calls by EC2 Auto Scaling".to_owned(),
    );
    vec![event]
}
