//! Moving recorded CloudTrail in time by whole weeks, so that `dd0c demo` shows its events as
//! recent whatever the day it runs (decision 1120).
//!
//! The served demo lives in wall-clock time, and what the pipeline stores expires on event
//! time (change records and cost events after 90 days, findings after a year): data of a
//! fixed date would empty the dashboard's timelines a few months later. Whole weeks keep each
//! event's weekday and hour of day, which baselines and the digest read.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use crate::input::InputRecord;

/// How far every record's time moves: a whole number of weeks (zero: not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeShift {
    weeks: i64,
}

impl TimeShift {
    pub const NONE: TimeShift = TimeShift { weeks: 0 };

    /// The whole weeks that bring `newest` into the week before `now`: `newest` moved lands
    /// in (now − 7 days, now]. Data newer than `now` moves back the same way.
    pub fn to_recent(newest: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let week = Duration::weeks(1).num_seconds();
        Self {
            weeks: (now - newest).num_seconds().div_euclid(week),
        }
    }

    pub fn weeks(&self) -> i64 {
        self.weeks
    }

    pub fn duration(&self) -> Duration {
        Duration::weeks(self.weeks)
    }

    /// `record` moved: its time, and in its text the EventBridge envelope's `time` and the
    /// CloudTrail record's `eventTime`. Text that is not a JSON object, and times that do not
    /// read as RFC 3339, are left as they are (the normalizer says what is wrong with them).
    pub fn record(&self, record: InputRecord) -> InputRecord {
        if self.weeks == 0 {
            return record;
        }
        let raw = match serde_json::from_str::<Value>(&record.raw) {
            Ok(mut value) if value.is_object() => {
                self.field(&mut value, "time");
                self.field(&mut value, "eventTime");
                if let Some(detail) = value.get_mut("detail") {
                    self.field(detail, "eventTime");
                }
                value.to_string()
            }
            _ => record.raw,
        };
        InputRecord {
            time: record.time.map(|t| t + self.duration()),
            raw,
        }
    }

    fn field(&self, object: &mut Value, name: &str) {
        let Some(slot) = object.get_mut(name) else {
            return;
        };
        let Some(time) = slot
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        else {
            return;
        };
        let moved = time.with_timezone(&Utc) + self.duration();
        *slot = Value::String(moved.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_newest_event_lands_in_the_last_week_on_its_weekday_and_hour() {
        let newest = at("2026-11-21T23:47:12Z");
        for now in [
            "2026-11-28T23:47:12Z",
            "2026-11-28T23:47:11Z",
            "2027-03-02T08:00:00Z",
            "2031-07-19T00:00:00Z",
            "2026-11-21T23:47:12Z",
            "2026-11-10T12:00:00Z",
        ] {
            let now = at(now);
            let moved = newest + TimeShift::to_recent(newest, now).duration();
            assert!(moved <= now, "{now}: {moved} is later");
            assert!(
                now - moved < Duration::weeks(1),
                "{now}: {moved} is older than a week"
            );
            assert_eq!(moved.format("%a %T").to_string(), "Sat 23:47:12", "{now}");
        }
        assert_eq!(TimeShift::to_recent(newest, newest), TimeShift::NONE);
        assert_eq!(
            TimeShift::to_recent(newest, at("2026-11-28T23:47:12Z")).weeks(),
            1
        );
        assert_eq!(
            TimeShift::to_recent(newest, at("2026-11-28T23:47:11Z")).weeks(),
            0
        );
        assert_eq!(
            TimeShift::to_recent(newest, at("2026-11-21T23:47:11Z")).weeks(),
            -1
        );
    }

    fn shifted(raw: &Value, weeks: i64) -> (Option<DateTime<Utc>>, Value) {
        let record = InputRecord {
            time: Some(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()),
            raw: raw.to_string(),
        };
        let moved = TimeShift { weeks }.record(record);
        (moved.time, serde_json::from_str(&moved.raw).unwrap())
    }

    #[test]
    fn an_envelope_and_its_record_move_together_and_nothing_else_moves() {
        let envelope = json!({
            "time": "2026-11-02T09:00:00Z",
            "detail": {
                "eventTime": "2026-11-02T09:00:00Z",
                "eventID": "e-1",
                "responseElements": {"launchTime": "2026-11-02T09:00:00Z"}
            }
        });
        let (time, moved) = shifted(&envelope, 2);
        assert_eq!(
            time,
            Some(Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0).unwrap())
        );
        assert_eq!(moved["time"], "2026-11-16T09:00:00Z");
        assert_eq!(moved["detail"]["eventTime"], "2026-11-16T09:00:00Z");
        assert_eq!(moved["detail"]["eventID"], "e-1");
        assert_eq!(
            moved["detail"]["responseElements"]["launchTime"],
            "2026-11-02T09:00:00Z"
        );
    }

    #[test]
    fn a_bare_record_moves_keeping_its_fraction_of_a_second() {
        let (_, moved) = shifted(&json!({"eventTime": "2023-07-10T12:01:02.5Z"}), 3);
        assert_eq!(moved["eventTime"], "2023-07-31T12:01:02.500Z");
        let (_, back) = shifted(&json!({"eventTime": "2026-11-02T09:00:00Z"}), -1);
        assert_eq!(back["eventTime"], "2026-10-26T09:00:00Z");
    }

    #[test]
    fn what_is_not_a_time_is_left_as_it_is() {
        for raw in [
            "not json",
            "[1, 2]",
            r#"{"eventTime": "yesterday"}"#,
            r#"{"eventTime": 12}"#,
        ] {
            let record = InputRecord {
                time: None,
                raw: raw.to_owned(),
            };
            let moved = TimeShift { weeks: 5 }.record(record);
            assert_eq!(moved.time, None);
            assert_eq!(
                serde_json::from_str::<Value>(&moved.raw).ok(),
                serde_json::from_str(raw).ok()
            );
            if serde_json::from_str::<Value>(raw).is_err() {
                assert_eq!(moved.raw, raw);
            }
        }
        let unmoved = InputRecord {
            time: None,
            raw: r#"{ "eventTime" : "2026-11-02T09:00:00Z" }"#.to_owned(),
        };
        assert_eq!(
            TimeShift::NONE.record(unmoved.clone()).raw,
            unmoved.raw,
            "no shift rewrites nothing"
        );
    }
}
