//! The daily digest of a tenant for one local date (`T` / `DIGEST#<YYYY-MM-DD>`, in the
//! tenant's digest time zone), with a TTL: claimed with a condition before posting, confirmed
//! after, released after a failed post, so a retried or duplicated tick never posts twice
//! (decision 0700).

use crate::store::{AttrValue, Item, Key};

use super::{keyed, tenant};

pub const ENTITY: &str = "digest_sent";

pub fn key(tenant: &str, local_date: &str) -> Key {
    Key::new(tenant::pk(tenant), format!("DIGEST#{local_date}"))
}

/// The local date of a digest key.
pub fn date_of(key: &Key) -> Option<&str> {
    key.sk.strip_prefix("DIGEST#")
}

/// The claim's item, with the given attributes (claim time, TTL, …) besides its key.
pub fn item(tenant: &str, local_date: &str, attributes: Item) -> Item {
    keyed(attributes, key(tenant, local_date), ENTITY)
}

/// Whether an attribute of a stored claim is this value (for the release's condition).
pub fn attribute_is(item: &Item, name: &str, value: &str) -> bool {
    item.get(name) == Some(&AttrValue::S(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys_round_trip() {
        let k = key("t", "2026-01-15");
        assert_eq!(k, Key::new("TENANT#t", "DIGEST#2026-01-15"));
        assert_eq!(date_of(&k), Some("2026-01-15"));
    }
}
