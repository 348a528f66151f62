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

/// A family name and its variant after a dash: `u7ib-12tb` → `u7ib` (series `u`, generation 7,
/// attributes `ib`) and `12tb`; `c7i-flex` → `c7i` and `flex`; `r6i` → `r6i` and nothing.
/// Names without a generation before the dash (`u-6tb1`) have none.
fn family_and_variant(name: &str) -> Option<(Family<'_>, &str)> {
    let (base, variant) = name.split_once('-').unwrap_or((name, ""));
    Some((family(base)?, variant))
}

/// The size in units of `medium` (`large` = 2, `xlarge` = 4, `12xlarge` = 48; a bare-metal size
/// named for its equivalent, `metal-24xl`, as `24xlarge`); plain `metal` and unknown sizes have
/// none.
pub(crate) fn size_units(size: &str) -> Option<f64> {
    Some(match size {
        "nano" => 0.125,
        "micro" => 0.25,
        "small" => 0.5,
        "medium" => 1.0,
        "large" => 2.0,
        "xlarge" => 4.0,
        _ => {
            let n: f64 = match size.strip_prefix("metal-") {
                Some(equivalent) => equivalent.strip_suffix("xl")?.parse().ok()?,
                None => size.strip_suffix("xlarge")?.parse().ok()?,
            };
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
/// (older a half step further), other attributes or variant, how far the sizes are apart,
/// then the name.
type Closeness = (u32, u32, u32, u32, u32);

/// Splits `db.r6i.large` (with `prefix` `db.`) or `r6i.large` into family and size.
fn split<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    name.strip_prefix(prefix)?.split_once('.')
}

/// The nearest listed neighbour of `name` among `listed` (name → price): the same family at
/// another size first, then the same series and attributes at the nearest generation (newer
/// on a tie), then the same series whatever its attributes; `ec2` (type → price) scales across
/// families. Where no neighbour can be scaled that way, another family's other size is scaled
/// by the sizes alone. A bare-metal type (`m5.metal`) is priced as its family's largest size.
pub(crate) fn nearest<'a>(
    name: &str,
    prefix: &str,
    listed: impl Iterator<Item = (&'a String, f64)>,
    ec2: &HashMap<String, f64>,
) -> Option<Neighbour> {
    let (wanted_family, wanted_size) = split(name, prefix)?;
    if wanted_size == "metal" {
        return largest_of_family(wanted_family, prefix, &listed.collect::<Vec<_>>());
    }
    let (wanted, wanted_variant) = family_and_variant(wanted_family)?;
    let wanted_units = size_units(wanted_size)?;
    let listed: Vec<(&'a String, f64)> = listed.collect();
    let wanted = Wanted {
        family_name: wanted_family,
        family: wanted,
        variant: wanted_variant,
        size: wanted_size,
        units: wanted_units,
    };
    [Across::ByEc2Prices, Across::BySize]
        .into_iter()
        .find_map(|across| nearest_by(&wanted, prefix, &listed, ec2, across))
}

/// What is being estimated.
struct Wanted<'w> {
    family_name: &'w str,
    family: Family<'w>,
    variant: &'w str,
    size: &'w str,
    units: f64,
}

/// How a neighbour of another family and size may be scaled.
#[derive(Clone, Copy, PartialEq)]
enum Across {
    /// Only by what EC2 charges for both types.
    ByEc2Prices,
    /// By the sizes too, when EC2 lists either not.
    BySize,
}

fn nearest_by<'a>(
    wanted: &Wanted<'_>,
    prefix: &str,
    listed: &[(&'a String, f64)],
    ec2: &HashMap<String, f64>,
    across: Across,
) -> Option<Neighbour> {
    // The closest candidate and its price; the scale and its explanation are made once, for it.
    let mut best: Option<(Closeness, &'a String, f64)> = None;
    for &(candidate, price) in listed {
        let Some((cand_family, cand_size)) = split(candidate, prefix) else {
            continue;
        };
        let Some((cand, cand_variant)) = family_and_variant(cand_family) else {
            continue;
        };
        let Some(cand_units) = size_units(cand_size) else {
            continue;
        };
        if cand.series != wanted.family.series {
            continue;
        }
        let same_family = cand_family == wanted.family_name;
        let rank: Closeness = (
            u32::from(!same_family),
            u32::from(cand_size != wanted.size),
            cand.generation.abs_diff(wanted.family.generation) * 2
                + u32::from(cand.generation < wanted.family.generation),
            u32::from(cand.attributes != wanted.family.attributes)
                + u32::from(cand_variant != wanted.variant),
            // Whole and fractional size steps apart, as a sortable integer.
            ((cand_units / wanted.units).ln().abs() * 1000.0).round() as u32,
        );
        // Ties broken by name, so that the estimate never depends on hash order.
        let better = match &best {
            None => true,
            Some((r, name, _)) => (&rank, candidate.as_str()) < (r, name.as_str()),
        };
        if better && scale(wanted, cand_family, cand_size, ec2, across).is_some() {
            best = Some((rank, candidate, price));
        }
    }
    let (_, from, price) = best?;
    let (cand_family, cand_size) = split(from, prefix)?;
    let (scale, how) = scale(wanted, cand_family, cand_size, ec2, across)?;
    Some(Neighbour {
        from: from.clone(),
        price,
        estimate: price * scale,
        how,
    })
}

/// A bare-metal type is the whole host of its family's largest size (`m5.metal` is priced as
/// `m5.24xlarge`); `None` when no size of the family is listed.
fn largest_of_family(
    family_name: &str,
    prefix: &str,
    listed: &[(&String, f64)],
) -> Option<Neighbour> {
    let (from, price, _) = listed
        .iter()
        .filter_map(|&(candidate, price)| {
            let (f, size) = split(candidate, prefix)?;
            (f == family_name).then_some((candidate, price, size_units(size)?))
        })
        // The largest size; among equals (`metal-48xl` and `48xlarge`), the first name.
        .max_by(|a, b| a.2.total_cmp(&b.2).then_with(|| b.0.cmp(a.0)))?;
    Some(Neighbour {
        from: from.clone(),
        price,
        estimate: price,
        how: "bare metal as the family's largest size, ×1".to_owned(),
    })
}

/// How `wanted` relates to a listed neighbour: by size within a family, by EC2's prices across
/// families, or one to one for the same size when EC2 lists either not.
fn scale(
    wanted: &Wanted<'_>,
    cand_family: &str,
    cand_size: &str,
    ec2: &HashMap<String, f64>,
    across: Across,
) -> Option<(f64, String)> {
    let (wanted_family, wanted_size) = (wanted.family_name, wanted.size);
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
        _ if across == Across::BySize => {
            let ratio = wanted.units / size_units(cand_size)?;
            Some((
                ratio,
                format!("another family, by size {cand_size} → {wanted_size}: ×{ratio}"),
            ))
        }
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
    fn bare_metal_is_the_familys_largest_size() {
        let ec2 = listed(&[
            ("u-6tb1.56xlarge", 27.3),
            ("u-6tb1.112xlarge", 54.6),
            ("m9g.24xlarge", 4.69632),
        ]);
        let n = nearest(
            "u-6tb1.metal",
            "",
            ec2.iter().map(|(k, v)| (k, *v)),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!((n.from.as_str(), n.estimate), ("u-6tb1.112xlarge", 54.6));
        // A metal size named for its equivalent is that size.
        let n = nearest(
            "m9g.metal-24xl",
            "",
            ec2.iter().map(|(k, v)| (k, *v)),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!((n.from.as_str(), n.estimate), ("m9g.24xlarge", 4.69632));
        assert_eq!(size_units("metal-48xl"), Some(192.0));
        assert_eq!(
            nearest(
                "mac2.metal",
                "",
                ec2.iter().map(|(k, v)| (k, *v)),
                &HashMap::new()
            ),
            None
        );
    }

    #[test]
    fn another_familys_nearest_size_is_scaled_by_size_when_nothing_closer_is_listed() {
        let ec2 = listed(&[
            ("hpc7g.4xlarge", 1.6832),
            ("hpc7g.16xlarge", 1.6832),
            ("u7in-32tb.224xlarge", 360.98695),
            ("u7i-12tb.224xlarge", 125.58182),
        ]);
        let table: HashMap<String, f64> = ec2.iter().cloned().collect();
        let n = nearest(
            "hpc7a.96xlarge",
            "",
            ec2.iter().map(|(k, v)| (k, *v)),
            &table,
        )
        .unwrap();
        // The nearest size (16xlarge, not 4xlarge), ×6.
        assert_eq!(n.from, "hpc7g.16xlarge");
        assert!((n.estimate - 1.6832 * 6.0).abs() < 1e-9, "{n:?}");
        assert!(n.how.contains("by size"), "{}", n.how);
        // A family with a variant after the dash: the same variant first, at the same size.
        let n = nearest(
            "u7ib-12tb.224xlarge",
            "",
            ec2.iter().map(|(k, v)| (k, *v)),
            &table,
        )
        .unwrap();
        assert_eq!(
            (n.from.as_str(), n.estimate),
            ("u7i-12tb.224xlarge", 125.58182)
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
