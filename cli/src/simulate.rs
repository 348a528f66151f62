//! `dd0c simulate`: realistic, labeled CloudTrail for the accuracy benchmark and demos.
//!
//! Normal behaviour per account: Terraform applies on weekdays, Auto Scaling launching and
//! terminating, a nightly batch job, console users, and a steady stream of read-only calls.
//! Injected anomalies (labeled with the severity dd0c must reach at least): leaked-key GPU
//! bursts in a region the account never used (calls of one cheap GPU instance each, or of two
//! big ones), one-off huge instances, huge Multi-AZ databases (of current classes too), launch-template launches (type only in the response), big provisioned
//! concurrency, expensive volumes. Deterministic per seed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateOptions {
    pub seed: u64,
    pub days: u32,
    pub accounts: u32,
    /// Read-only calls per account and day (the bulk of real CloudTrail).
    pub noise_per_day: u32,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            days: 28,
            accounts: 3,
            noise_per_day: 40,
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
}

#[derive(Debug, Clone)]
pub struct SimRecord {
    pub account: String,
    pub time: DateTime<Utc>,
    pub record: Value,
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
const FAR_REGIONS: [&str; 3] = ["ap-southeast-2", "sa-east-1", "ap-northeast-1"];
const TERRAFORM_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0";
const SDK_UA: &str =
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0";
const BOTO_UA: &str = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.4 cfg/retry-mode#legacy Botocore/1.34.0";
const BROWSER_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

#[derive(Clone, Copy)]
enum Who {
    Terraform,
    AutoScaling,
    Batch,
    Console(usize),
    Leaked,
}

const CONSOLE_USERS: [&str; 3] = ["alice@example.com", "bruno@example.com", "chen@example.com"];

struct Gen {
    rng: StdRng,
    account: String,
    records: Vec<SimRecord>,
    labels: Vec<Label>,
    next_instance: u64,
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

    fn identity(&mut self, who: Who) -> (Value, &'static str, String) {
        let acc = self.account.clone();
        match who {
            Who::Terraform => (
                json!({
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLETF:terraform",
                    "arn": format!("arn:aws:sts::{acc}:assumed-role/terraform-deployer/terraform"),
                    "accountId": acc, "accessKeyId": "ASIAEXAMPLETF",
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLETF",
                            "arn": format!("arn:aws:iam::{acc}:role/terraform-deployer"),
                            "accountId": acc, "userName": "terraform-deployer"},
                        "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}
                    }
                }),
                TERRAFORM_UA,
                "10.20.0.15".into(),
            ),
            Who::AutoScaling => (
                json!({
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLEAS:AutoScaling",
                    "arn": format!("arn:aws:sts::{acc}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"),
                    "accountId": acc,
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEAS",
                            "arn": format!("arn:aws:iam::{acc}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
                            "accountId": acc, "userName": "AWSServiceRoleForAutoScaling"},
                        "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}
                    },
                    "invokedBy": "autoscaling.amazonaws.com"
                }),
                "autoscaling.amazonaws.com",
                "autoscaling.amazonaws.com".into(),
            ),
            Who::Batch => (
                json!({
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLEBA:nightly",
                    "arn": format!("arn:aws:sts::{acc}:assumed-role/batch-runner/nightly"),
                    "accountId": acc, "accessKeyId": "ASIAEXAMPLEBA",
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEBA",
                            "arn": format!("arn:aws:iam::{acc}:role/batch-runner"),
                            "accountId": acc, "userName": "batch-runner"},
                        "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}
                    }
                }),
                SDK_UA,
                "10.20.3.7".into(),
            ),
            Who::Console(i) => {
                let user = CONSOLE_USERS[i % CONSOLE_USERS.len()];
                (
                    json!({
                        "type": "AssumedRole",
                        "principalId": format!("AROAEXAMPLESSO:{user}"),
                        "arn": format!("arn:aws:sts::{acc}:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/{user}"),
                        "accountId": acc, "accessKeyId": "ASIAEXAMPLESSO",
                        "sessionContext": {
                            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLESSO",
                                "arn": format!("arn:aws:iam::{acc}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_0123456789abcdef"),
                                "accountId": acc, "userName": "AWSReservedSSO_Developer_0123456789abcdef"},
                            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "true"}
                        }
                    }),
                    BROWSER_UA,
                    "203.0.113.20".into(),
                )
            }
            Who::Leaked => (
                json!({
                    "type": "IAMUser",
                    "principalId": "AIDAEXAMPLELEAK",
                    "arn": format!("arn:aws:iam::{acc}:user/svc-reporting"),
                    "accountId": acc, "accessKeyId": "AKIAEXAMPLELEAKED01",
                    "userName": "svc-reporting"
                }),
                BOTO_UA,
                format!(
                    "185.220.{}.{}",
                    self.rng.gen_range(1..255),
                    self.rng.gen_range(1..255)
                ),
            ),
        }
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
        });
        event_id
    }

    fn label(&mut self, event_id: String, time: DateTime<Utc>, kind: &str, severity: &str) {
        self.labels.push(Label {
            event_id,
            account: self.account.clone(),
            kind: kind.into(),
            expected_severity: severity.into(),
            event_time: time,
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
    ) -> String {
        let request = json!({
            "dBInstanceIdentifier": name, "dBInstanceClass": class, "engine": "postgres",
            "engineVersion": "15.5", "masterUsername": "app", "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "allocatedStorage": storage, "storageType": "gp3", "multiAZ": multi_az,
            "publiclyAccessible": false, "storageEncrypted": true,
        });
        let response = json!({
            "dBInstanceIdentifier": name, "dBInstanceClass": class, "engine": "postgres",
            "engineVersion": "15.5", "dBInstanceStatus": "creating", "masterUsername": "app",
            "allocatedStorage": storage, "storageType": "gp3", "multiAZ": multi_az,
            "dbiResourceId": format!("db-{}", self.hex(26).to_uppercase()),
            "dBInstanceArn": format!("arn:aws:rds:{region}:{}:db:{name}", self.account),
            "publiclyAccessible": false, "storageEncrypted": true,
            "pendingModifiedValues": {"masterUserPassword": "****"},
        });
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

    fn noise(&mut self, time: DateTime<Utc>) {
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
        let region = if self.rng.gen_bool(0.8) { HOME } else { SECOND };
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
    };
    let days = options.days.max(1);
    let mut running_asg: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
    let tf_types = ["t3.medium", "m5.large", "t3.large"];
    let console_types = ["t3.small", "t3.medium", "t3.micro"];
    let function = "orders-api";
    for d in 0..days {
        let day = start + Duration::days(d as i64);
        let weekday = day.weekday().num_days_from_monday() < 5;
        // Read-only calls throughout the day.
        for _ in 0..options.noise_per_day {
            let t = at(
                day,
                g.rng.gen_range(0..24),
                g.rng.gen_range(0..60),
                g.rng.gen_range(0..60),
            );
            g.noise(t);
        }
        // Nightly batch: four compute instances for two hours.
        let t = at(day, 2, 0, g.rng.gen_range(0..30));
        let (_, ids) = g.run_instances(t, Who::Batch, HOME, "c5.4xlarge", 4, None);
        g.terminate(t + Duration::hours(2), Who::Batch, HOME, &ids);
        // Auto Scaling follows the daily load.
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
        // Terraform applies on weekdays.
        if weekday && g.rng.gen_bool(0.7) {
            let t0 = at(day, g.rng.gen_range(9..17), g.rng.gen_range(0..60), 0);
            let region = if g.rng.gen_bool(0.8) { HOME } else { SECOND };
            for k in 0..g.rng.gen_range(1..4) {
                let ty = tf_types[g.rng.gen_range(0..tf_types.len())];
                let n = g.rng.gen_range(1..3);
                g.run_instances(
                    t0 + Duration::seconds(20 * k),
                    Who::Terraform,
                    region,
                    ty,
                    n,
                    None,
                );
            }
            if g.rng.gen_bool(0.3) {
                g.create_volume(
                    t0 + Duration::seconds(90),
                    Who::Terraform,
                    region,
                    "gp3",
                    100,
                    None,
                );
            }
            if g.rng.gen_bool(0.1) {
                let name = format!("app-db-{d}");
                g.create_db(
                    t0 + Duration::seconds(120),
                    Who::Terraform,
                    region,
                    &name,
                    "db.t3.medium",
                    false,
                    100,
                );
            }
        }
        if d == 0 {
            g.create_function(at(day, 10, 0, 0), HOME, function, 3008);
        }
        // Console users now and then.
        if g.rng.gen_bool(0.35) {
            let t = at(day, g.rng.gen_range(9..19), g.rng.gen_range(0..60), 0);
            let ty = console_types[g.rng.gen_range(0..console_types.len())];
            let user = g.rng.gen_range(0..CONSOLE_USERS.len());
            g.run_instances(t, Who::Console(user), HOME, ty, 1, None);
        }
        // Scale-in of what Auto Scaling launched earlier.
        let now_end = day + Duration::days(1);
        let (due, keep): (Vec<_>, Vec<_>) = running_asg.drain(..).partition(|(t, _)| *t < now_end);
        running_asg = keep;
        for (t, ids) in due {
            g.terminate(t, Who::AutoScaling, HOME, &ids);
        }
    }
    inject_anomalies(&mut g, start, days, function);
    (g.records, g.labels)
}

/// Each anomaly kind once per account, at a random time (some during the learning period,
/// most after it).
fn inject_anomalies(g: &mut Gen, start: DateTime<Utc>, days: u32, function: &str) {
    if days < 3 {
        return;
    }
    let when = |g: &mut Gen| {
        let d = g.rng.gen_range(2..days) as i64;
        at(
            start + Duration::days(d),
            g.rng.gen_range(0..24),
            g.rng.gen_range(0..60),
            g.rng.gen_range(0..60),
        )
    };
    // Leaked key: GPU instances in a region the account never used, several calls in minutes;
    // each call may be cheap on its own (one g5.12xlarge, $5.67/hr) or not.
    let t = when(g);
    let region = FAR_REGIONS[g.rng.gen_range(0..FAR_REGIONS.len())];
    let (gpu, per_call) =
        [("p3.16xlarge", 2), ("g5.12xlarge", 1), ("g4dn.12xlarge", 1)][g.rng.gen_range(0..3)];
    for k in 0..g.rng.gen_range(4..8) {
        let (id, _) = g.run_instances(
            t + Duration::seconds(70 * k),
            Who::Leaked,
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
    // Huge Multi-AZ database.
    let t = when(g);
    // Current classes too: the price table predates them.
    let class = [
        "db.r5.12xlarge",
        "db.r6i.12xlarge",
        "db.r7g.12xlarge",
        "db.m7g.16xlarge",
    ][g.rng.gen_range(0..4)];
    let id = g.create_db(
        t,
        Who::Console(2),
        HOME,
        "analytics-replica",
        class,
        true,
        4000,
    );
    g.label(id, t, "huge_multi_az_db", "warning");
    // Launch-template launch: the type is only in the response.
    let t = when(g);
    let (id, _) = g.run_instances(t, Who::Batch, HOME, "m5.8xlarge", 4, Some("batch-large"));
    g.label(id, t, "launch_template_launch", "warning");
    // Big provisioned concurrency on a function created on day 0.
    let t = when(g);
    let id = g.provisioned_concurrency(t, HOME, function, 400);
    g.label(id, t, "big_provisioned_concurrency", "warning");
    // Expensive volume.
    let t = when(g);
    let id = g.create_volume(t, Who::Console(1), HOME, "io1", 16_000, Some(64_000));
    g.label(id, t, "expensive_volume", "warning");
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
    pub events: usize,
    pub labels: usize,
    pub envelope_files: Vec<PathBuf>,
    pub s3_files: usize,
}

/// Writes `DIR/events/<account>.jsonl` (EventBridge envelopes), the first account's records
/// again as CloudTrail S3 log files under `DIR/s3/AWSLogs/…`, and `DIR/labels.jsonl`.
pub fn write(sim: &Simulation, out: &Path) -> std::io::Result<Written> {
    let events_dir = out.join("events");
    std::fs::create_dir_all(&events_dir)?;
    let mut written = Written::default();
    let mut files: BTreeMap<&str, std::io::BufWriter<std::fs::File>> = BTreeMap::new();
    for r in &sim.records {
        if !files.contains_key(r.account.as_str()) {
            let path = events_dir.join(format!("{}.jsonl", r.account));
            written.envelope_files.push(path.clone());
            files.insert(
                &r.account,
                std::io::BufWriter::new(std::fs::File::create(path)?),
            );
        }
        if let Some(f) = files.get_mut(r.account.as_str()) {
            serde_json::to_writer(&mut *f, &envelope(r))?;
            f.write_all(b"\n")?;
        }
        written.events += 1;
    }
    for (_, mut f) in files {
        f.flush()?;
    }
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
    let events_dir = out.join("events");
    std::fs::create_dir_all(&events_dir)?;
    let mut written = Written::default();
    let mut labels = Vec::new();
    for i in 0..options.accounts {
        let (mut records, account_labels) = simulate_account(options, i, start);
        records.sort_by_key(|r| r.time);
        labels.extend(account_labels);
        let Some(account) = records.first().map(|r| r.account.clone()) else {
            continue;
        };
        let path = events_dir.join(format!("{account}.jsonl"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for r in &records {
            serde_json::to_writer(&mut f, &envelope(r))?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
        written.envelope_files.push(path);
        written.events += records.len();
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
        "dd0c simulate: {} events for {} accounts over {} days, {} labeled anomalies; {} CloudTrail S3 log files for account {} → {}",
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
mod tests {
    use super::*;

    fn small() -> SimulateOptions {
        SimulateOptions {
            seed: 7,
            days: 10,
            accounts: 2,
            noise_per_day: 5,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_output() {
        let a = generate(&small());
        let b = generate(&small());
        assert_eq!(a.records.len(), b.records.len());
        assert!(a
            .records
            .iter()
            .zip(&b.records)
            .all(|(x, y)| x.record == y.record));
        assert_eq!(a.labels, b.labels);
        let c = generate(&SimulateOptions { seed: 8, ..small() });
        assert_ne!(a.labels, c.labels);
    }

    #[test]
    fn every_label_names_a_generated_event_and_records_parse() {
        let sim = generate(&small());
        assert_eq!(sim.accounts.len(), 2);
        assert!(sim.labels.len() >= 2 * 6);
        for l in &sim.labels {
            assert!(sim
                .records
                .iter()
                .any(|r| r.record["eventID"] == l.event_id.as_str()));
        }
        for r in &sim.records {
            dd0c_shared::domain::CloudTrailRecord::from_value(r.record.clone())
                .expect("a CloudTrail record");
        }
        let templated = sim
            .labels
            .iter()
            .find(|l| l.kind == "launch_template_launch")
            .and_then(|l| {
                sim.records
                    .iter()
                    .find(|r| r.record["eventID"] == l.event_id.as_str())
            })
            .expect("a launch-template launch");
        assert!(templated.record["requestParameters"]
            .get("instanceType")
            .is_none());
        assert_eq!(
            templated.record["responseElements"]["instancesSet"]["items"][0]["instanceType"],
            "m5.8xlarge"
        );
    }

    #[test]
    fn writes_envelopes_s3_logs_and_labels() {
        let dir = std::env::temp_dir().join(format!("dd0c-sim-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sim = generate(&small());
        let w = write(&sim, &dir).expect("written");
        assert_eq!(w.envelope_files.len(), 2);
        assert!(w.s3_files > 0);
        let first = &sim.accounts[0];
        let logs = dir.join(format!(
            "s3/AWSLogs/{first}/CloudTrail/us-east-1/2026/01/05"
        ));
        assert!(std::fs::read_dir(&logs).expect("S3 layout").count() > 0);
        assert_eq!(read_labels(&dir.join("labels.jsonl")).unwrap(), sim.labels);
        let input = crate::input::read_inputs(&[dir.join("events")]);
        assert_eq!(input.records.len(), sim.records.len());
        assert!(input.errors.is_empty(), "{:?}", input.errors);
        let s3 = crate::input::read_inputs(&[dir.join("s3")]);
        let first_count = sim.records.iter().filter(|r| &r.account == first).count();
        assert_eq!(s3.records.len(), first_count);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every file of a directory tree, by path relative to it, with its bytes.
    fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).expect("file");
                    out.insert(p.strip_prefix(dir).expect("under").to_path_buf(), bytes);
                }
            }
        }
        out
    }

    #[test]
    fn writing_one_account_at_a_time_writes_the_same_files() {
        let base = std::env::temp_dir().join(format!("dd0c-sim-stream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let options = SimulateOptions {
            accounts: 3,
            ..small()
        };
        let whole = write(&generate(&options), &base.join("whole")).expect("written");
        let streamed = generate_and_write(&options, &base.join("streamed")).expect("written");
        assert_eq!(whole.events, streamed.events);
        assert_eq!(whole.labels, streamed.labels);
        assert_eq!(whole.s3_files, streamed.s3_files);
        let (a, b) = (tree(&base.join("whole")), tree(&base.join("streamed")));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        assert!(a == b, "the files differ");
        let _ = std::fs::remove_dir_all(&base);
    }
}
