//! Lambda: plain functions have no hourly cost; provisioned concurrency does.

use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing;
use serde_json::Value;

use super::read::{count, get, list, num, text};
use super::{apply, Context, Facts, Learned, ResourceKind, ResourceRef, ResourceSpec};

/// The function's name, from a name, a partial ARN or a full (possibly qualified) ARN.
pub fn function_name(record: &CloudTrailRecord) -> Option<String> {
    let raw = text(record.request(), &["functionName"])
        .or_else(|| text(record.response(), &["functionName"]))?;
    let name = match raw.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => raw,
    };
    Some(name.to_owned()).filter(|n| !n.is_empty())
}

fn arm64(bodies: &[&Value]) -> bool {
    bodies.iter().any(|b| {
        list(get(b, "architectures"))
            .iter()
            .any(|a| a.as_str() == Some("arm64"))
    })
}

/// CreateFunction (logged as `CreateFunction20150331`): no hourly cost until provisioned
/// concurrency is configured; invocations are usage-based.
pub fn create_function(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let id = text(resp, &["functionArn"])
        .map(str::to_owned)
        .or_else(|| function_name(ctx.record));
    let mut event = ctx.event(
        "lambda",
        "lambda:function",
        CostAction::Create,
        id.into_iter().collect(),
        1,
    );
    let memory = num(resp, &["memorySize"]).or_else(|| num(req, &["memorySize"]));
    event.sku = Some(format!("{}MB", memory.unwrap_or(128.0)));
    apply(&mut event, pricing::lambda_function());
    vec![event]
}

fn stored(facts: &Facts, region: &str, name: &str) -> Option<(f64, bool)> {
    match facts.get(&ResourceRef::new(ResourceKind::Function, region, name))? {
        ResourceSpec::Function { memory_mb, arm64 } => Some((*memory_mb, *arm64)),
        _ => None,
    }
}

/// PutProvisionedConcurrencyConfig: memory × concurrency at the provisioned rate. The memory
/// is not in the event: it is what dd0c stored from the function's creation or last update.
pub fn put_provisioned_concurrency(ctx: &Context) -> Vec<CostEvent> {
    let (req, resp) = (ctx.record.request(), ctx.record.response());
    let Some(name) = function_name(ctx.record) else {
        return Vec::new();
    };
    let qualifier = text(req, &["qualifier"]);
    let id = match qualifier {
        Some(q) => format!("{name}:{q}"),
        None => name.clone(),
    };
    let concurrency = num(req, &["provisionedConcurrentExecutions"])
        .or_else(|| num(resp, &["requestedProvisionedConcurrentExecutions"]));
    let mut event = ctx.event(
        "lambda",
        "lambda:provisioned-concurrency",
        CostAction::Create,
        vec![id],
        concurrency.and_then(count).unwrap_or(0),
    );
    match (stored(ctx.facts, ctx.region(), &name), concurrency) {
        (Some((memory, arm)), Some(c)) => {
            event.sku = Some(format!("{memory}MB"));
            apply(
                &mut event,
                pricing::lambda_provisioned_concurrency(memory, c, ctx.region(), arm),
            );
        }
        (None, _) => event.pricing_notes.push(format!(
            "memory size of {name} unknown (not in the event; the function was not created or updated while dd0c was watching): price unknown"
        )),
        (_, None) => event
            .pricing_notes
            .push("concurrency not in the event: price unknown".to_owned()),
    }
    event
        .pricing_notes
        .push("replaces any earlier provisioned concurrency of this alias or version".to_owned());
    vec![event]
}

/// DeleteProvisionedConcurrencyConfig: the amount removed is not in the event.
pub fn delete_provisioned_concurrency(ctx: &Context) -> Vec<CostEvent> {
    let Some(name) = function_name(ctx.record) else {
        return Vec::new();
    };
    let id = match text(ctx.record.request(), &["qualifier"]) {
        Some(q) => format!("{name}:{q}"),
        None => name,
    };
    let mut event = ctx.event(
        "lambda",
        "lambda:provisioned-concurrency",
        CostAction::Delete,
        vec![id],
        0,
    );
    event
        .pricing_notes
        .push("the removed concurrency is not in the event: what it cost is unknown".to_owned());
    vec![event]
}

pub fn learned(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    let Some(name) = function_name(record) else {
        return Vec::new();
    };
    let (req, resp) = (record.request(), record.response());
    let before = stored(facts, &record.aws_region, &name);
    let memory = num(resp, &["memorySize"])
        .or_else(|| num(req, &["memorySize"]))
        .or(before.map(|b| b.0))
        .or_else(|| {
            record
                .event_name
                .starts_with("CreateFunction")
                .then_some(128.0)
        });
    let has_arch = [req, resp]
        .iter()
        .any(|b| get(b, "architectures").is_some());
    let arm = if has_arch {
        arm64(&[req, resp])
    } else {
        before.is_some_and(|b| b.1)
    };
    match memory {
        Some(memory_mb) => vec![Learned::Remember(
            ResourceRef::new(ResourceKind::Function, &record.aws_region, &name),
            ResourceSpec::Function {
                memory_mb,
                arm64: arm,
            },
        )],
        None => Vec::new(),
    }
}
