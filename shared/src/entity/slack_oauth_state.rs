//! An OAuth `state` handed out by the Slack install route (`SLACKSTATE#<state>` / `STATE`,
//! *global*, with a TTL), bound to the installing tenant; single use.

use crate::store::{AttrValue, Item, Key, TTL_ATTRIBUTE};

use super::bare;

pub fn key(state: &str) -> Key {
    Key::new(format!("SLACKSTATE#{state}"), "STATE")
}

/// The state of a state key.
pub fn state_of(key: &Key) -> Option<&str> {
    (key.sk == "STATE").then_some(())?;
    key.pk.strip_prefix("SLACKSTATE#")
}

/// The state's item (no `entity` attribute: the format predates it), expiring at `expires`
/// (epoch seconds).
pub fn item(state: &str, tenant: &str, expires: i64) -> Item {
    let mut item = bare(key(state));
    item.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(expires as f64));
    item
}

/// The tenant a stored state was handed out to.
pub fn tenant_of(item: &Item) -> Option<&str> {
    item.get("tenant_id").and_then(AttrValue::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_round_trip() {
        let k = key("abc");
        assert_eq!(k, Key::new("SLACKSTATE#abc", "STATE"));
        assert_eq!(state_of(&k), Some("abc"));
        assert_eq!(tenant_of(&item("abc", "t9", 1)), Some("t9"));
    }
}
