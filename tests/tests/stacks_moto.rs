//! The accounts port's stack reads against moto, through the real SDK (issue 16, item 1):
//! CloudFormation's stacks and their resources (ListStacks, ListStackResources) and the
//! resources carrying a tag (the Resource Groups Tagging API's GetResources), on the assumed
//! role's credentials, mapped to the resources the drift tracker follows.

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::accounts::{Accounts, AccountsError};
use dd0c_shared::domain::drift::{cloudformation_resource, resource_of_arn};
use dd0c_tests::moto::MotoServer;

const ROLE: &str = "arn:aws:iam::123456789012:role/dd0c-readonly";
const EXTERNAL_ID: &str = "0b5e4c1a-8f2d-4e7b-9a3c-1d2e3f4a5b6c";

const TEMPLATE: &str = r#"{
  "Resources": {
    "WebSecurityGroup": {
      "Type": "AWS::EC2::SecurityGroup",
      "Properties": {"GroupDescription": "web"}
    },
    "Assets": {
      "Type": "AWS::S3::Bucket",
      "Properties": {"BucketName": "dd0c-discovery-assets"}
    },
    "Topic": {"Type": "AWS::SNS::Topic"}
  }
}"#;

#[tokio::test]
async fn stacks_their_resources_and_tagged_resources_are_read_on_moto() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack()
        .stack_name("web")
        .template_body(TEMPLATE)
        .send()
        .await
        .expect("create stack");
    cfn.create_stack()
        .stack_name("gone")
        .template_body(r#"{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}"#)
        .send()
        .await
        .expect("create stack");
    cfn.delete_stack()
        .stack_name("gone")
        .send()
        .await
        .expect("delete stack");
    let west = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .region(aws_sdk_ec2::config::Region::new("us-west-2"))
            .build(),
    );
    let tagged = |value: &str| {
        TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key("Stack").value(value).build())
            .build()
    };
    let run = |value: &'static str| {
        west.run_instances()
            .image_id("ami-12c6146b")
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .tag_specifications(tagged(value))
            .send()
    };
    let payments = run("payments").await.expect("run instance");
    run("search").await.expect("run instance");
    let payments_id = payments.instances()[0].instance_id().unwrap().to_owned();

    let accounts = AwsAccounts::new(sdk.clone());
    let session = accounts
        .assume_role(ROLE, EXTERNAL_ID)
        .await
        .expect("assume role");

    let stacks = accounts
        .cloudformation_stacks(&session, "us-east-1")
        .await
        .expect("list stacks");
    let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web"], "a deleted stack is not listed: {stacks:?}");
    assert_eq!(stacks[0].status, "CREATE_COMPLETE");

    let resources = accounts
        .cloudformation_stack_resources(&session, "us-east-1", "web")
        .await
        .expect("stack resources");
    assert_eq!(resources.len(), 3, "{resources:?}");
    let followed: Vec<(&str, String, &str)> = resources
        .iter()
        .filter_map(|r| {
            let (t, id) = cloudformation_resource(&r.resource_type, r.physical_id.as_deref()?)?;
            Some((t, id, r.logical_id.as_str()))
        })
        .collect();
    assert_eq!(followed.len(), 2, "the topic is not followed: {followed:?}");
    let group = followed
        .iter()
        .find(|(t, _, _)| *t == "ec2:security-group")
        .expect("the security group");
    assert!(group.1.starts_with("sg-"), "{group:?}");
    assert_eq!(group.2, "WebSecurityGroup");
    assert!(followed.contains(&("s3:bucket", "dd0c-discovery-assets".to_owned(), "Assets")));
    assert!(matches!(
        accounts
            .cloudformation_stack_resources(&session, "us-east-1", "never-created")
            .await,
        Err(AccountsError::NotFound(_))
    ));

    let found = accounts
        .tagged_resources(&session, "us-west-2", "Stack", Some("payments"))
        .await
        .expect("tagged resources");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        resource_of_arn(&found[0].arn),
        Some(("ec2:instance", payments_id))
    );
    assert_eq!(
        found[0].tags.get("Stack").map(String::as_str),
        Some("payments")
    );
    let any_value = accounts
        .tagged_resources(&session, "us-west-2", "Stack", None)
        .await
        .expect("tagged resources");
    assert_eq!(any_value.len(), 2);
    assert!(accounts
        .tagged_resources(&session, "us-east-1", "Stack", Some("payments"))
        .await
        .expect("another region")
        .is_empty());
}
