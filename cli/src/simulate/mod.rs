//! `dd0c simulate`: labeled CloudTrail shaped like real organisations' accounts, for the
//! accuracy benchmark and demos. Deterministic per seed.
//!
//! Routine activity per account (each call tagged with its source, for per-source figures):
//! Terraform applies on weekdays in any of the account's one to three regions (current
//! families, volumes, security groups, databases), run by CI under a new session name each
//! time; a nightly batch job with a session per night whose instance type changes now and
//! then; Auto Scaling; Karpenter picking current families through instant fleets; console
//! users; nightly backups of what Terraform owns (DLM snapshots, database snapshots and weekly
//! images by a backup function); EKS's service-linked role keeping a security group open; a
//! preview bucket Terraform creates and destroys, then a person creates again under the same
//! name; a steady stream of read-only calls.
//!
//! Injected and labeled with the least severity dd0c must give them: cost anomalies (GPU
//! bursts by a leaked key or a never-seen role in a region the account never used, huge
//! instances, huge Multi-AZ databases of current classes, a Multi-AZ database on provisioned
//! IOPS, launch-template launches, big provisioned concurrency, provisioned-IOPS and
//! multi-terabyte volumes) and drift (people changing Terraform-owned security groups,
//! instances and databases, from the console or through it as "AWS Internal").
//!
//! With `history_days`, every other account has run since before it connected: those days go
//! to `history/` (what the backfill reads; `dd0c replay --history`), the rest to `events/`.
//!
//! Not modelled yet: AWS Organizations with roles shared across accounts, Spot interruptions,
//! ECS/Fargate tasks, accounts whose history holds anomalies of its own.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod identity;
mod managed;

use identity::{Who, CONSOLE_USERS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateOptions {
    pub seed: u64,
    pub days: u32,
    pub accounts: u32,
    /// Read-only calls per account and day (the bulk of real CloudTrail).
    pub noise_per_day: u32,
    /// Days of CloudTrail every other account (the second, fourth, …) has from before it
    /// connected at the start: written apart (`history/`), for the backfill's quiet fold.
    pub history_days: u32,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            days: 28,
            accounts: 3,
            noise_per_day: 40,
            history_days: 0,
        }
    }
}

/// One injected anomaly event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub event_id: String,
    pub account: String,
    pub kind: String,
    /// The least severity dd0c must give it.
    pub expected_severity: String,
    pub event_time: DateTime<Utc>,
    /// Which product must find it: `cost` (an anomaly) or `drift`.
    #[serde(default = "cost_product")]
    pub product: String,
}

fn cost_product() -> String {
    COST.to_owned()
}

pub const COST: &str = "cost";
pub const DRIFT: &str = "drift";

#[derive(Debug, Clone)]
pub struct SimRecord {
    pub account: String,
    pub time: DateTime<Utc>,
    pub record: Value,
    /// The routine activity (or injected scenario) the call belongs to, for per-source
    /// figures: `terraform`, `nightly_batch`, `karpenter`, `backups`, …
    pub activity: &'static str,
}

#[derive(Debug, Default)]
pub struct Simulation {
    pub start: DateTime<Utc>,
    pub records: Vec<SimRecord>,
    pub labels: Vec<Label>,
    pub accounts: Vec<String>,
}

const HOME: &str = "us-east-1";
const SECOND: &str = "eu-west-1";
const OTHER_HOME_REGIONS: [&str; 2] = [SECOND, "us-west-2"];
const FAR_REGIONS: [&str; 3] = ["ap-southeast-2", "sa-east-1", "ap-northeast-1"];
/// What the nightly job runs on when it does not run on its usual c5.4xlarge.
const BATCH_TYPES: [&str; 5] = [
    "c6i.4xlarge",
    "c6a.4xlarge",
    "m6i.4xlarge",
    "c7i.4xlarge",
    "c5.9xlarge",
];
/// Current families, as a Karpenter NodePool allows them.
const KARPENTER_TYPES: [&str; 10] = [
    "c6i.xlarge",
    "c6a.2xlarge",
    "m6i.xlarge",
    "m7i.2xlarge",
    "m6g.2xlarge",
    "c7g.xlarge",
    "r6i.xlarge",
    "r7g.large",
    "m7a.xlarge",
    "c7i.2xlarge",
];
const TERRAFORM_TYPES: [&str; 7] = [
    "t3.medium",
    "m5.large",
    "t3.large",
    "m6i.large",
    "m7g.large",
    "c7g.xlarge",
    "t4g.medium",
];
const TERRAFORM_DB_CLASSES: [&str; 4] = [
    "db.t4g.medium",
    "db.r6g.large",
    "db.m6i.large",
    "db.t3.medium",
];
const CONSOLE_TYPES: [&str; 4] = ["t3.small", "t3.medium", "t3.micro", "t4g.small"];

struct Gen {
    rng: StdRng,
    account: String,
    records: Vec<SimRecord>,
    labels: Vec<Label>,
    next_instance: u64,
    /// The activity the calls pushed now belong to.
    activity: &'static str,
    /// What Terraform created and still owns, for backups and drift to act on.
    owned: managed::Owned,
}

impl Gen {
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect()
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        time: DateTime<Utc>,
        who: Who,
        source: &str,
        name: &str,
        region: &str,
        request: Value,
        response: Value,
        read_only: bool,
    ) -> String {
        let (identity, ua, ip) = self.identity(who);
        let event_id = self.uuid();
        let request_id = self.uuid();
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": format!("{source}.amazonaws.com"),
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
            "requestParameters": request,
            "responseElements": response,
            "requestID": request_id,
            "eventID": event_id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        });
        self.records.push(SimRecord {
            account: self.account.clone(),
            time,
            record,
            activity: self.activity,
        });
        event_id
    }

    fn label(&mut self, event_id: String, time: DateTime<Utc>, kind: &str, severity: &str) {
        self.label_for(COST, event_id, time, kind, severity);
    }

    fn label_for(
        &mut self,
        product: &str,
        event_id: String,
        time: DateTime<Utc>,
        kind: &str,
        severity: &str,
    ) {
        self.labels.push(Label {
            event_id,
            account: self.account.clone(),
            kind: kind.into(),
            expected_severity: severity.into(),
            event_time: time,
            product: product.into(),
        });
    }

    fn instance_ids(&mut self, n: u32) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.next_instance += 1;
                format!("i-{:017x}", self.next_instance * 7919 + 0xabc)
            })
            .collect()
    }

    /// RunInstances; `template`: launched from a launch template (type only in the response).
    fn run_instances(
        &mut self,
        time: DateTime<Utc>,
        who: Who,
        region: &str,
        instance_type: &str,
        count: u32,
        template: Option<&str>,
    ) -> (String, Vec<String>) {
        let ids = self.instance_ids(count);
        let zone = format!("{region}a");
        let mut request = json!({
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": count, "maxCount": count}]},
            "blockDeviceMapping": {},
            "monitoring": {"enabled": false},
            "disableApiTermination": false,
            "disableApiStop": false,
            "clientToken": self.uuid(),
        });
        match template {
            Some(lt) => {
                request["launchTemplate"] = json!({"launchTemplateName": lt, "version": "$Latest"});
            }
            None => request["instanceType"] = json!(instance_type),
        }
        let items: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({
                    "instanceId": id, "imageId": "ami-0abcdef1234567890",
                    "instanceState": {"code": 0, "name": "pending"},
                    "amiLaunchIndex": 0, "productCodes": {},
                    "instanceType": instance_type,
                    "launchTime": time.timestamp_millis(),
                    "placement": {"availabilityZone": zone, "tenancy": "default"},
                    "monitoring": {"state": "disabled"},
                    "privateIpAddress": "10.20.1.10",
                    "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda",
                    "virtualizationType": "hvm", "hypervisor": "xen",
                    "platformDetails": "Linux/UNIX",
                })
            })
            .collect();
        let response = json!({
            "requestId": self.uuid(),
            "reservationId": format!("r-{}", self.hex(17)),
            "ownerId": self.account,
            "groupSet": {},
            "instancesSet": {"items": items},
        });
        let id = self.push(
            time,
            who,
            "ec2",
            "RunInstances",
            region,
            request,
            response,
            false,
        );
        (id, ids)
    }

    fn terminate(&mut self, time: DateTime<Utc>, who: Who, region: &str, ids: &[String]) {
        let request = json!({"instancesSet": {"items": ids.iter().map(|i| json!({"instanceId": i})).collect::<Vec<_>>()}});
        let response = json!({"requestId": self.uuid(), "instancesSet": {"items": ids.iter().map(|i| json!({
            "instanceId": i, "currentState": {"code": 32, "name": "shutting-down"},
            "previousState": {"code": 16, "name": "running"}})).collect::<Vec<_>>()}});
        self.push(
            time,
            who,
            "ec2",
            "TerminateInstances",
            region,
            request,
            response,
            false,
        );
    }

    fn create_volume(
        &mut self,
        time: DateTime<Utc>,
        who: Who,
        region: &str,
        volume_type: &str,
        size: u32,
        iops: Option<u32>,
    ) -> String {
        let zone = format!("{region}a");
        let mut request =
            json!({"size": size, "zone": zone, "volumeType": volume_type, "encrypted": true});
        let mut response = json!({
            "requestId": self.uuid(), "volumeId": format!("vol-{}", self.hex(17)),
            "size": size.to_string(), "zone": zone, "status": "creating",
            "createTime": time.timestamp_millis(), "volumeType": volume_type,
            "encrypted": true, "multiAttachEnabled": false,
        });
        if let Some(iops) = iops {
            request["iops"] = json!(iops);
            response["iops"] = json!(iops);
        }
        self.push(
            time,
            who,
            "ec2",
            "CreateVolume",
            region,
            request,
            response,
            false,
        )
    }

    /// CreateDBInstance (PostgreSQL); `iops`: provisioned-IOPS (io1) storage, else gp3.
    #[allow(clippy::too_many_arguments)]
    fn create_db(
        &mut self,
        time: DateTime<Utc>,
        who: Who,
        region: &str,
        name: &str,
        class: &str,
        multi_az: bool,
        storage: u32,
        iops: Option<u32>,
    ) -> String {
        let storage_type = if iops.is_some() { "io1" } else { "gp3" };
        let mut request = json!({
            "dBInstanceIdentifier": name, "dBInstanceClass": class, "engine": "postgres",
            "engineVersion": "15.5", "masterUsername": "app", "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "allocatedStorage": storage, "storageType": storage_type, "multiAZ": multi_az,
            "publiclyAccessible": false, "storageEncrypted": true,
        });
        let mut response = json!({
            "dBInstanceIdentifier": name, "dBInstanceClass": class, "engine": "postgres",
            "engineVersion": "15.5", "dBInstanceStatus": "creating", "masterUsername": "app",
            "allocatedStorage": storage, "storageType": storage_type, "multiAZ": multi_az,
            "dbiResourceId": format!("db-{}", self.hex(26).to_uppercase()),
            "dBInstanceArn": format!("arn:aws:rds:{region}:{}:db:{name}", self.account),
            "publiclyAccessible": false, "storageEncrypted": true,
            "pendingModifiedValues": {"masterUserPassword": "****"},
        });
        if let Some(iops) = iops {
            request["iops"] = json!(iops);
            response["iops"] = json!(iops);
        }
        self.push(
            time,
            who,
            "rds",
            "CreateDBInstance",
            region,
            request,
            response,
            false,
        )
    }

    /// Karpenter's instant fleet of one node (logged in the PascalCase `CreateFleetRequest`
    /// shape); the ids of what it launched.
    fn create_fleet(
        &mut self,
        time: DateTime<Utc>,
        region: &str,
        instance_type: &str,
        spot: bool,
    ) -> Vec<String> {
        let ids = self.instance_ids(1);
        let capacity = if spot { "spot" } else { "on-demand" };
        let request = json!({"CreateFleetRequest": {
            "Type": "instant",
            "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": capacity},
            "LaunchTemplateConfigs": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": "karpenter.k8s.aws/1234567890", "Version": "$Latest"},
                "Overrides": [{"InstanceType": instance_type, "SubnetId": "subnet-0abc", "AvailabilityZone": format!("{region}a")}]
            },
            "TagSpecification": {"ResourceType": "instance", "Tag": [{"Key": "karpenter.sh/nodepool", "Value": "default"}]}
        }});
        let response = json!({"CreateFleetResponse": {
            "requestId": self.uuid(),
            "fleetId": format!("fleet-{}", self.uuid()),
            "errorSet": "",
            "fleetInstanceSet": {"item": {
                "instanceIds": {"item": ids[0]},
                "instanceType": instance_type,
                "lifecycle": if spot { "spot" } else { "on-demand" },
                "launchTemplateAndOverrides": {"overrides": {"InstanceType": instance_type}}
            }}
        }});
        self.push(
            time,
            Who::Karpenter,
            "ec2",
            "CreateFleet",
            region,
            request,
            response,
            false,
        );
        ids
    }

    fn create_function(&mut self, time: DateTime<Utc>, region: &str, name: &str, memory: u32) {
        let arn = format!("arn:aws:lambda:{region}:{}:function:{name}", self.account);
        let request = json!({"functionName": name, "runtime": "python3.12", "role": format!("arn:aws:iam::{}:role/lambda-exec", self.account),
            "handler": "app.handler", "memorySize": memory, "timeout": 30, "publish": true,
            "architectures": ["x86_64"]});
        let response = json!({"functionName": name, "functionArn": arn, "runtime": "python3.12",
            "handler": "app.handler", "memorySize": memory, "timeout": 30, "version": "1",
            "state": "Pending", "architectures": ["x86_64"], "packageType": "Zip"});
        self.push(
            time,
            Who::Terraform,
            "lambda",
            "CreateFunction20150331",
            region,
            request,
            response,
            false,
        );
    }

    fn provisioned_concurrency(
        &mut self,
        time: DateTime<Utc>,
        region: &str,
        name: &str,
        n: u32,
    ) -> String {
        let request = json!({"functionName": name, "qualifier": "live", "provisionedConcurrentExecutions": n});
        let response = json!({"requestedProvisionedConcurrentExecutions": n, "allocatedProvisionedConcurrentExecutions": 0,
            "status": "IN_PROGRESS", "lastModified": time.to_rfc3339()});
        self.push(
            time,
            Who::Console(1),
            "lambda",
            "PutProvisionedConcurrencyConfig",
            region,
            request,
            response,
            false,
        )
    }

    fn noise(&mut self, time: DateTime<Utc>, regions: &[&'static str]) {
        let who = match self.rng.gen_range(0..4) {
            0 => Who::Terraform,
            1 => Who::Batch,
            n => Who::Console(n),
        };
        let (source, name) = match self.rng.gen_range(0..5) {
            0 => ("ec2", "DescribeInstances"),
            1 => ("ec2", "DescribeSecurityGroups"),
            2 => ("s3", "ListBuckets"),
            3 => ("rds", "DescribeDBInstances"),
            _ => ("iam", "GetRole"),
        };
        let region = if self.rng.gen_bool(0.7) {
            HOME
        } else {
            regions[self.rng.gen_range(0..regions.len())]
        };
        self.push(
            time,
            who,
            source,
            name,
            region,
            json!({"maxResults": 100}),
            Value::Null,
            true,
        );
    }
}

fn at(day: DateTime<Utc>, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    day + Duration::hours(hour as i64)
        + Duration::minutes(minute as i64)
        + Duration::seconds(second as i64)
}

/// The regions an account works in: its home, and for most accounts one or two more.
fn account_regions(g: &mut Gen) -> Vec<&'static str> {
    let mut regions = vec![HOME];
    for r in OTHER_HOME_REGIONS {
        if g.rng.gen_bool(0.45) {
            regions.push(r);
        }
    }
    regions
}

fn pick<'a>(g: &mut Gen, items: &[&'a str]) -> &'a str {
    items[g.rng.gen_range(0..items.len())]
}

fn simulate_account(
    options: &SimulateOptions,
    index: u32,
    start: DateTime<Utc>,
) -> (Vec<SimRecord>, Vec<Label>) {
    let account = format!("{:012}", 100_000_000_000u64 + index as u64 * 111_111);
    let mut g = Gen {
        rng: StdRng::seed_from_u64(
            options
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(index as u64),
        ),
        account,
        records: Vec::new(),
        labels: Vec::new(),
        next_instance: index as u64 * 1_000_000,
        activity: "read_only",
        owned: managed::Owned::default(),
    };
    let days = options.days.max(1);
    let regions = account_regions(&mut g);
    let runs_karpenter = g.rng.gen_bool(0.5);
    let mut running_asg: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
    let mut running_nodes: Vec<(DateTime<Utc>, String, Vec<String>)> = Vec::new();
    let function = "orders-api";
    // An account with history has run since before it connected (the start).
    let first_day = if index % 2 == 1 {
        -i64::from(options.history_days)
    } else {
        0
    };
    for d in first_day..i64::from(days) {
        let day = start + Duration::days(d);
        let weekday = day.weekday().num_days_from_monday() < 5;
        g.activity = "read_only";
        for _ in 0..options.noise_per_day {
            let t = at(
                day,
                g.rng.gen_range(0..24),
                g.rng.gen_range(0..60),
                g.rng.gen_range(0..60),
            );
            g.noise(t, &regions);
        }
        // Backups run at night, of what Terraform created on earlier days.
        g.routine_backups(day);
        g.service_upkeep(day);
        // Nightly batch: compute instances for two hours; the job picks whatever type its
        // configuration names that night (mostly the usual one, sometimes a newer family).
        g.activity = "nightly_batch";
        let t = at(day, 2, 0, g.rng.gen_range(0..30));
        let ty = if g.rng.gen_bool(0.75) {
            "c5.4xlarge"
        } else {
            pick(&mut g, &BATCH_TYPES)
        };
        let n = g.rng.gen_range(3..6);
        let (_, ids) = g.run_instances(t, Who::Batch, HOME, ty, n, None);
        g.terminate(t + Duration::hours(2), Who::Batch, HOME, &ids);
        // Auto Scaling follows the daily load.
        g.activity = "autoscaling";
        for _ in 0..g.rng.gen_range(3..7) {
            let t = at(
                day,
                g.rng.gen_range(8..20),
                g.rng.gen_range(0..60),
                g.rng.gen_range(0..60),
            );
            let n = g.rng.gen_range(1..3);
            let (_, ids) = g.run_instances(t, Who::AutoScaling, HOME, "c5.xlarge", n, None);
            running_asg.push((t + Duration::hours(g.rng.gen_range(1..5)), ids));
        }
        // Karpenter provisions EKS nodes of whatever type fits the pending pods best.
        if runs_karpenter {
            g.activity = "karpenter";
            for _ in 0..g.rng.gen_range(2..8) {
                let t = at(
                    day,
                    g.rng.gen_range(0..24),
                    g.rng.gen_range(0..60),
                    g.rng.gen_range(0..60),
                );
                let ty = pick(&mut g, &KARPENTER_TYPES);
                let spot = g.rng.gen_bool(0.3);
                let ids = g.create_fleet(t, HOME, ty, spot);
                running_nodes.push((
                    t + Duration::hours(g.rng.gen_range(2..30)),
                    HOME.into(),
                    ids,
                ));
            }
        }
        // Terraform applies on weekdays, in any of the account's regions.
        if weekday && g.rng.gen_bool(0.7) {
            g.activity = "terraform";
            let t0 = at(day, g.rng.gen_range(9..17), g.rng.gen_range(0..60), 0);
            let region = pick(&mut g, &regions);
            for k in 0..g.rng.gen_range(1..4) {
                let ty = pick(&mut g, &TERRAFORM_TYPES);
                let n = g.rng.gen_range(1..3);
                let (_, ids) = g.run_instances(
                    t0 + Duration::seconds(20 * k),
                    Who::Terraform,
                    region,
                    ty,
                    n,
                    None,
                );
                g.owned
                    .instances
                    .extend(ids.into_iter().map(|i| (region, i)));
            }
            if g.rng.gen_bool(0.4) {
                let size = [50, 100, 200, 500][g.rng.gen_range(0..4)];
                let id = g.create_volume(
                    t0 + Duration::seconds(90),
                    Who::Terraform,
                    region,
                    "gp3",
                    size,
                    None,
                );
                g.owned.volumes.push((region, volume_id_of(&g, &id)));
            }
            if g.rng.gen_bool(0.3) {
                g.create_security_group(t0 + Duration::seconds(100), region, d);
            }
            if g.rng.gen_bool(0.12) {
                let name = format!("app-db-{d}");
                let class = pick(&mut g, &TERRAFORM_DB_CLASSES);
                g.create_db(
                    t0 + Duration::seconds(120),
                    Who::Terraform,
                    region,
                    &name,
                    class,
                    false,
                    100,
                    None,
                );
                g.owned.databases.push((region, name));
            }
        }
        if d == first_day {
            g.activity = "terraform";
            g.create_function(at(day, 10, 0, 0), HOME, function, 3008);
            g.create_security_group(at(day, 10, 1, 0), HOME, d);
        }
        // Console users now and then.
        if g.rng.gen_bool(0.35) {
            g.activity = "console";
            let t = at(day, g.rng.gen_range(9..19), g.rng.gen_range(0..60), 0);
            let ty = pick(&mut g, &CONSOLE_TYPES);
            let user = g.rng.gen_range(0..CONSOLE_USERS.len());
            let region = pick(&mut g, &regions);
            g.run_instances(t, Who::Console(user), region, ty, 1, None);
        }
        // Scale-in of what Auto Scaling and Karpenter launched earlier.
        let now_end = day + Duration::days(1);
        g.activity = "autoscaling";
        let (due, keep): (Vec<_>, Vec<_>) = running_asg.drain(..).partition(|(t, _)| *t < now_end);
        running_asg = keep;
        for (t, ids) in due {
            g.terminate(t, Who::AutoScaling, HOME, &ids);
        }
        g.activity = "karpenter";
        let (due, keep): (Vec<_>, Vec<_>) =
            running_nodes.drain(..).partition(|(t, _, _)| *t < now_end);
        running_nodes = keep;
        for (t, region, ids) in due {
            g.terminate(t, Who::Karpenter, &region, &ids);
        }
    }
    inject_anomalies(&mut g, start, days, function, &regions);
    g.inject_drift(start, days);
    // Made last, so that what the generator drew for everything else is unchanged.
    g.bucket_recreated_by_hand(start, days);
    (g.records, g.labels)
}

/// The volume id in a CreateVolume call's response.
fn volume_id_of(g: &Gen, event_id: &str) -> String {
    g.records
        .iter()
        .rev()
        .find(|r| r.record["eventID"] == event_id)
        .and_then(|r| r.record["responseElements"]["volumeId"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Each anomaly kind once per account, at a random time (some during the learning period,
/// most after it).
fn inject_anomalies(
    g: &mut Gen,
    start: DateTime<Utc>,
    days: u32,
    function: &str,
    regions: &[&str],
) {
    if days < 3 {
        return;
    }
    g.activity = "anomaly";
    let when = |g: &mut Gen| {
        let d = g.rng.gen_range(2..days) as i64;
        at(
            start + Duration::days(d),
            g.rng.gen_range(0..24),
            g.rng.gen_range(0..60),
            g.rng.gen_range(0..60),
        )
    };
    let far: Vec<&str> = FAR_REGIONS
        .iter()
        .copied()
        .filter(|r| !regions.contains(r))
        .collect();
    // Leaked credentials: GPU instances in a region the account never used, several calls in
    // minutes, by a leaked user key or a never-seen role session; each call may be cheap on
    // its own (one g5.12xlarge, $5.67/hr) or not.
    let t = when(g);
    let region = pick(g, &far);
    let who = if g.rng.gen_bool(0.5) {
        Who::Leaked
    } else {
        Who::Stranger
    };
    let (gpu, per_call) = [
        ("p3.16xlarge", 2),
        ("g5.12xlarge", 1),
        ("g4dn.12xlarge", 1),
        ("g6.12xlarge", 1),
        ("p4d.24xlarge", 1),
    ][g.rng.gen_range(0..5)];
    for k in 0..g.rng.gen_range(4..8) {
        let (id, _) = g.run_instances(
            t + Duration::seconds(70 * k),
            who,
            region,
            gpu,
            per_call,
            None,
        );
        g.label(id, t, "leaked_key_gpu_burst", "critical");
    }
    // One-off huge instance from the console.
    let t = when(g);
    let (id, _) = g.run_instances(t, Who::Console(0), HOME, "x2iedn.32xlarge", 1, None);
    g.label(id, t, "huge_instance", "critical");
    // Huge Multi-AZ database, of current classes too.
    let t = when(g);
    let class = [
        "db.r5.12xlarge",
        "db.r6i.12xlarge",
        "db.r7g.12xlarge",
        "db.m7g.16xlarge",
        "db.r6g.16xlarge",
    ][g.rng.gen_range(0..5)];
    let id = g.create_db(
        t,
        Who::Console(2),
        HOME,
        "analytics-replica",
        class,
        true,
        4000,
        None,
    );
    g.label(id, t, "huge_multi_az_db", "warning");
    // A Multi-AZ database on provisioned-IOPS storage: most of its cost is the storage.
    let t = when(g);
    let id = g.create_db(
        t,
        Who::ConsoleInternal(1),
        HOME,
        "ledger-io",
        "db.m6i.2xlarge",
        true,
        6000,
        Some(40_000),
    );
    g.label(id, t, "provisioned_iops_db", "warning");
    // Launch-template launch by hand: the type is only in the response.
    let t = when(g);
    let (id, _) = g.run_instances(
        t,
        Who::Console(1),
        HOME,
        "m5.8xlarge",
        4,
        Some("batch-large"),
    );
    g.label(id, t, "launch_template_launch", "warning");
    // Big provisioned concurrency on a function created on day 0.
    let t = when(g);
    let id = g.provisioned_concurrency(t, HOME, function, 400);
    g.label(id, t, "big_provisioned_concurrency", "warning");
    // Expensive volumes: provisioned IOPS, and plain multi-terabyte storage.
    let t = when(g);
    let id = g.create_volume(t, Who::Console(1), HOME, "io1", 16_000, Some(64_000));
    g.label(id, t, "expensive_volume", "warning");
    let t = when(g);
    let (ty, size) = [("gp3", 14_000), ("st1", 16_000), ("io2", 8_000)][g.rng.gen_range(0..3)];
    let iops = (ty == "io2").then_some(32_000);
    let id = g.create_volume(t, Who::ConsoleInternal(2), HOME, ty, size, iops);
    g.label(id, t, "multi_terabyte_volume", "warning");
}

fn simulation_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

fn sort_labels(labels: &mut [Label]) {
    labels.sort_by(|a, b| {
        a.event_time
            .cmp(&b.event_time)
            .then(a.event_id.cmp(&b.event_id))
    });
}

/// Generates the whole simulation in memory, records sorted by time.
pub fn generate(options: &SimulateOptions) -> Simulation {
    let start = simulation_start();
    let mut sim = Simulation {
        start,
        ..Default::default()
    };
    for i in 0..options.accounts {
        let (records, labels) = simulate_account(options, i, start);
        if let Some(r) = records.first() {
            sim.accounts.push(r.account.clone());
        }
        sim.records.extend(records);
        sim.labels.extend(labels);
    }
    sim.records.sort_by_key(|r| r.time);
    sort_labels(&mut sim.labels);
    sim
}

/// The EventBridge envelope CloudTrail events arrive in.
pub fn envelope(r: &SimRecord) -> Value {
    let source = r.record["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .unwrap_or("unknown");
    json!({
        "version": "0",
        "id": r.record["eventID"],
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{source}"),
        "account": r.account,
        "time": r.record["eventTime"],
        "region": r.record["awsRegion"],
        "resources": [],
        "detail": r.record,
    })
}

#[derive(Debug, Default)]
pub struct Written {
    /// Events after the accounts connected (`events/`).
    pub events: usize,
    /// Events from before, of the accounts with history (`history/`).
    pub history_events: usize,
    pub labels: usize,
    pub envelope_files: Vec<PathBuf>,
    pub history_files: Vec<PathBuf>,
    pub s3_files: usize,
}

/// Envelope files, one per account: `events/<account>.jsonl`, and `history/<account>.jsonl`
/// for what happened before the account connected (`start`).
struct EnvelopeFiles {
    out: PathBuf,
    start: DateTime<Utc>,
    files: BTreeMap<(String, bool), std::io::BufWriter<std::fs::File>>,
}

impl EnvelopeFiles {
    fn new(out: &Path, start: DateTime<Utc>) -> std::io::Result<Self> {
        std::fs::create_dir_all(out.join("events"))?;
        Ok(Self {
            out: out.to_path_buf(),
            start,
            files: BTreeMap::new(),
        })
    }

    fn write(&mut self, r: &SimRecord, written: &mut Written) -> std::io::Result<()> {
        let history = r.time < self.start;
        let key = (r.account.clone(), history);
        if !self.files.contains_key(&key) {
            let dir = self.out.join(if history { "history" } else { "events" });
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("{}.jsonl", r.account));
            if history {
                written.history_files.push(path.clone());
            } else {
                written.envelope_files.push(path.clone());
            }
            self.files.insert(
                key.clone(),
                std::io::BufWriter::new(std::fs::File::create(path)?),
            );
        }
        if let Some(f) = self.files.get_mut(&key) {
            serde_json::to_writer(&mut *f, &envelope(r))?;
            f.write_all(b"\n")?;
        }
        if history {
            written.history_events += 1;
        } else {
            written.events += 1;
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        for (_, mut f) in self.files {
            f.flush()?;
        }
        Ok(())
    }
}

/// Writes `DIR/events/<account>.jsonl` (EventBridge envelopes), `DIR/history/<account>.jsonl`
/// for the accounts with history, the first account's records again as CloudTrail S3 log files
/// under `DIR/s3/AWSLogs/…`, and `DIR/labels.jsonl`.
pub fn write(sim: &Simulation, out: &Path) -> std::io::Result<Written> {
    let mut written = Written::default();
    let mut files = EnvelopeFiles::new(out, sim.start)?;
    for r in &sim.records {
        files.write(r, &mut written)?;
    }
    files.finish()?;
    if let Some(first) = sim.accounts.first() {
        written.s3_files = write_s3_logs(
            sim.records.iter().filter(|r| &r.account == first),
            first,
            out,
        )?;
    }
    written.labels = write_labels(&sim.labels, out)?;
    Ok(written)
}

/// CloudTrail delivers a file per region about every five minutes; one per hour here.
fn write_s3_logs<'a>(
    records: impl Iterator<Item = &'a SimRecord>,
    first: &str,
    out: &Path,
) -> std::io::Result<usize> {
    let mut groups: BTreeMap<(String, DateTime<Utc>), Vec<&Value>> = BTreeMap::new();
    for r in records {
        let region = r.record["awsRegion"].as_str().unwrap_or(HOME).to_owned();
        let hour = r
            .time
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(r.time);
        groups.entry((region, hour)).or_default().push(&r.record);
    }
    let mut files = 0;
    for ((region, hour), records) in groups {
        let dir = out.join(format!(
            "s3/AWSLogs/{first}/CloudTrail/{region}/{}",
            hour.format("%Y/%m/%d")
        ));
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{first}_CloudTrail_{region}_{}_{:08x}.json.gz",
            hour.format("%Y%m%dT%H%MZ"),
            hour.timestamp() as u32
        );
        let file = std::fs::File::create(dir.join(name))?;
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        serde_json::to_writer(&mut gz, &json!({ "Records": records }))?;
        gz.finish()?;
        files += 1;
    }
    Ok(files)
}

fn write_labels(labels: &[Label], out: &Path) -> std::io::Result<usize> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("labels.jsonl"))?);
    for l in labels {
        serde_json::to_writer(&mut file, l)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(labels.len())
}

/// [`write`] of [`generate`], one account at a time: the same files, byte for byte, in the
/// memory of one account's records (a year of fifty accounts is a million events).
pub fn generate_and_write(options: &SimulateOptions, out: &Path) -> std::io::Result<Written> {
    let start = simulation_start();
    let mut written = Written::default();
    let mut labels = Vec::new();
    for i in 0..options.accounts {
        let (mut records, account_labels) = simulate_account(options, i, start);
        records.sort_by_key(|r| r.time);
        labels.extend(account_labels);
        let Some(account) = records.first().map(|r| r.account.clone()) else {
            continue;
        };
        let mut files = EnvelopeFiles::new(out, start)?;
        for r in &records {
            files.write(r, &mut written)?;
        }
        files.finish()?;
        if i == 0 {
            written.s3_files = write_s3_logs(records.iter(), &account, out)?;
        }
    }
    sort_labels(&mut labels);
    written.labels = write_labels(&labels, out)?;
    Ok(written)
}

pub fn read_labels(path: &Path) -> std::io::Result<Vec<Label>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

/// `dd0c simulate`: writes the simulation of `options` to `out`.
pub fn cli(options: &SimulateOptions, out: &Path) -> anyhow::Result<std::process::ExitCode> {
    let written = generate_and_write(options, out)?;
    let first = written
        .envelope_files
        .first()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "-".into());
    eprintln!(
        "dd0c simulate: {} events for {} accounts over {} days, {} labeled anomalies and drifts; {} CloudTrail S3 log files for account {} → {}",
        written.events,
        written.envelope_files.len(),
        options.days,
        written.labels,
        written.s3_files,
        first,
        out.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
