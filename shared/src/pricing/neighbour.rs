//! A labelled estimate for a well-formed instance type or database class that a price table
//! does not list: from the same family at another size, or from the same size of a
//! neighbouring generation, never silence (docs/decisions/0100-pricing-tables-and-lookup.md).
//!
//! Within a family, on-demand prices scale with the size (large = 2 × medium, Nxlarge =
//! N × xlarge). Across generations of one series (`r5` → `r6i`, `m6g` → `m7g`), a database
//! class is priced as its neighbour scaled by what EC2 charges for the two instance types —
//! EC2's table is current, RDS's and Aurora's are not — or, without both EC2 prices, at the
//! neighbour's price.

use std::collections::HashMap;

/// `r6i` → series `r`, generation 6, attributes `i`; `x2iedn` → `x`, 2, `iedn`. Families with
/// another shape (`u-6tb1`, `c7i-flex`, `p6-b200`) are not estimated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Family<'a> {
    pub series: &'a str,
    pub generation: u32,
    pub attributes: &'a str,
}

pub(crate) fn family(name: &str) -> Option<Family<'_>> {
    let digit = name.find(|c: char| c.is_ascii_digit())?;
    let (series, rest) = name.split_at(digit);
    let letters = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (generation, attributes) = rest.split_at(letters);
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_lowercase());
    if series.is_empty() || !plain(series) || !plain(attributes) {
        return None;
    }
    Some(Family {
        series,
        generation: generation.parse().ok()?,
        attributes,
    })
}

/// The size in units of `medium` (`large` = 2, `xlarge` = 4, `12xlarge` = 48); `metal` and
/// unknown sizes have none.
pub(crate) fn size_units(size: &str) -> Option<f64> {
    Some(match size {
        "nano" => 0.125,
        "micro" => 0.25,
        "small" => 0.5,
        "medium" => 1.0,
        "large" => 2.0,
        "xlarge" => 4.0,
        _ => {
            let n: f64 = size.strip_suffix("xlarge")?.parse().ok()?;
            (n > 0.0).then_some(4.0 * n)?
        }
    })
}

/// What an unlisted type or class is estimated from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Neighbour {
    /// The listed type or class (`db.r5.16xlarge`).
    pub from: String,
    /// Its price.
    pub price: f64,
    /// The estimate: `price` × the scale.
    pub estimate: f64,
    /// How the scale was found, for the provenance.
    pub how: String,
}

/// How close a neighbour is, smallest first: another family, another size, generations apart
/// (older a half step further), other attributes, then the name.
type Closeness = (u32, u32, u32, u32);

/// Splits `db.r6i.large` (with `prefix` `db.`) or `r6i.large` into family and size.
fn split<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    name.strip_prefix(prefix)?.split_once('.')
}

/// The nearest listed neighbour of `name` among `listed` (name → price): the same family at
/// another size first, then the same series and attributes at the nearest generation (newer
/// on a tie), then the same series whatever its attributes; `ec2` (type → price) scales across
/// families.
pub(crate) fn nearest<'a>(
    name: &str,
    prefix: &str,
    listed: impl Iterator<Item = (&'a String, f64)>,
    ec2: &HashMap<String, f64>,
) -> Option<Neighbour> {
    let (wanted_family, wanted_size) = split(name, prefix)?;
    let wanted = family(wanted_family)?;
    size_units(wanted_size)?;
    // The closest candidate and its price; the scale and its explanation are made once, for it.
    let mut best: Option<(Closeness, &'a String, f64)> = None;
    for (candidate, price) in listed {
        let Some((cand_family, cand_size)) = split(candidate, prefix) else {
            continue;
        };
        let Some(cand) = family(cand_family) else {
            continue;
        };
        if cand.series != wanted.series || size_units(cand_size).is_none() {
            continue;
        }
        let same_family = cand_family == wanted_family;
        let rank: Closeness = (
            u32::from(!same_family),
            u32::from(cand_size != wanted_size),
            cand.generation.abs_diff(wanted.generation) * 2
                + u32::from(cand.generation < wanted.generation),
            u32::from(cand.attributes != wanted.attributes),
        );
        // Ties broken by name, so that the estimate never depends on hash order.
        let better = match &best {
            None => true,
            Some((r, name, _)) => (&rank, candidate.as_str()) < (r, name.as_str()),
        };
        if better && scale(wanted_family, wanted_size, cand_family, cand_size, ec2).is_some() {
            best = Some((rank, candidate, price));
        }
    }
    let (_, from, price) = best?;
    let (cand_family, cand_size) = split(from, prefix)?;
    let (scale, how) = scale(wanted_family, wanted_size, cand_family, cand_size, ec2)?;
    Some(Neighbour {
        from: from.clone(),
        price,
        estimate: price * scale,
        how,
    })
}

/// How `wanted` relates to a listed neighbour: by size within a family, by EC2's prices across
/// families, or one to one for the same size when EC2 lists either not.
fn scale(
    wanted_family: &str,
    wanted_size: &str,
    cand_family: &str,
    cand_size: &str,
    ec2: &HashMap<String, f64>,
) -> Option<(f64, String)> {
    if cand_family == wanted_family {
        let ratio = size_units(wanted_size)? / size_units(cand_size)?;
        return Some((ratio, format!("{cand_size} → {wanted_size}: ×{ratio}")));
    }
    let target = format!("{wanted_family}.{wanted_size}");
    let source = format!("{cand_family}.{cand_size}");
    match (ec2.get(&target), ec2.get(&source)) {
        (Some(t), Some(s)) if *s > 0.0 => {
            Some((t / s, format!("EC2 {target} ${t}/hr ÷ {source} ${s}/hr")))
        }
        _ if cand_size == wanted_size => Some((1.0, "same size".to_owned())),
        _ => None,
    }
}

/// The last resort for a class whose series no listed class shares (`db.x2g`, `db.z1d`): the
/// EC2 price of its instance type (or of that type's nearest EC2 neighbour) times the median
/// ratio of listed class prices to the EC2 prices of the same types.
pub(crate) fn by_ec2_premium<'a>(
    name: &str,
    prefix: &str,
    listed: impl Iterator<Item = (&'a String, f64)>,
    ec2: &HashMap<String, f64>,
) -> Option<Neighbour> {
    let mut ratios: Vec<f64> = listed
        .filter_map(|(class, price)| {
            let ec2_price = ec2.get(class.strip_prefix(prefix)?)?;
            (*ec2_price > 0.0).then(|| price / ec2_price)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let premium = ratios[ratios.len() / 2];
    let instance_type = name.strip_prefix(prefix)?;
    let (from, ec2_price) = match ec2.get(instance_type) {
        Some(p) => (instance_type.to_owned(), *p),
        None => {
            let n = nearest(instance_type, "", ec2.iter().map(|(k, v)| (k, *v)), ec2)?;
            (n.from, n.estimate)
        }
    };
    Some(Neighbour {
        from: format!("EC2 {from}"),
        price: ec2_price,
        estimate: ec2_price * premium,
        how: format!(
            "the median premium of {} listed classes over EC2, ×{premium:.3}",
            ratios.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_sizes_parse_or_refuse() {
        assert_eq!(
            family("x2iedn"),
            Some(Family {
                series: "x",
                generation: 2,
                attributes: "iedn"
            })
        );
        assert_eq!(family("m5").map(|f| f.generation), Some(5));
        for odd in ["u-6tb1", "c7i-flex", "p6-b200", "", "db", "7g"] {
            assert_eq!(family(odd), None, "{odd}");
        }
        assert_eq!(size_units("large"), Some(2.0));
        assert_eq!(size_units("16xlarge"), Some(64.0));
        assert_eq!(size_units("metal"), None);
        assert_eq!(size_units("0xlarge"), None);
    }

    fn listed(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_same_family_at_another_size_comes_first() {
        let rds = listed(&[
            ("db.r5.large", 0.25),
            ("db.r6g.large", 0.225),
            ("db.r6g.4xlarge", 1.8),
        ]);
        let n = nearest(
            "db.r6g.16xlarge",
            "db.",
            rds.iter().map(|(k, v)| (k, *v)),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(n.from, "db.r6g.4xlarge");
        assert_eq!(n.estimate, 7.2);
    }

    #[test]
    fn a_newer_generation_is_scaled_by_what_ec2_charges() {
        let rds = listed(&[
            ("db.r4.16xlarge", 7.0),
            ("db.r5.16xlarge", 8.0),
            ("db.m5.16xlarge", 5.0),
        ]);
        let ec2: HashMap<String, f64> = [("r6i.16xlarge", 4.4), ("r5.16xlarge", 4.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let n = nearest(
            "db.r6i.16xlarge",
            "db.",
            rds.iter().map(|(k, v)| (k, *v)),
            &ec2,
        )
        .unwrap();
        assert_eq!(n.from, "db.r5.16xlarge");
        assert!((n.estimate - 8.8).abs() < 1e-9);
        // Without EC2 prices: the same size of the nearest generation, at its price.
        let n = nearest(
            "db.r7g.16xlarge",
            "db.",
            rds.iter().map(|(k, v)| (k, *v)),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!((n.from.as_str(), n.estimate), ("db.r5.16xlarge", 8.0));
    }

    #[test]
    fn a_series_no_class_shares_is_priced_from_ec2_with_the_median_premium() {
        let rds = listed(&[
            ("db.r5.large", 0.25),
            ("db.m5.large", 0.171),
            ("db.t3.micro", 0.017),
        ]);
        let ec2: HashMap<String, f64> = [
            ("r5.large", 0.126),
            ("m5.large", 0.096),
            ("t3.micro", 0.0104),
            ("x2gd.large", 0.167),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Ratios 1.984, 1.781, 1.635: the median is m5's.
        let n = by_ec2_premium(
            "db.x2g.large",
            "db.",
            rds.iter().map(|(k, v)| (k, *v)),
            &ec2,
        )
        .unwrap();
        assert_eq!(n.from, "EC2 x2gd.large");
        assert!((n.estimate - 0.167 * 0.171 / 0.096).abs() < 1e-9, "{n:?}");
        assert_eq!(
            by_ec2_premium("db.q9.large", "db.", rds.iter().map(|(k, v)| (k, *v)), &ec2),
            None
        );
    }

    #[test]
    fn nothing_is_made_up_for_an_unknown_series_or_shape() {
        let rds = listed(&[("db.r5.large", 0.25)]);
        for name in ["db.z9.large", "db.r6i.metal", "r6i.large", "db.serverless"] {
            assert_eq!(
                nearest(
                    name,
                    "db.",
                    rds.iter().map(|(k, v)| (k, *v)),
                    &HashMap::new()
                ),
                None,
                "{name}"
            );
        }
    }
}
