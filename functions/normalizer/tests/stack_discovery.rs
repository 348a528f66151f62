//! Ownership of existing infrastructure (issue 16, item 1): a connected account's
//! CloudFormation stacks and the resources carrying a stack's ownership tags are read through
//! the read-only role (here the scripted accounts port; the real SDK adapter against moto is in
//! `tests/tests/accounts_moto.rs`, and the deployed wiring in the local cloud's journeys), so
//! the first console change to one of them is drift.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_normalizer::stack_discovery::refresh_step;
use dd0c_normalizer::{AccountJobs, Backfill, Normalizer, NormalizerConfig, StackDiscovery};
use dd0c_shared::accounts::fake::{ScriptedAccount, ScriptedAccounts, ScriptedStack};
use dd0c_shared::accounts::{CloudFormationResource, CloudFormationStack, TaggedResource};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::bus::{Bus, QueueBus, RoutingTable};
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::domain::drift::{
    DriftEvent, DISCOVERY_IDENTITY, DRIFT_EVENT_DETAIL_TYPE, STATE_IMPORT_EVENT_ID,
};
use dd0c_shared::domain::stack_discovery::StackDiscoveryStep;
use dd0c_shared::domain::{CloudTrailRecord, IacTool};
use dd0c_shared::entity::{resource, stack};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::Queue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use serde_json::{json, Value};

const TENANT: &str = "t-1";
const ACCOUNT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/dd0c-readonly";
const EXTERNAL_ID: &str = "ext-1";
const TERRAFORM_UA: &str =
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0";

fn connected() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn resource(logical: &str, cfn_type: &str, physical: Option<&str>) -> CloudFormationResource {
    CloudFormationResource {
        logical_id: logical.into(),
        resource_type: cfn_type.into(),
        physical_id: physical.map(str::to_owned),
    }
}

fn cfn_stack(region: &str, name: &str, resources: Vec<CloudFormationResource>) -> ScriptedStack {
    ScriptedStack {
        region: region.into(),
        stack: CloudFormationStack {
            name: name.into(),
            status: "CREATE_COMPLETE".into(),
        },
        resources,
    }
}

/// `web` in us-east-1 (a security group, an instance, an ingress rule dd0c does not follow,
/// and a resource still being created), `data` in eu-west-1 (a database); ap-east-1 not
/// enabled; an instance and an SNS topic tagged `Stack=payments` in us-west-2.
fn account() -> ScriptedAccount {
    ScriptedAccount {
        external_id: EXTERNAL_ID.into(),
        disabled_regions: vec!["ap-east-1".into()],
        stacks: vec![
            cfn_stack(
                "us-east-1",
                "web",
                vec![
                    resource(
                        "WebSecurityGroup",
                        "AWS::EC2::SecurityGroup",
                        Some("sg-0web"),
                    ),
                    resource("WebServer", "AWS::EC2::Instance", Some("i-0web")),
                    resource(
                        "WebIngress",
                        "AWS::EC2::SecurityGroupIngress",
                        Some("sgr-1"),
                    ),
                    resource("Pending", "AWS::EC2::Instance", None),
                ],
            ),
            cfn_stack(
                "eu-west-1",
                "data",
                vec![resource("Orders", "AWS::RDS::DBInstance", Some("orders"))],
            ),
        ],
        tagged: vec![
            (
                "us-west-2".into(),
                TaggedResource {
                    arn: format!("arn:aws:ec2:us-west-2:{ACCOUNT}:instance/i-0pay"),
                    tags: [("Stack", "payments"), ("team", "payments")]
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .into(),
                },
            ),
            (
                "us-west-2".into(),
                TaggedResource {
                    arn: format!("arn:aws:sns:us-west-2:{ACCOUNT}:payments-events"),
                    tags: [("Stack".to_owned(), "payments".to_owned())].into(),
                },
            ),
            (
                "us-west-2".into(),
                TaggedResource {
                    arn: format!("arn:aws:ec2:us-west-2:{ACCOUNT}:instance/i-0other"),
                    tags: [("Stack".to_owned(), "search".to_owned())].into(),
                },
            ),
        ],
        ..ScriptedAccount::default()
    }
}

/// What the tests read of a managed resource.
#[derive(Debug, PartialEq)]
struct Owned {
    tool: Option<IacTool>,
    identity: String,
    stack: Option<String>,
    address: Option<String>,
    event: String,
    tags: BTreeMap<String, String>,
}

struct World {
    table: Arc<MemoryTable>,
    queue: Arc<MemoryQueue>,
    bus: Arc<QueueBus>,
    jobs: AccountJobs,
    normalizer: Normalizer,
}

fn world_with(account: ScriptedAccount) -> World {
    let shared: SharedClock = Arc::new(ManualClock::new(connected() + Duration::seconds(1)));
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), shared.clone()));
    let table = Arc::new(MemoryTable::new(shared.clone()));
    let accounts = Arc::new(ScriptedAccounts::new().with_role(ROLE, account));
    let config = NormalizerConfig {
        auto_link_tenant: None,
    };
    let jobs = AccountJobs {
        backfill: Backfill::new(
            table.clone(),
            bus.clone(),
            shared.clone(),
            accounts.clone(),
            config.clone(),
        ),
        discovery: StackDiscovery::new(
            table.clone(),
            bus.clone(),
            shared.clone(),
            accounts.clone(),
        ),
    };
    let normalizer = Normalizer::new(table.clone(), bus.clone(), shared, config);
    World {
        table,
        queue,
        bus,
        jobs,
        normalizer,
    }
}

impl World {
    async fn link(&self) {
        let link = AccountLink {
            account_id: ACCOUNT.into(),
            tenant_id: TENANT.into(),
            status: AccountStatus::Active,
            role_arn: Some(ROLE.into()),
            external_id: Some(EXTERNAL_ID.into()),
            remediation_role_arn: None,
            connected_at: connected(),
            status_changed_at: None,
        };
        tenancy::link_account_if_absent(self.table.as_ref(), &link)
            .await
            .unwrap();
    }

    async fn connect(&self) {
        self.link().await;
        self.bus
            .publish(vec![StackDiscoveryStep::start(TENANT, ACCOUNT).event()])
            .await
            .unwrap();
    }

    /// Delivers the account jobs queue's messages until it is empty; returns how many.
    async fn drain(&self) -> usize {
        let mut delivered = 0;
        for _ in 0..500 {
            let received = self
                .queue
                .receive("backfill", 10, StdDuration::from_secs(30))
                .await
                .unwrap();
            if received.is_empty() {
                return delivered;
            }
            for message in received {
                self.jobs.handle(&message.body).await.expect("step");
                self.queue
                    .delete("backfill", &message.receipt_handle)
                    .await
                    .unwrap();
                delivered += 1;
            }
        }
        panic!("the account jobs never ended");
    }

    async fn managed(&self, resource_type: &str, id: &str) -> Option<Owned> {
        resource::managed_resource(self.table.as_ref(), TENANT, resource_type, id)
            .await
            .unwrap()
            .map(|m| Owned {
                tool: m.managed_by.tool,
                identity: m.managed_by.identity,
                stack: m.managed_by.stack,
                address: m.address,
                event: m.last_iac_event_id,
                tags: m.tags,
            })
    }

    /// The drift events published since the last call.
    async fn drift_published(&self) -> Vec<DriftEvent> {
        let mut found = Vec::new();
        loop {
            let received = self
                .queue
                .receive("classify", 10, StdDuration::from_secs(30))
                .await
                .unwrap();
            if received.is_empty() {
                return found;
            }
            for m in received {
                let v: Value = serde_json::from_str(&m.body).unwrap();
                if v["detail-type"] == DRIFT_EVENT_DETAIL_TYPE {
                    found.push(serde_json::from_value(v["detail"].clone()).unwrap());
                }
                self.queue
                    .delete("classify", &m.receipt_handle)
                    .await
                    .unwrap();
            }
        }
    }

    async fn declare_payments(&self) {
        let declaration = stack::StackDeclaration {
            stack_id: "payments".into(),
            name: "payments".into(),
            iac_tool: "terraform".into(),
            account_id: ACCOUNT.into(),
            region: "us-west-2".into(),
            state_location: None,
            enabled: true,
            ownership_tags: [("Stack".to_owned(), "payments".to_owned())].into(),
            created_at: connected(),
            updated_at: connected(),
        };
        stack::create(self.table.as_ref(), TENANT, &declaration)
            .await
            .unwrap();
    }
}

fn record(
    source: &str,
    name: &str,
    region: &str,
    request: Value,
    user_agent: &str,
    extra: Value,
) -> String {
    let mut v = json!({
        "eventVersion": "1.09",
        "eventID": format!("ev-{name}-{region}-{}", request),
        "eventTime": (connected() + Duration::hours(1)).to_rfc3339(),
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.5",
        "userAgent": user_agent,
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/jane"),
                          "userName": "jane", "accountId": ACCOUNT},
        "requestParameters": request,
        "responseElements": null,
        "recipientAccountId": ACCOUNT,
        "readOnly": false
    });
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    v.to_string()
}

fn console_ssh_opened(group: &str) -> String {
    record(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        "us-east-1",
        json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp",
               "fromPort": 22, "toPort": 22,
               "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        "AWS Internal",
        json!({"sessionCredentialFromConsole": "true"}),
    )
}

#[tokio::test]
async fn a_cloudformation_stack_is_known_as_managed_before_any_change_to_it() {
    let w = world_with(account());
    w.connect().await;
    let steps = w.drain().await;
    // The start, one step per region, one per stack found.
    assert_eq!(
        steps,
        1 + dd0c_shared::accounts::COMMERCIAL_REGIONS.len() + 2
    );

    let sg = w
        .managed("ec2:security-group", "sg-0web")
        .await
        .expect("managed");
    assert_eq!(sg.tool, Some(IacTool::CloudFormation));
    assert_eq!(sg.stack.as_deref(), Some("web"));
    assert_eq!(sg.address.as_deref(), Some("WebSecurityGroup"));
    assert_eq!(sg.identity, DISCOVERY_IDENTITY);
    assert_eq!(sg.event, STATE_IMPORT_EVENT_ID);
    assert!(w.managed("ec2:instance", "i-0web").await.is_some());
    let db = w.managed("rds:db", "orders").await.expect("database");
    assert_eq!(db.stack.as_deref(), Some("data"));

    let web = stack::load_stack(w.table.as_ref(), TENANT, "web")
        .await
        .unwrap()
        .expect("the stack is listed");
    assert_eq!(web.tool, Some(IacTool::CloudFormation));
    assert_eq!(
        (web.account_id.as_str(), web.region.as_str()),
        (ACCOUNT, "us-east-1")
    );

    // The first console change to the security group is drift, on its first event.
    let outcome = w
        .normalizer
        .process_record(&console_ssh_opened("sg-0web"))
        .await
        .unwrap();
    assert!(!matches!(outcome, dd0c_normalizer::Outcome::Duplicate));
    let drift = w.drift_published().await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].resource_id, "sg-0web");
    assert_eq!(drift[0].stack.as_deref(), Some("web"));

    // A console change to a resource no stack owns is not drift.
    w.normalizer
        .process_record(&console_ssh_opened("sg-0console"))
        .await
        .unwrap();
    assert!(w.drift_published().await.is_empty());
}

#[tokio::test]
async fn resources_carrying_a_stacks_ownership_tag_are_the_stacks() {
    let w = world_with(account());
    w.declare_payments().await;
    w.connect().await;
    w.drain().await;

    let pay = w
        .managed("ec2:instance", "i-0pay")
        .await
        .expect("tagged instance");
    assert_eq!(pay.stack.as_deref(), Some("payments"));
    assert_eq!(pay.tool, Some(IacTool::Terraform));
    assert_eq!(pay.tags.get("team").map(String::as_str), Some("payments"));
    // Another value of the tag is another stack's (and none is declared for it).
    assert!(w.managed("ec2:instance", "i-0other").await.is_none());
}

#[tokio::test]
async fn an_iac_change_cloudtrail_showed_is_kept_over_what_the_account_lists() {
    let w = world_with(account());
    w.link().await;
    // Terraform created the instance after the connection (so CloudTrail knows who applies it).
    let run = record(
        "ec2",
        "RunInstances",
        "us-east-1",
        json!({"instanceType": "t3.micro", "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]}}),
        TERRAFORM_UA,
        json!({"responseElements": {"instancesSet": {"items": [{"instanceId": "i-0web", "instanceType": "t3.micro"}]}}}),
    );
    w.normalizer.process_record(&run).await.unwrap();
    let before = w
        .managed("ec2:instance", "i-0web")
        .await
        .expect("managed by Terraform");
    assert_ne!(before.event, STATE_IMPORT_EVENT_ID);

    w.bus
        .publish(vec![StackDiscoveryStep::of(
            TENANT,
            ACCOUNT,
            "us-east-1",
            Some("web"),
        )
        .event()])
        .await
        .unwrap();
    w.drain().await;
    let after = w.managed("ec2:instance", "i-0web").await.unwrap();
    assert_eq!(after, before, "CloudTrail's evidence is kept");
    assert_eq!(
        w.managed("ec2:security-group", "sg-0web")
            .await
            .unwrap()
            .stack
            .as_deref(),
        Some("web")
    );
}

#[tokio::test]
async fn a_stack_changed_in_cloudtrail_is_read_again() {
    let mut acct = account();
    acct.stacks[0].resources.push(resource(
        "Adopted",
        "AWS::EC2::SecurityGroup",
        Some("sg-0adopted"),
    ));
    let w = world_with(acct);
    w.link().await;
    // An import change set adopts an existing group: no write to it shows in CloudTrail.
    let execute = record(
        "cloudformation",
        "ExecuteChangeSet",
        "us-east-1",
        json!({"changeSetName": "adopt", "stackName": format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/web/0f1e")}),
        "AWS Internal",
        json!({}),
    );
    w.normalizer.process_record(&execute).await.unwrap();
    assert_eq!(w.drain().await, 1, "one step: the stack");
    let adopted = w
        .managed("ec2:security-group", "sg-0adopted")
        .await
        .expect("adopted");
    assert_eq!(adopted.stack.as_deref(), Some("web"));
    // Nothing else was read: other stacks, other regions.
    assert!(w.managed("rds:db", "orders").await.is_none());
}

#[test]
fn only_successful_stack_changing_calls_refresh_a_stack() {
    let link = AccountLink {
        account_id: ACCOUNT.into(),
        tenant_id: TENANT.into(),
        status: AccountStatus::Active,
        role_arn: Some(ROLE.into()),
        external_id: Some(EXTERNAL_ID.into()),
        remediation_role_arn: None,
        connected_at: connected(),
        status_changed_at: None,
    };
    let parse = |raw: String| CloudTrailRecord::from_json(&raw).unwrap();
    let create = parse(record(
        "cloudformation",
        "CreateStack",
        "eu-west-1",
        json!({"stackName": "web"}),
        "aws-cli/2",
        json!({}),
    ));
    assert_eq!(
        refresh_step(&create, &link),
        Some(StackDiscoveryStep::of(
            TENANT,
            ACCOUNT,
            "eu-west-1",
            Some("web")
        ))
    );
    let by_arn = parse(record(
        "cloudformation",
        "ExecuteChangeSet",
        "eu-west-1",
        json!({"changeSetName": format!("arn:aws:cloudformation:eu-west-1:{ACCOUNT}:changeSet/c/1")}),
        "aws-cli/2",
        json!({}),
    ));
    assert_eq!(
        refresh_step(&by_arn, &link),
        Some(StackDiscoveryStep::of(TENANT, ACCOUNT, "eu-west-1", None)),
        "a change set named by ARN alone: the region is read again"
    );
    let failed = parse(record(
        "cloudformation",
        "UpdateStack",
        "eu-west-1",
        json!({"stackName": "web"}),
        "aws-cli/2",
        json!({"errorCode": "ValidationError"}),
    ));
    assert_eq!(refresh_step(&failed, &link), None);
    let delete = parse(record(
        "cloudformation",
        "DeleteStack",
        "eu-west-1",
        json!({"stackName": "web"}),
        "aws-cli/2",
        json!({}),
    ));
    assert_eq!(refresh_step(&delete, &link), None);
    let not_cfn = parse(console_ssh_opened("sg-1"));
    assert_eq!(refresh_step(&not_cfn, &link), None);
}

#[tokio::test]
async fn a_role_without_the_stack_permissions_is_skipped_not_retried() {
    let mut acct = account();
    acct.denied_actions = vec!["cloudformation:ListStacks".into()];
    let w = world_with(acct);
    w.connect().await;
    assert_eq!(
        w.drain().await,
        1 + dd0c_shared::accounts::COMMERCIAL_REGIONS.len()
    );
    assert!(w.managed("ec2:security-group", "sg-0web").await.is_none());
    assert_eq!(w.queue.depth("backfill"), 0);
}

#[tokio::test]
async fn an_iac_write_carrying_an_ownership_tag_belongs_to_its_stack() {
    let w = world_with(account());
    w.link().await;
    w.declare_payments().await;
    let run = record(
        "ec2",
        "RunInstances",
        "us-west-2",
        json!({"instanceType": "t3.micro",
               "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
               "tagSpecificationSet": {"items": [{"resourceType": "instance",
                   "tags": [{"key": "Stack", "value": "payments"}]}]}}),
        TERRAFORM_UA,
        json!({"responseElements": {"instancesSet": {"items": [{"instanceId": "i-0new", "instanceType": "t3.micro"}]}}}),
    );
    w.normalizer.process_record(&run).await.unwrap();
    let managed = w.managed("ec2:instance", "i-0new").await.expect("managed");
    assert_eq!(managed.stack.as_deref(), Some("payments"));
}
