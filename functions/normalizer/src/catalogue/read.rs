//! Readers for the shapes CloudTrail request and response bodies come in. Most services log
//! camelCase JSON; EC2's newer APIs log their query parameters in PascalCase, nested under
//! `<Action>Request` / `<Action>Response`, with XML-style lists (`{"item": x}` where `x` is one
//! object or an array). Every reader here accepts all of them, so an entry reads one way.

use dd0c_shared::json::number;
use serde_json::Value;

/// A field by name, matching case-insensitively when the exact spelling is absent.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, key| get(v, key))
}

/// A non-empty string.
pub fn text<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    path(v, keys)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A number, given as a number or a numeric string.
pub fn num(v: &Value, keys: &[&str]) -> Option<f64> {
    path(v, keys).and_then(number)
}

/// A boolean, given as a boolean or `"true"`/`"false"`.
pub fn flag(v: &Value, keys: &[&str]) -> Option<bool> {
    match path(v, keys)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().to_ascii_lowercase().parse().ok(),
        _ => None,
    }
}

/// The elements of a list in any of its logged shapes: an array, `{"items": [...]}`,
/// `{"item": x}` / `{"member": x}` (x an object or an array), or nothing.
pub fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(obj @ Value::Object(_)) => {
            for wrapper in ["items", "item", "member"] {
                if let Some(inner) = get(obj, wrapper) {
                    return match inner {
                        Value::Array(a) => a.iter().collect(),
                        Value::Null => Vec::new(),
                        one => vec![one],
                    };
                }
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// The parameters inside `{"<wrapper>": {...}}` when the call logs that shape, else `v`.
pub fn unwrap<'a>(v: &'a Value, wrapper: &str) -> &'a Value {
    match get(v, wrapper) {
        Some(inner @ Value::Object(_)) => inner,
        _ => v,
    }
}

/// A count from a parsed number: finite, non-negative, whole.
pub fn count(n: f64) -> Option<u32> {
    (n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX)).then(|| n.round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_list_shape_and_both_cases() {
        let v = json!({
            "a": [1, 2], "b": {"items": [1]}, "c": {"item": {"x": 1}}, "d": {"item": [1, 2, 3]},
            "Size": "20", "Flag": "True"
        });
        assert_eq!(list(v.get("a")).len(), 2);
        assert_eq!(list(v.get("b")).len(), 1);
        assert_eq!(list(v.get("c")).len(), 1);
        assert_eq!(list(v.get("d")).len(), 3);
        assert!(list(v.get("missing")).is_empty());
        assert_eq!(num(&v, &["size"]), Some(20.0));
        assert_eq!(flag(&v, &["flag"]), Some(true));
        assert_eq!(count(2.0), Some(2));
        assert_eq!(count(-1.0), None);
    }
}
