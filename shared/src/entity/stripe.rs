//! Stripe's global lookups: an event already applied (`STRIPE#EVENT#<id>` / `EVENT`, the
//! webhook's idempotency, with a TTL) and the tenant of a customer
//! (`STRIPE#CUSTOMER#<id>` / `CUSTOMER`).

use crate::store::{Item, Key, Update};

use super::{keyed, ENTITY};

pub const EVENT_ENTITY: &str = "stripe_event";
pub const CUSTOMER_ENTITY: &str = "stripe_customer";

pub fn event_key(event_id: &str) -> Key {
    Key::new(format!("STRIPE#EVENT#{event_id}"), "EVENT")
}

/// The marker of an applied event, with its attributes (type, outcome, TTL).
pub fn event_item(event_id: &str, attributes: Item) -> Item {
    keyed(attributes, event_key(event_id), EVENT_ENTITY)
}

pub fn customer_key(customer_id: &str) -> Key {
    Key::new(format!("STRIPE#CUSTOMER#{customer_id}"), "CUSTOMER")
}

/// Links a customer to its tenant (an update: the item is created or overwritten).
pub fn customer_link(tenant: &str) -> Update {
    Update::new()
        .set("tenant_id", tenant)
        .set(ENTITY, CUSTOMER_ENTITY)
}

/// The id in a Stripe key.
pub fn id_of(key: &Key) -> Option<&str> {
    key.pk
        .strip_prefix("STRIPE#EVENT#")
        .or_else(|| key.pk.strip_prefix("STRIPE#CUSTOMER#"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_keys_round_trip() {
        assert_eq!(id_of(&event_key("evt_1")), Some("evt_1"));
        assert_eq!(id_of(&customer_key("cus_1")), Some("cus_1"));
        assert_eq!(customer_key("c").sk, "CUSTOMER");
    }
}
