//! An incident: findings that are one thing to a person — a burst of launches by one
//! principal, a sweep of changes across one stack — shown as one row, alerted in one Slack
//! thread, and acted on together. A finding joins the open incident of its group while the
//! group's last finding is at most [`WINDOW_MINUTES`] away in event time; otherwise it opens
//! one. Decision 0530.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Finding, FindingKind, FindingStatus, Severity};

/// A group's findings at most this far apart (event time) are one incident.
pub const WINDOW_MINUTES: i64 = 60;

/// Finding ids an incident keeps (what a group action reaches); its count goes on beyond.
pub const MAX_MEMBERS: usize = 500;

/// Distinct values an incident lists (regions, actors) before it only counts.
const MAX_LISTED: usize = 10;

/// What an incident's findings share.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// One principal's cost anomalies in one account.
    Burst,
    /// Drift across one stack, whoever made it.
    Sweep,
    /// One principal's drift on resources of no known stack.
    Changes,
}

impl Grouping {
    pub fn of(finding: &Finding) -> Self {
        match (finding.kind, stack_of(finding)) {
            (FindingKind::CostAnomaly, _) => Grouping::Burst,
            (FindingKind::Drift, Some(_)) => Grouping::Sweep,
            (FindingKind::Drift, None) => Grouping::Changes,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Burst => "burst",
            Grouping::Sweep => "sweep",
            Grouping::Changes => "changes",
        }
    }
}

fn stack_of(finding: &Finding) -> Option<&str> {
    finding.details.get("stack").and_then(|s| s.as_str())
}

/// The group a finding belongs to, as a stable opaque key (tenant-scoped by its item).
pub fn group_key(finding: &Finding) -> String {
    let grouping = Grouping::of(finding);
    let what = match grouping {
        Grouping::Sweep => stack_of(finding).unwrap_or_default(),
        Grouping::Burst | Grouping::Changes => finding.actor.arn.as_str(),
    };
    let digest = Sha256::digest(
        [
            finding.account_id.as_str(),
            finding.kind.as_str(),
            grouping.as_str(),
            what,
        ]
        .join("\n")
        .as_bytes(),
    );
    hex::encode(&digest[..16])
}

/// Whether a finding at `time` joins a group whose last finding was at `last`. Findings can
/// arrive out of order: the distance counts both ways.
pub fn within_window(last: &DateTime<Utc>, time: &DateTime<Utc>) -> bool {
    (*time - *last).abs() <= Duration::minutes(WINDOW_MINUTES)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    pub id: String,
    pub tenant_id: String,
    pub kind: FindingKind,
    pub grouping: Grouping,
    pub account_id: String,
    /// The group key the incident was opened under.
    pub group: String,
    /// The stack of a sweep.
    #[serde(default)]
    pub stack: Option<String>,
    /// Readable names of who made its findings (the first [`MAX_LISTED`]).
    pub actors: Vec<String>,
    pub regions: Vec<String>,
    pub first_time: DateTime<Utc>,
    pub last_time: DateTime<Utc>,
    pub count: u32,
    /// Its findings, in the order they joined (the first [`MAX_MEMBERS`]).
    pub finding_ids: Vec<String>,
    /// The highest severity of its findings.
    pub severity: Severity,
    /// USD an hour its cost findings put at stake, together.
    pub hourly_cost: f64,
    /// Resources its findings name, together.
    pub resource_count: u32,
    /// The incident's own status: set by acting on it as a whole (a finding acted on alone
    /// keeps its own status).
    pub status: FindingStatus,
    #[serde(default)]
    pub snooze_until: Option<DateTime<Utc>>,
    /// The Slack thread: its root message (the first alert sent).
    #[serde(default)]
    pub slack_channel: Option<String>,
    #[serde(default)]
    pub slack_ts: Option<String>,
    /// The finding whose alert is the thread's root.
    #[serde(default)]
    pub root_finding: Option<String>,
    /// Bumped on every write; each write is conditional on the version it read.
    pub version: u64,
}

impl Incident {
    /// The id of the incident a finding opens: derived, so a redelivery opens the same one.
    pub fn id_for(finding: &Finding) -> String {
        format!("inc-{}", finding.id)
    }

    /// An incident of one finding.
    pub fn open(finding: &Finding) -> Self {
        let mut incident = Incident {
            id: Self::id_for(finding),
            tenant_id: finding.tenant_id.clone(),
            kind: finding.kind,
            grouping: Grouping::of(finding),
            account_id: finding.account_id.clone(),
            group: group_key(finding),
            stack: stack_of(finding).map(str::to_owned),
            actors: Vec::new(),
            regions: Vec::new(),
            first_time: finding.event_time,
            last_time: finding.event_time,
            count: 0,
            finding_ids: Vec::new(),
            severity: finding.severity,
            hourly_cost: 0.0,
            resource_count: 0,
            status: FindingStatus::Open,
            snooze_until: None,
            slack_channel: None,
            slack_ts: None,
            root_finding: None,
            version: 0,
        };
        incident.add(finding);
        incident
    }

    pub fn contains(&self, finding_id: &str) -> bool {
        self.finding_ids.iter().any(|f| f == finding_id)
    }

    /// Adds a finding (once: a finding already in it changes nothing). Whether it changed.
    pub fn add(&mut self, finding: &Finding) -> bool {
        if self.contains(&finding.id) {
            return false;
        }
        if self.finding_ids.len() < MAX_MEMBERS {
            self.finding_ids.push(finding.id.clone());
        }
        self.count += 1;
        self.first_time = self.first_time.min(finding.event_time);
        self.last_time = self.last_time.max(finding.event_time);
        self.severity = self.severity.max(finding.severity);
        self.hourly_cost += finding.estimated_hourly_cost.unwrap_or(0.0);
        self.resource_count += finding.resource_ids.len().max(1) as u32;
        push_distinct(&mut self.actors, &finding.actor.name);
        push_distinct(&mut self.regions, &finding.region);
        // A new finding reopens an incident that was put aside (snoozed, expected, resolved):
        // what happens now is news.
        if self.count > 1 && self.status != FindingStatus::Open {
            self.status = FindingStatus::Open;
            self.snooze_until = None;
        }
        true
    }

    /// One line: what happened, by whom, how much.
    pub fn title(&self) -> String {
        let who = match self.actors.as_slice() {
            [] => String::new(),
            [one] => format!(" by {one}"),
            [one, rest @ ..] => format!(" by {one} and {} more", rest.len()),
        };
        let findings = match (self.kind, self.count) {
            (FindingKind::CostAnomaly, 1) => "1 cost anomaly".to_owned(),
            (FindingKind::CostAnomaly, n) => format!("{n} cost anomalies"),
            (FindingKind::Drift, 1) => "1 drift change".to_owned(),
            (FindingKind::Drift, n) => format!("{n} drift changes"),
        };
        let place = match (&self.stack, self.grouping) {
            (Some(stack), Grouping::Sweep) => format!(" across stack {stack}"),
            _ => format!(" in {}", self.account_id),
        };
        format!("{findings}{who}{place}")
    }
}

fn push_distinct(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && list.len() < MAX_LISTED && !list.iter().any(|v| v == value) {
        list.push(value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use serde_json::json;

    fn launch(id: &str, minutes: i64, cost: f64) -> Finding {
        let mut f = testing::cost_finding(id);
        f.event_time = testing::noon() + Duration::minutes(minutes);
        f.estimated_hourly_cost = Some(cost);
        f.resource_ids = (0..8).map(|i| format!("i-{id}{i}")).collect();
        f
    }

    #[test]
    fn a_burst_by_one_principal_is_one_incident_with_the_total_at_stake() {
        let mut incident = Incident::open(&launch("a", 0, 206.04));
        assert!(incident.add(&launch("b", 1, 206.04)));
        assert!(incident.add(&launch("c", 2, 206.04)));
        assert_eq!(incident.count, 3);
        assert_eq!(incident.resource_count, 24);
        assert!((incident.hourly_cost - 618.12).abs() < 1e-9);
        assert_eq!(incident.finding_ids, ["a", "b", "c"]);
        assert_eq!(incident.last_time, testing::noon() + Duration::minutes(2));
        assert_eq!(
            group_key(&launch("a", 0, 1.0)),
            group_key(&launch("z", 30, 9.0))
        );
    }

    #[test]
    fn a_finding_counts_once() {
        let mut incident = Incident::open(&launch("a", 0, 10.0));
        assert!(!incident.add(&launch("a", 0, 10.0)));
        assert_eq!(incident.count, 1);
        assert!((incident.hourly_cost - 10.0).abs() < 1e-9);
    }

    #[test]
    fn the_highest_severity_and_the_earliest_time_win() {
        let mut first = launch("a", 10, 1.0);
        first.severity = Severity::Warning;
        let mut incident = Incident::open(&first);
        let mut late_but_earlier = launch("b", 0, 1.0);
        late_but_earlier.severity = Severity::Critical;
        incident.add(&late_but_earlier);
        assert_eq!(incident.severity, Severity::Critical);
        assert_eq!(incident.first_time, testing::noon());
        assert_eq!(incident.last_time, testing::noon() + Duration::minutes(10));
    }

    #[test]
    fn other_principals_accounts_and_kinds_are_other_groups() {
        let base = launch("a", 0, 1.0);
        let mut other_actor = base.clone();
        other_actor.actor.arn = "arn:aws:iam::111122223333:user/someone-else".into();
        let mut other_account = base.clone();
        other_account.account_id = "444455556666".into();
        let mut drift = base.clone();
        drift.kind = FindingKind::Drift;
        for other in [other_actor, other_account, drift] {
            assert_ne!(group_key(&base), group_key(&other));
        }
    }

    #[test]
    fn drift_groups_by_stack_whoever_made_it() {
        let mut alice = testing::cost_finding("d1");
        alice.kind = FindingKind::Drift;
        alice.details = json!({"stack": "web-prod"});
        let mut bob = alice.clone();
        bob.id = "d2".into();
        bob.actor.arn = "arn:aws:iam::111122223333:user/bob".into();
        bob.actor.name = "bob".into();
        assert_eq!(Grouping::of(&alice), Grouping::Sweep);
        assert_eq!(group_key(&alice), group_key(&bob));
        let mut sweep = Incident::open(&alice);
        sweep.add(&bob);
        assert!(
            sweep.title().contains("across stack web-prod"),
            "{}",
            sweep.title()
        );
        assert!(
            sweep.title().starts_with("2 drift changes by "),
            "{}",
            sweep.title()
        );
        let mut unstacked = bob.clone();
        unstacked.details = json!({});
        assert_eq!(Grouping::of(&unstacked), Grouping::Changes);
        assert_ne!(group_key(&unstacked), group_key(&bob));
    }

    #[test]
    fn the_window_counts_both_ways_and_ends() {
        let t = testing::noon();
        assert!(within_window(&t, &(t + Duration::minutes(WINDOW_MINUTES))));
        assert!(within_window(&t, &(t - Duration::minutes(WINDOW_MINUTES))));
        assert!(!within_window(
            &t,
            &(t + Duration::minutes(WINDOW_MINUTES + 1))
        ));
        assert!(!within_window(
            &t,
            &(t - Duration::minutes(WINDOW_MINUTES + 1))
        ));
    }

    #[test]
    fn members_are_capped_but_counted() {
        let mut incident = Incident::open(&launch("f0", 0, 1.0));
        for i in 1..MAX_MEMBERS + 5 {
            incident.add(&launch(&format!("f{i}"), 0, 1.0));
        }
        assert_eq!(incident.finding_ids.len(), MAX_MEMBERS);
        assert_eq!(incident.count as usize, MAX_MEMBERS + 5);
    }

    #[test]
    fn news_reopens_an_incident_put_aside() {
        let mut incident = Incident::open(&launch("a", 0, 1.0));
        incident.status = FindingStatus::Snoozed;
        incident.snooze_until = Some(testing::noon() + Duration::hours(1));
        incident.add(&launch("b", 1, 1.0));
        assert_eq!(incident.status, FindingStatus::Open);
        assert_eq!(incident.snooze_until, None);
    }

    #[test]
    fn the_title_says_what_who_and_where() {
        let mut incident = Incident::open(&launch("a", 0, 1.0));
        incident.add(&launch("b", 1, 1.0));
        let name = &testing::cost_finding("x").actor.name;
        assert_eq!(
            incident.title(),
            format!("2 cost anomalies by {name} in {}", incident.account_id)
        );
    }
}
