//! SageMaker real-time endpoints. CreateEndpoint names only an endpoint config; the instance
//! types and counts are in the config, which dd0c remembers from CreateEndpointConfig.

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, PriceEstimate};

use super::read::{count, get, list, num, text};
use super::{
    apply, sum, Context, EndpointVariant, Learned, ResourceKind, ResourceRef, ResourceSpec,
};

pub fn endpoint_config_name(record: &CloudTrailRecord) -> Option<String> {
    text(record.request(), &["endpointConfigName"]).map(str::to_owned)
}

pub fn learned_from_config(record: &CloudTrailRecord) -> Vec<Learned> {
    let Some(name) = endpoint_config_name(record) else {
        return Vec::new();
    };
    let variants = list(get(record.request(), "productionVariants"))
        .into_iter()
        .map(|v| EndpointVariant {
            name: text(v, &["variantName"]).unwrap_or_default().to_owned(),
            instance_type: text(v, &["instanceType"]).map(str::to_owned),
            instance_count: num(v, &["initialInstanceCount"])
                .and_then(count)
                .unwrap_or(1),
        })
        .collect();
    vec![Learned::Remember(
        ResourceRef::new(ResourceKind::EndpointConfig, &record.aws_region, &name),
        ResourceSpec::EndpointConfig { variants },
    )]
}

fn variant_price(v: &EndpointVariant, region: &str) -> PriceEstimate {
    match &v.instance_type {
        Some(t) => pricing::sagemaker_instance(t, region).times(v.instance_count),
        None => PriceEstimate::no_hourly_cost(format!(
            "variant {} is serverless: billed per request, no hourly cost",
            v.name
        )),
    }
}

pub fn create_endpoint(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(resp, &["endpointArn"])
        .or_else(|| text(req, &["endpointName"]))
        .map(str::to_owned);
    let config = endpoint_config_name(ctx.record);
    let variants = config
        .as_deref()
        .and_then(|c| ctx.fact(ResourceKind::EndpointConfig, c))
        .and_then(|spec| match spec {
            ResourceSpec::EndpointConfig { variants } => Some(variants),
            _ => None,
        });
    let instances: u32 = variants
        .map(|vs| vs.iter().map(|v| v.instance_count).sum())
        .unwrap_or(0);
    let mut event = ctx.event(
        "sagemaker",
        "sagemaker:endpoint",
        CostAction::Create,
        id.into_iter().collect(),
        instances,
    );
    match variants {
        Some(vs) if !vs.is_empty() => {
            let types: Vec<&str> = vs.iter().filter_map(|v| v.instance_type.as_deref()).collect();
            if !types.is_empty() {
                event.sku = Some(types.join(","));
            }
            apply(
                &mut event,
                sum(vs.iter().map(|v| variant_price(v, ctx.region())).collect()),
            );
        }
        _ => event.pricing_notes.push(format!(
            "instance types are in endpoint config {} (not created while dd0c was watching): price unknown",
            config.as_deref().unwrap_or("(unnamed)")
        )),
    }
    vec![event]
}
