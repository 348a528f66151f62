//! Small readers for CloudTrail's JSON, where numbers arrive as strings in places and
//! lists come wrapped as `{"items": [...]}`.

use serde_json::Value;

/// A number given as a JSON number or a numeric string.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field read through a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn number_at(v: &Value, path: &[&str]) -> Option<f64> {
    at(v, path).and_then(number)
}

pub fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
    match at(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The elements of a CloudTrail list: `{"items": [...]}`, a bare array, or nothing.
pub fn items(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("items") {
            Some(Value::Array(a)) => a,
            _ => &[],
        },
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_numbers_given_as_strings_and_wrapped_lists() {
        let v = json!({"size": "100", "n": 3, "set": {"items": [1, 2]}, "arr": [1]});
        assert_eq!(number_at(&v, &["size"]), Some(100.0));
        assert_eq!(number_at(&v, &["n"]), Some(3.0));
        assert_eq!(items(v.get("set")).len(), 2);
        assert_eq!(items(v.get("arr")).len(), 1);
        assert!(items(v.get("missing")).is_empty());
    }
}
