//! Pure: which resources a write call changed, and how (attribute-level changes read from
//! `requestParameters`, with derived flags the classifier's rules test: `public`, `admin`).

use dd0c_shared::domain::drift::AttributeChange;
use dd0c_shared::domain::CloudTrailRecord;
use dd0c_shared::json::{at, items, number, str_at};
use serde_json::{json, Map, Value};

/// One resource a call changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub resource_type: String,
    pub resource_id: String,
    pub changes: Vec<AttributeChange>,
    /// The call created the resource (its creator owns it).
    pub creates: bool,
    /// The call deleted the resource: after IaC deletes it, IaC no longer owns it.
    pub deletes: bool,
}

impl Extracted {
    fn new(resource_type: &str, resource_id: impl Into<String>) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.into(),
            changes: Vec::new(),
            creates: false,
            deletes: false,
        }
    }
    fn created(mut self) -> Self {
        self.creates = true;
        self
    }
    /// The call deleted the resource itself: it no longer exists.
    fn deleted(mut self, attribute: &str) -> Self {
        self.deletes = true;
        self.change(attribute, json!("exists"), Value::Null)
    }
    fn change(mut self, attribute: &str, old: Value, new: Value) -> Self {
        self.changes.push(AttributeChange::new(attribute, old, new));
        self
    }
}

/// Lambda's event names carry an API version (`UpdateFunctionConfiguration20150331v2`).
pub fn base_action(event_name: &str) -> &str {
    let end = event_name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(event_name.len());
    &event_name[..end]
}

fn is_write_action(action: &str) -> bool {
    const PREFIXES: [&str; 31] = [
        "Create",
        "Copy",
        "Register",
        "Deregister",
        "Upload",
        "Deactivate",
        "Put",
        "Update",
        "Modify",
        "Delete",
        "Attach",
        "Detach",
        "Authorize",
        "Revoke",
        "Add",
        "Remove",
        "Set",
        "Enable",
        "Disable",
        "Associate",
        "Disassociate",
        "Tag",
        "Untag",
        "Stop",
        "Schedule",
        "Run",
        "Terminate",
        "Release",
        "Replace",
        "Reset",
        "Cancel",
    ];
    PREFIXES.iter().any(|p| action.starts_with(p))
}

/// Whether a call makes a new resource from or inside the ones its request names (a snapshot
/// of a volume, an image of an instance, an interface in a subnet, a version of a function):
/// those it names are sources or containers, left as they were. Where a creation does change
/// what it names (a function URL, a tag, a login profile), its service's extractor says so
/// before this applies.
fn creates_another_resource(action: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "Create", "Copy", "Allocate", "Import", "Export", "Request", "Publish",
    ];
    PREFIXES.iter().any(|p| action.starts_with(p))
}

/// The changes of a write call; empty for reads, failed calls and calls on no resource.
pub fn extract(record: &CloudTrailRecord) -> Vec<Extracted> {
    if record.failed() || record.is_read_only() {
        return Vec::new();
    }
    let action = base_action(&record.event_name);
    if !is_write_action(action) {
        return Vec::new();
    }
    let req = record.request();
    let resp = record.response();
    let specific = match record.service() {
        "ec2" => ec2(action, req, resp, record),
        "rds" => rds(action, req, record),
        "s3" => s3(action, req, record.account_id().unwrap_or_default()),
        "iam" => iam(action, req, resp, record),
        "lambda" => lambda(action, req),
        "kms" => kms(action, req, resp),
        "cloudtrail" => cloudtrail(action, req),
        "elasticloadbalancing" => elb(action, req, resp),
        _ => None,
    };
    let mut out = specific.unwrap_or_else(|| generic(record.service(), action, req));
    out.retain(|e| !e.resource_id.is_empty());
    out
}

/// `ipPermissions` rules (list form) and the flat form (`cidrIp`, `fromPort`, `toPort` at the
/// top): one value per (rule, range), each `{protocol, from_port, to_port, cidr | source_group |
/// prefix_list}`.
pub fn security_group_rules(req: &Value) -> Vec<Value> {
    let mut rules = Vec::new();
    let port = |v: &Value, k: &str| v.get(k).and_then(number).map(|n| n as i64);
    for perm in items(req.get("ipPermissions")) {
        let base = |extra: (&str, Value)| {
            let mut m = Map::new();
            m.insert(
                "protocol".into(),
                perm.get("ipProtocol").cloned().unwrap_or(Value::Null),
            );
            m.insert("from_port".into(), json!(port(perm, "fromPort")));
            m.insert("to_port".into(), json!(port(perm, "toPort")));
            m.insert(extra.0.into(), extra.1);
            Value::Object(m)
        };
        for r in items(perm.get("ipRanges")) {
            if let Some(c) = str_at(r, &["cidrIp"]) {
                rules.push(base(("cidr", json!(c))));
            }
        }
        for r in items(perm.get("ipv6Ranges")) {
            if let Some(c) = str_at(r, &["cidrIpv6"]) {
                rules.push(base(("cidr", json!(c))));
            }
        }
        for g in items(perm.get("groups")) {
            if let Some(id) = str_at(g, &["groupId"]).or_else(|| str_at(g, &["groupName"])) {
                rules.push(base(("source_group", json!(id))));
            }
        }
        for p in items(perm.get("prefixListIds")) {
            if let Some(id) = str_at(p, &["prefixListId"]) {
                rules.push(base(("prefix_list", json!(id))));
            }
        }
    }
    for key in ["cidrIp", "cidrIpv6"] {
        if let Some(cidr) = str_at(req, &[key]) {
            rules.push(json!({
                "protocol": req.get("ipProtocol").cloned().unwrap_or(json!("-1")),
                "from_port": port(req, "fromPort"),
                "to_port": port(req, "toPort"),
                "cidr": cidr,
            }));
        }
    }
    if let Some(group) = str_at(req, &["sourceSecurityGroupName"]) {
        rules.push(json!({
            "protocol": req.get("ipProtocol").cloned().unwrap_or(json!("-1")),
            "from_port": port(req, "fromPort"),
            "to_port": port(req, "toPort"),
            "source_group": group,
        }));
    }
    // Revoking by rule id names no ranges: the rule ids are what changed.
    for id in items(req.get("securityGroupRuleIds")) {
        if let Some(id) = str_at(id, &["securityGroupRuleId"]).or(id.as_str()) {
            rules.push(json!({"rule_id": id}));
        }
    }
    rules
}

/// Tags from `tagSpecificationSet`/`TagSpecifications`/`tags`/`Tags`: (key, value) pairs.
fn tag_pairs(v: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let entry = |t: &Value| {
        let k = str_at(t, &["key"]).or_else(|| str_at(t, &["Key"]))?;
        let v = t.get("value").or_else(|| t.get("Value")).cloned();
        Some((k.to_owned(), v.unwrap_or(Value::Null)))
    };
    for list in ["tagSet", "tags", "Tags", "tagList"] {
        out.extend(items(v.get(list)).iter().filter_map(entry));
    }
    out
}

fn tag_changes(mut e: Extracted, tags: &[(String, Value)], removed: bool) -> Extracted {
    for (k, v) in tags {
        let (old, new) = if removed {
            (v.clone(), Value::Null)
        } else {
            (Value::Null, v.clone())
        };
        e = e.change(&format!("tags.{k}"), old, new);
    }
    e
}

/// Every `key`/`value` tag in the request, wherever it sits (tag specifications nest them).
pub fn all_tags(v: &Value) -> Vec<(String, Value)> {
    let mut out = tag_pairs(v);
    if let Value::Object(m) = v {
        for (k, child) in m {
            if matches!(k.as_str(), "tagSet" | "tags" | "Tags" | "tagList") {
                continue;
            }
            match child {
                Value::Object(_) => out.extend(all_tags(child)),
                Value::Array(a) => a.iter().for_each(|c| out.extend(all_tags(c))),
                _ => {}
            }
        }
    }
    out
}

fn ec2_type_of(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or_default() {
        "i" => "ec2:instance",
        "sg" => "ec2:security-group",
        "vol" => "ec2:volume",
        "ami" => "ec2:image",
        "snap" => "ec2:snapshot",
        "vpc" => "ec2:vpc",
        "subnet" => "ec2:subnet",
        "eni" => "ec2:network-interface",
        "nat" => "ec2:natgateway",
        "igw" => "ec2:internet-gateway",
        "rtb" => "ec2:route-table",
        "eipalloc" => "ec2:elastic-ip",
        "lt" => "ec2:launch-template",
        _ => "ec2:resource",
    }
}

/// `disableApiTermination` → `disable_api_termination`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `{"value": x}` wrappers (EC2's attribute values) unwrapped.
fn unwrap_value(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("value") => m["value"].clone(),
        other => other.clone(),
    }
}

/// Each request parameter but the identifying ones, as a change to the value given.
fn parameter_changes(mut e: Extracted, req: &Value, skip: &[&str]) -> Extracted {
    if let Value::Object(m) = req {
        for (k, v) in m {
            if skip.contains(&k.as_str()) || v.is_null() {
                continue;
            }
            e = e.change(&snake(k), Value::Null, unwrap_value(v));
        }
    }
    e
}

/// Whether an AWS service made the call: the backups Data Lifecycle Manager and AWS Backup
/// make (thousands of snapshots and images a day) are not followed. No IaC owns them, so
/// their history would only be stored, never read.
fn by_aws_service(record: &CloudTrailRecord) -> bool {
    dd0c_shared::domain::actor::source_of(record) == dd0c_shared::domain::Source::AwsService
}

fn ec2(
    action: &str,
    req: &Value,
    resp: &Value,
    record: &CloudTrailRecord,
) -> Option<Vec<Extracted>> {
    let out = match action {
        "CreateSecurityGroup" => {
            let id = str_at(resp, &["groupId"])?;
            let e = Extracted::new("ec2:security-group", id).created().change(
                "group",
                Value::Null,
                json!({
                    "name": str_at(req, &["groupName"]),
                    "description": str_at(req, &["groupDescription"]),
                    "vpc_id": str_at(req, &["vpcId"]),
                }),
            );
            vec![e]
        }
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress" => {
            let id = str_at(req, &["groupId"]).or_else(|| str_at(req, &["groupName"]))?;
            let attribute = if action.ends_with("Ingress") {
                "ingress"
            } else {
                "egress"
            };
            let adding = action.starts_with("Authorize");
            let mut e = Extracted::new("ec2:security-group", id);
            for rule in security_group_rules(req) {
                e = if adding {
                    e.change(attribute, Value::Null, rule)
                } else {
                    e.change(attribute, rule, Value::Null)
                };
            }
            vec![e]
        }
        "DeleteSecurityGroup" => {
            let id = str_at(req, &["groupId"]).or_else(|| str_at(req, &["groupName"]))?;
            vec![Extracted::new("ec2:security-group", id).deleted("group")]
        }
        "RunInstances" => items(at(resp, &["instancesSet"]))
            .iter()
            .filter_map(|i| {
                let id = str_at(i, &["instanceId"])?;
                Some(Extracted::new("ec2:instance", id).created().change(
                    "instance",
                    Value::Null,
                    json!({"instance_type": str_at(i, &["instanceType"]).or_else(|| str_at(req, &["instanceType"]))}),
                ))
            })
            .collect(),
        "TerminateInstances" => items(req.get("instancesSet"))
            .iter()
            .filter_map(|i| str_at(i, &["instanceId"]))
            .map(|id| {
                Extracted::new("ec2:instance", id).deleted("instance")
            })
            .collect(),
        "ModifyInstanceAttribute" => {
            let id = str_at(req, &["instanceId"])?;
            let mut e = Extracted::new("ec2:instance", id);
            // The older shape: {"attribute": "instanceType", "value": "m5.large"}.
            if let Some(name) = str_at(req, &["attribute"]) {
                e = e.change(&snake(name), Value::Null, unwrap_value(req.get("value").unwrap_or(&Value::Null)));
            } else {
                e = parameter_changes(e, req, &["instanceId"]);
            }
            vec![e]
        }
        "CreateSnapshot" | "CopySnapshot" | "RegisterImage" | "CreateImage" | "CopyImage"
            if by_aws_service(record) =>
        {
            return None
        }
        "CreateSnapshot" | "CopySnapshot" => {
            let id = str_at(resp, &["snapshotId"])?;
            vec![Extracted::new("ec2:snapshot", id).created().change(
                "snapshot",
                Value::Null,
                json!({"volume_id": str_at(req, &["volumeId"]), "source_snapshot_id": str_at(req, &["sourceSnapshotId"])}),
            )]
        }
        "RegisterImage" | "CreateImage" | "CopyImage" => {
            let id = str_at(resp, &["imageId"])?;
            vec![Extracted::new("ec2:image", id).created().change(
                "image",
                Value::Null,
                json!({"name": str_at(req, &["name"]), "instance_id": str_at(req, &["instanceId"])}),
            )]
        }
        "ModifySnapshotAttribute" => {
            let id = str_at(req, &["snapshotId"])?;
            vec![shared_with(Extracted::new("ec2:snapshot", id), req.get("createVolumePermission"))]
        }
        "ModifyImageAttribute" if req.get("launchPermission").is_some() => {
            let id = str_at(req, &["imageId"])?;
            vec![shared_with(Extracted::new("ec2:image", id), req.get("launchPermission"))]
        }
        "DeleteSnapshot" => {
            let id = str_at(req, &["snapshotId"])?;
            vec![Extracted::new("ec2:snapshot", id).deleted("snapshot")]
        }
        "DeregisterImage" => {
            let id = str_at(req, &["imageId"])?;
            vec![Extracted::new("ec2:image", id).deleted("image")]
        }
        "ResetSnapshotAttribute" | "ResetImageAttribute" => {
            let (kind, key) = if action == "ResetSnapshotAttribute" {
                ("ec2:snapshot", "snapshotId")
            } else {
                ("ec2:image", "imageId")
            };
            let id = str_at(req, &[key])?;
            vec![Extracted::new(kind, id).change("shared_with", json!("set"), Value::Null)]
        }
        "CreateFlowLogs" => ids_with_prefix(resp, "fl-")
            .into_iter()
            .map(|id| {
                Extracted::new("ec2:flow-log", id).created().change(
                    "flow_log",
                    Value::Null,
                    json!("exists"),
                )
            })
            .collect(),
        "DeleteFlowLogs" => ids_with_prefix(req, "fl-")
            .into_iter()
            .map(|id| {
                Extracted::new("ec2:flow-log", id).deleted("flow_log")
            })
            .collect(),
        "CreateTags" | "DeleteTags" => {
            let tags = tag_pairs(req);
            items(req.get("resourcesSet"))
                .iter()
                .filter_map(|r| str_at(r, &["resourceId"]))
                .map(|id| {
                    tag_changes(Extracted::new(ec2_type_of(id), id), &tags, action == "DeleteTags")
                })
                .collect()
        }
        _ => return None,
    };
    Some(out)
}

fn rds(action: &str, req: &Value, record: &CloudTrailRecord) -> Option<Vec<Extracted>> {
    if action.starts_with("Create") && action.ends_with("Snapshot") && by_aws_service(record) {
        return Some(Vec::new());
    }
    if let Some(snapshot) = rds_snapshot(action, req) {
        return Some(vec![snapshot]);
    }
    let id = str_at(req, &["dBInstanceIdentifier"])?;
    let e = Extracted::new("rds:db", id);
    let e = match action {
        "CreateDBInstance" => e.created().change(
            "instance",
            Value::Null,
            json!({
                "instance_class": str_at(req, &["dBInstanceClass"]),
                "engine": str_at(req, &["engine"]),
                "publicly_accessible": req.get("publiclyAccessible"),
            }),
        ),
        "ModifyDBInstance" => {
            let mut e = e;
            if let Value::Object(m) = req {
                for (k, v) in m {
                    let attribute = match k.as_str() {
                        "dBInstanceIdentifier" | "applyImmediately" => continue,
                        "publiclyAccessible" => "publicly_accessible".to_owned(),
                        "dBInstanceClass" => "instance_class".to_owned(),
                        "masterUserPassword" => {
                            e = e.change("master_user_password", Value::Null, json!("[changed]"));
                            continue;
                        }
                        other => snake(other),
                    };
                    let value = match (attribute.as_str(), v) {
                        ("publicly_accessible", Value::String(s)) => {
                            json!(s.eq_ignore_ascii_case("true"))
                        }
                        _ => v.clone(),
                    };
                    e = e.change(&attribute, Value::Null, value);
                }
            }
            e
        }
        "DeleteDBInstance" => e.deleted("instance"),
        "AddTagsToResource" | "RemoveTagsFromResource" => return None,
        a if creates_another_resource(a) => return Some(Vec::new()),
        _ => parameter_changes(e, req, &["dBInstanceIdentifier"]),
    };
    Some(vec![e])
}

/// A policy statement that allows everyone (`"*"` or `{"AWS": "*"}`) without a condition.
fn policy_is_public(policy: &Value) -> bool {
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return false,
    };
    statements.iter().any(|s| {
        let allow = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        let everyone = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(Value::Object(m)) => m.get("AWS").is_some_and(|a| match a {
                Value::String(p) => p == "*",
                Value::Array(l) => l.iter().any(|p| p.as_str() == Some("*")),
                _ => false,
            }),
            _ => false,
        };
        allow && everyone && s.get("Condition").is_none()
    })
}

/// A policy document given as an object or as (URL-encoded) JSON text.
fn policy_document(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => serde_json::from_str(s)
            .or_else(|_| serde_json::from_str(&dd0c_shared::http::percent_decode(s)))
            .unwrap_or_else(|_| Value::String(s.clone())),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn acl_is_public(req: &Value) -> bool {
    let canned = str_at(req, &["x-amz-acl"])
        .or_else(|| str_at(req, &["acl"]))
        .unwrap_or_default();
    if matches!(
        canned,
        "public-read" | "public-read-write" | "authenticated-read"
    ) {
        return true;
    }
    let text = req.to_string();
    text.contains("acs.amazonaws.com/groups/global/AllUsers")
        || text.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers")
}

/// A list that S3 and CloudTrail write as its one element when it holds one.
fn one_or_many(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(one) => vec![one],
    }
}

/// Whether a lifecycle or replication rule applies (its `Status` is not `Disabled`).
fn rule_enabled(rule: &Value) -> bool {
    rule.get("Status").and_then(Value::as_str) != Some("Disabled")
}

/// A bucket's lifecycle rules: whether an enabled one deletes objects (an expiration of
/// current or noncurrent versions; moving them to another storage class or cleaning up
/// delete markers and unfinished uploads deletes nothing), and after how few days.
fn bucket_lifecycle(req: &Value) -> Value {
    let config = req.get("LifecycleConfiguration");
    let rules = one_or_many(config.and_then(|c| c.get("Rule")));
    let mut deletes_objects = false;
    let mut fewest_days: Option<f64> = None;
    for rule in rules.into_iter().filter(|r| rule_enabled(r)) {
        let expiration = rule.get("Expiration");
        let noncurrent = rule.get("NoncurrentVersionExpiration");
        let days = [
            expiration.and_then(|e| e.get("Days")),
            noncurrent.and_then(|e| e.get("NoncurrentDays")),
        ];
        let dated = expiration.is_some_and(|e| e.get("Date").is_some());
        if dated || days.iter().any(Option::is_some) {
            deletes_objects = true;
        }
        for d in days.into_iter().flatten().filter_map(number) {
            fewest_days = Some(fewest_days.map_or(d, |f| f.min(d)));
        }
    }
    json!({"deletes_objects": deletes_objects, "expires_after_days": fewest_days, "configuration": config})
}

/// The account an ARN names (`arn:aws:kms:us-east-1:111122223333:key/…`), if it names one.
fn arn_account(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split(':')
        .nth(3)
        .filter(|a| !a.is_empty())
}

/// A bucket's default encryption. `weakened`: the new objects are encrypted with a key another
/// account holds (and could take away: the ransomware pattern).
fn bucket_encryption(req: &Value, account: &str) -> Value {
    let config = req.get("ServerSideEncryptionConfiguration");
    let defaults: Vec<&Value> = one_or_many(config.and_then(|c| c.get("Rule")))
        .into_iter()
        .filter_map(|r| r.get("ApplyServerSideEncryptionByDefault"))
        .collect();
    let key = defaults
        .iter()
        .find_map(|d| d.get("KMSMasterKeyID").and_then(Value::as_str));
    let foreign = key
        .and_then(arn_account)
        .is_some_and(|owner| owner != account);
    json!({
        "weakened": foreign,
        "algorithm": defaults.iter().find_map(|d| d.get("SSEAlgorithm").cloned()),
        "kms_key": key,
    })
}

/// Where a bucket's objects are now copied: every enabled rule's destination bucket and
/// account (an account is named when the destination belongs to another one).
fn bucket_replication(req: &Value, account: &str) -> Value {
    let config = req.get("ReplicationConfiguration");
    let destinations: Vec<&Value> = one_or_many(config.and_then(|c| c.get("Rule")))
        .into_iter()
        .filter(|r| rule_enabled(r))
        .filter_map(|r| r.get("Destination"))
        .collect();
    let buckets: Vec<&str> = destinations
        .iter()
        .filter_map(|d| d.get("Bucket").and_then(Value::as_str))
        .collect();
    let other_accounts: Vec<&str> = destinations
        .iter()
        .filter_map(|d| d.get("Account").and_then(Value::as_str))
        .filter(|a| *a != account)
        .collect();
    json!({
        "copies_objects": !buckets.is_empty(),
        "to_another_account": !other_accounts.is_empty(),
        "buckets": buckets,
        "accounts": other_accounts,
    })
}

fn s3(action: &str, req: &Value, account: &str) -> Option<Vec<Extracted>> {
    let bucket = str_at(req, &["bucketName"])?;
    let e = Extracted::new("s3:bucket", bucket);
    let e = match action {
        "CreateBucket" => e.created().change("bucket", Value::Null, json!("created")),
        "DeleteBucket" => e.deleted("bucket"),
        "PutBucketPolicy" => {
            let doc = policy_document(req.get("bucketPolicy").or_else(|| req.get("policy")));
            e.change(
                "policy",
                Value::Null,
                json!({"public": policy_is_public(&doc), "document": doc}),
            )
        }
        "DeleteBucketPolicy" => e.change("policy", json!("exists"), Value::Null),
        "PutBucketAcl" => e.change(
            "acl",
            Value::Null,
            json!({"public": acl_is_public(req), "acl": req.get("AccessControlPolicy").cloned().or_else(|| req.get("x-amz-acl").cloned())}),
        ),
        "PutPublicAccessBlock" | "PutBucketPublicAccessBlock" => {
            let config = req
                .get("PublicAccessBlockConfiguration")
                .cloned()
                .unwrap_or(Value::Null);
            let weakened = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]
                .iter()
                .any(|k| matches!(config.get(k), Some(Value::Bool(false))) || config.get(k).and_then(Value::as_str) == Some("false"));
            e.change(
                "public_access_block",
                Value::Null,
                json!({"public": weakened, "configuration": config}),
            )
        }
        "DeletePublicAccessBlock" | "DeleteBucketPublicAccessBlock" => e.change(
            "public_access_block",
            json!("enabled"),
            json!({"public": true, "removed": true}),
        ),
        "PutBucketTagging" => {
            let tags = tag_pairs(at(req, &["Tagging", "TagSet"]).unwrap_or(&Value::Null));
            let tags = if tags.is_empty() { all_tags(req) } else { tags };
            tag_changes(e, &tags, false)
        }
        "DeleteBucketTagging" => e.change("tags", json!("set"), Value::Null),
        "PutBucketLifecycle" | "PutBucketLifecycleConfiguration" => {
            e.change("lifecycle", Value::Null, bucket_lifecycle(req))
        }
        "DeleteBucketLifecycle" => e.change("lifecycle", json!("set"), Value::Null),
        "PutBucketVersioning" => {
            let config = req.get("VersioningConfiguration");
            let field = |name: &str| config.and_then(|c| c.get(name)).and_then(Value::as_str);
            let suspended = field("Status") == Some("Suspended");
            let mfa_delete_off = field("MfaDelete") == Some("Disabled");
            e.change(
                "versioning",
                Value::Null,
                json!({"weakened": suspended || mfa_delete_off, "status": field("Status"), "mfa_delete": field("MfaDelete")}),
            )
        }
        "PutBucketEncryption" => e.change("encryption", Value::Null, bucket_encryption(req, account)),
        "DeleteBucketEncryption" => e.change(
            "encryption",
            json!("set"),
            json!({"weakened": true, "removed": true}),
        ),
        "PutBucketReplication" => {
            e.change("replication", Value::Null, bucket_replication(req, account))
        }
        "DeleteBucketReplication" => e.change("replication", json!("set"), Value::Null),
        "PutBucketLogging" => {
            let target = at(req, &["BucketLoggingStatus", "LoggingEnabled", "TargetBucket"]).cloned();
            e.change(
                "access_logging",
                Value::Null,
                json!({"enabled": target.is_some(), "target_bucket": target}),
            )
        }
        _ => parameter_changes(e, req, &["bucketName", "Host"]),
    };
    Some(vec![e])
}

fn is_admin_policy_arn(arn: &str) -> bool {
    arn.ends_with(":policy/AdministratorAccess") || arn.ends_with(":policy/IAMFullAccess")
}

/// An Allow of `*` on `*` (or `iam:*` on `*`).
fn document_is_admin(doc: &Value) -> bool {
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return false,
    };
    let has = |v: Option<&Value>, wanted: &[&str]| match v {
        Some(Value::String(s)) => wanted.contains(&s.as_str()),
        Some(Value::Array(a)) => a
            .iter()
            .any(|x| x.as_str().is_some_and(|s| wanted.contains(&s))),
        _ => false,
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && has(s.get("Action"), &["*", "iam:*"])
            && has(s.get("Resource"), &["*"])
    })
}

fn iam(
    action: &str,
    req: &Value,
    resp: &Value,
    record: &CloudTrailRecord,
) -> Option<Vec<Extracted>> {
    let credential = credential_change(action, req, resp);
    let (rtype, id) = if let Some(role) = str_at(req, &["roleName"]) {
        ("iam:role", role)
    } else if let Some(user) = str_at(req, &["userName"]) {
        ("iam:user", user)
    } else if credential.is_some() {
        // A credential of one's own (no userName): the caller's user.
        ("iam:user", record.user_identity.user_name.as_deref()?)
    } else if let Some(group) = str_at(req, &["groupName"]) {
        ("iam:group", group)
    } else if let Some(policy) = str_at(req, &["policyArn"]) {
        ("iam:policy", policy)
    } else if action == "CreatePolicy" {
        ("iam:policy", str_at(resp, &["policy", "arn"])?)
    } else {
        return None;
    };
    let e = Extracted::new(rtype, id);
    if rtype == "iam:policy" {
        return Some(vec![managed_policy(e, action, req, resp)]);
    }
    if let Some((attribute, old, new)) = credential {
        return Some(vec![e.change(attribute, old, new)]);
    }
    let e = match action {
        "CreateRole" | "CreateUser" | "CreateGroup" => e.created().change(
            rtype.trim_start_matches("iam:"),
            Value::Null,
            json!("created"),
        ),
        "AttachRolePolicy" | "AttachUserPolicy" | "AttachGroupPolicy" => {
            let arn = str_at(req, &["policyArn"]).unwrap_or_default();
            e.change(
                "managed_policy",
                Value::Null,
                json!({"arn": arn, "admin": is_admin_policy_arn(arn)}),
            )
        }
        "DetachRolePolicy" | "DetachUserPolicy" | "DetachGroupPolicy" => {
            let arn = str_at(req, &["policyArn"]).unwrap_or_default();
            e.change(
                "managed_policy",
                json!({"arn": arn, "admin": is_admin_policy_arn(arn)}),
                Value::Null,
            )
        }
        "PutRolePolicy" | "PutUserPolicy" | "PutGroupPolicy" => {
            let doc = policy_document(req.get("policyDocument"));
            e.change(
                "inline_policy",
                Value::Null,
                json!({"name": str_at(req, &["policyName"]), "admin": document_is_admin(&doc), "document": doc}),
            )
        }
        "DeleteRolePolicy" | "DeleteUserPolicy" | "DeleteGroupPolicy" => e.change(
            "inline_policy",
            json!({"name": str_at(req, &["policyName"])}),
            Value::Null,
        ),
        "UpdateAssumeRolePolicy" => {
            let doc = policy_document(req.get("policyDocument"));
            e.change(
                "trust_policy",
                Value::Null,
                json!({"public": policy_is_public(&doc), "document": doc}),
            )
        }
        "TagRole" | "TagUser" => tag_changes(e, &tag_pairs(req), false),
        "UntagRole" | "UntagUser" => {
            let mut e = e;
            for k in items(req.get("tagKeys")) {
                if let Some(k) = k.as_str() {
                    e = e.change(&format!("tags.{k}"), json!("set"), Value::Null);
                }
            }
            e
        }
        _ => parameter_changes(e, req, &["roleName", "userName", "groupName"]),
    };
    Some(vec![e])
}

/// A customer managed policy (`iam:policy`, by ARN): what it allows is its default version,
/// so a new version made the default, or another version made the default, changes what every
/// identity it is attached to may do (`policy_document`, with `admin` as for inline policies).
fn managed_policy(e: Extracted, action: &str, req: &Value, resp: &Value) -> Extracted {
    let version = |doc: &Value, id: Option<&str>| json!({"version": id, "admin": document_is_admin(doc), "document": doc});
    match action {
        "CreatePolicy" => {
            let doc = policy_document(req.get("policyDocument"));
            e.created().change(
                "policy_document",
                Value::Null,
                version(
                    &doc,
                    str_at(resp, &["policy", "defaultVersionId"]).or(Some("v1")),
                ),
            )
        }
        "CreatePolicyVersion" => {
            let doc = policy_document(req.get("policyDocument"));
            let id = str_at(resp, &["policyVersion", "versionId"]);
            if req.get("setAsDefault").and_then(Value::as_bool) == Some(true) {
                e.change("policy_document", json!("set"), version(&doc, id))
            } else {
                // Not the default: it allows nothing until it is made so (`allows_admin`, not
                // `admin`: the administrator rule is for what is in force).
                e.change(
                    "policy_version",
                    Value::Null,
                    json!({"version": id, "allows_admin": document_is_admin(&doc)}),
                )
            }
        }
        "SetDefaultPolicyVersion" => e.change(
            "policy_document",
            json!("set"),
            json!({"version": str_at(req, &["versionId"])}),
        ),
        "DeletePolicyVersion" => e.change(
            "policy_version",
            json!({"version": str_at(req, &["versionId"])}),
            Value::Null,
        ),
        _ => parameter_changes(e, req, &["policyArn"]),
    }
}

/// A change to how an IAM identity signs in or what bounds its permissions, as one attribute
/// per kind of credential (`access_key`, `login_profile` (console password), `mfa_device`,
/// `ssh_public_key`, `service_specific_credential`, `signing_certificate`) or of permission
/// (`group_membership`, `permissions_boundary`): old `null` when one is added, new `null` when
/// one is removed, `"set"` where CloudTrail does not say what was there. The classifier's
/// `iam-policy-changed` rule lists these attributes.
fn credential_change(
    action: &str,
    req: &Value,
    resp: &Value,
) -> Option<(&'static str, Value, Value)> {
    let change = match action {
        "CreateAccessKey" => (
            "access_key",
            Value::Null,
            json!({
                "access_key_id": str_at(resp, &["accessKey", "accessKeyId"]),
                "status": str_at(resp, &["accessKey", "status"]).unwrap_or("Active"),
            }),
        ),
        "UpdateAccessKey" => (
            "access_key",
            json!({"access_key_id": str_at(req, &["accessKeyId"])}),
            json!({"access_key_id": str_at(req, &["accessKeyId"]), "status": str_at(req, &["status"])}),
        ),
        "DeleteAccessKey" => (
            "access_key",
            json!({"access_key_id": str_at(req, &["accessKeyId"])}),
            Value::Null,
        ),
        "CreateLoginProfile" => (
            "login_profile",
            Value::Null,
            json!({"password_reset_required": req.get("passwordResetRequired").cloned().unwrap_or(Value::Bool(false))}),
        ),
        "UpdateLoginProfile" => (
            "login_profile",
            json!("set"),
            json!({"password_changed": true, "password_reset_required": req.get("passwordResetRequired")}),
        ),
        "DeleteLoginProfile" => ("login_profile", json!("set"), Value::Null),
        "EnableMFADevice" => (
            "mfa_device",
            Value::Null,
            json!({"serial_number": str_at(req, &["serialNumber"])}),
        ),
        "DeactivateMFADevice" => (
            "mfa_device",
            json!({"serial_number": str_at(req, &["serialNumber"])}),
            Value::Null,
        ),
        "AddUserToGroup" => (
            "group_membership",
            Value::Null,
            json!({"group": str_at(req, &["groupName"])}),
        ),
        "RemoveUserFromGroup" => (
            "group_membership",
            json!({"group": str_at(req, &["groupName"])}),
            Value::Null,
        ),
        "PutUserPermissionsBoundary" | "PutRolePermissionsBoundary" => (
            "permissions_boundary",
            json!("set"),
            json!({"arn": str_at(req, &["permissionsBoundary"])}),
        ),
        "DeleteUserPermissionsBoundary" | "DeleteRolePermissionsBoundary" => {
            ("permissions_boundary", json!("set"), Value::Null)
        }
        "UploadSSHPublicKey" => (
            "ssh_public_key",
            Value::Null,
            json!({"ssh_public_key_id": str_at(resp, &["sSHPublicKey", "sSHPublicKeyId"])}),
        ),
        "UpdateSSHPublicKey" => (
            "ssh_public_key",
            json!({"ssh_public_key_id": str_at(req, &["sSHPublicKeyId"])}),
            json!({"ssh_public_key_id": str_at(req, &["sSHPublicKeyId"]), "status": str_at(req, &["status"])}),
        ),
        "DeleteSSHPublicKey" => (
            "ssh_public_key",
            json!({"ssh_public_key_id": str_at(req, &["sSHPublicKeyId"])}),
            Value::Null,
        ),
        "CreateServiceSpecificCredential" => (
            "service_specific_credential",
            Value::Null,
            json!({
                "service": str_at(req, &["serviceName"]),
                "credential_id": str_at(resp, &["serviceSpecificCredential", "serviceSpecificCredentialId"]),
            }),
        ),
        "ResetServiceSpecificCredential" | "UpdateServiceSpecificCredential" => (
            "service_specific_credential",
            json!({"credential_id": str_at(req, &["serviceSpecificCredentialId"])}),
            json!({
                "credential_id": str_at(req, &["serviceSpecificCredentialId"]),
                "status": str_at(req, &["status"]).unwrap_or("reset"),
            }),
        ),
        "DeleteServiceSpecificCredential" => (
            "service_specific_credential",
            json!({"credential_id": str_at(req, &["serviceSpecificCredentialId"])}),
            Value::Null,
        ),
        "UploadSigningCertificate" => (
            "signing_certificate",
            Value::Null,
            json!({"certificate_id": str_at(resp, &["certificate", "certificateId"])}),
        ),
        "UpdateSigningCertificate" => (
            "signing_certificate",
            json!({"certificate_id": str_at(req, &["certificateId"])}),
            json!({"certificate_id": str_at(req, &["certificateId"]), "status": str_at(req, &["status"])}),
        ),
        "DeleteSigningCertificate" => (
            "signing_certificate",
            json!({"certificate_id": str_at(req, &["certificateId"])}),
            Value::Null,
        ),
        _ => return None,
    };
    Some(change)
}

/// A database or cluster snapshot made, or shared (`ModifyDB[Cluster]SnapshotAttribute` of
/// `restore`: `valuesToAdd` / `valuesToRemove`, account ids or `all`), as `shared_with` of
/// EC2's snapshots and images.
fn rds_snapshot(action: &str, req: &Value) -> Option<Extracted> {
    let (kind, id) = if let Some(id) = str_at(req, &["dBSnapshotIdentifier"]) {
        ("rds:snapshot", id)
    } else {
        (
            "rds:cluster-snapshot",
            str_at(req, &["dBClusterSnapshotIdentifier"])?,
        )
    };
    match action {
        "CreateDBSnapshot" | "CreateDBClusterSnapshot" => Some(
            Extracted::new(kind, id).created().change(
                "snapshot",
                Value::Null,
                json!({"source": str_at(req, &["dBInstanceIdentifier"]).or_else(|| str_at(req, &["dBClusterIdentifier"]))}),
            ),
        ),
        "DeleteDBSnapshot" | "DeleteDBClusterSnapshot" => {
            Some(Extracted::new(kind, id).deleted("snapshot"))
        }
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute"
            if str_at(req, &["attributeName"]) == Some("restore") =>
        {
            let who = |v: &Value| match v.as_str() {
                Some("all") => Some(json!({"public": true})),
                Some(account) => Some(json!({"account": account})),
                None => None,
            };
            let mut e = Extracted::new(kind, id);
            for v in items(req.get("valuesToAdd")) {
                if let Some(who) = who(v) {
                    e = e.change("shared_with", Value::Null, who);
                }
            }
            for v in items(req.get("valuesToRemove")) {
                if let Some(who) = who(v) {
                    e = e.change("shared_with", who, Value::Null);
                }
            }
            Some(e)
        }
        _ => None,
    }
}

/// Who may use a snapshot or an image (`createVolumePermission`, `launchPermission`:
/// `{"add": {"items": [{"userId"} | {"group": "all"}]}, "remove": …}`), one `shared_with`
/// change per account or group: `{"account"}` or `{"public": true}` added (old `null`) or
/// removed (new `null`), so that a removal exactly undoes the addition it reverts.
fn shared_with(mut e: Extracted, permission: Option<&Value>) -> Extracted {
    let grantee = |item: &Value| {
        if let Some(account) = str_at(item, &["userId"]) {
            Some(json!({"account": account}))
        } else if str_at(item, &["group"]) == Some("all") {
            Some(json!({"public": true}))
        } else {
            None
        }
    };
    let Some(permission) = permission else {
        return e;
    };
    for (direction, added) in [("add", true), ("remove", false)] {
        for item in items(at(permission, &[direction])) {
            if let Some(who) = grantee(item) {
                e = if added {
                    e.change("shared_with", Value::Null, who)
                } else {
                    e.change("shared_with", who, Value::Null)
                };
            }
        }
    }
    e
}

/// Every string in `v` that starts with `prefix` (`fl-…`), in order, once: flow log ids come
/// in several request and response shapes (`flowLogIdSet.item`, `FlowLogId.content`, lists).
fn ids_with_prefix(v: &Value, prefix: &str) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with(prefix) && !out.contains(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, prefix, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, prefix, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, prefix, &mut out);
    out
}

fn function_name(v: &str) -> &str {
    // `arn:aws:lambda:us-east-1:1:function:name[:qualifier]` → `name`.
    match v.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => v,
    }
}

fn lambda(action: &str, req: &Value) -> Option<Vec<Extracted>> {
    let id = function_name(str_at(req, &["functionName"])?);
    let e = Extracted::new("lambda:function", id);
    let e = match action {
        "CreateFunction" => e.created().change(
            "function",
            Value::Null,
            json!({"runtime": str_at(req, &["runtime"]), "memory_size": req.get("memorySize"), "role": str_at(req, &["role"])}),
        ),
        "AddPermission" => {
            let principal = str_at(req, &["principal"]).unwrap_or_default();
            e.change(
                "permission",
                Value::Null,
                json!({
                    "statement_id": str_at(req, &["statementId"]),
                    "action": str_at(req, &["action"]),
                    "principal": principal,
                    "source_arn": str_at(req, &["sourceArn"]),
                    "public": principal == "*" && str_at(req, &["sourceArn"]).is_none() && str_at(req, &["sourceAccount"]).is_none(),
                }),
            )
        }
        "RemovePermission" => e.change("permission", json!({"statement_id": str_at(req, &["statementId"])}), Value::Null),
        "DeleteFunction" => e.deleted("function"),
        // What the function runs: the package (zip, S3 object or image) is not in CloudTrail,
        // only where it came from.
        "UpdateFunctionCode" => e.change(
            "code",
            json!("set"),
            json!({
                "s3_bucket": str_at(req, &["s3Bucket"]),
                "s3_key": str_at(req, &["s3Key"]),
                "image_uri": str_at(req, &["imageUri"]),
            }),
        ),
        "CreateFunctionUrlConfig" => parameter_changes(e, req, &["functionName"]),
        a if creates_another_resource(a) => return Some(Vec::new()),
        _ => parameter_changes(e, req, &["functionName"]),
    };
    Some(vec![e])
}

fn kms(action: &str, req: &Value, resp: &Value) -> Option<Vec<Extracted>> {
    if action == "CreateKey" {
        let id = str_at(resp, &["keyMetadata", "keyId"])?;
        return Some(vec![Extracted::new("kms:key", id).created().change(
            "key_state",
            Value::Null,
            json!("Enabled"),
        )]);
    }
    let raw = str_at(req, &["keyId"])?;
    // `arn:aws:kms:…:key/<id>` and bare ids name the same key.
    let id = raw.rsplit_once("key/").map_or(raw, |(_, id)| id);
    let e = Extracted::new("kms:key", id);
    let e = match action {
        "DisableKey" => e.change("key_state", json!("Enabled"), json!("Disabled")),
        "EnableKey" => e.change("key_state", json!("Disabled"), json!("Enabled")),
        "ScheduleKeyDeletion" => e.change(
            "key_state",
            json!("Enabled"),
            json!({"state": "PendingDeletion", "pending_window_days": req.get("pendingWindowInDays").and_then(number)}),
        ),
        "CancelKeyDeletion" => e.change("key_state", json!("PendingDeletion"), json!("Disabled")),
        "DisableKeyRotation" => e.change("key_rotation", json!(true), json!(false)),
        "EnableKeyRotation" => e.change("key_rotation", json!(false), json!(true)),
        "PutKeyPolicy" => {
            let doc = policy_document(req.get("policy"));
            e.change("policy", Value::Null, json!({"public": policy_is_public(&doc), "document": doc}))
        }
        _ => parameter_changes(e, req, &["keyId"]),
    };
    Some(vec![e])
}

fn cloudtrail(action: &str, req: &Value) -> Option<Vec<Extracted>> {
    let raw = str_at(req, &["name"]).or_else(|| str_at(req, &["trailName"]))?;
    let id = raw.rsplit_once(":trail/").map_or(raw, |(_, n)| n);
    let e = Extracted::new("cloudtrail:trail", id);
    let e = match action {
        "CreateTrail" => e.created().change("trail", Value::Null, json!("created")),
        "StopLogging" => e.change("logging", json!(true), json!(false)),
        "StartLogging" => e.change("logging", json!(false), json!(true)),
        "DeleteTrail" => e.deleted("trail"),
        "PutEventSelectors" => e.change(
            "event_selectors",
            Value::Null,
            json!({
                "logs_management_writes": logs_management_writes(req),
                "event_selectors": req.get("eventSelectors"),
                "advanced_event_selectors": req.get("advancedEventSelectors"),
            }),
        ),
        _ => parameter_changes(e, req, &["name", "trailName"]),
    };
    Some(vec![e])
}

/// Whether a trail with these selectors still records management write calls (every change
/// dd0c follows). Excluding management events, or keeping only reads, stops the trail's record
/// of changes as surely as `StopLogging` does, while the trail still reads as logging.
fn logs_management_writes(req: &Value) -> bool {
    let basic = one_or_many(req.get("eventSelectors")).into_iter().any(|s| {
        s.get("includeManagementEvents") != Some(&Value::Bool(false))
            && matches!(
                s.get("readWriteType").and_then(Value::as_str),
                None | Some("All") | Some("WriteOnly")
            )
    });
    let advanced = one_or_many(req.get("advancedEventSelectors"))
        .into_iter()
        .any(|s| {
            let fields = one_or_many(s.get("fieldSelectors"));
            let equals = |field: &str| {
                fields
                    .iter()
                    .find(|f| f.get("field").and_then(Value::as_str) == Some(field))
                    .and_then(|f| f.get("equals"))
                    .map(|v| {
                        one_or_many(Some(v))
                            .into_iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                    })
            };
            equals("eventCategory").is_some_and(|c| c.contains(&"Management"))
                && equals("readOnly").is_none_or(|r| r.contains(&"false"))
        });
    basic || advanced
}

fn elb(action: &str, req: &Value, resp: &Value) -> Option<Vec<Extracted>> {
    let out = match action {
        "CreateListener" => {
            let arn = items(resp.get("listeners"))
                .first()
                .and_then(|l| str_at(l, &["listenerArn"]))?;
            let e = Extracted::new("elasticloadbalancing:listener", arn).created();
            vec![parameter_changes(e, req, &["loadBalancerArn"])]
        }
        "ModifyListener" => {
            let arn = str_at(req, &["listenerArn"])?;
            vec![parameter_changes(
                Extracted::new("elasticloadbalancing:listener", arn),
                req,
                &["listenerArn"],
            )]
        }
        "DeleteListener" => {
            let arn = str_at(req, &["listenerArn"])?;
            vec![Extracted::new("elasticloadbalancing:listener", arn).deleted("listener")]
        }
        "CreateLoadBalancer" => {
            let arn = items(resp.get("loadBalancers"))
                .first()
                .and_then(|l| str_at(l, &["loadBalancerArn"]))?;
            vec![Extracted::new("elasticloadbalancing:loadbalancer", arn)
                .created()
                .change(
                    "load_balancer",
                    Value::Null,
                    json!({"scheme": str_at(req, &["scheme"])}),
                )]
        }
        _ => return None,
    };
    Some(out)
}

/// Any other write call: the resource named by the first identifying parameter, each other
/// parameter a changed attribute. Enough for history and drift; rules match on the action.
fn generic(service: &str, action: &str, req: &Value) -> Vec<Extracted> {
    if creates_another_resource(action) {
        return Vec::new();
    }
    const ID_KEYS: [(&str, &str); 12] = [
        ("instanceId", "instance"),
        ("groupId", "security-group"),
        ("volumeId", "volume"),
        ("vpcId", "vpc"),
        ("subnetId", "subnet"),
        ("functionName", "function"),
        ("bucketName", "bucket"),
        ("dBInstanceIdentifier", "db"),
        ("dBClusterIdentifier", "cluster"),
        ("loadBalancerArn", "loadbalancer"),
        ("queueUrl", "queue"),
        ("topicArn", "topic"),
    ];
    for (key, kind) in ID_KEYS {
        if let Some(id) = str_at(req, &[key]) {
            let e = Extracted::new(&format!("{service}:{kind}"), id);
            let mut e = parameter_changes(e, req, &[key]);
            if e.changes.is_empty() {
                e = e.change(&snake(action), Value::Null, json!(true));
            }
            return vec![e];
        }
    }
    Vec::new()
}
