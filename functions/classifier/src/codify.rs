//! Codify: the change to the IaC that makes it declare what drifted — the Terraform argument or
//! CloudFormation property with its new value, ready to copy — for the attributes
//! `functions/classifier/codify.json` knows. Nothing is suggested for the others: a wrong
//! snippet is worse than none.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use dd0c_shared::domain::drift::{AttributeChange, DriftEvent};
use dd0c_shared::domain::IacTool;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CODIFY_TABLE: &str = include_str!("../codify.json");

#[derive(Debug, Deserialize)]
struct ResourceNames {
    terraform: String,
    cloudformation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Shape {
    Scalar,
    SgRule,
    Tags,
}

#[derive(Debug, Deserialize)]
struct AttributeNames {
    terraform: String,
    cloudformation: String,
    shape: Shape,
}

#[derive(Debug, Deserialize)]
struct Table {
    resources: BTreeMap<String, ResourceNames>,
    attributes: BTreeMap<String, BTreeMap<String, AttributeNames>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(CODIFY_TABLE).expect("codify.json is checked by its test")
    })
}

/// One suggested change to the IaC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeChange {
    /// `Terraform` or `CloudFormation`.
    pub tool: String,
    /// Where it goes: the Terraform address when known (else the resource type), or the
    /// CloudFormation resource type.
    pub resource: String,
    /// The Terraform argument or CloudFormation property.
    pub attribute: String,
    /// The value the IaC should declare (`null`: remove it).
    pub value: Value,
    /// Ready to paste into the resource's block or `Properties`.
    pub snippet: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Language {
    Terraform,
    CloudFormation,
}

/// The languages the owning tool is written in: Terraform and OpenTofu in HCL, CloudFormation
/// (and CDK, which synthesizes it) in its template; unknown (a deployer role): both.
fn languages(tool: Option<IacTool>) -> Vec<Language> {
    match tool {
        Some(IacTool::Terraform | IacTool::OpenTofu) => vec![Language::Terraform],
        Some(IacTool::CloudFormation | IacTool::Cdk) => vec![Language::CloudFormation],
        Some(IacTool::Pulumi) => Vec::new(),
        None => vec![Language::Terraform, Language::CloudFormation],
    }
}

/// The suggested changes for a drift, in the owning tool's language.
pub fn suggest(drift: &DriftEvent) -> Vec<CodeChange> {
    let t = table();
    let Some(resource) = t.resources.get(&drift.resource_type) else {
        return Vec::new();
    };
    let Some(known) = t.attributes.get(&drift.resource_type) else {
        return Vec::new();
    };
    let tool = drift.managed_by.as_ref().and_then(|m| m.tool);
    let mut out = Vec::new();
    for language in languages(tool) {
        for change in &drift.changes {
            let (name, tag) = match change.attribute.split_once('.') {
                Some(("tags", key)) => ("tags", Some(key)),
                _ => (change.attribute.as_str(), None),
            };
            let Some(names) = known.get(name) else {
                continue;
            };
            if (names.shape == Shape::Tags) != tag.is_some() {
                continue;
            }
            out.push(code_change(language, resource, names, change, tag, drift));
        }
    }
    out
}

fn code_change(
    language: Language,
    resource: &ResourceNames,
    names: &AttributeNames,
    change: &AttributeChange,
    tag: Option<&str>,
    drift: &DriftEvent,
) -> CodeChange {
    let removed = change.new.is_null();
    let value = if removed { &change.old } else { &change.new };
    match language {
        Language::Terraform => {
            let body = match (names.shape, tag) {
                (Shape::SgRule, _) => hcl_rule(&names.terraform, value),
                (Shape::Tags, Some(key)) => {
                    format!(
                        "{} = {{\n  {} = {}\n}}",
                        names.terraform,
                        hcl_key(key),
                        hcl_value(value)
                    )
                }
                _ => format!("{} = {}", names.terraform, hcl_value(value)),
            };
            let address = drift
                .resource_address
                .clone()
                .unwrap_or_else(|| resource.terraform.clone());
            let heading = if drift.resource_address.is_some() {
                format!("# in {address}")
            } else {
                format!(
                    "# in the {} of {} (its address is unknown: `dd0c stacks import` records it)",
                    resource.terraform, drift.resource_id
                )
            };
            CodeChange {
                tool: "Terraform".into(),
                resource: address,
                attribute: names.terraform.clone(),
                value: if removed { Value::Null } else { value.clone() },
                snippet: format!("{heading}\n{}{}", removal_note(removed, "#"), body),
            }
        }
        Language::CloudFormation => {
            let body = match (names.shape, tag) {
                (Shape::SgRule, _) => yaml_rule(&names.cloudformation, value),
                (Shape::Tags, Some(key)) => format!(
                    "{}:\n  - Key: {}\n    Value: {}",
                    names.cloudformation,
                    yaml_scalar(&Value::String(key.to_owned())),
                    yaml_scalar(value)
                ),
                _ => format!("{}: {}", names.cloudformation, yaml_scalar(value)),
            };
            CodeChange {
                tool: "CloudFormation".into(),
                resource: resource.cloudformation.clone(),
                attribute: names.cloudformation.clone(),
                value: if removed { Value::Null } else { value.clone() },
                snippet: format!(
                    "# Properties of the {} for {}\n{}{}",
                    resource.cloudformation,
                    drift.resource_id,
                    removal_note(removed, "#"),
                    body
                ),
            }
        }
    }
}

fn removal_note(removed: bool, comment: &str) -> String {
    if removed {
        format!("{comment} remove what follows: it is gone from the resource\n")
    } else {
        String::new()
    }
}

fn hcl_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit())
    {
        key.to_owned()
    } else {
        hcl_value(&Value::String(key.to_owned()))
    }
}

fn hcl_value(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Null => "null".into(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(hcl_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        // Quoted when YAML would read it as something else (a number, a boolean, null).
        Value::String(s)
            if s.parse::<f64>().is_ok()
                || ["true", "false", "yes", "no", "null", "~", ""]
                    .contains(&s.to_ascii_lowercase().as_str())
                || s.contains(": ")
                || s.starts_with(['*', '&', '!', '{', '[', '#', '\'', '"']) =>
        {
            serde_json::to_string(s).unwrap_or_default()
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A security group rule value: `{protocol, from_port, to_port, cidr | source_group |
/// prefix_list}`.
fn rule_parts(
    rule: &Value,
) -> (
    Value,
    Value,
    Value,
    Option<(&'static str, &'static str, Value)>,
) {
    let get = |k: &str| rule.get(k).cloned().unwrap_or(Value::Null);
    let protocol = match get("protocol") {
        Value::String(p) if p == "-1" => Value::String("-1".into()),
        p => p,
    };
    let target = if let Some(Value::String(c)) = rule.get("cidr") {
        Some(if c.contains(':') {
            ("ipv6_cidr_blocks", "CidrIpv6", Value::String(c.clone()))
        } else {
            ("cidr_blocks", "CidrIp", Value::String(c.clone()))
        })
    } else if let Some(g) = rule.get("source_group").filter(|g| !g.is_null()) {
        Some(("security_groups", "SourceSecurityGroupId", g.clone()))
    } else {
        rule.get("prefix_list")
            .filter(|p| !p.is_null())
            .map(|p| ("prefix_list_ids", "SourcePrefixListId", p.clone()))
    };
    (protocol, get("from_port"), get("to_port"), target)
}

fn hcl_rule(block: &str, rule: &Value) -> String {
    let (protocol, from, to, target) = rule_parts(rule);
    let mut lines = vec![
        format!("  from_port   = {}", hcl_value(&zero_if_null(from))),
        format!("  to_port     = {}", hcl_value(&zero_if_null(to))),
        format!("  protocol    = {}", hcl_value(&protocol)),
    ];
    if let Some((tf, _, v)) = target {
        lines.push(format!("  {tf} = [{}]", hcl_value(&v)));
    }
    format!("{block} {{\n{}\n}}", lines.join("\n"))
}

fn yaml_rule(property: &str, rule: &Value) -> String {
    let (protocol, from, to, target) = rule_parts(rule);
    let mut lines = vec![
        format!("  - IpProtocol: {}", yaml_scalar(&protocol)),
        format!("    FromPort: {}", yaml_scalar(&zero_if_null(from))),
        format!("    ToPort: {}", yaml_scalar(&zero_if_null(to))),
    ];
    if let Some((_, cfn, v)) = target {
        lines.push(format!("    {cfn}: {}", yaml_scalar(&v)));
    }
    format!("{property}:\n{}", lines.join("\n"))
}

/// All ports of "all traffic" rules are logged as absent.
fn zero_if_null(v: Value) -> Value {
    if v.is_null() {
        Value::from(0)
    } else {
        v
    }
}

#[cfg(test)]
mod tests;
