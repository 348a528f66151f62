//! Who makes the simulated calls, as CloudTrail records them: the principal (`userIdentity`),
//! the user agent and the source address.
//!
//! Automation behaves as it does on real accounts: a role assumed with a new session name on
//! every run (CI run ids, batch dates, Karpenter's nanosecond timestamps), AWS services acting
//! with `invokedBy`, and people through Identity Center sessions named by their e-mail.

use rand::Rng;
use serde_json::{json, Value};

use super::Gen;

const TERRAFORM_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0";
const SDK_UA: &str =
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0";
const BOTO_UA: &str = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.4 cfg/retry-mode#legacy Botocore/1.34.0";
const LAMBDA_BOTO_UA: &str = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.12.1 exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.0";
const KARPENTER_UA: &str = "aws-sdk-go/1.55.5 (go1.22.5; linux; amd64) karpenter.sh-v0.37.0";
const BROWSER_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

pub(super) const CONSOLE_USERS: [&str; 3] =
    ["alice@example.com", "bruno@example.com", "chen@example.com"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    /// Terraform in CI: the deployer role, a session per pipeline run.
    Terraform,
    AutoScaling,
    /// The nightly batch job: its own role, a session per night.
    Batch,
    /// An Identity Center user; most of their calls come from the console.
    Console(usize),
    /// A person's calls that the console's back end makes for them ("AWS Internal").
    ConsoleInternal(usize),
    /// A leaked long-term key of a service user, used from somewhere else.
    Leaked,
    /// A role the account has never seen, assumed from outside (a leaked session).
    Stranger,
    /// Karpenter's controller (IRSA: web identity), a session per credential refresh.
    Karpenter,
    /// Amazon Data Lifecycle Manager, taking snapshots on a schedule.
    Dlm,
    /// A backup Lambda function's role, a session per invocation.
    BackupJob,
    /// EKS through its service-linked role; its calls often carry "AWS Internal".
    EksServiceRole,
}

impl Gen {
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>` with its issuer.
    fn role_session(&self, role_path: &str, role: &str, session: &str, key: &str) -> Value {
        let acc = &self.account;
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{key}:{session}"),
            "arn": format!("arn:aws:sts::{acc}:assumed-role/{role}/{session}"),
            "accountId": acc, "accessKeyId": format!("ASIA{key}"),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": format!("AROA{key}"),
                    "arn": format!("arn:aws:iam::{acc}:role/{role_path}{role}"),
                    "accountId": acc, "userName": role},
                "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}
            }
        })
    }

    pub(super) fn identity(&mut self, who: Who) -> (Value, &'static str, String) {
        match who {
            Who::Terraform => {
                let session = format!(
                    "gha-{}-terraform-apply",
                    self.rng.gen_range(10_000_000..99_999_999u64)
                );
                (
                    self.role_session("", "terraform-deployer", &session, "EXAMPLETF"),
                    TERRAFORM_UA,
                    "10.20.0.15".into(),
                )
            }
            Who::AutoScaling => {
                let mut id = self.role_session(
                    "aws-service-role/autoscaling.amazonaws.com/",
                    "AWSServiceRoleForAutoScaling",
                    "AutoScaling",
                    "EXAMPLEAS",
                );
                id["invokedBy"] = json!("autoscaling.amazonaws.com");
                (
                    id,
                    "autoscaling.amazonaws.com",
                    "autoscaling.amazonaws.com".into(),
                )
            }
            Who::Batch => {
                let session = format!("nightly-{}", self.hex(12));
                (
                    self.role_session("", "batch-runner", &session, "EXAMPLEBA"),
                    SDK_UA,
                    "10.20.3.7".into(),
                )
            }
            Who::Console(i) | Who::ConsoleInternal(i) => {
                let user = CONSOLE_USERS[i % CONSOLE_USERS.len()];
                let mut id = self.role_session(
                    "aws-reserved/sso.amazonaws.com/",
                    "AWSReservedSSO_Developer_0123456789abcdef",
                    user,
                    "EXAMPLESSO",
                );
                id["sessionContext"]["attributes"]["mfaAuthenticated"] = json!("true");
                let ua = if who == Who::Console(i) {
                    BROWSER_UA
                } else {
                    "AWS Internal"
                };
                (id, ua, "203.0.113.20".into())
            }
            Who::Leaked => {
                let acc = self.account.clone();
                (
                    json!({
                        "type": "IAMUser",
                        "principalId": "AIDAEXAMPLELEAK",
                        "arn": format!("arn:aws:iam::{acc}:user/svc-reporting"),
                        "accountId": acc, "accessKeyId": "AKIAEXAMPLELEAKED01",
                        "userName": "svc-reporting"
                    }),
                    BOTO_UA,
                    self.foreign_ip(),
                )
            }
            Who::Stranger => {
                let session = format!("session-{}", self.hex(8));
                (
                    self.role_session("", "OrganizationAccountAccessRole", &session, "EXAMPLEOAAR"),
                    BOTO_UA,
                    self.foreign_ip(),
                )
            }
            Who::Karpenter => {
                let session = self
                    .rng
                    .gen_range(1_700_000_000_000_000_000u64..1_800_000_000_000_000_000)
                    .to_string();
                let mut id =
                    self.role_session("", "KarpenterControllerRole-prod", &session, "EXAMPLEKARP");
                id["sessionContext"]["webIdFederationData"] = json!({
                    "federatedProvider": format!("arn:aws:iam::{}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789", self.account),
                    "attributes": {}
                });
                (id, KARPENTER_UA, "10.20.9.40".into())
            }
            Who::Dlm => {
                let mut id = self.role_session(
                    "service-role/",
                    "AWSDataLifecycleManagerDefaultRole",
                    "DLMSession",
                    "EXAMPLEDLM",
                );
                id["invokedBy"] = json!("dlm.amazonaws.com");
                (id, "dlm.amazonaws.com", "dlm.amazonaws.com".into())
            }
            Who::EksServiceRole => (
                self.role_session(
                    "aws-service-role/eks.amazonaws.com/",
                    "AWSServiceRoleForAmazonEKS",
                    "AmazonEKS",
                    "EXAMPLEEKS",
                ),
                "AWS Internal",
                "eks.amazonaws.com".into(),
            ),
            Who::BackupJob => {
                let session = format!("nightly-backup-{}", self.hex(10));
                (
                    self.role_session("", "nightly-backup-lambda", &session, "EXAMPLEBKP"),
                    LAMBDA_BOTO_UA,
                    "3.91.12.200".into(),
                )
            }
        }
    }

    fn foreign_ip(&mut self) -> String {
        format!(
            "185.220.{}.{}",
            self.rng.gen_range(1..255),
            self.rng.gen_range(1..255)
        )
    }
}
