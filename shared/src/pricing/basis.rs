//! What a price rests on, in a few words for an alert ("list price", "estimated from
//! db.r5.16xlarge", "ap-south-1 price by regional factor"), the date of the oldest price
//! behind it, and the caveats that change what the number means. The full provenance stays in
//! the estimate's reasons (docs/decisions/0100-pricing-tables-and-lookup.md).

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// The label of a price read from a table as listed.
pub const LIST_PRICE: &str = "list price";
/// The label of an estimate without a price.
pub const PRICE_UNKNOWN: &str = "price unknown";

/// The short basis of a price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBasis {
    /// A few words: "list price", "estimated from db.r5.16xlarge", "list price, ap-south-1
    /// price by regional factor"; several parts of one price are joined by "; ".
    #[serde(default)]
    pub label: String,
    /// The date of the oldest price used, as precise as its source states it: `2021-08-03`,
    /// `2024-04` or `2022`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Caveats that change what the number means, each a few words ("spot: 70% below
    /// on-demand assumed").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caveats: Vec<String>,
}

impl PriceBasis {
    /// The basis of a price made of several parts: distinct labels joined, the oldest date,
    /// every caveat once.
    pub fn combine<'a>(parts: impl IntoIterator<Item = &'a PriceBasis>) -> PriceBasis {
        let mut out = PriceBasis::default();
        let mut labels: Vec<&str> = Vec::new();
        for p in parts {
            if !p.label.is_empty() && !labels.contains(&p.label.as_str()) {
                labels.push(&p.label);
            }
            out.as_of = oldest(out.as_of.take(), p.as_of.clone());
            for c in &p.caveats {
                if !out.caveats.contains(c) {
                    out.caveats.push(c.clone());
                }
            }
        }
        out.label = labels.join("; ");
        out
    }

    /// Adds a caveat once.
    pub fn caveat(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.caveats.contains(&text) {
            self.caveats.push(text);
        }
    }

    /// "estimated from db.r5.16xlarge · prices of 2021-08-03 (5 years old)": the label and
    /// the age of the prices at `at`.
    pub fn summary(&self, at: DateTime<Utc>) -> String {
        match self
            .as_of
            .as_deref()
            .and_then(|d| age(d, at).map(|a| (d, a)))
        {
            Some((date, age)) => format!("{} · prices of {date} ({age})", self.label),
            None => self.label.clone(),
        }
    }
}

/// A date written `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, as (year, month, day); a missing month or
/// day counts as the first, so a year-only date is never made younger than it may be.
fn parts(date: &str) -> Option<(i32, u32, u32)> {
    let mut it = date.split('-');
    let year: i32 = it.next()?.parse().ok()?;
    let month: u32 = it.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = it.next().map_or(Some(1), |d| d.parse().ok())?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

/// The older of two dates (a date beats none).
pub fn oldest(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => match (parts(&a), parts(&b)) {
            (Some(pa), Some(pb)) if pb < pa => Some(b),
            (None, Some(_)) => Some(b),
            _ => Some(a),
        },
        (a, b) => a.or(b),
    }
}

/// The first date in a table's `as_of` text: "2021-08-03" → `2021-08-03`, "2022 (undated
/// page …)" → `2022`, "not stated by the source (read 2026-11-22)" → `2026-11-22` (the day it
/// was read is the latest it can be from).
pub fn date_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |at: usize, n: usize| {
        b.get(at..at + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let boundary = |at: usize| b.get(at).is_none_or(|c| !c.is_ascii_digit());
    for start in 0..b.len() {
        if (start > 0 && b[start - 1].is_ascii_digit()) || !digits(start, 4) || !boundary(start + 4)
        {
            continue;
        }
        let mut end = start + 4;
        for _ in 0..2 {
            if b.get(end) == Some(&b'-') && digits(end + 1, 2) && boundary(end + 3) {
                end += 3;
            } else {
                break;
            }
        }
        let date = &text[start..end];
        if parts(date).is_some_and(|(y, _, _)| (1990..=2200).contains(&y)) {
            return Some(date.to_owned());
        }
    }
    None
}

/// How old prices of `date` are at `at`, in whole months under two years and in years above:
/// "less than a month old", "15 months old", "5 years old".
pub fn age(date: &str, at: DateTime<Utc>) -> Option<String> {
    let (year, month, _) = parts(date)?;
    let months = (at.year() - year) * 12 + at.month() as i32 - month as i32;
    Some(match months {
        i32::MIN..=0 => "less than a month old".to_owned(),
        1 => "1 month old".to_owned(),
        2..=23 => format!("{months} months old"),
        _ => format!("{} years old", months / 12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, 15, 0, 0, 0).unwrap()
    }

    #[test]
    fn dates_are_read_from_the_tables_as_of_texts() {
        assert_eq!(date_in("2021-08-03").as_deref(), Some("2021-08-03"));
        assert_eq!(
            date_in("2022 (undated page; it lists ap-southeast-3 and uses bootstrap 5.2.0-beta1)")
                .as_deref(),
            Some("2022")
        );
        assert_eq!(
            date_in("not stated by the source (read 2026-11-22)").as_deref(),
            Some("2026-11-22")
        );
        assert_eq!(date_in("2024-04").as_deref(), Some("2024-04"));
        assert_eq!(date_in("2024 or later (…)").as_deref(), Some("2024"));
        assert_eq!(date_in("bootstrap 5.2.0"), None);
        assert_eq!(date_in("12345"), None);
    }

    #[test]
    fn ages_in_months_then_years() {
        assert_eq!(
            age("2024-08", at(2025, 11)).as_deref(),
            Some("15 months old")
        );
        assert_eq!(
            age("2021-08-03", at(2026, 12)).as_deref(),
            Some("5 years old")
        );
        assert_eq!(
            age("2026-12-01", at(2026, 12)).as_deref(),
            Some("less than a month old")
        );
        assert_eq!(age("2026-11", at(2026, 12)).as_deref(), Some("1 month old"));
        // A year alone counts from its January.
        assert_eq!(age("2022", at(2023, 12)).as_deref(), Some("23 months old"));
        assert_eq!(age("someday", at(2026, 1)), None);
    }

    #[test]
    fn combined_parts_keep_the_oldest_date_and_every_caveat_once() {
        let a = PriceBasis {
            label: LIST_PRICE.into(),
            as_of: Some("2026-07-20".into()),
            caveats: vec!["spot".into()],
        };
        let b = PriceBasis {
            label: "estimated from db.r5.large".into(),
            as_of: Some("2021-08-03".into()),
            caveats: vec!["spot".into()],
        };
        let c = PriceBasis::combine([&a, &b, &a]);
        assert_eq!(c.label, "list price; estimated from db.r5.large");
        assert_eq!(c.as_of.as_deref(), Some("2021-08-03"));
        assert_eq!(c.caveats, vec!["spot".to_owned()]);
        assert_eq!(
            oldest(Some("2022".into()), Some("2022-03".into())).as_deref(),
            Some("2022")
        );
        assert_eq!(oldest(None, Some("2022".into())).as_deref(), Some("2022"));
    }

    #[test]
    fn the_summary_says_which_price_and_how_old() {
        let b = PriceBasis {
            label: "estimated from db.r5.16xlarge".into(),
            as_of: Some("2024-08".into()),
            caveats: vec![],
        };
        assert_eq!(
            b.summary(at(2025, 11)),
            "estimated from db.r5.16xlarge · prices of 2024-08 (15 months old)"
        );
    }
}
