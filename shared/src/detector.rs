//! Detectors: what produced a finding, by a stable id that flags turn off and the notifier's
//! circuit breaker counts under (docs/decisions/0510-flags-and-circuit-breaker.md).
//!
//! A cost finding's detector is the scoring signal that contributed most to its score
//! (`cost.<signal>`, the scorer's [`COST_SIGNALS`]); a drift finding's is the rule that set its
//! severity (`drift.<rule id>` from the classifier's `rules.json`), or `drift.unclassified`
//! when no rule matched. Both are written to the finding's `details.detector`.

use crate::domain::{Finding, FindingKind};

/// The scorer's signals (`functions/scorer/src/signals.rs`), without the `cost.` prefix.
pub const COST_SIGNALS: [&str; 12] = [
    "cold_start",
    "zscore",
    "new_region",
    "new_actor",
    "new_type_actor",
    "new_resource_type",
    "new_sku",
    "scale_jump",
    "outside_iac",
    "burst",
    "fast_path",
    "calibrated",
];

pub const COST_PREFIX: &str = "cost.";
pub const DRIFT_PREFIX: &str = "drift.";
/// A drift no rule matched (medium / configuration).
pub const DRIFT_UNCLASSIFIED: &str = "drift.unclassified";
/// A cost finding recorded before findings named their detector.
pub const COST_UNATTRIBUTED: &str = "cost.unattributed";

/// The detector id of a cost signal.
pub fn cost(signal: &str) -> String {
    [COST_PREFIX, signal].concat()
}

/// The detector id of a drift rule.
pub fn drift(rule: &str) -> String {
    [DRIFT_PREFIX, rule].concat()
}

/// The detector a finding is attributed to: `details.detector`, else (findings recorded
/// before it was written) the drift's first rule or the kind's fallback.
pub fn of(finding: &Finding) -> String {
    if let Some(id) = finding.details.get("detector").and_then(|d| d.as_str()) {
        return id.to_owned();
    }
    match finding.kind {
        FindingKind::CostAnomaly => COST_UNATTRIBUTED.to_owned(),
        FindingKind::Drift => finding
            .details
            .get("rules")
            .and_then(|r| r.get(0))
            .and_then(|r| r.as_str())
            .map_or_else(|| DRIFT_UNCLASSIFIED.to_owned(), drift),
    }
}

/// Whether `id` names a detector, given the drift rule ids in force.
pub fn is_known<'a>(id: &str, drift_rules: impl IntoIterator<Item = &'a str>) -> bool {
    if let Some(signal) = id.strip_prefix(COST_PREFIX) {
        return COST_SIGNALS.contains(&signal);
    }
    id == DRIFT_UNCLASSIFIED
        || id
            .strip_prefix(DRIFT_PREFIX)
            .is_some_and(|rule| drift_rules.into_iter().any(|r| r == rule))
}

/// Every detector id, cost signals first, then the drift rules and `drift.unclassified`.
pub fn all<'a>(drift_rules: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    COST_SIGNALS
        .iter()
        .map(|s| cost(s))
        .chain(drift_rules.into_iter().map(drift))
        .chain([DRIFT_UNCLASSIFIED.to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cost_finding, drift_finding};

    #[test]
    fn a_finding_names_its_detector_or_falls_back_by_kind() {
        let mut f = cost_finding("f-1");
        f.details = serde_json::json!({"detector": "cost.burst"});
        assert_eq!(of(&f), "cost.burst");
        f.details = serde_json::json!({});
        assert_eq!(of(&f), COST_UNATTRIBUTED);
        let mut f = drift_finding("f-2");
        f.details = serde_json::json!({"rules": ["sg-world-ingress", "sg-rules-changed"]});
        assert_eq!(of(&f), "drift.sg-world-ingress");
        f.details = serde_json::json!({"rules": []});
        assert_eq!(of(&f), DRIFT_UNCLASSIFIED);
    }

    #[test]
    fn known_detectors() {
        let rules = ["sg-world-ingress"];
        assert!(is_known("cost.burst", rules));
        assert!(!is_known("cost.bursts", rules));
        assert!(is_known("drift.sg-world-ingress", rules));
        assert!(is_known("drift.unclassified", rules));
        assert!(!is_known("drift.sg-world", rules));
        assert!(!is_known("burst", rules));
        let every = all(rules);
        assert_eq!(every.len(), COST_SIGNALS.len() + 2);
        assert!(every.iter().all(|d| is_known(d, rules)));
    }
}
