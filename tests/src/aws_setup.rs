//! Creates dd0c's resources on a moto server: the single table (keys, GSIs, TTL), every FIFO
//! queue of the routing table with its dead-letter queue and redrive policy, and the bus
//! with one rule per route targeting its queue.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use dd0c_shared::bus::RoutingTable;
use dd0c_shared::queue::dlq_name;
use dd0c_shared::store::{Index, INDEX_PROJECTED_ATTRIBUTES};

pub async fn create_table(sdk: &SdkConfig, name: &str) {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema")
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range));
    for index in Index::ALL {
        request = request
            .attribute_definitions(attr(index.partition_attribute()))
            .attribute_definitions(attr(index.sort_attribute()))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name())
                    .key_schema(key(index.partition_attribute(), KeyType::Hash))
                    .key_schema(key(index.sort_attribute(), KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .set_non_key_attributes(Some(
                                INDEX_PROJECTED_ATTRIBUTES.map(String::from).to_vec(),
                            ))
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
    }
    request.send().await.expect("create table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// Creates every queue of the routing table (and its DLQ); returns logical name → URL.
pub async fn create_queues(sdk: &SdkConfig, routing: &RoutingTable) -> HashMap<String, String> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut urls = HashMap::new();
    for spec in &routing.queues {
        let dlq = dlq_name(&spec.name);
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{dlq}.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .expect("create dlq")
            .queue_url
            .expect("dlq url");
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dlq arn");
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": routing.max_receive_count,
        })
        .to_string();
        let url = client
            .create_queue()
            .queue_name(format!("{}.fifo", spec.name))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                (spec.consumer_timeout_seconds * 6).to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        urls.insert(spec.name.clone(), url);
        urls.insert(dlq, dlq_url);
    }
    // The ingest inbox (a Kinesis stream) has a standard dead-letter queue (decision 1060).
    for name in [dlq_name(&routing.ingest_rule.inbox.name)] {
        let url = client
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create standard queue")
            .queue_url
            .expect("queue url");
        urls.insert(name, url);
    }
    urls
}
