//! The scorer's memory, in the account partition `A`: a baseline per service × resource type
//! (`BASELINE#<service>#<type>`, with the expected sets people teach through "mark
//! expected"), the account-wide baseline (`BASELINE#ACCOUNT`), each one's tally (`TALLY#…`:
//! its counts and sums, [`tally_key`]), the markers of events already
//! counted (`SCORED#<eventID>`) and an actor's calls per time bucket (`ACTIVITY#…`, TTL).

use crate::store::{AttrValue, Item, Key, StoreError, Table, Update, TTL_ATTRIBUTE};

use super::{account, bare};

/// Baseline attribute: actors (ARN, or name when there is no ARN) marked expected.
pub const EXPECTED_ACTORS: &str = "expected_actors";
/// Baseline attribute: instance types / DB classes marked expected.
pub const EXPECTED_TYPES: &str = "expected_types";

pub fn key(tenant: &str, account: &str, service: &str, resource_type: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("BASELINE#{service}#{resource_type}"),
    )
}

/// The service and resource type of a baseline key (`None` for the account-wide one).
pub fn parse(key: &Key) -> Option<(&str, &str)> {
    key.sk
        .strip_prefix("BASELINE#")?
        .split_once('#')
        .filter(|_| key.sk != "BASELINE#ACCOUNT")
}

/// The account-wide baseline (every service and type): regions and actors the account uses,
/// its event count and first-seen time.
pub fn account_key(tenant: &str, account: &str) -> Key {
    Key::new(account::pk(tenant, account), "BASELINE#ACCOUNT")
}

/// The tally of a baseline (`TALLY#<service>#<type>`, `TALLY#ACCOUNT`): the counts and sums
/// every fold adds to, in a small item of their own. The baseline item keeps the sets and
/// first-seen times, which few folds change: a fold rewrote all of it, a few KB, for a count
/// (decision 1080).
pub fn tally_key(baseline: &Key) -> Key {
    Key::new(
        baseline.pk.clone(),
        baseline.sk.replacen("BASELINE#", "TALLY#", 1),
    )
}

/// Marks an event as counted into its baseline, so a redelivery never counts twice.
pub fn contribution_key(tenant: &str, account: &str, event_id: &str) -> Key {
    Key::new(account::pk(tenant, account), format!("SCORED#{event_id}"))
}

/// The marker's item (no `entity` attribute: the format predates it), expiring at `ttl`
/// (epoch seconds).
/// The attribute of a contribution marker that says why its event made no finding (the
/// scorer's compact decision log, JSON text): `GET /v1/events/{id}/decision` reads it.
pub const DECISION_ATTRIBUTE: &str = "decision";

/// Why the event made no finding, from its contribution marker: `None` when the event was not
/// scored (no marker), `Some(None)` when it was scored before markers kept it or made a finding.
pub async fn scored_decision(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    event_id: &str,
) -> Result<Option<Option<serde_json::Value>>, StoreError> {
    let Some(item) = table
        .get(&contribution_key(tenant, account, event_id))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(
        item.get(DECISION_ATTRIBUTE)
            .and_then(AttrValue::as_str)
            .and_then(|text| serde_json::from_str(text).ok()),
    ))
}

pub fn contribution_item(tenant: &str, account: &str, event_id: &str, ttl: i64) -> Item {
    let mut item = bare(contribution_key(tenant, account, event_id));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    item
}

/// One actor's cost-creating calls in one time bucket (with a TTL): the burst signal.
pub fn activity_key(tenant: &str, account: &str, actor: &str, bucket: i64) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("ACTIVITY#{actor}#{bucket}"),
    )
}

/// Adds `actor` and `skus` to the expected sets of one baseline (`ADD` to string sets:
/// idempotent). Nothing to add, nothing written.
pub async fn add_expected(
    table: &dyn Table,
    key: &Key,
    actor: Option<&str>,
    skus: &[&str],
) -> Result<(), StoreError> {
    let mut update = Update::new();
    if let Some(actor) = actor.filter(|a| !a.is_empty()) {
        update = update.add(EXPECTED_ACTORS, AttrValue::string_set([actor]));
    }
    if !skus.is_empty() {
        update = update.add(EXPECTED_TYPES, AttrValue::string_set(skus.iter().copied()));
    }
    if update.add.is_empty() {
        return Ok(());
    }
    table.update(key, update).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_keys_round_trip() {
        let k = key("t", "1", "ec2", "ec2:instance");
        assert_eq!(
            k,
            Key::new("TENANT#t#ACCOUNT#1", "BASELINE#ec2#ec2:instance")
        );
        assert_eq!(parse(&k), Some(("ec2", "ec2:instance")));
        assert_eq!(parse(&account_key("t", "1")), None);
        assert_eq!(tally_key(&k).sk, "TALLY#ec2#ec2:instance");
        assert_eq!(tally_key(&account_key("t", "1")).sk, "TALLY#ACCOUNT");
        assert_eq!(tally_key(&k).pk, k.pk);
        assert_eq!(contribution_key("t", "1", "e").sk, "SCORED#e");
        assert_eq!(activity_key("t", "1", "arn", 7).sk, "ACTIVITY#arn#7");
    }
}
