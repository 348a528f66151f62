//! EC2 Auto Scaling groups: capacity × instance type. The type often lives in a launch
//! template or launch configuration the event does not show; then the price is unknown.

use std::collections::BTreeSet;

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, Platform, Tenancy};
use serde_json::Value;

use super::read::{count, get, list, num, text};
use super::{apply, Context, Facts, Learned, ResourceKind, ResourceRef, ResourceSpec};

pub fn group_name(record: &CloudTrailRecord) -> Option<String> {
    text(record.request(), &["autoScalingGroupName"]).map(str::to_owned)
}

/// The instance types the request names: mixed-instances overrides (one type = known).
fn types_in(request: &Value) -> BTreeSet<String> {
    list(
        get(request, "mixedInstancesPolicy")
            .and_then(|m| get(m, "launchTemplate"))
            .and_then(|lt| get(lt, "overrides")),
    )
    .iter()
    .filter_map(|o| text(o, &["instanceType"]).map(str::to_owned))
    .collect()
}

/// Where the type is, when it is not in the event.
fn hidden_type_source(request: &Value) -> Option<String> {
    let lt = get(request, "launchTemplate").or_else(|| {
        get(request, "mixedInstancesPolicy")
            .and_then(|m| get(m, "launchTemplate"))
            .and_then(|lt| get(lt, "launchTemplateSpecification"))
    });
    if let Some(lt) = lt {
        let name = text(lt, &["launchTemplateName"]).or_else(|| text(lt, &["launchTemplateId"]));
        return Some(format!("launch template {}", name.unwrap_or("(unnamed)")));
    }
    text(request, &["launchConfigurationName"]).map(|lc| format!("launch configuration {lc}"))
}

struct Group {
    instance_type: Option<String>,
    desired: Option<u32>,
    why_no_type: Option<String>,
}

fn stored(facts: &Facts, region: &str, name: &str) -> Option<(Option<String>, u32)> {
    match facts.get(&ResourceRef::new(
        ResourceKind::AutoScalingGroup,
        region,
        name,
    ))? {
        ResourceSpec::AutoScalingGroup {
            instance_type,
            desired,
        } => Some((instance_type.clone(), *desired)),
        _ => None,
    }
}

/// The group after the call: from the request, falling back to what dd0c stored.
fn after(record: &CloudTrailRecord, before: Option<&(Option<String>, u32)>) -> Group {
    let request = record.request();
    let types = types_in(request);
    let instance_type = if types.len() == 1 {
        types.into_iter().next()
    } else {
        None
    };
    let changes_template =
        get(request, "launchTemplate").is_some() || get(request, "mixedInstancesPolicy").is_some();
    let instance_type = instance_type.or_else(|| {
        (!changes_template)
            .then(|| before.and_then(|b| b.0.clone()))
            .flatten()
    });
    let min = num(request, &["minSize"]).and_then(count);
    let max = num(request, &["maxSize"]).and_then(count);
    // Without a desired capacity, a new group starts at its minimum, and an updated group
    // keeps its capacity within the new bounds.
    let desired = num(request, &["desiredCapacity"])
        .and_then(count)
        .or_else(|| match before {
            Some((_, d)) => Some((*d).max(min.unwrap_or(0)).min(max.unwrap_or(u32::MAX))),
            None if record.event_name == "CreateAutoScalingGroup" => min,
            None => None,
        });
    let why_no_type = if instance_type.is_some() {
        None
    } else {
        Some(match hidden_type_source(request) {
            Some(src) => format!("instance type is in {src} (not in the event): price unknown"),
            None if types_in(request).len() > 1 => {
                "the group mixes several instance types: price unknown".to_owned()
            }
            None => {
                "instance type not in the event and not known to dd0c: price unknown".to_owned()
            }
        })
    };
    Group {
        instance_type,
        desired,
        why_no_type,
    }
}

fn price(ctx: &Context, event: &mut CostEvent, group: &Group) {
    match (&group.instance_type, group.desired) {
        (Some(t), Some(n)) => {
            event.sku = Some(t.clone());
            apply(
                event,
                pricing::ec2_instance(t, ctx.region(), Platform::Linux, Tenancy::Shared, false)
                    .times(n),
            );
            event.pricing_notes.push(
                "priced as Linux on-demand (the group's purchase options are not in the event)"
                    .to_owned(),
            );
        }
        (_, None) => event
            .pricing_notes
            .push("desired capacity not in the event: price unknown".to_owned()),
        (None, _) => event.pricing_notes.extend(group.why_no_type.clone()),
    }
}

pub fn create_group(ctx: &Context) -> Vec<CostEvent> {
    let Some(name) = group_name(ctx.record) else {
        return Vec::new();
    };
    let group = after(ctx.record, None);
    let mut event = ctx.event(
        "autoscaling",
        "autoscaling:group",
        CostAction::Create,
        vec![name],
        group.desired.unwrap_or(0),
    );
    price(ctx, &mut event, &group);
    event.pricing_notes.push(
        "the group's instances also appear as RunInstances calls by EC2 Auto Scaling".to_owned(),
    );
    vec![event]
}

fn resize(ctx: &Context) -> Vec<CostEvent> {
    let Some(name) = group_name(ctx.record) else {
        return Vec::new();
    };
    let before = stored(ctx.facts, ctx.region(), &name);
    let group = after(ctx.record, before.as_ref());
    let request = ctx.record.request();
    let touches_cost = [
        "desiredCapacity",
        "minSize",
        "maxSize",
        "launchTemplate",
        "mixedInstancesPolicy",
        "launchConfigurationName",
    ]
    .iter()
    .any(|k| get(request, k).is_some());
    if !touches_cost {
        return Vec::new();
    }
    let mut event = ctx.event(
        "autoscaling",
        "autoscaling:group",
        CostAction::Modify,
        vec![name],
        group.desired.unwrap_or(0),
    );
    price(ctx, &mut event, &group);
    match before {
        Some((Some(t), n)) => {
            let old = pricing::ec2_instance(&t, ctx.region(), Platform::Linux, Tenancy::Shared, false)
                .times(n);
            event.previous_hourly_cost = old.hourly_usd;
            event
                .pricing_notes
                .push(format!("capacity was {n} × {t}"));
        }
        _ => event.pricing_notes.push(
            "the group's previous capacity or type is unknown to dd0c: the change's delta is unknown"
                .to_owned(),
        ),
    }
    vec![event]
}

pub fn update_group(ctx: &Context) -> Vec<CostEvent> {
    resize(ctx)
}

pub fn set_desired_capacity(ctx: &Context) -> Vec<CostEvent> {
    resize(ctx)
}

pub fn learned(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    let Some(name) = group_name(record) else {
        return Vec::new();
    };
    let before = stored(facts, &record.aws_region, &name);
    let group = after(record, before.as_ref());
    match group.desired {
        Some(desired) => vec![Learned::Remember(
            ResourceRef::new(ResourceKind::AutoScalingGroup, &record.aws_region, &name),
            ResourceSpec::AutoScalingGroup {
                instance_type: group.instance_type,
                desired,
            },
        )],
        None => Vec::new(),
    }
}
