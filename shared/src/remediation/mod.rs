//! Remediation: the few changes dd0c may make in a customer's account when a person asks for
//! them from an alert (stop the instances a cost finding launched, revoke the ingress rule a
//! drift opened, make a database private again), through the account's optional remediation
//! role (`cloudformation/dd0c-readonly.yaml`, parameter `EnableRemediation`).
//! docs/decisions/0520-remediation.md records the role, its conditions and the governance.
//!
//! What is asked is always derived here from the stored finding ([`request_for`]): a button
//! carries only the finding id and the kind of remediation, never ids or rules to act on.
//! Production: [`aws::AwsRemediator`] (feature `aws`); tests and the embedded mode:
//! [`embedded::EmbeddedRemediator`]. Who may ask, the audit mode, the audit trail and the
//! at-most-once record are [`governed`]'s.

pub mod embedded;
pub mod governed;

#[cfg(feature = "aws")]
pub mod aws;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Finding, FindingKind};

/// A kind of remediation, as a Slack button names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationKind {
    /// Stop the instances a cost finding's launch started.
    StopInstances,
    /// Revoke the security group ingress rule a drift opened.
    RevokeIngress,
    /// Make a database instance that was made public private again.
    MakeDbPrivate,
}

impl RemediationKind {
    pub const ALL: [RemediationKind; 3] = [
        RemediationKind::StopInstances,
        RemediationKind::RevokeIngress,
        RemediationKind::MakeDbPrivate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RemediationKind::StopInstances => "stop_instances",
            RemediationKind::RevokeIngress => "revoke_ingress",
            RemediationKind::MakeDbPrivate => "make_db_private",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The Slack `action_id` of its button.
    pub fn action_id(self) -> String {
        format!("{ACTION_PREFIX}{}", self.as_str())
    }

    /// The kind of a Slack `action_id`, if it is a remediation button's.
    pub fn from_action_id(action_id: &str) -> Option<Self> {
        action_id
            .strip_prefix(ACTION_PREFIX)
            .and_then(RemediationKind::parse)
    }

    /// The button's text.
    pub fn label(self) -> &'static str {
        match self {
            RemediationKind::StopInstances => "Stop instances",
            RemediationKind::RevokeIngress => "Revoke this rule",
            RemediationKind::MakeDbPrivate => "Make private",
        }
    }
}

/// Prefix of the remediation buttons' `action_id`s.
pub const ACTION_PREFIX: &str = "remediate_";

/// One ingress rule of a security group: a protocol, a port range and one IPv4 or IPv6 range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    #[serde(default)]
    pub from_port: Option<i32>,
    #[serde(default)]
    pub to_port: Option<i32>,
    /// `0.0.0.0/0`, `::/0`, …
    pub cidr: String,
}

impl IngressRule {
    /// `tcp 22 from 0.0.0.0/0`.
    pub fn describe(&self) -> String {
        let ports = match (self.from_port, self.to_port) {
            (Some(a), Some(b)) if a == b => format!(" {a}"),
            (Some(a), Some(b)) => format!(" {a}-{b}"),
            _ => String::new(),
        };
        let protocol = if self.protocol == "-1" {
            "all traffic"
        } else {
            &self.protocol
        };
        format!("{protocol}{ports} from {}", self.cidr)
    }
}

/// Exactly what dd0c will change: the only inputs the adapters turn into AWS requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RemediationRequest {
    StopInstances {
        region: String,
        instance_ids: Vec<String>,
    },
    RevokeIngress {
        region: String,
        group_id: String,
        rule: IngressRule,
    },
    MakeDbPrivate {
        region: String,
        db_instance: String,
    },
}

impl RemediationRequest {
    pub fn kind(&self) -> RemediationKind {
        match self {
            RemediationRequest::StopInstances { .. } => RemediationKind::StopInstances,
            RemediationRequest::RevokeIngress { .. } => RemediationKind::RevokeIngress,
            RemediationRequest::MakeDbPrivate { .. } => RemediationKind::MakeDbPrivate,
        }
    }

    pub fn region(&self) -> &str {
        match self {
            RemediationRequest::StopInstances { region, .. }
            | RemediationRequest::RevokeIngress { region, .. }
            | RemediationRequest::MakeDbPrivate { region, .. } => region,
        }
    }

    /// What will change, for the confirmation dialog and the audit trail: ids, region, rule.
    pub fn describe(&self) -> String {
        match self {
            RemediationRequest::StopInstances {
                region,
                instance_ids,
            } => format!(
                "stop {} instance{} {} in {region}",
                instance_ids.len(),
                if instance_ids.len() == 1 { "" } else { "s" },
                instance_ids.join(", ")
            ),
            RemediationRequest::RevokeIngress {
                region,
                group_id,
                rule,
            } => format!(
                "revoke the ingress rule {} of security group {group_id} in {region}",
                rule.describe()
            ),
            RemediationRequest::MakeDbPrivate {
                region,
                db_instance,
            } => format!(
                "make database instance {db_instance} in {region} not publicly accessible (applied immediately)"
            ),
        }
    }
}

/// The most instances one "Stop instances" stops (StopInstances takes at most 1000 ids; a
/// launch of more than this is not stopped from a button).
pub const MAX_INSTANCES: usize = 50;

fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|h| {
        !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn is_group_id(id: &str) -> bool {
    id.strip_prefix("sg-").is_some_and(|h| {
        !h.is_empty() && h.len() <= 17 && h.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A DB instance identifier: 1-63 letters, digits and hyphens, starting with a letter.
fn is_db_identifier(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The drift's changes as the classifier records them (`details.diff`: `[{attribute, old, new}]`).
fn diff(finding: &Finding) -> &[serde_json::Value] {
    finding
        .details
        .get("diff")
        .and_then(serde_json::Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A protocol as EC2 takes it: a name, `-1` (all) or an IP protocol number.
fn is_protocol(p: &str) -> bool {
    matches!(p, "tcp" | "udp" | "icmp" | "icmpv6" | "-1")
        || (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_cidr(c: &str) -> bool {
    c.len() <= 43
        && c.split_once('/').is_some_and(|(ip, bits)| {
            ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 128)
        })
}

/// The one ingress rule a drift opened: its diff is exactly one `ingress` change from nothing to
/// a protocol, port range and CIDR (a rule naming a source group or prefix list is not revoked
/// from a button).
fn opened_ingress_rule(finding: &Finding) -> Option<IngressRule> {
    let [change] = diff(finding) else {
        return None;
    };
    if change.get("attribute")? != "ingress" || !change.get("old").is_none_or(|v| v.is_null()) {
        return None;
    }
    let new = change.get("new")?;
    let port = |k: &str| match new.get(k) {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(v) => v.as_i64().and_then(|n| i32::try_from(n).ok()).map(Some),
    };
    let rule = IngressRule {
        protocol: new.get("protocol")?.as_str()?.to_owned(),
        from_port: port("from_port")?,
        to_port: port("to_port")?,
        cidr: new.get("cidr")?.as_str()?.to_owned(),
    };
    (is_protocol(&rule.protocol) && is_cidr(&rule.cidr)).then_some(rule)
}

/// Whether a drift made a database publicly accessible (`ModifyDBInstance`, or
/// `CreateDBInstance` with `publicly_accessible`).
fn made_public(finding: &Finding) -> bool {
    let public = serde_json::json!(true);
    diff(finding).iter().any(|c| {
        let new = c.get("new");
        match c.get("attribute").and_then(serde_json::Value::as_str) {
            Some("publicly_accessible") => new == Some(&public),
            Some("instance") => new.and_then(|n| n.get("publicly_accessible")) == Some(&public),
            _ => false,
        }
    })
}

/// What `kind` would change for this finding, if the finding is one it applies to: launched
/// instances of a cost finding (`RunInstances`, `StartInstances`); the one ingress rule a drift
/// opened (`AuthorizeSecurityGroupIngress`); a database a drift made public. Ids that do not look like AWS ids are
/// refused rather than sent.
pub fn request_for(finding: &Finding, kind: RemediationKind) -> Option<RemediationRequest> {
    let region = finding.region.clone();
    match kind {
        RemediationKind::StopInstances => {
            let launched = finding.kind == FindingKind::CostAnomaly
                && finding.resource_type == "ec2:instance"
                && matches!(
                    finding.event_name.as_str(),
                    "RunInstances" | "StartInstances"
                );
            let ids = &finding.resource_ids;
            (launched
                && !ids.is_empty()
                && ids.len() <= MAX_INSTANCES
                && ids.iter().all(|i| is_instance_id(i)))
            .then(|| RemediationRequest::StopInstances {
                region,
                instance_ids: ids.clone(),
            })
        }
        RemediationKind::RevokeIngress => {
            let opened = finding.kind == FindingKind::Drift
                && finding.resource_type == "ec2:security-group"
                && finding.event_name == "AuthorizeSecurityGroupIngress";
            let group_id = finding.resource_ids.first().filter(|g| is_group_id(g))?;
            (opened && finding.resource_ids.len() == 1)
                .then(|| opened_ingress_rule(finding))
                .flatten()
                .map(|rule| RemediationRequest::RevokeIngress {
                    region,
                    group_id: group_id.clone(),
                    rule,
                })
        }
        RemediationKind::MakeDbPrivate => {
            let public = finding.kind == FindingKind::Drift
                && finding.resource_type == "rds:db"
                && made_public(finding);
            let db = finding
                .resource_ids
                .first()
                .filter(|d| is_db_identifier(d))?;
            (public && finding.resource_ids.len() == 1).then(|| RemediationRequest::MakeDbPrivate {
                region,
                db_instance: db.clone(),
            })
        }
    }
}

/// Every remediation that applies to the finding.
pub fn requests_for(finding: &Finding) -> Vec<RemediationRequest> {
    RemediationKind::ALL
        .into_iter()
        .filter_map(|k| request_for(finding, k))
        .collect()
}

/// The account's remediation role and the ExternalId it requires (the tenant's, as for the
/// read-only role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationRole {
    pub role_arn: String,
    pub external_id: String,
}

/// What AWS did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// The change was made.
    Done,
    /// Nothing to change: the instances were already stopped, the rule already gone.
    AlreadyDone,
}

/// Why AWS did not make the change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemediationError {
    /// STS refused the remediation role (deleted, another ExternalId, not trusting dd0c).
    #[error("the remediation role could not be assumed: {0}")]
    AssumeRoleDenied(String),
    /// The role was assumed but IAM refused the action (a protected resource, a role edited
    /// since it was deployed).
    #[error("AWS denied {action}: {message}")]
    Denied { action: String, message: String },
    /// What was to change no longer exists.
    #[error("not found: {0}")]
    NotFound(String),
    /// The resource is in a state the change does not apply to (a terminated instance).
    #[error("{0}")]
    InvalidState(String),
    /// AWS unavailable, throttled, or an unexpected answer.
    #[error("AWS failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Remediator: Send + Sync {
    /// Makes the change with the account's remediation role.
    async fn remediate(
        &self,
        role: &RemediationRole,
        request: &RemediationRequest,
    ) -> Result<Applied, RemediationError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cost_finding, drift_finding};

    #[test]
    fn a_launch_can_be_stopped_and_nothing_else_can() {
        let f = cost_finding("c1");
        assert_eq!(
            request_for(&f, RemediationKind::StopInstances),
            Some(RemediationRequest::StopInstances {
                region: f.region.clone(),
                instance_ids: vec!["i-1".into()]
            })
        );
        assert_eq!(requests_for(&f).len(), 1);
        // Not a launch, or ids that are not instance ids: nothing to offer.
        let modify = Finding {
            event_name: "ModifyInstanceAttribute".into(),
            ..cost_finding("c2")
        };
        assert!(requests_for(&modify).is_empty());
        let odd = Finding {
            resource_ids: vec!["i-1".into(), "i-1; rm -rf".into()],
            ..cost_finding("c3")
        };
        assert!(requests_for(&odd).is_empty());
        let many = Finding {
            resource_ids: (0..=MAX_INSTANCES).map(|n| format!("i-{n:x}")).collect(),
            ..cost_finding("c4")
        };
        assert!(requests_for(&many).is_empty());
        assert!(
            requests_for(&drift_finding("d1")).is_empty(),
            "no rule recorded"
        );
    }

    #[test]
    fn a_rule_is_revoked_only_when_the_finding_names_it() {
        // As the classifier records a console AuthorizeSecurityGroupIngress (details.diff).
        let mut f = drift_finding("d1");
        f.details = serde_json::json!({"diff": [{"attribute": "ingress", "old": null,
            "new": {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}}]});
        let r = request_for(&f, RemediationKind::RevokeIngress).expect("a rule");
        assert_eq!(
            r.describe(),
            format!(
                "revoke the ingress rule tcp 22 from 0.0.0.0/0 of security group sg-1 in {}",
                f.region
            )
        );
        let mut odd = f.clone();
        odd.details["diff"][0]["new"]["protocol"] = serde_json::json!("tcp; drop");
        assert_eq!(request_for(&odd, RemediationKind::RevokeIngress), None);
        let mut group = f.clone();
        group.details["diff"][0]["new"] = serde_json::json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "source_group": "sg-2"});
        assert_eq!(request_for(&group, RemediationKind::RevokeIngress), None);
        let mut two = f.clone();
        let second = two.details["diff"][0].clone();
        two.details["diff"].as_array_mut().unwrap().push(second);
        assert_eq!(
            request_for(&two, RemediationKind::RevokeIngress),
            None,
            "one rule at a time"
        );
    }

    #[test]
    fn a_public_database_can_be_made_private() {
        let mut f = drift_finding("d2");
        f.resource_type = "rds:db".into();
        f.event_name = "ModifyDBInstance".into();
        f.resource_ids = vec!["orders-db".into()];
        assert_eq!(request_for(&f, RemediationKind::MakeDbPrivate), None);
        f.details = serde_json::json!({"diff": [{"attribute": "publicly_accessible", "old": null, "new": false}]});
        assert_eq!(
            request_for(&f, RemediationKind::MakeDbPrivate),
            None,
            "made private already"
        );
        f.details = serde_json::json!({"diff": [{"attribute": "publicly_accessible", "old": null, "new": true}]});
        assert!(matches!(
            request_for(&f, RemediationKind::MakeDbPrivate),
            Some(RemediationRequest::MakeDbPrivate { db_instance, .. }) if db_instance == "orders-db"
        ));
    }

    #[test]
    fn action_ids_round_trip() {
        for k in RemediationKind::ALL {
            assert_eq!(RemediationKind::from_action_id(&k.action_id()), Some(k));
        }
        assert_eq!(RemediationKind::from_action_id("mark_expected"), None);
    }
}
