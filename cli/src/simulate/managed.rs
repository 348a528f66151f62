//! What happens to the resources Terraform owns: routine operations that leave them as they
//! were (snapshots by Data Lifecycle Manager, nightly database snapshots and weekly images by a
//! backup function, reads) and the out-of-band changes that are drift (labeled `drift`).

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{json, Value};

use super::identity::Who;
use super::{at, Gen, DRIFT, HOME};

/// Resources created by Terraform, by region.
#[derive(Debug, Default)]
pub(super) struct Owned {
    pub instances: Vec<(&'static str, String)>,
    pub volumes: Vec<(&'static str, String)>,
    pub databases: Vec<(&'static str, String)>,
    pub security_groups: Vec<(&'static str, String)>,
}

fn ingress(cidr: &str, port: u16) -> Value {
    json!({"items": [{
        "ipProtocol": "tcp", "fromPort": port, "toPort": port, "groups": {},
        "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}
    }]})
}

impl Gen {
    /// A `{"requestId", "_return": true}` response.
    fn returned(&mut self) -> Value {
        json!({"requestId": self.uuid(), "_return": true})
    }

    /// Terraform creates a security group and its ingress rule.
    pub(super) fn create_security_group(
        &mut self,
        time: DateTime<Utc>,
        region: &'static str,
        day: i64,
    ) {
        let group_id = format!("sg-{}", self.hex(17));
        let name = format!("app-{day}-{}", self.hex(4));
        let request_id = self.uuid();
        self.push(
            time,
            Who::Terraform,
            "ec2",
            "CreateSecurityGroup",
            region,
            json!({"groupName": name, "groupDescription": "Managed by Terraform", "vpcId": "vpc-0a1b2c3d4e5f60718"}),
            json!({"requestId": request_id, "_return": true, "groupId": group_id}),
            false,
        );
        let ok = self.returned();
        self.push(
            time + Duration::seconds(2),
            Who::Terraform,
            "ec2",
            "AuthorizeSecurityGroupIngress",
            region,
            json!({"groupId": group_id, "ipPermissions": ingress("10.0.0.0/8", 443)}),
            ok,
            false,
        );
        self.owned.security_groups.push((region, group_id));
    }

    /// A day's backups of what Terraform owns, none of which changes it: Data Lifecycle
    /// Manager snapshots volumes; a backup function (an ordinary role, a session per run)
    /// snapshots databases nightly, images an instance weekly and tags what it made; and the
    /// backup tooling reads what it backs up.
    pub(super) fn routine_backups(&mut self, day: DateTime<Utc>) {
        self.activity = "backups";
        let volumes: Vec<_> = self.owned.volumes.iter().take(3).cloned().collect();
        for (region, volume) in volumes {
            let t = at(day, 3, self.rng.gen_range(0..30), self.rng.gen_range(0..60));
            let snapshot = format!("snap-{}", self.hex(17));
            let response = json!({"requestId": self.uuid(), "snapshotId": snapshot, "volumeId": volume,
                "status": "pending", "startTime": t.timestamp_millis(), "ownerId": self.account});
            self.push(
                t,
                Who::Dlm,
                "ec2",
                "CreateSnapshot",
                region,
                json!({"volumeId": volume, "description": "Created by DLM policy policy-0123456789abcdef0"}),
                response,
                false,
            );
        }
        let databases: Vec<_> = self.owned.databases.iter().take(2).cloned().collect();
        for (region, db) in databases {
            let t = at(day, 4, self.rng.gen_range(0..30), self.rng.gen_range(0..60));
            self.push(
                t,
                Who::BackupJob,
                "rds",
                "DescribeDBInstances",
                region,
                json!({"dBInstanceIdentifier": db}),
                Value::Null,
                true,
            );
            let snapshot = format!("{db}-nightly-{}", t.format("%Y-%m-%d"));
            self.push(
                t + Duration::seconds(3),
                Who::BackupJob,
                "rds",
                "CreateDBSnapshot",
                region,
                json!({"dBSnapshotIdentifier": snapshot, "dBInstanceIdentifier": db}),
                json!({"dBSnapshotIdentifier": snapshot, "dBInstanceIdentifier": db, "status": "creating",
                    "snapshotType": "manual", "engine": "postgres"}),
                false,
            );
        }
        if day.format("%u").to_string() == "7" {
            if let Some((region, instance)) = self.owned.instances.first().cloned() {
                let t = at(day, 5, self.rng.gen_range(0..30), 0);
                let image = format!("ami-{}", self.hex(17));
                let request_id = self.uuid();
                self.push(
                    t,
                    Who::BackupJob,
                    "ec2",
                    "CreateImage",
                    region,
                    json!({"instanceId": instance, "name": format!("weekly-{}", t.format("%Y%m%d")), "noReboot": true}),
                    json!({"requestId": request_id, "imageId": image}),
                    false,
                );
                let ok = self.returned();
                self.push(
                    t + Duration::seconds(5),
                    Who::BackupJob,
                    "ec2",
                    "CreateTags",
                    region,
                    json!({"resourcesSet": {"items": [{"resourceId": image}]},
                        "tagSet": {"items": [{"key": "backup", "value": "weekly"}, {"key": "source", "value": instance}]}}),
                    ok,
                    false,
                );
            }
        }
    }

    /// EKS keeping a cluster's security group (one Terraform created) open to its nodes, through
    /// its service-linked role, on Mondays.
    pub(super) fn service_upkeep(&mut self, day: DateTime<Utc>) {
        if day.format("%u").to_string() != "1" {
            return;
        }
        let Some((region, group)) = self.owned.security_groups.first().cloned() else {
            return;
        };
        self.activity = "service_upkeep";
        let t = at(day, 6, self.rng.gen_range(0..60), 0);
        let ok = self.returned();
        self.push(
            t,
            Who::EksServiceRole,
            "ec2",
            "AuthorizeSecurityGroupIngress",
            region,
            json!({"groupId": group, "ipPermissions": ingress("10.20.0.0/16", 10250)}),
            ok,
            false,
        );
    }

    /// Out-of-band changes by people to resources Terraform owns, one of each kind the account
    /// has resources for, after Terraform created them.
    pub(super) fn inject_drift(&mut self, start: DateTime<Utc>, days: u32) {
        if days < 3 {
            return;
        }
        self.activity = "drift";
        let end = start + Duration::days(i64::from(days));
        // Drift is a change made while dd0c watches: after the connection (the start).
        let when = |g: &mut Gen, after: DateTime<Utc>| {
            let after = after.max(start);
            let span = (end - after).num_seconds().max(3600);
            after + Duration::seconds(g.rng.gen_range(600..span))
        };
        let first_after = |g: &Gen, id: &str| {
            g.records
                .iter()
                .find(|r| r.record.to_string().contains(id))
                .map(|r| r.time)
        };
        if let Some((region, group)) = self.owned.security_groups.first().cloned() {
            if let Some(created) = first_after(self, &group) {
                let t = when(self, created);
                let ok = self.returned();
                let id = self.push(
                    t,
                    Who::Console(0),
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    region,
                    json!({"groupId": group, "ipPermissions": ingress("0.0.0.0/0", 22)}),
                    ok,
                    false,
                );
                self.label_for(DRIFT, id, t, "ssh_opened_to_the_world", "critical");
            }
        }
        if let Some((region, group)) = self.owned.security_groups.get(1).cloned() {
            if let Some(created) = first_after(self, &group) {
                let t = when(self, created);
                let ok = self.returned();
                let id = self.push(
                    t,
                    Who::ConsoleInternal(1),
                    "ec2",
                    "AuthorizeSecurityGroupIngress",
                    region,
                    json!({"groupId": group, "ipPermissions": ingress("172.16.0.0/12", 5432)}),
                    ok,
                    false,
                );
                self.label_for(DRIFT, id, t, "rule_added_from_console", "medium");
            }
        }
        if let Some((region, instance)) = self.owned.instances.get(2).cloned() {
            if let Some(created) = first_after(self, &instance) {
                let t = when(self, created);
                let ok = self.returned();
                let id = self.push(
                    t,
                    Who::ConsoleInternal(2),
                    "ec2",
                    "ModifyInstanceAttribute",
                    region,
                    json!({"instanceId": instance, "instanceType": {"value": "m5.2xlarge"}}),
                    ok,
                    false,
                );
                self.label_for(DRIFT, id, t, "instance_resized_by_hand", "medium");
            }
        }
        if let Some((region, db)) = self.owned.databases.first().cloned() {
            if let Some(created) = first_after(self, &db) {
                let t = when(self, created);
                let id = self.push(
                    t,
                    Who::Console(1),
                    "rds",
                    "ModifyDBInstance",
                    region,
                    json!({"dBInstanceIdentifier": db, "publiclyAccessible": true, "applyImmediately": true}),
                    json!({"dBInstanceIdentifier": db, "publiclyAccessible": false,
                        "pendingModifiedValues": {}, "dBInstanceStatus": "available"}),
                    false,
                );
                self.label_for(DRIFT, id, t, "database_made_public", "critical");
            }
        }
        // Made last, so that what the generator drew for everything else is unchanged.
        if let Some(first_apply) = first_after(self, "orders-api") {
            self.iam_drift(first_apply + Duration::minutes(2), when);
        }
        if let Some((region, volume)) = self.owned.volumes.first().cloned() {
            if let Some(created) = first_after(self, &volume) {
                self.shared_snapshot_drift(region, &volume, created + Duration::minutes(5), when);
            }
        }
        if let Some(first_apply) = first_after(self, "orders-api") {
            self.bucket_drift(first_apply + Duration::minutes(4), when);
        }
    }

    /// A preview environment's bucket: Terraform creates it, versioned, and destroys it a day
    /// later; the next day a person creates a bucket under the same name by hand and leaves it
    /// unversioned. Routine: what IaC deleted is no longer IaC's, so none of it is drift.
    pub(super) fn bucket_recreated_by_hand(&mut self, start: DateTime<Utc>, days: u32) {
        if days < 4 {
            return;
        }
        let bucket = format!("preview-{}", self.account);
        let host = format!("{bucket}.s3.{HOME}.amazonaws.com");
        let applied = at(start + Duration::days(1), 10, 0, 0);
        let versioning = |status: &str| {
            json!({"bucketName": bucket, "Host": host, "versioning": "",
                "VersioningConfiguration": {"Status": status}})
        };
        let bucket_only = json!({"bucketName": bucket, "Host": host});
        self.activity = "terraform";
        let steps = [
            (applied, Who::Terraform, "CreateBucket", bucket_only.clone()),
            (
                applied + Duration::seconds(2),
                Who::Terraform,
                "PutBucketVersioning",
                versioning("Enabled"),
            ),
            (
                applied + Duration::days(1),
                Who::Terraform,
                "DeleteBucket",
                bucket_only.clone(),
            ),
        ];
        for (t, who, name, request) in steps {
            self.push(t, who, "s3", name, HOME, request, Value::Null, false);
        }
        self.activity = "recreated_by_hand";
        let by_hand = applied + Duration::days(2);
        self.push(
            by_hand,
            Who::Console(1),
            "s3",
            "CreateBucket",
            HOME,
            bucket_only,
            Value::Null,
            false,
        );
        self.push(
            by_hand + Duration::minutes(5),
            Who::Console(1),
            "s3",
            "PutBucketVersioning",
            HOME,
            versioning("Suspended"),
            Value::Null,
            false,
        );
    }

    /// Terraform's bucket of order exports, versioned. Later, while dd0c watches, a person
    /// suspends its versioning and another adds a lifecycle rule that deletes every object
    /// after a day: what comes before destroying data, or hiding it (both labeled `drift`).
    fn bucket_drift(
        &mut self,
        applied: DateTime<Utc>,
        when: impl Fn(&mut Gen, DateTime<Utc>) -> DateTime<Utc>,
    ) {
        let bucket = format!("orders-exports-{}", self.account);
        let host = format!("{bucket}.s3.{HOME}.amazonaws.com");
        self.activity = "terraform";
        self.push(
            applied,
            Who::Terraform,
            "s3",
            "CreateBucket",
            HOME,
            json!({"bucketName": bucket, "Host": host}),
            Value::Null,
            false,
        );
        self.push(
            applied + Duration::seconds(2),
            Who::Terraform,
            "s3",
            "PutBucketVersioning",
            HOME,
            json!({"bucketName": bucket, "Host": host, "versioning": "",
                "VersioningConfiguration": {"Status": "Enabled"}}),
            Value::Null,
            false,
        );
        self.activity = "drift";
        let t = when(self, applied);
        let id = self.push(
            t,
            Who::Console(2),
            "s3",
            "PutBucketVersioning",
            HOME,
            json!({"bucketName": bucket, "Host": host, "versioning": "",
                "VersioningConfiguration": {"Status": "Suspended"}}),
            Value::Null,
            false,
        );
        self.label_for(DRIFT, id, t, "bucket_versioning_suspended", "high");
        let t = when(self, applied);
        let id = self.push(
            t,
            Who::Console(0),
            "s3",
            "PutBucketLifecycle",
            HOME,
            json!({"bucketName": bucket, "Host": host, "lifecycle": "",
                "LifecycleConfiguration": {"Rule": {"ID": "cleanup", "Status": "Enabled",
                    "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}}}),
            Value::Null,
            false,
        );
        self.label_for(DRIFT, id, t, "bucket_set_to_delete_its_objects", "high");
        self.trail_drift(applied + Duration::minutes(1), when);
    }

    /// Terraform's audit trail. Later, while dd0c watches, a person keeps it logging but
    /// records only reads: no change made afterwards leaves a trace in it (labeled `drift`).
    fn trail_drift(
        &mut self,
        applied: DateTime<Utc>,
        when: impl Fn(&mut Gen, DateTime<Utc>) -> DateTime<Utc>,
    ) {
        let trail = "org-audit";
        let arn = format!("arn:aws:cloudtrail:{HOME}:{}:trail/{trail}", self.account);
        self.activity = "terraform";
        self.push(
            applied,
            Who::Terraform,
            "cloudtrail",
            "CreateTrail",
            HOME,
            json!({"name": trail, "s3BucketName": format!("audit-logs-{}", self.account),
                "isMultiRegionTrail": true}),
            json!({"name": trail, "trailARN": arn, "isMultiRegionTrail": true}),
            false,
        );
        self.activity = "drift";
        let t = when(self, applied);
        let selectors = json!([{"readWriteType": "ReadOnly", "includeManagementEvents": true,
            "dataResources": [], "excludeManagementEventSources": []}]);
        let id = self.push(
            t,
            Who::Console(1),
            "cloudtrail",
            "PutEventSelectors",
            HOME,
            json!({"trailName": trail, "eventSelectors": selectors}),
            json!({"trailARN": arn, "eventSelectors": selectors}),
            false,
        );
        self.label_for(DRIFT, id, t, "trail_records_no_more_changes", "critical");
    }

    /// Terraform snapshots one of its volumes (an `aws_ebs_snapshot`, kept as a golden copy);
    /// later a person shares the snapshot with an account outside the organisation (labeled
    /// `drift`).
    fn shared_snapshot_drift(
        &mut self,
        region: &'static str,
        volume: &str,
        taken: DateTime<Utc>,
        when: impl Fn(&mut Gen, DateTime<Utc>) -> DateTime<Utc>,
    ) {
        self.activity = "terraform";
        let snapshot = format!("snap-{}", self.hex(17));
        let response = json!({"requestId": self.uuid(), "snapshotId": snapshot, "volumeId": volume,
            "status": "pending", "ownerId": self.account});
        self.push(
            taken,
            Who::Terraform,
            "ec2",
            "CreateSnapshot",
            region,
            json!({"volumeId": volume, "description": "golden copy"}),
            response,
            false,
        );
        self.activity = "drift";
        let t = when(self, taken);
        let ok = self.returned();
        let id = self.push(
            t,
            Who::Console(2),
            "ec2",
            "ModifySnapshotAttribute",
            region,
            json!({"snapshotId": snapshot, "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}}}),
            ok,
            false,
        );
        self.label_for(DRIFT, id, t, "snapshot_shared_outside", "high");
    }

    /// Terraform's IAM, applied with the account's first resources: a service user and the
    /// policy of its deploy role. Later, while dd0c watches, a person gives the service user a
    /// console password (a way in that IaC never declared), and another makes a version of
    /// the policy that allows everything its default (both labeled `drift`). IAM is global:
    /// CloudTrail records it in us-east-1.
    fn iam_drift(
        &mut self,
        applied: DateTime<Utc>,
        when: impl Fn(&mut Gen, DateTime<Utc>) -> DateTime<Utc>,
    ) {
        const USER: &str = "svc-reports";
        let policy_arn = format!("arn:aws:iam::{}:policy/app-deploy", self.account);
        let deploy_document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:UpdateService","ecr:GetAuthorizationToken"],"Resource":"*"}]}"#;
        let admin_document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.activity = "terraform";
        let user_arn = format!("arn:aws:iam::{}:user/{USER}", self.account);
        self.push(
            applied,
            Who::Terraform,
            "iam",
            "CreateUser",
            HOME,
            json!({"userName": USER, "path": "/"}),
            json!({"user": {"userName": USER, "arn": user_arn, "path": "/"}}),
            false,
        );
        self.push(
            applied + Duration::seconds(3),
            Who::Terraform,
            "iam",
            "CreatePolicy",
            HOME,
            json!({"policyName": "app-deploy", "path": "/", "policyDocument": deploy_document}),
            json!({"policy": {"policyName": "app-deploy", "arn": policy_arn, "defaultVersionId": "v1"}}),
            false,
        );
        self.activity = "drift";
        let t = when(self, applied);
        let id = self.push(
            t,
            Who::Console(0),
            "iam",
            "CreateLoginProfile",
            HOME,
            json!({"userName": USER, "passwordResetRequired": false}),
            json!({"loginProfile": {"userName": USER, "passwordResetRequired": false}}),
            false,
        );
        self.label_for(DRIFT, id, t, "console_password_for_a_service_user", "high");
        let t = when(self, applied);
        let id = self.push(
            t,
            Who::Console(1),
            "iam",
            "CreatePolicyVersion",
            HOME,
            json!({"policyArn": policy_arn, "policyDocument": admin_document, "setAsDefault": true}),
            json!({"policyVersion": {"versionId": "v2", "isDefaultVersion": true}}),
            false,
        );
        self.label_for(DRIFT, id, t, "policy_made_to_allow_everything", "critical");
    }
}
