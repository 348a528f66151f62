//! VPC networking that bills by the hour: NAT gateways and Elastic IPs.

use dd0c_shared::domain::{CostAction, CostEvent};
use dd0c_shared::pricing;

use super::read::{get, text, unwrap};
use super::{apply, Context};

/// CreateNatGateway: real logs nest the parameters PascalCase under `CreateNatGatewayRequest`
/// and the result under `CreateNatGatewayResponse.natGateway`.
pub fn create_nat_gateway(ctx: &Context) -> Vec<CostEvent> {
    let request = unwrap(ctx.record.request(), "CreateNatGatewayRequest");
    let response = unwrap(ctx.record.response(), "CreateNatGatewayResponse");
    let gateway = get(response, "natGateway").unwrap_or(response);
    let id = text(gateway, &["natGatewayId"]).map(str::to_owned);
    let mut event = ctx.event(
        "ec2",
        "ec2:nat-gateway",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    let connectivity = text(request, &["ConnectivityType"])
        .or_else(|| text(gateway, &["connectivityType"]))
        .unwrap_or("public");
    event.sku = Some(format!("nat-gateway-{connectivity}"));
    apply(&mut event, pricing::nat_gateway(ctx.region()));
    event
        .pricing_notes
        .push("data processed through the gateway is billed per GB (not estimated)".to_owned());
    vec![event]
}

/// DeleteNatGateway: what the gateway was costing.
pub fn delete_nat_gateway(ctx: &Context) -> Vec<CostEvent> {
    let request = unwrap(ctx.record.request(), "DeleteNatGatewayRequest");
    let response = unwrap(ctx.record.response(), "DeleteNatGatewayResponse");
    let id = text(request, &["NatGatewayId"])
        .or_else(|| text(response, &["natGatewayId"]))
        .map(str::to_owned);
    let mut event = ctx.event(
        "ec2",
        "ec2:nat-gateway",
        CostAction::Delete,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some("nat-gateway".to_owned());
    apply(&mut event, pricing::nat_gateway(ctx.region()));
    vec![event]
}

/// AllocateAddress: an Elastic IP bills per hour (every public IPv4 address does).
pub fn allocate_address(ctx: &Context) -> Vec<CostEvent> {
    let response = ctx.record.response();
    let id = text(response, &["allocationId"])
        .or_else(|| text(response, &["publicIp"]))
        .map(str::to_owned);
    let mut event = ctx.event(
        "ec2",
        "ec2:elastic-ip",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some("elastic-ip".to_owned());
    apply(&mut event, pricing::elastic_ip(ctx.region()));
    if let Some(ip) = text(response, &["publicIp"]) {
        event.pricing_notes.push(format!("address {ip}"));
    }
    vec![event]
}

/// ReleaseAddress: what the address was costing.
pub fn release_address(ctx: &Context) -> Vec<CostEvent> {
    let request = ctx.record.request();
    let id = text(request, &["allocationId"])
        .or_else(|| text(request, &["publicIp"]))
        .map(str::to_owned);
    let mut event = ctx.event(
        "ec2",
        "ec2:elastic-ip",
        CostAction::Delete,
        id.into_iter().collect(),
        1,
    );
    event.sku = Some("elastic-ip".to_owned());
    apply(&mut event, pricing::elastic_ip(ctx.region()));
    vec![event]
}
