//! Matching drift against the rules data file.

use dd0c_shared::domain::drift::{
    AttributeChange, ConditionOp, DriftCategory, DriftEvent, DriftRule, RuleCondition, RuleError,
    RuleSet,
};
use dd0c_shared::domain::Severity;
use dd0c_shared::json::number;
use serde_json::Value;

/// The rules shipped with the classifier.
pub const BUILTIN_RULES: &str = include_str!("../rules.json");

/// What the rules decided about one drift.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub severity: Severity,
    pub category: DriftCategory,
    pub reasons: Vec<String>,
    /// The ids of the matching rules, most severe first.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RuleEngine {
    rules: Vec<DriftRule>,
}

impl RuleEngine {
    /// Parses and validates a rules file (an error names the bad rule).
    pub fn from_json(text: &str) -> Result<Self, RuleError> {
        Ok(Self {
            rules: RuleSet::parse(text)?.rules,
        })
    }

    pub fn builtin() -> Result<Self, RuleError> {
        Self::from_json(BUILTIN_RULES)
    }

    pub fn rules(&self) -> &[DriftRule] {
        &self.rules
    }

    pub fn classify(&self, drift: &DriftEvent) -> Classification {
        let action = drift.change.as_ref().map(|c| c.action.as_str());
        let mut matched: Vec<&DriftRule> = self
            .rules
            .iter()
            .filter(|r| matches(r, &drift.resource_type, action, &drift.changes))
            .collect();
        // Most severe first; among equals, file order.
        matched.sort_by_key(|r| std::cmp::Reverse(r.severity));
        match matched.first() {
            Some(top) => {
                let mut reasons: Vec<String> = Vec::new();
                for r in &matched {
                    if !reasons.contains(&r.reason) {
                        reasons.push(r.reason.clone());
                    }
                }
                Classification {
                    severity: top.severity,
                    category: top.category,
                    reasons,
                    rules: matched.iter().map(|r| r.id.clone()).collect(),
                }
            }
            None => Classification {
                severity: Severity::Medium,
                category: DriftCategory::Configuration,
                reasons: vec!["configuration changed outside infrastructure as code".into()],
                rules: Vec::new(),
            },
        }
    }
}

/// A pattern of `only_attributes`: exact, or a prefix when it ends with `*`.
fn attribute_matches(pattern: &str, attribute: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => attribute.starts_with(prefix),
        None => attribute == pattern,
    }
}

pub fn matches(
    rule: &DriftRule,
    resource_type: &str,
    action: Option<&str>,
    changes: &[AttributeChange],
) -> bool {
    if !rule.resource_types.is_empty() && !rule.resource_types.iter().any(|t| t == resource_type) {
        return false;
    }
    // A reported drift that no CloudTrail change explains has no action: rules that need
    // one do not apply to it.
    if !rule.actions.is_empty() && !action.is_some_and(|a| rule.actions.iter().any(|x| x == a)) {
        return false;
    }
    if !rule.only_attributes.is_empty()
        && (changes.is_empty()
            || !changes.iter().all(|c| {
                rule.only_attributes
                    .iter()
                    .any(|p| attribute_matches(p, &c.attribute))
            }))
    {
        return false;
    }
    if rule.conditions.is_empty() {
        return true;
    }
    changes
        .iter()
        .any(|c| rule.conditions.iter().all(|cond| holds(cond, c)))
}

/// The values at a dotted path; lists on the way are searched element by element.
fn resolve<'a>(change: &'a AttributeChange, path: &str) -> Vec<&'a Value> {
    let mut parts = path.split('.');
    let root = match parts.next() {
        Some("old") => &change.old,
        Some("new") => &change.new,
        _ => return Vec::new(),
    };
    let mut current = flatten(root);
    for part in parts {
        current = current
            .into_iter()
            .filter_map(|v| v.get(part))
            .flat_map(flatten)
            .collect();
    }
    current
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        other => vec![other],
    }
}

/// Equality as CloudTrail and agents write values: case-insensitive strings, numbers and
/// booleans that may arrive as strings.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Bool(x), Value::String(y)) | (Value::String(y), Value::Bool(x)) => {
            y.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}

fn covers_port(rule: &Value, ports: &[Value]) -> bool {
    let protocol = rule
        .get("protocol")
        .map(|p| match p {
            Value::String(s) => s.to_ascii_lowercase(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    if matches!(protocol.as_str(), "-1" | "all") {
        return true;
    }
    let port = |k: &str| rule.get(k).and_then(number);
    let (from, to) = match (port("from_port"), port("to_port"), port("port")) {
        (Some(f), Some(t), _) => (f, t),
        (_, _, Some(p)) => (p, p),
        _ => return false,
    };
    // from/to -1 with a protocol means all ports of it (ICMP types aside).
    if from < 0.0 && to < 0.0 {
        return protocol != "icmp" && protocol != "1";
    }
    ports
        .iter()
        .filter_map(number)
        .any(|p| from <= p && p <= to)
}

pub fn holds(cond: &RuleCondition, change: &AttributeChange) -> bool {
    if cond.path == "attribute" {
        let attr = Value::String(change.attribute.clone());
        return match cond.op {
            ConditionOp::Equals => loosely_equal(&attr, &cond.value),
            ConditionOp::In => cond
                .value
                .as_array()
                .is_some_and(|l| l.iter().any(|v| loosely_equal(&attr, v))),
            ConditionOp::Contains => cond.value.as_str().is_some_and(|s| {
                change
                    .attribute
                    .to_ascii_lowercase()
                    .contains(&s.to_ascii_lowercase())
            }),
            ConditionOp::Exists => true,
            ConditionOp::CoversPort => false,
        };
    }
    let values = resolve(change, &cond.path);
    values.iter().any(|v| match cond.op {
        ConditionOp::Equals => loosely_equal(v, &cond.value),
        ConditionOp::In => cond
            .value
            .as_array()
            .is_some_and(|l| l.iter().any(|x| loosely_equal(v, x))),
        ConditionOp::Contains => match (v, cond.value.as_str()) {
            (Value::String(s), Some(needle)) => s
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
            _ => false,
        },
        ConditionOp::Exists => !v.is_null(),
        ConditionOp::CoversPort => cond
            .value
            .as_array()
            .is_some_and(|ports| covers_port(v, ports)),
    })
}
