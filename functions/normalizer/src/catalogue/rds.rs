//! RDS and Aurora: DB instances (class × engine, Multi-AZ, storage) and clusters.

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, PriceEstimate};
use serde_json::Value;

use super::read::{flag, get, num, text};
use super::{apply, sum, Context, Facts, Learned, ResourceKind, ResourceRef, ResourceSpec};

#[derive(Debug, Clone, PartialEq)]
struct Db {
    class: String,
    engine: String,
    multi_az: bool,
    storage_type: Option<String>,
    storage_gb: Option<f64>,
    iops: Option<f64>,
    /// Member of an Aurora (or Multi-AZ DB) cluster: storage is the cluster's.
    in_cluster: bool,
}

fn is_aurora(engine: &str) -> bool {
    engine.starts_with("aurora")
}

impl Db {
    fn price(&self, region: &str) -> PriceEstimate {
        let instance = pricing::rds_instance(&self.class, &self.engine, region, self.multi_az);
        if self.in_cluster || is_aurora(&self.engine) {
            let mut est = instance;
            est.reasons
                .push("storage billed by the cluster per GB-month used (not estimated)".to_owned());
            return est;
        }
        let Some(gb) = self.storage_gb else {
            let mut est = instance;
            est.reasons
                .push("allocated storage not in the event: storage not included".to_owned());
            return est;
        };
        let (storage_type, defaulted) = match &self.storage_type {
            Some(t) => (t.clone(), false),
            None if self.iops.is_some() => ("io1".to_owned(), true),
            None => ("gp2".to_owned(), true),
        };
        let mut storage =
            pricing::rds_storage_deployment(&storage_type, gb, self.iops, region, self.multi_az);
        if defaulted {
            storage.reasons.push(format!(
                "storage type not in the event: priced as {storage_type}, the API default"
            ));
        }
        sum(vec![instance, storage])
    }

    fn spec(&self) -> ResourceSpec {
        ResourceSpec::DbInstance {
            class: self.class.clone(),
            engine: self.engine.clone(),
            multi_az: self.multi_az,
            storage_type: self.storage_type.clone(),
            storage_gb: if self.in_cluster {
                None
            } else {
                self.storage_gb
            },
            iops: self.iops,
        }
    }

    fn from_spec(spec: &ResourceSpec) -> Option<Db> {
        match spec {
            ResourceSpec::DbInstance {
                class,
                engine,
                multi_az,
                storage_type,
                storage_gb,
                iops,
            } => Some(Db {
                class: class.clone(),
                engine: engine.clone(),
                multi_az: *multi_az,
                storage_type: storage_type.clone(),
                storage_gb: *storage_gb,
                iops: *iops,
                in_cluster: storage_gb.is_none() && is_aurora(engine),
            }),
            _ => None,
        }
    }

    /// A DB instance described by a request and/or response body (the response wins: it
    /// carries the defaults RDS applied).
    fn described(bodies: &[&Value]) -> Option<Db> {
        let s = |k: &str| bodies.iter().find_map(|b| text(b, &[k]));
        let n = |k: &str| bodies.iter().find_map(|b| num(b, &[k]));
        let class = s("dBInstanceClass")?.to_owned();
        let engine = s("engine").unwrap_or("unknown").to_ascii_lowercase();
        Some(Db {
            class,
            multi_az: bodies
                .iter()
                .find_map(|b| flag(b, &["multiAZ"]))
                .unwrap_or(false),
            storage_type: s("storageType").map(str::to_owned),
            storage_gb: n("allocatedStorage").filter(|gb| *gb > 0.0),
            iops: n("iops").filter(|i| *i > 0.0),
            in_cluster: s("dBClusterIdentifier").is_some() || is_aurora(&engine),
            engine,
        })
    }
}

pub fn instance_id(record: &CloudTrailRecord) -> Option<String> {
    text(record.request(), &["dBInstanceIdentifier"])
        .or_else(|| text(record.response(), &["dBInstanceIdentifier"]))
        .map(str::to_owned)
}

fn stored(facts: &Facts, region: &str, id: &str) -> Option<Db> {
    facts
        .get(&ResourceRef::new(ResourceKind::DbInstance, region, id))
        .and_then(Db::from_spec)
}

fn priced_create(ctx: &Context, what: &str) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = instance_id(ctx.record);
    let mut event = ctx.event(
        "rds",
        "rds:db",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    match Db::described(&[resp, req]) {
        Some(db) => {
            event.sku = Some(db.class.clone());
            apply(&mut event, db.price(ctx.region()));
        }
        None => event.pricing_notes.push(format!(
            "DB instance class not in the event ({what}): price unknown"
        )),
    }
    vec![event]
}

/// CreateDBInstance: class × engine, doubled for Multi-AZ, plus allocated storage.
pub fn create_db_instance(ctx: &Context) -> Vec<CostEvent> {
    priced_create(ctx, "create")
}

/// RestoreDBInstanceFromDBSnapshot: the class may be omitted (the snapshot's applies); the
/// response describes the restored instance.
pub fn restore_db_instance(ctx: &Context) -> Vec<CostEvent> {
    let mut events = priced_create(ctx, "restored with the snapshot's class");
    if let (Some(e), Some(snap)) = (
        events.first_mut(),
        text(ctx.record.request(), &["dBSnapshotIdentifier"]),
    ) {
        e.pricing_notes
            .push(format!("restored from snapshot {snap}"));
    }
    events
}

/// CreateDBCluster: an Aurora cluster has no hourly charge of its own (its instances are
/// their own CreateDBInstance calls); serverless and Multi-AZ DB clusters are not priced.
pub fn create_db_cluster(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(req, &["dBClusterIdentifier"])
        .or_else(|| text(resp, &["dBClusterIdentifier"]))
        .map(str::to_owned);
    let engine = text(req, &["engine"])
        .or_else(|| text(resp, &["engine"]))
        .unwrap_or("unknown")
        .to_ascii_lowercase();
    let mut event = ctx.event(
        "rds",
        "rds:cluster",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some(engine.clone());
    let serverless = text(req, &["engineMode"]) == Some("serverless")
        || get(req, "serverlessV2ScalingConfiguration").is_some();
    let cluster_class = text(req, &["dBClusterInstanceClass"]);
    if serverless {
        event.pricing_notes.push(
            "Aurora Serverless capacity (ACU-hours) is not in dd0c's price tables: price unknown"
                .to_owned(),
        );
    } else if let Some(class) = cluster_class {
        event.sku = Some(class.to_owned());
        event.pricing_notes.push(format!(
            "Multi-AZ DB cluster of {class}: its pricing is not in dd0c's tables, price unknown"
        ));
    } else if is_aurora(&engine) {
        event.hourly_cost = Some(0.0);
        event.pricing_notes.push(
            "an Aurora cluster has no hourly charge of its own: each instance added to it is priced by its CreateDBInstance call; storage and I/O are usage-based (not estimated)".to_owned(),
        );
    } else {
        event
            .pricing_notes
            .push(format!("cluster of engine {engine}: price unknown"));
    }
    vec![event]
}

/// The instance after a ModifyDBInstance, and before it when known. The response shows the
/// current values with the requested ones in `pendingModifiedValues` until they apply.
fn modified(record: &CloudTrailRecord, stored: Option<Db>) -> (Option<Db>, Option<Db>) {
    let (req, resp) = (record.request(), record.response());
    let pending = get(resp, "pendingModifiedValues").unwrap_or(&Value::Null);
    let before = stored.or_else(|| Db::described(&[resp]));
    let after = before.as_ref().map(|b| {
        let s = |k: &str| text(req, &[k]).or_else(|| text(pending, &[k]));
        let n = |k: &str| num(req, &[k]).or_else(|| num(pending, &[k]));
        let multi = flag(req, &["multiAZ"]).or_else(|| flag(pending, &["multiAZ"]));
        Db {
            class: s("dBInstanceClass").unwrap_or(&b.class).to_owned(),
            engine: b.engine.clone(),
            multi_az: multi.unwrap_or(b.multi_az),
            storage_type: s("storageType")
                .map(str::to_owned)
                .or(b.storage_type.clone()),
            storage_gb: n("allocatedStorage").or(b.storage_gb),
            iops: n("iops").or(b.iops),
            in_cluster: b.in_cluster,
        }
    });
    (before, after)
}

/// ModifyDBInstance: a class, Multi-AZ or storage change → the delta against the instance
/// before (what dd0c stored, else the current values the response shows).
pub fn modify_db_instance(ctx: &Context) -> Vec<CostEvent> {
    let req = ctx.record.request();
    let changes = [
        "dBInstanceClass",
        "multiAZ",
        "allocatedStorage",
        "storageType",
        "iops",
    ]
    .iter()
    .any(|k| get(req, k).is_some());
    if !changes {
        return Vec::new();
    }
    let Some(id) = instance_id(ctx.record) else {
        return Vec::new();
    };
    let (before, after) = modified(ctx.record, stored(ctx.facts, ctx.region(), &id));
    let mut event = ctx.event("rds", "rds:db", CostAction::Modify, vec![id], 1);
    match (before, after) {
        (Some(before), Some(after)) => {
            event.sku = Some(after.class.clone());
            apply(&mut event, after.price(ctx.region()));
            event.previous_hourly_cost = before.price(ctx.region()).hourly_usd;
            if before.class != after.class {
                event.pricing_notes.push(format!(
                    "class changed from {} to {}",
                    before.class, after.class
                ));
            }
        }
        _ => {
            event.sku = text(req, &["dBInstanceClass"]).map(str::to_owned);
            event.pricing_notes.push(
                "the instance's engine and previous class are unknown to dd0c and not in the event: price unknown".to_owned(),
            );
        }
    }
    if flag(req, &["applyImmediately"]) != Some(true) {
        event
            .pricing_notes
            .push("applies in the next maintenance window".to_owned());
    }
    vec![event]
}

/// DeleteDBInstance: what the instance was costing (the response describes it).
pub fn delete_db_instance(ctx: &Context) -> Vec<CostEvent> {
    let Some(id) = instance_id(ctx.record) else {
        return Vec::new();
    };
    let db =
        Db::described(&[ctx.record.response()]).or_else(|| stored(ctx.facts, ctx.region(), &id));
    let mut event = ctx.event("rds", "rds:db", CostAction::Delete, vec![id], 1);
    match db {
        Some(db) => {
            event.sku = Some(db.class.clone());
            apply(&mut event, db.price(ctx.region()));
        }
        None => event
            .pricing_notes
            .push("the deleted instance's class is unknown: what it cost is unknown".to_owned()),
    }
    vec![event]
}

pub fn learned(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    let Some(id) = instance_id(record) else {
        return Vec::new();
    };
    let r = ResourceRef::new(ResourceKind::DbInstance, &record.aws_region, &id);
    let db = if record.event_name == "ModifyDBInstance" {
        modified(record, stored(facts, &record.aws_region, &id)).1
    } else {
        Db::described(&[record.response(), record.request()])
    };
    db.map(|db| Learned::Remember(r, db.spec()))
        .into_iter()
        .collect()
}
