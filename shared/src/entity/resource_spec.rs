//! What dd0c learnt about a resource at its creation, in the account partition `A`: an
//! instance (`INSTANCE#<id>`: its type, for a later StartInstances) or another resource
//! (`RESOURCE#<kind>#<id>`: DB instance, volume, Auto Scaling group, SageMaker endpoint
//! config, Lambda function), for pricing a later call that does not carry it. `id` is unique
//! per kind within the account (regional names carry their region).

use serde::Serialize;

use crate::store::{AttrValue, Item, Key, StoreError};

use super::{account, bare, encode};

pub fn instance_key(tenant: &str, account: &str, instance_id: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("INSTANCE#{instance_id}"),
    )
}

pub fn key(tenant: &str, account: &str, kind: &str, id: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("RESOURCE#{kind}#{id}"),
    )
}

/// A spec's item under `key` ([`instance_key`] or [`key`]), with the resource id (no `entity`
/// attribute: the format predates it).
pub fn item<T: Serialize>(key: Key, resource_id: &str, spec: &T) -> Result<Item, StoreError> {
    let mut item = encode(spec)?;
    item.extend(bare(key));
    item.insert("resource_id".into(), AttrValue::S(resource_id.to_owned()));
    Ok(item)
}

/// The kind and id of a resource-spec key.
pub fn parse(key: &Key) -> Option<(&str, &str)> {
    key.sk.strip_prefix("RESOURCE#")?.split_once('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_keys_round_trip() {
        let k = key("t", "1", "rds:db", "eu-west-1:db-a");
        assert_eq!(k.sk, "RESOURCE#rds:db#eu-west-1:db-a");
        assert_eq!(parse(&k), Some(("rds:db", "eu-west-1:db-a")));
        assert_eq!(instance_key("t", "1", "i-1").sk, "INSTANCE#i-1");
    }
}
