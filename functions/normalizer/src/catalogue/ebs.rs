//! EBS volumes.

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, PriceEstimate};
use serde_json::Value;

use super::read::{get, num, text, unwrap};
use super::{apply, Context, Facts, Learned, ResourceKind, ResourceRef, ResourceSpec};

#[derive(Debug, Clone, PartialEq)]
struct Volume {
    volume_type: Option<String>,
    size_gb: Option<f64>,
    iops: Option<f64>,
    throughput: Option<f64>,
}

impl Volume {
    fn price(&self, region: &str) -> Option<PriceEstimate> {
        let size = self.size_gb?;
        Some(pricing::ebs_volume(
            self.volume_type.as_deref(),
            size,
            self.iops,
            self.throughput,
            region,
        ))
    }

    fn sku(&self) -> String {
        self.volume_type.clone().unwrap_or_else(|| "gp2".to_owned())
    }
}

/// CreateVolume: the size is in the request, or only in the response (as a string) when the
/// volume is created from a snapshot; `volumeType` may be absent (the API default applies).
fn created(record: &CloudTrailRecord) -> Volume {
    let request = record.request();
    let response = record.response();
    Volume {
        volume_type: text(request, &["volumeType"])
            .or_else(|| text(response, &["volumeType"]))
            .map(str::to_owned),
        size_gb: num(request, &["size"]).or_else(|| num(response, &["size"])),
        iops: num(request, &["iops"]).or_else(|| num(response, &["iops"])),
        throughput: num(request, &["throughput"]).or_else(|| num(response, &["throughput"])),
    }
}

pub fn create_volume(ctx: &Context) -> Vec<CostEvent> {
    let volume = created(ctx.record);
    let id = text(ctx.record.response(), &["volumeId"]).map(str::to_owned);
    let mut event = ctx.event(
        "ec2",
        "ebs:volume",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some(volume.sku());
    match volume.price(ctx.region()) {
        Some(est) => apply(&mut event, est),
        None => event
            .pricing_notes
            .push("volume size not in the event: price unknown".to_owned()),
    }
    if let Some(snapshot) = text(ctx.record.request(), &["snapshotId"]) {
        event
            .pricing_notes
            .push(format!("created from snapshot {snapshot}"));
    }
    vec![event]
}

fn spec_of(v: &Volume) -> Option<ResourceSpec> {
    Some(ResourceSpec::Volume {
        volume_type: v.volume_type.clone(),
        size_gb: v.size_gb?,
        iops: v.iops,
        throughput: v.throughput,
    })
}

fn from_spec(spec: &ResourceSpec) -> Option<Volume> {
    match spec {
        ResourceSpec::Volume {
            volume_type,
            size_gb,
            iops,
            throughput,
        } => Some(Volume {
            volume_type: volume_type.clone(),
            size_gb: Some(*size_gb),
            iops: *iops,
            throughput: *throughput,
        }),
        _ => None,
    }
}

pub fn learned_from_create(record: &CloudTrailRecord) -> Vec<Learned> {
    let Some(id) = text(record.response(), &["volumeId"]) else {
        return Vec::new();
    };
    spec_of(&created(record))
        .map(|s| Learned::Remember(ResourceRef::new(ResourceKind::Volume, "", id), s))
        .into_iter()
        .collect()
}

pub fn volume_id(record: &CloudTrailRecord) -> Option<String> {
    let request = unwrap(record.request(), "ModifyVolumeRequest");
    text(request, &["volumeId"])
        .or_else(|| text(modification(record), &["volumeId"]))
        .map(str::to_owned)
}

/// `ModifyVolumeResponse.volumeModification` (or unwrapped): both sides of the change.
fn modification(record: &CloudTrailRecord) -> &Value {
    let response = unwrap(record.response(), "ModifyVolumeResponse");
    get(response, "volumeModification").unwrap_or(response)
}

/// The volume before and after a ModifyVolume: the response lists original and target
/// values; what it lacks comes from the request and from what dd0c stored.
fn modified(record: &CloudTrailRecord, stored: Option<Volume>) -> (Option<Volume>, Volume) {
    let request = unwrap(record.request(), "ModifyVolumeRequest");
    let m = modification(record);
    let original = Volume {
        volume_type: text(m, &["originalVolumeType"]).map(str::to_owned),
        size_gb: num(m, &["originalSize"]),
        iops: num(m, &["originalIops"]),
        throughput: num(m, &["originalThroughput"]),
    };
    let before = match (original.size_gb, stored) {
        (Some(_), _) => Some(original),
        (None, stored) => stored,
    };
    let after = Volume {
        volume_type: text(m, &["targetVolumeType"])
            .or_else(|| text(request, &["volumeType"]))
            .map(str::to_owned)
            .or_else(|| before.as_ref().and_then(|b| b.volume_type.clone())),
        size_gb: num(m, &["targetSize"])
            .or_else(|| num(request, &["size"]))
            .or_else(|| before.as_ref().and_then(|b| b.size_gb)),
        iops: num(m, &["targetIops"])
            .or_else(|| num(request, &["iops"]))
            .or_else(|| before.as_ref().and_then(|b| b.iops)),
        throughput: num(m, &["targetThroughput"])
            .or_else(|| num(request, &["throughput"]))
            .or_else(|| before.as_ref().and_then(|b| b.throughput)),
    };
    (before, after)
}

fn stored(facts: &Facts, id: &str) -> Option<Volume> {
    facts
        .get(&ResourceRef::new(ResourceKind::Volume, "", id))
        .and_then(from_spec)
}

/// ModifyVolume: new size/type/IOPS/throughput → the delta against the original.
pub fn modify_volume(ctx: &Context) -> Vec<CostEvent> {
    let id = volume_id(ctx.record);
    let before_stored = id.as_deref().and_then(|id| stored(ctx.facts, id));
    let (before, after) = modified(ctx.record, before_stored);
    let mut event = ctx.event(
        "ec2",
        "ebs:volume",
        CostAction::Modify,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some(after.sku());
    match after.price(ctx.region()) {
        Some(est) => apply(&mut event, est),
        None => event.pricing_notes.push(
            "new volume size not in the event and not known to dd0c: price unknown".to_owned(),
        ),
    }
    match before.and_then(|b| b.price(ctx.region())) {
        Some(est) => event.previous_hourly_cost = est.hourly_usd,
        None => event.pricing_notes.push(
            "the volume's previous size is unknown: the change's delta is unknown".to_owned(),
        ),
    }
    vec![event]
}

pub fn learned_from_modify(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    let Some(id) = volume_id(record) else {
        return Vec::new();
    };
    let (_, after) = modified(record, stored(facts, &id));
    spec_of(&after)
        .map(|s| Learned::Remember(ResourceRef::new(ResourceKind::Volume, "", &id), s))
        .into_iter()
        .collect()
}

/// DeleteVolume: what the volume was costing, when dd0c saw it created.
pub fn delete_volume(ctx: &Context) -> Vec<CostEvent> {
    let Some(id) = volume_id(ctx.record) else {
        return Vec::new();
    };
    let known = stored(ctx.facts, &id);
    let mut event = ctx.event("ec2", "ebs:volume", CostAction::Delete, vec![id], 1);
    match known
        .as_ref()
        .and_then(|v| v.price(ctx.region()).map(|e| (v, e)))
    {
        Some((v, est)) => {
            event.sku = Some(v.sku());
            apply(&mut event, est);
        }
        None => event
            .pricing_notes
            .push("volume not created while dd0c was watching: what it cost is unknown".to_owned()),
    }
    vec![event]
}
