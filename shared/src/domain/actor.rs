//! Who made an API call, and how: the attribution every cost and drift finding carries.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::cloudtrail::{truthy, CloudTrailRecord};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    IamUser,
    AssumedRole,
    SsoUser,
    Root,
    FederatedUser,
    AwsService,
    Unknown,
}

/// The tool an infrastructure-as-code identity used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IacTool {
    Terraform,
    OpenTofu,
    Pulumi,
    Cdk,
    CloudFormation,
}

impl IacTool {
    pub fn label(self) -> &'static str {
        match self {
            IacTool::Terraform => "Terraform",
            IacTool::OpenTofu => "OpenTofu",
            IacTool::Pulumi => "Pulumi",
            IacTool::Cdk => "CDK",
            IacTool::CloudFormation => "CloudFormation",
        }
    }
}

/// How the call was made.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case", tag = "via", content = "tool")]
pub enum Source {
    Console,
    Cli,
    Sdk,
    Iac(IacTool),
    AwsService,
    Unknown,
}

impl Source {
    pub fn label(self) -> String {
        match self {
            Source::Console => "console".into(),
            Source::Cli => "CLI".into(),
            Source::Sdk => "SDK".into(),
            Source::Iac(tool) => tool.label().into(),
            Source::AwsService => "AWS service".into(),
            Source::Unknown => "unknown".into(),
        }
    }
    pub fn is_iac(self) -> bool {
        matches!(self, Source::Iac(_))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    /// Principal ARN, or the service name for AWS services.
    pub arn: String,
    /// A readable name: the SSO user's e-mail, the IAM user name, `role/session`, `root`.
    pub name: String,
    pub kind: ActorKind,
    pub source: Source,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub mfa: bool,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Recognises the IaC tool from a user agent string.
pub fn iac_tool_from_user_agent(user_agent: &str) -> Option<IacTool> {
    let ua = user_agent.to_ascii_lowercase();
    if ua.contains("opentofu") {
        Some(IacTool::OpenTofu)
    } else if ua.contains("terraform") {
        Some(IacTool::Terraform)
    } else if ua.contains("pulumi") {
        Some(IacTool::Pulumi)
    } else if ua.contains("aws-cdk") || ua.contains("cdk-") {
        Some(IacTool::Cdk)
    } else if ua.contains("cloudformation") {
        Some(IacTool::CloudFormation)
    } else {
        None
    }
}

/// An `invokedBy` that names an AWS service (`autoscaling.amazonaws.com`, `AWS Internal` is
/// not one: the console and internal tooling write it for calls a person made).
fn invoking_service(invoked_by: &str) -> Option<&str> {
    (invoked_by.ends_with(".amazonaws.com") && !invoked_by.contains("console"))
        .then_some(invoked_by)
}

/// How the call was made: an IaC tool, an AWS service, the console, the CLI, an SDK.
pub fn source_of(record: &CloudTrailRecord) -> Source {
    let ui = &record.user_identity;
    let ua = record.user_agent.as_deref().unwrap_or_default();
    let ua_lower = ua.to_ascii_lowercase();
    let invoked_by = ui.invoked_by.as_deref().unwrap_or_default();
    if invoked_by == "cloudformation.amazonaws.com" {
        return Source::Iac(if ua_lower.contains("aws-cdk") || is_cdk_role(record) {
            IacTool::Cdk
        } else {
            IacTool::CloudFormation
        });
    }
    if let Some(tool) = iac_tool_from_user_agent(ua) {
        return Source::Iac(tool);
    }
    if ui.identity_type.as_deref() == Some("AWSService")
        || invoking_service(invoked_by).is_some()
        || is_service_linked_role(record)
    {
        return Source::AwsService;
    }
    // Console pages call APIs with the browser's agent, an "<Service> Console" agent
    // ("[S3Console/0.4, aws-internal/3 …]", "RDS Console, aws-internal/3 …") or "AWS Internal".
    if record.from_console()
        || invoked_by.eq_ignore_ascii_case("AWS Internal")
        || ua_lower.contains("console.amazonaws.com")
        || ua_lower.contains("signin.amazonaws.com")
        || ua_lower.contains("console.aws.amazon.com")
        || ua_lower.contains("console/")
        || ua_lower.contains(" console")
        || ua_lower.starts_with("aws internal")
        || ua_lower.starts_with("mozilla/")
    {
        return Source::Console;
    }
    if ua_lower.contains("aws-cli/") {
        return Source::Cli;
    }
    if ua_lower.contains("aws-sdk")
        || ua_lower.contains("boto")
        || ua_lower.contains("aws-internal")
        || ua_lower.contains("sdk")
    {
        return Source::Sdk;
    }
    if ua_lower.ends_with(".amazonaws.com") {
        // The agent is a hint; the principal decides: a person's call that no `invokedBy`
        // hands to a service came from a console back end acting as the person.
        return if is_person(record) {
            Source::Console
        } else {
            Source::AwsService
        };
    }
    Source::Unknown
}

/// Whether the principal is a person: an IAM user, the root user, an Identity Center or
/// federated user, or a role session that names one (SSO's permission-set roles, a session
/// named with an e-mail address as SAML and OIDC federation set it).
fn is_person(record: &CloudTrailRecord) -> bool {
    let ui = &record.user_identity;
    match ui.identity_type.as_deref() {
        Some(
            "IAMUser" | "Root" | "IdentityCenterUser" | "FederatedUser" | "SAMLUser"
            | "WebIdentityUser",
        ) => true,
        Some("AssumedRole") => {
            let arn = role_arn(record);
            matches!(assumed_role(&arn).0, ActorKind::SsoUser) || automation_role(&arn).is_none()
        }
        _ => false,
    }
}

/// A session of a service-linked role (`…:role/aws-service-role/<service>/…`): only its AWS
/// service can assume it, whatever user agent its calls carry ("AWS Internal" included).
fn is_service_linked_role(record: &CloudTrailRecord) -> bool {
    let issuer = record
        .user_identity
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.arn.as_deref());
    issuer.is_some_and(|arn| arn.contains(":role/aws-service-role/"))
}

/// CDK deploys through CloudFormation with its bootstrap execution role
/// (`cdk-<qualifier>-cfn-exec-role-…`).
fn is_cdk_role(record: &CloudTrailRecord) -> bool {
    let ui = &record.user_identity;
    let issuer = ui
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.arn.as_deref());
    [ui.arn.as_deref(), issuer]
        .into_iter()
        .flatten()
        .any(|arn| arn.contains("/cdk-") && arn.contains("-cfn-exec-role"))
}

impl Actor {
    /// How an actor is keyed in baselines and their expected sets: what stays the same from one
    /// run to the next (docs/decisions/0310-stable-actor-identity.md). Automation assumes a role
    /// with a new session name every run (dates, pipeline ids, pod names, UUIDs): it is keyed on
    /// the role, `arn:aws:iam::<account>:role/<name>`, so a nightly job is not "a new actor"
    /// every night. A person stays the person: an SSO session (the session name is the user), a
    /// role session named with an e-mail address (federation sets it to the user), a federated
    /// user, an IAM user keep their full ARN. AWS services: the service name. The full ARN with
    /// its session stays on the finding as evidence.
    pub fn baseline_key(&self) -> Cow<'_, str> {
        if self.arn.is_empty() {
            return Cow::Borrowed(&self.name);
        }
        if self.kind == ActorKind::AssumedRole {
            if let Some(role) = automation_role(&self.arn) {
                return Cow::Owned(role);
            }
        }
        Cow::Borrowed(&self.arn)
    }

    pub fn from_record(record: &CloudTrailRecord) -> Actor {
        let ui = &record.user_identity;
        let source = source_of(record);
        let mfa = ui
            .session_context
            .as_ref()
            .and_then(|c| c.attributes.as_ref())
            .is_some_and(|a| truthy(a.mfa_authenticated.as_ref()));
        let arn = ui.arn.clone().unwrap_or_default();
        let (kind, name) = match ui.identity_type.as_deref() {
            Some("Root") => (ActorKind::Root, "root".to_owned()),
            Some("IAMUser") => (
                ActorKind::IamUser,
                ui.user_name
                    .clone()
                    .unwrap_or_else(|| last_segment(&arn).to_owned()),
            ),
            Some("AssumedRole") => assumed_role(&role_arn(record)),
            Some("IdentityCenterUser") => (
                ActorKind::SsoUser,
                ui.user_name
                    .clone()
                    .or_else(|| ui.principal_id.clone())
                    .unwrap_or_else(|| "Identity Center user".to_owned()),
            ),
            Some("AWSAccount") => (
                ActorKind::Unknown,
                format!(
                    "account {}",
                    ui.account_id.as_deref().unwrap_or("(unknown)")
                ),
            ),
            Some("FederatedUser" | "SAMLUser" | "WebIdentityUser") => (
                ActorKind::FederatedUser,
                ui.user_name
                    .clone()
                    .unwrap_or_else(|| last_segment(&arn).to_owned()),
            ),
            Some("AWSService") => (
                ActorKind::AwsService,
                ui.invoked_by
                    .clone()
                    .unwrap_or_else(|| "AWS service".into()),
            ),
            _ if !arn.is_empty() => (ActorKind::Unknown, last_segment(&arn).to_owned()),
            _ => match &ui.invoked_by {
                Some(service) => (ActorKind::AwsService, service.clone()),
                None => (ActorKind::Unknown, "unknown".to_owned()),
            },
        };
        let arn = if arn.is_empty() {
            ui.invoked_by.clone().unwrap_or_else(|| name.clone())
        } else {
            arn
        };
        Actor {
            arn,
            name,
            kind,
            source,
            ip: record.source_ip_address.clone(),
            mfa,
            user_agent: record.user_agent.clone(),
        }
    }
}

/// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>` → the role's ARN, unless the
/// session names a person (an e-mail address, as SAML and OIDC federation set it).
fn automation_role(arn: &str) -> Option<String> {
    let (prefix, rest) = arn.split_once(":assumed-role/")?;
    let (role, session) = rest.rsplit_once('/')?;
    let (partition_and_service, account) = prefix.rsplit_once("::")?;
    let partition = partition_and_service.strip_suffix(":sts")?;
    if role.is_empty() || session.contains('@') {
        return None;
    }
    Some(format!("{partition}:iam::{account}:role/{role}"))
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The assumed-role ARN; when a record omits it, rebuilt as `role/session` from the session
/// issuer and the principal id (`AROA…:session`).
fn role_arn(record: &CloudTrailRecord) -> String {
    let ui = &record.user_identity;
    if let Some(arn) = ui.arn.as_deref().filter(|a| !a.is_empty()) {
        return arn.to_owned();
    }
    let role = ui
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.user_name.as_deref())
        .unwrap_or("unknown-role");
    let session = ui
        .principal_id
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .map_or("unknown-session", |(_, s)| s);
    format!("{role}/{session}")
}

/// `arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com` is the SSO user
/// alice@example.com through the Admin permission set.
fn assumed_role(arn: &str) -> (ActorKind, String) {
    let mut parts = arn.rsplit('/');
    let session = parts.next().unwrap_or_default();
    let role = parts.next().unwrap_or_default();
    if let Some(rest) = role.strip_prefix("AWSReservedSSO_") {
        let permission_set = rest.rsplit_once('_').map_or(rest, |(p, _)| p);
        return (
            ActorKind::SsoUser,
            format!("{session} (SSO {permission_set})"),
        );
    }
    (ActorKind::AssumedRole, format!("{role}/{session}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(identity: serde_json::Value, ua: &str) -> CloudTrailRecord {
        CloudTrailRecord::from_value(json!({
            "eventID": "1", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances", "awsRegion": "us-east-1", "userAgent": ua,
            "sourceIPAddress": "203.0.113.9", "userIdentity": identity
        }))
        .unwrap()
    }

    fn key_of(identity: serde_json::Value) -> String {
        Actor::from_record(&record(identity, "Boto3/1.34.0"))
            .baseline_key()
            .into_owned()
    }

    /// Each run of a job comes with a new session name; the baseline must see one actor.
    #[test]
    fn automation_is_keyed_on_its_role_and_people_stay_people() {
        let runs = [
            "arn:aws:sts::111111111111:assumed-role/nightly-etl/etl-2026-11-30",
            "arn:aws:sts::111111111111:assumed-role/nightly-etl/etl-2026-12-01",
            "arn:aws:sts::111111111111:assumed-role/nightly-etl/botocore-session-1701388800",
            "arn:aws:sts::111111111111:assumed-role/nightly-etl/9f1c2e3a-5b6d-4c7e-8f90-a1b2c3d4e5f6",
        ];
        for arn in runs {
            assert_eq!(
                key_of(json!({"type": "AssumedRole", "arn": arn})),
                "arn:aws:iam::111111111111:role/nightly-etl",
                "{arn}"
            );
        }
        // Another role is another actor; so is the same role name in another account.
        assert_ne!(
            key_of(
                json!({"type": "AssumedRole", "arn": "arn:aws:sts::111111111111:assumed-role/gha-deploy/run-1"})
            ),
            key_of(json!({"type": "AssumedRole", "arn": runs[0]}))
        );
        assert_eq!(
            key_of(
                json!({"type": "AssumedRole", "arn": "arn:aws:sts::222222222222:assumed-role/nightly-etl/x"})
            ),
            "arn:aws:iam::222222222222:role/nightly-etl"
        );
        assert_eq!(
            key_of(
                json!({"type": "AssumedRole", "arn": "arn:aws-cn:sts::111111111111:assumed-role/etl/x"})
            ),
            "arn:aws-cn:iam::111111111111:role/etl"
        );
        // People: SSO users, federated sessions named by e-mail, IAM users keep their ARN.
        let sso = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdminAccess_0a1b2c/alice@example.com";
        assert_eq!(key_of(json!({"type": "AssumedRole", "arn": sso})), sso);
        let saml = "arn:aws:sts::111111111111:assumed-role/ADFS-Admins/bob@corp.example";
        assert_eq!(key_of(json!({"type": "AssumedRole", "arn": saml})), saml);
        let user = "arn:aws:iam::111111111111:user/carol";
        assert_eq!(
            key_of(json!({"type": "IAMUser", "arn": user, "userName": "carol"})),
            user
        );
        // The session stays on the actor as evidence.
        let a = Actor::from_record(&record(
            json!({"type": "AssumedRole", "arn": runs[1]}),
            "Boto3",
        ));
        assert_eq!(a.arn, runs[1]);
        assert_eq!(a.name, "nightly-etl/etl-2026-12-01");
    }

    /// Only its service can assume a service-linked role: its calls are the service's,
    /// whatever the agent says; an ordinary role's console call stays the console.
    #[test]
    fn a_service_linked_role_is_its_service_whatever_the_agent() {
        let session = |issuer: &str| {
            json!({"type": "AssumedRole",
                "arn": format!("arn:aws:sts::111111111111:assumed-role/{}/session-1", issuer.rsplit('/').next().unwrap()),
                "sessionContext": {"sessionIssuer": {"type": "Role",
                    "arn": format!("arn:aws:iam::111111111111:role/{issuer}")}}})
        };
        let eks = session("aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS");
        for ua in ["AWS Internal", "eks.amazonaws.com", "Boto3/1.34.0"] {
            assert_eq!(
                Actor::from_record(&record(eks.clone(), ua)).source,
                Source::AwsService,
                "{ua}"
            );
        }
        let ordinary = session("ops/AWS-SystemsManager-AutomationRole");
        assert_eq!(
            Actor::from_record(&record(ordinary, "AWS Internal")).source,
            Source::Console
        );
    }

    #[test]
    fn sso_user_behind_reserved_role() {
        let a = Actor::from_record(&record(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_AdminAccess_0a1b2c/alice@example.com",
                   "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}}),
            "aws-cli/2.15.0 Python/3.11",
        ));
        assert_eq!(a.kind, ActorKind::SsoUser);
        assert_eq!(a.name, "alice@example.com (SSO AdminAccess)");
        assert_eq!(a.source, Source::Cli);
        assert!(a.mfa);
    }

    #[test]
    fn terraform_and_cloudformation_are_iac() {
        let tf = Actor::from_record(&record(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/deployer/ci"}),
            "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0",
        ));
        assert_eq!(tf.source, Source::Iac(IacTool::Terraform));
        assert_eq!(tf.name, "deployer/ci");
        let cfn = Actor::from_record(&record(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/cdk-exec/x", "invokedBy": "cloudformation.amazonaws.com"}),
            "cloudformation.amazonaws.com",
        ));
        assert_eq!(cfn.source, Source::Iac(IacTool::CloudFormation));
    }

    #[test]
    fn root_console_and_services() {
        let root = Actor::from_record(&record(
            json!({"type": "Root", "arn": "arn:aws:iam::1:root"}),
            "signin.amazonaws.com",
        ));
        assert_eq!((root.kind, root.source), (ActorKind::Root, Source::Console));
        let asg = Actor::from_record(&record(
            json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}),
            "autoscaling.amazonaws.com",
        ));
        assert_eq!(asg.kind, ActorKind::AwsService);
        assert_eq!(asg.arn, "autoscaling.amazonaws.com");
        assert_eq!(asg.source, Source::AwsService);
    }

    #[test]
    fn console_agents_and_aws_internal_are_the_console() {
        for ua in [
            "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]",
            "RDS Console, aws-internal/3 aws-sdk-java/1.11.1030",
            "AWS Internal",
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        ] {
            let a = Actor::from_record(&record(
                json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/bert-jan", "userName": "bert-jan"}),
                ua,
            ));
            assert_eq!(a.source, Source::Console, "{ua}");
            assert_eq!((a.kind, a.name.as_str()), (ActorKind::IamUser, "bert-jan"));
        }
        // `invokedBy: AWS Internal` is not an AWS service acting.
        let internal = Actor::from_record(&record(
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b", "userName": "b", "invokedBy": "AWS Internal"}),
            "AWS Internal",
        ));
        assert_eq!(internal.source, Source::Console);
        // A service acting for a user (forward access session) is the service as source.
        let fas = Actor::from_record(&record(
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b", "userName": "b", "invokedBy": "secretsmanager.amazonaws.com"}),
            "secretsmanager.amazonaws.com",
        ));
        assert_eq!(
            (fas.kind, fas.source),
            (ActorKind::IamUser, Source::AwsService)
        );
    }

    /// Who acted is the principal: a person's call whose user agent is a service's host (as the
    /// console's back ends send them) is the person's, unless `invokedBy` says AWS acted for
    /// them; a service-linked role with the same agent is the service.
    #[test]
    fn a_service_host_agent_does_not_make_a_person_a_service() {
        for identity in [
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b", "userName": "b"}),
            json!({"type": "Root", "arn": "arn:aws:iam::1:root"}),
            json!({"type": "AssumedRole",
                   "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com"}),
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/okta-admin/bob@example.com"}),
            json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/carol"}),
        ] {
            let a = Actor::from_record(&record(identity.clone(), "ec2.amazonaws.com"));
            assert_eq!(a.source, Source::Console, "{identity}");
        }
        let linked = Actor::from_record(&record(
            json!({"type": "AssumedRole",
                   "arn": "arn:aws:sts::1:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"}),
            "autoscaling.amazonaws.com",
        ));
        assert_eq!(linked.source, Source::AwsService);
        let automation = Actor::from_record(&record(
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/codebuild-role/AWSCodeBuild-1f2e"}),
            "codebuild.amazonaws.com",
        ));
        assert_eq!(automation.source, Source::AwsService);
    }

    #[test]
    fn sdks_boto_and_unknown_agents() {
        let boto = Actor::from_record(&record(
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b", "userName": "b"}),
            "[Boto3/1.26.165 Python/3.10.6 Linux/5.19.0-46-generic Botocore/1.29.165]",
        ));
        assert_eq!(boto.source, Source::Sdk);
        let tool = Actor::from_record(&record(
            json!({"type": "IAMUser", "arn": "arn:aws:iam::1:user/b", "userName": "b"}),
            "stratus-red-team_39f95f43-cd2f-4beb-b69e-be60",
        ));
        assert_eq!(tool.source, Source::Unknown);
    }

    #[test]
    fn cdk_deploys_through_cloudformation_with_its_exec_role() {
        let a = Actor::from_record(&record(
            json!({"type": "AssumedRole", "invokedBy": "cloudformation.amazonaws.com",
                   "arn": "arn:aws:sts::1:assumed-role/cdk-hnb659fds-cfn-exec-role-1-us-east-1/AWSCloudFormation"}),
            "cloudformation.amazonaws.com",
        ));
        assert_eq!(a.source, Source::Iac(IacTool::Cdk));
    }

    #[test]
    fn assumed_role_without_arn_is_rebuilt_from_the_session_issuer() {
        let a = Actor::from_record(&record(
            json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice@example.com",
                   "sessionContext": {"sessionIssuer": {"type": "Role",
                       "arn": "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnly_abc123",
                       "userName": "AWSReservedSSO_ReadOnly_abc123"}}}),
            "aws-cli/2.15.0",
        ));
        assert_eq!(a.kind, ActorKind::SsoUser);
        assert_eq!(a.name, "alice@example.com (SSO ReadOnly)");
    }

    #[test]
    fn identity_center_and_saml_users() {
        let ic = Actor::from_record(&record(
            json!({"type": "IdentityCenterUser", "userName": "carol", "accountId": "1"}),
            "Mozilla/5.0",
        ));
        assert_eq!((ic.kind, ic.name.as_str()), (ActorKind::SsoUser, "carol"));
        let saml = Actor::from_record(&record(
            json!({"type": "SAMLUser", "userName": "dave@corp.example", "principalId": "x:dave"}),
            "aws-cli/2",
        ));
        assert_eq!(saml.kind, ActorKind::FederatedUser);
        assert_eq!(saml.name, "dave@corp.example");
    }
}
