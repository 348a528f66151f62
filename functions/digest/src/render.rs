//! The digest as Block Kit, and as the chat message to the tenant's channel.

use dd0c_shared::chat::ChatMessage;
use dd0c_shared::pricing::price_age;
use dd0c_shared::slack::blocks::{escape_mrkdwn, money, truncate, MAX_BLOCKS, MAX_TEXT};
use dd0c_shared::slack::settings::SlackSettings;
use serde_json::{json, Value};

use crate::build::Digest;

/// The digest as Block Kit (within Slack's limits).
pub fn digest_blocks(d: &Digest) -> Value {
    let section = |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_TEXT)}});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": "dd0c daily digest", "emoji": true}}),
    ];
    blocks.push(section(format!(
        "*New spend started (24h)*: {}/hr · {}/month from {} cost event(s)\n*Cost anomalies*: {} open · {} resolved",
        money(d.new_hourly_spend),
        money(d.new_hourly_spend * 730.0),
        d.cost_events,
        d.anomalies_open,
        d.anomalies_resolved
    )));
    if let Some(line) = prices_line(d) {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}));
    }
    if !d.top_actors.is_empty() {
        let lines: Vec<String> = d
            .top_actors
            .iter()
            .map(|(a, c)| format!("• {}: {}/hr", escape_mrkdwn(a), money(*c)))
            .collect();
        blocks.push(section(format!("*Top actors*\n{}", lines.join("\n"))));
    }
    if !d.held.is_empty() {
        let lines: Vec<String> = d
            .held
            .iter()
            .take(15)
            // `s` is a `blocks::summary`, escaped already.
            .map(|(_, s, r)| format!("• {s} — _{}_", escape_mrkdwn(r)))
            .collect();
        let more = d.held.len().saturating_sub(15);
        let tail = if more > 0 {
            format!("\n…and {more} more in the dashboard")
        } else {
            String::new()
        };
        blocks.push(section(format!(
            "*Held ({})*\n{}{tail}",
            d.held.len(),
            lines.join("\n")
        )));
    }
    if !d.stacks.is_empty() {
        let lines: Vec<String> = d
            .stacks
            .iter()
            .map(|s| {
                let open: Vec<String> = s
                    .open_drift
                    .iter()
                    .map(|(k, v)| format!("{v} {}", escape_mrkdwn(k)))
                    .collect();
                let open = if open.is_empty() {
                    "clean".to_owned()
                } else {
                    open.join(", ")
                };
                format!(
                    "• {}: score {:.0}/100 ({open})",
                    escape_mrkdwn(&s.stack),
                    s.drift_score
                )
            })
            .collect();
        blocks.push(section(format!("*Drift by stack*\n{}", lines.join("\n"))));
    }
    if let Some(text) = zombie_watch_text(d) {
        blocks.push(section(text));
    }
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// Accounts listed in the zombie watch; the rest are counted.
const ZOMBIE_LINES: usize = 20;

/// The zombie watch: the tenant's total at stake, then each account's latest scan — what it
/// found, how many regions it read, when it ran — flagged when stale or missing.
fn zombie_watch_text(d: &Digest) -> Option<String> {
    if d.zombie_watch.is_empty() {
        return None;
    }
    let total: usize = d.zombie_watch.iter().map(|l| l.zombies).sum();
    let mut text = format!(
        "*Zombie watch*: {total} idle resource(s), {}/month at stake",
        money(d.zombie_monthly_usd)
    );
    for line in d.zombie_watch.iter().take(ZOMBIE_LINES) {
        let account = escape_mrkdwn(&line.account);
        let Some(at) = line.scanned_at else {
            text.push_str(&format!("\n• {account}: :warning: never scanned"));
            continue;
        };
        let found = if line.zombies == 0 {
            "nothing idle".to_owned()
        } else {
            format!(
                "{} idle resource(s) in {}, {}/month",
                line.zombies,
                escape_mrkdwn(&line.zombie_regions.join(", ")),
                money(line.monthly_usd)
            )
        };
        let regions = if line.all_regions {
            format!("{} region(s)", line.regions_scanned)
        } else {
            "1 region (at connect)".to_owned()
        };
        let when = at.format("%Y-%m-%d %H:%M UTC");
        let age = d.until.map(|u| u - at);
        let stale = match age {
            Some(age) if line.stale => format!(" :warning: stale: {} day(s) old", age.num_days()),
            _ => String::new(),
        };
        text.push_str(&format!(
            "\n• {account}: {found} · {regions}, scanned {when}{stale}"
        ));
        if !line.regions_failed.is_empty() {
            text.push_str(&format!(
                " · could not read {}",
                escape_mrkdwn(&line.regions_failed.join(", "))
            ));
        }
    }
    let more = d.zombie_watch.len().saturating_sub(ZOMBIE_LINES);
    if more > 0 {
        text.push_str(&format!("\n…and {more} more account(s) in the dashboard"));
    }
    Some(text)
}

/// "Prices behind these totals: as old as 2021-08-03 (5 years old)", at the end
/// of the digest's window.
pub fn prices_line(d: &Digest) -> Option<String> {
    let as_of = d.prices_as_of.as_deref()?;
    let at = d.until?;
    let age = price_age(as_of, at)?;
    Some(format!(
        "Prices behind these totals: as old as {as_of} ({age})"
    ))
}

/// The digest as the chat message to the tenant's channel (`default_channel` when unset).
pub(crate) fn digest_message(
    digest: &Digest,
    s: &SlackSettings,
    default_channel: &str,
) -> ChatMessage {
    let channel = s
        .default_channel
        .clone()
        .unwrap_or_else(|| default_channel.to_owned());
    let text = format!(
        "dd0c daily digest: {}/hr of new spend, {} open anomalies, {} held",
        money(digest.new_hourly_spend),
        digest.anomalies_open,
        digest.held.len()
    );
    ChatMessage {
        channel,
        text,
        blocks: digest_blocks(digest),
        thread_ts: None,
    }
}
