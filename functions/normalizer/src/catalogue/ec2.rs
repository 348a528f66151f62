//! EC2 instances: launches, starts, stops, terminations, type changes, spot requests, fleets.

use std::collections::BTreeSet;

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, Platform, PriceEstimate, Tenancy};
use serde_json::Value;

use super::read::{count, get, list, num, text, unwrap};
use super::{
    apply, sum, unknown, Context, Facts, Learned, ResourceKind, ResourceRef, ResourceSpec,
};

/// How an instance is billed, besides its type.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Billing {
    platform: Platform,
    tenancy: Option<Tenancy>,
    spot: bool,
}

fn instance_price(instance_type: &str, region: &str, billing: Billing) -> PriceEstimate {
    match billing.tenancy {
        Some(tenancy) => pricing::ec2_instance(
            instance_type,
            region,
            billing.platform,
            tenancy,
            billing.spot,
        ),
        None => unknown(format!(
            "{instance_type} on a Dedicated Host: billed per host, price unknown"
        )),
    }
}

fn platform_of(item: &Value) -> Platform {
    // EC2 omits `platform` for Linux; `platformDetails` names RHEL and others when present.
    match text(item, &["platformDetails"]).or_else(|| text(item, &["platform"])) {
        Some(p) => match Platform::from_platform_details(p) {
            Platform::Unknown => Platform::Linux,
            known => known,
        },
        None => Platform::Linux,
    }
}

fn tenancy_of(value: Option<&str>) -> Option<Tenancy> {
    Tenancy::from_api(value.unwrap_or("default"))
}

fn run_billing(request: &Value, item: Option<&Value>) -> Billing {
    let spot = text(request, &["instanceMarketOptions", "marketType"]) == Some("spot")
        || item.and_then(|i| text(i, &["instanceLifecycle"])) == Some("spot");
    let tenancy = item
        .and_then(|i| text(i, &["placement", "tenancy"]))
        .or_else(|| text(request, &["placement", "tenancy"]));
    Billing {
        platform: item.map_or(Platform::Linux, platform_of),
        tenancy: tenancy_of(tenancy),
        spot,
    }
}

fn launch_template_name(request: &Value) -> Option<String> {
    let lt = get(request, "launchTemplate")?;
    text(lt, &["launchTemplateName"])
        .or_else(|| text(lt, &["launchTemplateId"]))
        .map(str::to_owned)
}

/// RunInstances: the type is in the request, or only in the response items when the call
/// used a launch template; the count is the number of instances the response lists.
pub fn run_instances(ctx: &Context) -> Vec<CostEvent> {
    let request = ctx.record.request();
    let launched = list(get(ctx.record.response(), "instancesSet"));
    let instance_type = text(request, &["instanceType"])
        .or_else(|| launched.iter().find_map(|i| text(i, &["instanceType"])));
    let ids: Vec<String> = launched
        .iter()
        .filter_map(|i| text(i, &["instanceId"]).map(str::to_owned))
        .collect();
    let count = if launched.is_empty() {
        // No response (rare): fall back to the minimum the request asked for.
        list(get(request, "instancesSet"))
            .iter()
            .filter_map(|i| num(i, &["minCount"]).and_then(super::read::count))
            .sum::<u32>()
            .max(1)
    } else {
        launched.len() as u32
    };
    let billing = run_billing(request, launched.first().copied());
    let mut event = ctx.event("ec2", "ec2:instance", CostAction::Create, ids, count);
    event.spot = billing.spot;
    if ctx.record.user_identity.invoked_by.as_deref() == Some("autoscaling.amazonaws.com") {
        event.pricing_notes.push(
            "launched by EC2 Auto Scaling: the group's capacity event may already count it"
                .to_owned(),
        );
        event
            .price_basis
            .get_or_insert_with(Default::default)
            .caveat("launched by Auto Scaling: its group's capacity event may count it too");
    }
    match instance_type {
        Some(t) => {
            event.sku = Some(t.to_owned());
            apply(
                &mut event,
                instance_price(t, ctx.region(), billing).times(count),
            );
        }
        None => {
            let why = match launch_template_name(request) {
                Some(lt) => format!(
                    "instance type not in the event (launch template {lt}, no instances in the response)"
                ),
                None => "instance type not in the event".to_owned(),
            };
            event.pricing_notes.push(why);
        }
    }
    vec![event]
}

pub fn learned_from_run(record: &CloudTrailRecord) -> Vec<Learned> {
    let request = record.request();
    let request_type = text(request, &["instanceType"]);
    list(get(record.response(), "instancesSet"))
        .into_iter()
        .filter_map(|item| {
            let id = text(item, &["instanceId"])?;
            let instance_type = text(item, &["instanceType"]).or(request_type)?;
            let billing = run_billing(request, Some(item));
            Some(Learned::Remember(
                ResourceRef::new(ResourceKind::Instance, "", id),
                ResourceSpec::Instance {
                    instance_type: instance_type.to_owned(),
                    platform: billing.platform,
                    tenancy: billing.tenancy,
                    spot: billing.spot,
                },
            ))
        })
        .collect()
}

/// The instance ids a Start/Stop/Terminate/ModifyInstanceAttribute call names.
pub fn instance_ids(record: &CloudTrailRecord) -> Vec<String> {
    let request = record.request();
    if let Some(id) = text(request, &["instanceId"]) {
        return vec![id.to_owned()];
    }
    let mut ids: Vec<String> = list(get(request, "instancesSet"))
        .iter()
        .filter_map(|i| text(i, &["instanceId"]).map(str::to_owned))
        .collect();
    if ids.is_empty() {
        ids = list(get(record.response(), "instancesSet"))
            .iter()
            .filter_map(|i| text(i, &["instanceId"]).map(str::to_owned))
            .collect();
    }
    ids
}

fn known_instance(ctx: &Context, id: &str) -> Option<(String, Billing)> {
    match ctx.fact(ResourceKind::Instance, id)? {
        ResourceSpec::Instance {
            instance_type,
            platform,
            tenancy,
            spot,
        } => Some((
            instance_type.clone(),
            Billing {
                platform: *platform,
                tenancy: *tenancy,
                spot: *spot,
            },
        )),
        _ => None,
    }
}

/// Start, Stop, Terminate: the event carries only instance ids; the types are what dd0c
/// stored when the instances were launched. For Stop and Terminate the price is what the
/// instances were costing (what stopped), so the digest can say what went away.
fn lifecycle(ctx: &Context, action: CostAction) -> Vec<CostEvent> {
    let ids = instance_ids(ctx.record);
    if ids.is_empty() {
        return Vec::new();
    }
    let mut event = ctx.event("ec2", "ec2:instance", action, ids.clone(), ids.len() as u32);
    let mut types = BTreeSet::new();
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for id in &ids {
        match known_instance(ctx, id) {
            Some((t, billing)) => {
                event.spot |= billing.spot;
                parts.push(instance_price(&t, ctx.region(), billing));
                types.insert(t);
            }
            None => missing.push(id.as_str()),
        }
    }
    if !types.is_empty() {
        event.sku = Some(types.into_iter().collect::<Vec<_>>().join(","));
    }
    if missing.is_empty() {
        apply(&mut event, sum(parts));
    } else {
        event.pricing_notes.push(format!(
            "instance type unknown for {}: not in the event, not launched while dd0c was watching, and not readable through the account's role",
            missing.join(", ")
        ));
    }
    match action {
        CostAction::Stop => event.pricing_notes.push(
            "stopped: compute billing ends; attached EBS volumes and Elastic IPs still bill"
                .to_owned(),
        ),
        CostAction::Delete => event
            .pricing_notes
            .push("terminated: this is what the instances were costing".to_owned()),
        _ => {}
    }
    vec![event]
}

pub fn start_instances(ctx: &Context) -> Vec<CostEvent> {
    lifecycle(ctx, CostAction::Start)
}

pub fn stop_instances(ctx: &Context) -> Vec<CostEvent> {
    lifecycle(ctx, CostAction::Stop)
}

pub fn terminate_instances(ctx: &Context) -> Vec<CostEvent> {
    lifecycle(ctx, CostAction::Delete)
}

/// The new type of a ModifyInstanceAttribute call, in either logged form:
/// `instanceType: {value}` or `attribute: instanceType, value`.
fn new_instance_type(request: &Value) -> Option<&str> {
    text(request, &["instanceType", "value"])
        .or_else(|| text(request, &["instanceType"]))
        .or_else(|| {
            (text(request, &["attribute"]) == Some("instanceType"))
                .then(|| text(request, &["value"]))
                .flatten()
        })
}

/// ModifyInstanceAttribute: only an instance-type change moves cost; the delta is against
/// the type dd0c stored for the instance.
pub fn modify_instance_attribute(ctx: &Context) -> Vec<CostEvent> {
    let request = ctx.record.request();
    let Some(new_type) = new_instance_type(request) else {
        return Vec::new();
    };
    let Some(id) = text(request, &["instanceId"]) else {
        return Vec::new();
    };
    let mut event = ctx.event(
        "ec2",
        "ec2:instance",
        CostAction::Modify,
        vec![id.to_owned()],
        1,
    );
    event.sku = Some(new_type.to_owned());
    let before = known_instance(ctx, id);
    let billing = before.as_ref().map_or(
        Billing {
            platform: Platform::Linux,
            tenancy: Some(Tenancy::Shared),
            spot: false,
        },
        |(_, b)| *b,
    );
    event.spot = billing.spot;
    apply(&mut event, instance_price(new_type, ctx.region(), billing));
    match before {
        Some((old_type, billing)) => {
            let old = instance_price(&old_type, ctx.region(), billing);
            event.previous_hourly_cost = old.hourly_usd;
            event
                .pricing_notes
                .push(format!("type changed from {old_type} to {new_type}"));
        }
        None => event.pricing_notes.push(
            "previous instance type unknown (not launched while dd0c was watching): the change's delta is unknown; platform assumed Linux, shared tenancy".to_owned(),
        ),
    }
    event.pricing_notes.push(
        "the type changes while the instance is stopped; the new price applies from its next start"
            .to_owned(),
    );
    vec![event]
}

pub fn learned_from_modify(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    let request = record.request();
    let (Some(new_type), Some(id)) = (new_instance_type(request), text(request, &["instanceId"]))
    else {
        return Vec::new();
    };
    let r = ResourceRef::new(ResourceKind::Instance, "", id);
    let spec = match facts.get(&r) {
        Some(ResourceSpec::Instance {
            platform,
            tenancy,
            spot,
            ..
        }) => ResourceSpec::Instance {
            instance_type: new_type.to_owned(),
            platform: *platform,
            tenancy: *tenancy,
            spot: *spot,
        },
        _ => ResourceSpec::Instance {
            instance_type: new_type.to_owned(),
            platform: Platform::Linux,
            tenancy: Some(Tenancy::Shared),
            spot: false,
        },
    };
    vec![Learned::Remember(r, spec)]
}

/// RequestSpotInstances: `instanceCount` × the launch specification's type, at spot rates.
pub fn request_spot_instances(ctx: &Context) -> Vec<CostEvent> {
    let request = ctx.record.request();
    let requests = list(get(ctx.record.response(), "spotInstanceRequestSet"));
    let ids: Vec<String> = requests
        .iter()
        .filter_map(|r| text(r, &["spotInstanceRequestId"]).map(str::to_owned))
        .collect();
    let n = num(request, &["instanceCount"])
        .and_then(count)
        .unwrap_or(if requests.is_empty() {
            1
        } else {
            requests.len() as u32
        });
    let instance_type = text(request, &["launchSpecification", "instanceType"]).or_else(|| {
        requests
            .iter()
            .find_map(|r| text(r, &["launchSpecification", "instanceType"]))
    });
    let mut event = ctx.event("ec2", "ec2:spot-request", CostAction::Create, ids, n);
    event.spot = true;
    match instance_type {
        Some(t) => {
            event.sku = Some(t.to_owned());
            let billing = Billing {
                platform: Platform::Linux,
                tenancy: tenancy_of(text(
                    request,
                    &["launchSpecification", "placement", "tenancy"],
                )),
                spot: true,
            };
            apply(
                &mut event,
                instance_price(t, ctx.region(), billing).times(n),
            );
        }
        None => event
            .pricing_notes
            .push("instance type not in the event (launch template): price unknown".to_owned()),
    }
    vec![event]
}

/// Prices `capacity` instances of the one type a fleet can launch; unknown when the fleet
/// may choose among several types (which one is not in the event).
fn fleet_price(
    ctx: &Context,
    event: &mut CostEvent,
    types: &BTreeSet<String>,
    capacity: Option<u32>,
    spot: bool,
) {
    event.spot = spot;
    let Some(capacity) = capacity else {
        event
            .pricing_notes
            .push("target capacity not in the event: price unknown".to_owned());
        return;
    };
    match types.len() {
        0 => event.pricing_notes.push(
            "instance types are in a launch template (not in the event): price unknown".to_owned(),
        ),
        1 => {
            let t = types.iter().next().map(String::as_str).unwrap_or_default();
            event.sku = Some(t.to_owned());
            let billing = Billing {
                platform: Platform::Linux,
                tenancy: Some(Tenancy::Shared),
                spot,
            };
            apply(
                event,
                instance_price(t, ctx.region(), billing).times(capacity),
            );
            event
                .pricing_notes
                .push("capacity counted in instances (weights of 1)".to_owned());
        }
        _ => {
            event.sku = Some(types.iter().cloned().collect::<Vec<_>>().join(","));
            event.pricing_notes.push(format!(
                "the fleet may launch any of {} types; which ones is not in the event: price unknown",
                types.len()
            ));
        }
    }
}

/// RequestSpotFleet: `spotFleetRequestConfig.targetCapacity` over its launch specifications.
pub fn request_spot_fleet(ctx: &Context) -> Vec<CostEvent> {
    let request = unwrap(ctx.record.request(), "RequestSpotFleetRequest");
    let config = get(request, "spotFleetRequestConfig").unwrap_or(request);
    let id = text(ctx.record.response(), &["spotFleetRequestId"]).or_else(|| {
        text(
            unwrap(ctx.record.response(), "RequestSpotFleetResponse"),
            &["spotFleetRequestId"],
        )
    });
    let mut types: BTreeSet<String> = list(get(config, "launchSpecifications"))
        .iter()
        .filter_map(|s| text(s, &["instanceType"]).map(str::to_owned))
        .collect();
    for ltc in list(get(config, "launchTemplateConfigs")) {
        for o in list(get(ltc, "overrides")) {
            if let Some(t) = text(o, &["instanceType"]) {
                types.insert(t.to_owned());
            }
        }
    }
    let capacity = num(config, &["targetCapacity"]).and_then(count);
    let spot_only = num(config, &["onDemandTargetCapacity"]).unwrap_or(0.0) == 0.0;
    let mut event = ctx.event(
        "ec2",
        "ec2:spot-fleet",
        CostAction::Create,
        id.map(str::to_owned).into_iter().collect(),
        capacity.unwrap_or(0),
    );
    fleet_price(ctx, &mut event, &types, capacity, spot_only);
    if !spot_only {
        event
            .pricing_notes
            .push("part of the capacity is on-demand".to_owned());
    }
    vec![event]
}

/// The instances an instant fleet launched: (ids, type, spot) per response item.
fn fleet_instances(record: &CloudTrailRecord) -> Vec<(Vec<String>, Option<String>, bool)> {
    let response = unwrap(record.response(), "CreateFleetResponse");
    list(get(response, "fleetInstanceSet"))
        .into_iter()
        .map(|item| {
            let ids = list(get(item, "instanceIds"))
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>();
            let ids = if ids.is_empty() {
                // One id is logged as a bare string.
                text(item, &["instanceIds", "item"])
                    .map(|s| vec![s.to_owned()])
                    .unwrap_or_default()
            } else {
                ids
            };
            let t = text(item, &["instanceType"]).map(str::to_owned);
            let spot = text(item, &["lifecycle"]) == Some("spot");
            (ids, t, spot)
        })
        .collect()
}

/// CreateFleet (logged in the PascalCase `CreateFleetRequest` shape): an `instant` fleet lists
/// what it launched in the response; other fleets are priced from the target capacity when
/// they can launch only one type.
pub fn create_fleet(ctx: &Context) -> Vec<CostEvent> {
    let request = unwrap(ctx.record.request(), "CreateFleetRequest");
    let response = unwrap(ctx.record.response(), "CreateFleetResponse");
    let fleet_id = text(response, &["fleetId"]).map(str::to_owned);
    let launched = fleet_instances(ctx.record);
    let launched_count: usize = launched.iter().map(|(ids, _, _)| ids.len()).sum();
    if launched_count > 0 {
        let ids: Vec<String> = launched
            .iter()
            .flat_map(|(ids, _, _)| ids.clone())
            .collect();
        let mut event = ctx.event(
            "ec2",
            "ec2:instance",
            CostAction::Create,
            ids,
            launched_count as u32,
        );
        let mut types = BTreeSet::new();
        let mut parts = Vec::new();
        for (ids, t, spot) in &launched {
            event.spot |= *spot;
            match t {
                Some(t) => {
                    types.insert(t.clone());
                    let billing = Billing {
                        platform: Platform::Linux,
                        tenancy: Some(Tenancy::Shared),
                        spot: *spot,
                    };
                    parts.push(instance_price(t, ctx.region(), billing).times(ids.len() as u32));
                }
                None => parts.push(unknown("a launched instance's type is not in the event")),
            }
        }
        event.sku = Some(types.into_iter().collect::<Vec<_>>().join(","));
        apply(&mut event, sum(parts));
        if let Some(id) = fleet_id {
            event.pricing_notes.push(format!("instant fleet {id}"));
        }
        return vec![event];
    }
    let spec = get(request, "TargetCapacitySpecification");
    let capacity = spec
        .and_then(|s| num(s, &["TotalTargetCapacity"]))
        .and_then(count);
    let spot = spec.and_then(|s| text(s, &["DefaultTargetCapacityType"])) == Some("spot");
    let mut types = BTreeSet::new();
    for ltc in list(get(request, "LaunchTemplateConfigs"))
        .into_iter()
        .chain(
            // A single config is logged as an object.
            get(request, "LaunchTemplateConfigs")
                .filter(|v| get(v, "LaunchTemplateSpecification").is_some()),
        )
    {
        let overrides = get(ltc, "Overrides");
        let mut found = list(overrides);
        if found.is_empty() {
            found.extend(overrides.filter(|o| get(o, "InstanceType").is_some()));
        }
        for o in found {
            if let Some(t) = text(o, &["InstanceType"]) {
                types.insert(t.to_owned());
            }
        }
    }
    let mut event = ctx.event(
        "ec2",
        "ec2:fleet",
        CostAction::Create,
        fleet_id.into_iter().collect(),
        capacity.unwrap_or(0),
    );
    fleet_price(ctx, &mut event, &types, capacity, spot);
    vec![event]
}

pub fn learned_from_fleet(record: &CloudTrailRecord) -> Vec<Learned> {
    fleet_instances(record)
        .into_iter()
        .filter_map(|(ids, t, spot)| Some((ids, t?, spot)))
        .flat_map(|(ids, t, spot)| {
            ids.into_iter().map(move |id| {
                Learned::Remember(
                    ResourceRef::new(ResourceKind::Instance, "", &id),
                    ResourceSpec::Instance {
                        instance_type: t.clone(),
                        platform: Platform::Linux,
                        tenancy: Some(Tenancy::Shared),
                        spot,
                    },
                )
            })
        })
        .collect()
}
