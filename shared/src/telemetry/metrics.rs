//! Every metric the functions emit, as one contract with the CDK app: [`Metric`] names each
//! one with its unit, its meaning and where the operations dashboard draws it, and
//! `shared/metrics.json` is what [`metrics_json`] exports. The dashboard (`infra-cdk`,
//! `lib/metrics.ts`) is built from that file, and both sides test it: here, that the file is
//! the enum's export and that every metric is emitted somewhere; there, that every metric of
//! the file is charted and nothing else is.

use serde::Serialize;

/// `shared/metrics.json`, as committed.
pub const METRICS_JSON: &str = include_str!("../../metrics.json");

/// The CloudWatch unit of a metric (Embedded Metric Format `Unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
        }
    }
}

macro_rules! metrics {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $unit:ident, graph $graph:literal, label $label:literal;
    )+) => {
        /// A metric the functions emit ([`crate::telemetry::metric`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Metric {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Metric {
            /// Every metric, in dashboard order.
            pub const ALL: &'static [Metric] = &[$(Metric::$name),+];

            /// The CloudWatch metric name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Metric::$name => stringify!($name),)+
                }
            }

            pub fn unit(self) -> Unit {
                match self {
                    $(Metric::$name => Unit::$unit,)+
                }
            }

            /// What one unit of it is, in one line.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Metric::$name => concat!($($doc),+).trim_ascii(),)+
                }
            }

            /// The dashboard graph that draws it, and its line's label there.
            pub fn graph(self) -> (&'static str, &'static str) {
                match self {
                    $(Metric::$name => ($graph, $label),)+
                }
            }
        }
    };
}

metrics! {
    /// A CloudTrail record the ingest function put on the ingest queue.
    EventsReceived: Count, graph "Events in", label "received";
    /// A CloudTrail record the ingest function dropped: its account is not connected, or it names another account than its sender.
    EventsDropped: Count, graph "Events in", label "dropped";
    /// A CloudTrail record the normalizer processed, whatever the outcome.
    EventsIngested: Count, graph "Events in", label "ingested";
    /// A CloudTrail record the normalizer processed but skipped: already published, or of an unknown or inactive account.
    EventsSkipped: Count, graph "Events in", label "skipped";
    /// A cost event the normalizer published.
    CostEvents: Count, graph "Domain events", label "cost";
    /// A change event (a write call on a resource) the normalizer published.
    ChangeEvents: Count, graph "Domain events", label "change";
    /// A cost finding the scorer published.
    Findings: Count, graph "Findings", label "cost";
    /// A drift finding the classifier published.
    DriftFindings: Count, graph "Findings", label "drift";
    /// A complete drift report from an agent, queued by the ingest function.
    DriftReports: Count, graph "Drift", label "reports";
    /// A finding the classifier resolved because its drift was reverted or reconciled.
    DriftResolved: Count, graph "Drift", label "resolved";
    /// A finding alert the notifier posted to Slack.
    NotificationsSent: Count, graph "Notifications", label "sent";
    /// A finding alert the notifier held back (quiet hours, panic mode, budget, …).
    NotificationsHeld: Count, graph "Notifications", label "held";
    /// A finding alert Slack rate-limited; it goes back to the queue and is retried.
    SlackRateLimited: Count, graph "Notifications", label "Slack rate-limited";
    /// A message a queue consumer sent to its dead-letter queue.
    DeadLettered: Count, graph "Dead-lettered by stages", label "dead-lettered";
}

#[derive(Serialize)]
struct MetricEntry {
    name: &'static str,
    unit: Unit,
    meaning: &'static str,
    graph: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct MetricsFile {
    #[serde(rename = "$comment")]
    comment: &'static str,
    namespace: &'static str,
    dimension: &'static str,
    metrics: Vec<MetricEntry>,
}

/// The contract as `shared/metrics.json` holds it (pretty JSON, a final newline).
pub fn metrics_json() -> String {
    let file = MetricsFile {
        comment: "Generated from dd0c_shared::telemetry::Metric (shared/src/telemetry/metrics.rs): edit the enum, then DD0C_UPDATE_GOLDEN=1 cargo test -p dd0c-shared metrics_json",
        namespace: super::METRIC_NAMESPACE,
        dimension: super::METRIC_DIMENSION,
        metrics: Metric::ALL
            .iter()
            .map(|m| MetricEntry {
                name: m.name(),
                unit: m.unit(),
                meaning: m.meaning(),
                graph: m.graph().0,
                label: m.graph().1,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("the metrics contract serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn metrics_json_is_what_the_enum_exports() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics.json");
        // The CDK dashboard is built from the file: commit it with the enum.
        crate::testing::golden::check(&path, &metrics_json());
    }

    #[test]
    fn names_are_unique_and_lines_distinct_within_a_graph() {
        let mut names = HashSet::new();
        let mut lines = HashSet::new();
        for m in Metric::ALL {
            assert!(names.insert(m.name()), "{} twice", m.name());
            assert!(lines.insert(m.graph()), "{m:?}: label twice in its graph");
            assert!(
                !m.meaning().is_empty() && !m.meaning().contains('\n'),
                "{m:?}"
            );
            assert!(m.name().chars().all(|c| c.is_ascii_alphanumeric()), "{m:?}");
        }
    }

    /// A metric the dashboard draws but no code emits is a flat line nobody questions.
    #[test]
    fn every_metric_is_emitted_somewhere() {
        let files = crate::testing::product_sources();
        let telemetry = Path::new("src").join("telemetry");
        let sources: Vec<String> = files
            .iter()
            .filter(|f| !f.parent().is_some_and(|p| p.ends_with(&telemetry)))
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let silent: Vec<&str> = Metric::ALL
            .iter()
            .filter(|m| {
                let used = format!("Metric::{}", m.name());
                !sources.iter().any(|s| {
                    s.match_indices(&used).any(|(i, _)| {
                        !s[i + used.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
                })
            })
            .map(|m| m.name())
            .collect();
        assert!(
            silent.is_empty(),
            "never emitted (telemetry::metric(Metric::…)): {silent:?}"
        );
    }
}
