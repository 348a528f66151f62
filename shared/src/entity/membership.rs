//! Which tenant a signed-in user belongs to (`USER#<sub>` / `MEMBERSHIP`, *global*), written by
//! dd0c at the user's first sign-in (decision 0610).

use crate::store::{Condition, Item, Key, StoreError, Table};
use crate::tenancy::Membership;

use super::{after, decode, encode, keyed};

pub const ENTITY: &str = "membership";
const PREFIX: &str = "USER#";

pub fn key(subject: &str) -> Key {
    Key::new(format!("{PREFIX}{subject}"), "MEMBERSHIP")
}

/// The subject of a membership key.
pub fn subject_of(key: &Key) -> Option<&str> {
    (key.sk == "MEMBERSHIP").then_some(())?;
    after(&key.pk, PREFIX)
}

pub fn item(membership: &Membership) -> Result<Item, StoreError> {
    Ok(keyed(encode(membership)?, key(&membership.subject), ENTITY))
}

pub async fn load(table: &dyn Table, subject: &str) -> Result<Option<Membership>, StoreError> {
    let key = key(subject);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

/// Writes a membership unless the subject has one; returns whether it was written.
pub async fn put_if_absent(table: &dyn Table, membership: &Membership) -> Result<bool, StoreError> {
    match table
        .put(item(membership)?, Some(Condition::ItemNotExists))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_key_round_trips() {
        let k = key("abc-123");
        assert_eq!(k, Key::new("USER#abc-123", "MEMBERSHIP"));
        assert_eq!(subject_of(&k), Some("abc-123"));
        assert_eq!(subject_of(&Key::new("USER#x", "OTHER")), None);
    }
}
