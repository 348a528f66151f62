//! A tenant's Slack installation (`T` / `SLACK#INSTALLATION`: encrypted bot token, team,
//! status, channel problem) and the team → tenant link (`SLACKTEAM#<team>` / `TEAM`, *global*:
//! slash commands and actions carry the team id). An installation is active until the token is
//! revoked (broken) and a reinstall makes it active again; a team stays with the tenant that
//! first installed it.

use chrono::{DateTime, Utc};

use crate::slack::settings::{Installation, InstallationError, InstallationStatus};
use crate::store::{AttrValue, Condition, Item, Key, StoreError, Table, Update};

use super::{decode, encode, keyed, strip_keys, tenant, time_key, ENTITY};

pub const INSTALLATION_ENTITY: &str = "slack_installation";
pub const TEAM_ENTITY: &str = "slack_team";

pub fn key(tenant: &str) -> Key {
    Key::new(tenant::pk(tenant), "SLACK#INSTALLATION")
}

pub fn team_key(team_id: &str) -> Key {
    Key::new(format!("SLACKTEAM#{team_id}"), "TEAM")
}

/// The team of a team key.
pub fn team_of(key: &Key) -> Option<&str> {
    (key.sk == "TEAM").then_some(())?;
    key.pk.strip_prefix("SLACKTEAM#")
}

pub fn item(installation: &Installation) -> Result<Item, StoreError> {
    Ok(keyed(
        encode(installation)?,
        key(&installation.tenant_id),
        INSTALLATION_ENTITY,
    ))
}

/// The team link's item.
pub fn team_item(team_id: &str, tenant: &str) -> Item {
    let mut link = Item::new();
    link.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    keyed(link, team_key(team_id), TEAM_ENTITY)
}

pub async fn load(table: &dyn Table, tenant: &str) -> Result<Option<Installation>, StoreError> {
    let key = key(tenant);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)).map(Some),
        None => Ok(None),
    }
}

/// Links the installation's team to its tenant, then stores the installation. The link is
/// written only if the team has none or already names this tenant (a conditional write, so
/// two tenants racing for one workspace cannot both win).
pub async fn put(table: &dyn Table, installation: &Installation) -> Result<(), InstallationError> {
    let tenant = installation.tenant_id.as_str();
    let this_tenants_or_nobodys = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals("tenant_id".into(), AttrValue::S(tenant.to_owned())),
    ]);
    match table
        .put(
            team_item(&installation.team_id, tenant),
            Some(this_tenants_or_nobodys),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_condition_failed() => {
            return Err(InstallationError::TeamOfAnotherTenant {
                team_id: installation.team_id.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    table.put(item(installation)?, None).await?;
    Ok(())
}

pub async fn tenant_for_team(
    table: &dyn Table,
    team_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(table.get(&team_key(team_id)).await?.and_then(|i| {
        i.get("tenant_id")
            .and_then(AttrValue::as_str)
            .map(str::to_owned)
    }))
}

fn changed(update: Update, tenant: &str) -> Update {
    update
        .set("tenant_id", tenant)
        .set(ENTITY, INSTALLATION_ENTITY)
}

/// Records (or, with `None`, clears) why alerts could not reach their channel.
pub async fn set_channel_problem(
    table: &dyn Table,
    tenant: &str,
    problem: Option<&str>,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    let update = match problem {
        Some(p) => Update::new()
            .set("channel_problem", p)
            .set("channel_problem_at", time_key(now)),
        None => Update::new()
            .remove("channel_problem")
            .remove("channel_problem_at"),
    };
    table
        .update(&key(tenant), changed(update, tenant))
        .await
        .map(|_| ())
}

/// Active → broken (the token was revoked or the app uninstalled).
pub async fn mark_broken(
    table: &dyn Table,
    tenant: &str,
    reason: &str,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    let update = Update::new()
        .set("status", InstallationStatus::Broken.as_str())
        .set("broken_reason", reason)
        .set("broken_at", time_key(now));
    table
        .update(&key(tenant), changed(update, tenant))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_keys_round_trip() {
        assert_eq!(key("t"), Key::new("TENANT#t", "SLACK#INSTALLATION"));
        let k = team_key("T111");
        assert_eq!(k, Key::new("SLACKTEAM#T111", "TEAM"));
        assert_eq!(team_of(&k), Some("T111"));
        let link = team_item("T111", "t");
        assert_eq!(link[ENTITY].as_str(), Some(TEAM_ENTITY));
        assert_eq!(link["tenant_id"].as_str(), Some("t"));
    }
}
