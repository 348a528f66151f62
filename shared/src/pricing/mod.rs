//! Price lookup: what a resource costs per hour and per month, and why.
//!
//! Every estimate carries its reasons in plain words ("m5.large Linux on-demand us-east-1
//! $0.096/hr", "eu-west-1 priced at 1.1146× us-east-1 (regional factor …)") and a `stale` flag
//! when it rests on old prices. Where dd0c has no sourced price the estimate is `None` with a
//! reason — never a guess presented as a fact.
//!
//! The tables are `pricing/tables/*.json` (sources, dates and method in each file and in
//! `docs/decisions/0100-pricing-tables-and-lookup.md`), embedded in the binary and parsed once;
//! a lookup is a few hash-map probes and some string formatting (see [`bench_lookup`]).
//!
//! Conventions: prices are us-east-1 on-demand list prices; other regions are priced through
//! a per-region factor ([`region_factor`]); an unknown region gives an unknown price; monthly
//! = hourly × 730, and for things priced per GB-month, hourly = monthly / 730.

mod basis;
mod neighbour;
mod tables;

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use tables::{tables, Tables};

pub use basis::{age as price_age, oldest as oldest_price, PriceBasis, LIST_PRICE, PRICE_UNKNOWN};

/// The first reason of a price estimated from a neighbour, followed by the neighbour's name.
pub const ESTIMATED_FROM: &str = "estimated from ";

/// The label of a price of nothing per hour.
pub const NO_HOURLY_COST: &str = "no hourly cost";

/// Hours in the month AWS prices against.
pub const HOURS_PER_MONTH: f64 = 730.0;

const BASE_REGION: &str = "us-east-1";

/// What something costs, with the reasons behind the number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceEstimate {
    /// USD per hour; `None` when the price is unknown (the reasons say why).
    pub hourly_usd: Option<f64>,
    /// USD per month (730 hours); `None` when unknown.
    pub monthly_usd: Option<f64>,
    /// Human-readable explanation, in the order the price was built.
    pub reasons: Vec<String>,
    /// True when any price used is old (e.g. the 2021 RDS table).
    pub stale: bool,
    /// The price's basis in a few words, the date of the oldest price used and the caveats
    /// that change its meaning (the reasons hold the full provenance).
    #[serde(default)]
    pub basis: PriceBasis,
}

impl PriceEstimate {
    fn from_hourly(hourly: f64, reasons: Vec<String>, stale: bool) -> Self {
        PriceEstimate {
            hourly_usd: Some(hourly),
            monthly_usd: Some(hourly * HOURS_PER_MONTH),
            reasons,
            stale,
            basis: PriceBasis::default(),
        }
    }

    fn from_monthly(monthly: f64, reasons: Vec<String>, stale: bool) -> Self {
        PriceEstimate {
            hourly_usd: Some(monthly / HOURS_PER_MONTH),
            monthly_usd: Some(monthly),
            reasons,
            stale,
            basis: PriceBasis::default(),
        }
    }

    fn unknown(reasons: Vec<String>, stale: bool) -> Self {
        PriceEstimate {
            hourly_usd: None,
            monthly_usd: None,
            reasons,
            stale,
            basis: PriceBasis::default(),
        }
    }

    /// The listed type or class an estimate was made from, when the price was estimated from a
    /// neighbour ([`ESTIMATED_FROM`] leads its reasons).
    pub fn estimated_from(&self) -> Option<&str> {
        self.reasons.first()?.strip_prefix(ESTIMATED_FROM)
    }

    /// An unknown price with one reason, which is also its caveat.
    pub fn unknown_because(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        PriceEstimate {
            hourly_usd: None,
            monthly_usd: None,
            reasons: vec![reason.clone()],
            stale: false,
            basis: PriceBasis {
                label: PRICE_UNKNOWN.to_owned(),
                as_of: None,
                caveats: vec![reason],
            },
        }
    }

    /// A price of nothing per hour (billed per use, say), with its reason.
    pub fn no_hourly_cost(reason: impl Into<String>) -> Self {
        PriceEstimate {
            hourly_usd: Some(0.0),
            monthly_usd: Some(0.0),
            reasons: vec![reason.into()],
            stale: false,
            basis: PriceBasis {
                label: NO_HOURLY_COST.to_owned(),
                as_of: None,
                caveats: Vec::new(),
            },
        }
    }

    /// The sum of several estimates (the parts of one resource): unknown as soon as one part
    /// is; the reasons in order, the bases combined.
    pub fn sum(parts: Vec<PriceEstimate>) -> PriceEstimate {
        let mut hourly = Some(0.0);
        let mut reasons = Vec::new();
        let mut stale = false;
        let mut basis = PriceBasis::combine(parts.iter().map(|p| &p.basis));
        for p in parts {
            hourly = hourly.zip(p.hourly_usd).map(|(a, b)| a + b);
            reasons.extend(p.reasons);
            stale |= p.stale;
        }
        if hourly.is_none() {
            basis.label = PRICE_UNKNOWN.to_owned();
        }
        PriceEstimate {
            hourly_usd: hourly,
            monthly_usd: hourly.map(|h| h * HOURS_PER_MONTH),
            reasons,
            stale,
            basis,
        }
    }

    /// Whether a price is known.
    pub fn is_known(&self) -> bool {
        self.hourly_usd.is_some()
    }

    /// The estimate for `count` identical units (e.g. the instances of one RunInstances call).
    pub fn times(&self, count: u32) -> PriceEstimate {
        let mut reasons = self.reasons.clone();
        if count != 1 {
            reasons.push(format!("× {count} units"));
        }
        let n = f64::from(count);
        PriceEstimate {
            hourly_usd: self.hourly_usd.map(|h| h * n),
            monthly_usd: self.monthly_usd.map(|m| m * n),
            reasons,
            stale: self.stale,
            basis: self.basis.clone(),
        }
    }
}

/// The operating system an EC2 instance runs, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Linux,
    Windows,
    Rhel,
    Unknown,
}

impl Platform {
    /// From EC2's `platformDetails` / `platform` strings ("Linux/UNIX", "Windows",
    /// "Red Hat Enterprise Linux", "windows" …). Anything else is `Unknown`.
    pub fn from_platform_details(details: &str) -> Platform {
        let d = details.to_ascii_lowercase();
        if d.contains("windows") {
            Platform::Windows
        } else if d.contains("red hat") || d.contains("rhel") {
            Platform::Rhel
        } else if d.contains("linux") || d.contains("unix") {
            Platform::Linux
        } else {
            Platform::Unknown
        }
    }
}

/// EC2 tenancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tenancy {
    Shared,
    Dedicated,
}

impl Tenancy {
    /// From the API's `tenancy` value: `default` → Shared, `dedicated` → Dedicated.
    /// `host` (Dedicated Hosts, billed per host) and anything else → `None`.
    pub fn from_api(value: &str) -> Option<Tenancy> {
        match value {
            "" | "default" => Some(Tenancy::Shared),
            "dedicated" => Some(Tenancy::Dedicated),
            _ => None,
        }
    }
}

// ----------------------------------------------------------------------------- helpers

/// `$` amounts in reasons: exact table values print as stored; computed values are rounded.
fn money(x: f64) -> String {
    let s = if x >= 100.0 {
        format!("{x:.2}")
    } else if x >= 1.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.6}")
    };
    let t = s.trim_end_matches('0');
    let t = t.strip_suffix('.').unwrap_or(t);
    match t.find('.') {
        None => format!("{t}.00"),
        Some(dot) if t.len() - dot == 2 => format!("{t}0"),
        Some(_) => t.to_string(),
    }
}

fn valid_quantity(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// Gives an estimate its basis: "list price" or "estimated from …", the regional factor when
/// one was applied, the oldest of `dates` (the `as_of` of every table used) and, for an unknown
/// price, what made it unknown.
fn finish(mut est: PriceEstimate, region: &str, dates: &[&str]) -> PriceEstimate {
    let t = tables();
    let by_factor = region != BASE_REGION && t.regions.factors.contains_key(region);
    let mut as_of = None;
    for date in dates {
        as_of = basis::oldest(as_of, basis::date_in(date));
    }
    if by_factor {
        as_of = basis::oldest(as_of, basis::date_in(&t.regions.as_of));
    }
    let label = match est.hourly_usd {
        None => PRICE_UNKNOWN.to_owned(),
        Some(0.0) => NO_HOURLY_COST.to_owned(),
        Some(_) => {
            let source = match est.estimated_from() {
                Some(from) => format!("{ESTIMATED_FROM}{from}"),
                None => LIST_PRICE.to_owned(),
            };
            if by_factor {
                format!("{source}, {region} price by regional factor")
            } else {
                source
            }
        }
    };
    if !est.is_known() {
        let why = est
            .reasons
            .iter()
            .rev()
            .find(|r| r.contains("unknown"))
            .or(est.reasons.last());
        if let Some(why) = why {
            est.basis.caveat(why.clone());
        }
    }
    est.basis.label = label;
    est.basis.as_of = basis::oldest(est.basis.as_of.take(), as_of);
    est
}

/// The regional factor for `region`, pushing the reason; `None` (with the reason) when the
/// region is unknown.
fn apply_region(
    t: &Tables,
    region: &str,
    reasons: &mut Vec<String>,
    stale: &mut bool,
) -> Option<f64> {
    if region == BASE_REGION {
        return Some(1.0);
    }
    match t.regions.factors.get(region) {
        Some(&factor) => {
            reasons.push(format!(
                "{region} priced at {factor}× us-east-1 (regional factor from m5.large prices of {}{})",
                t.regions.as_of,
                if t.regions.stale { "; stale" } else { "" }
            ));
            *stale |= t.regions.stale;
            Some(factor)
        }
        None => {
            reasons.push(format!(
                "no regional price factor for region '{region}': price unknown (us-east-1 prices are not assumed)"
            ));
            None
        }
    }
}

/// The regional factor dd0c applies to us-east-1 list prices for `region` (us-east-1 = 1.0);
/// `None` for a region dd0c has no factor for.
pub fn region_factor(region: &str) -> Option<f64> {
    if region == BASE_REGION {
        return Some(1.0);
    }
    tables().regions.factors.get(region).copied()
}

/// Every EC2 instance type in the on-demand table, sorted (for the simulator).
pub fn known_ec2_types() -> impl Iterator<Item = &'static str> {
    tables().ec2_types.iter().map(String::as_str)
}

// ----------------------------------------------------------------------------- EC2

/// A price for `name`, which `listed` lacks: its nearest neighbour's, scaled, with the reasons
/// (a short label first, then how it was made).
fn estimated_from_neighbour<'a>(
    name: &str,
    prefix: &str,
    listed: impl Iterator<Item = (&'a String, f64)>,
    table: &str,
    reasons: &mut Vec<String>,
) -> Option<f64> {
    let t = tables();
    let listed: Vec<(&String, f64)> = listed.collect();
    // The EC2 premium is for tables of other services priced over EC2 instances.
    let n =
        neighbour::nearest(name, prefix, listed.iter().copied(), &t.ec2.prices).or_else(|| {
            (!prefix.is_empty())
                .then(|| {
                    neighbour::by_ec2_premium(name, prefix, listed.iter().copied(), &t.ec2.prices)
                })
                .flatten()
        })?;
    reasons.push(format!("{ESTIMATED_FROM}{}", n.from));
    reasons.push(format!(
        "{name} is not in the {table}: {} ${}/hr scaled by {} = ${}/hr",
        n.from,
        n.price,
        n.how,
        money(n.estimate)
    ));
    Some(n.estimate)
}

/// The us-east-1 price of a database `class` for `engine_name` in its table (`service`: `RDS`,
/// `Aurora`; `listing`: how the table prices it), else its nearest neighbour's estimate, else
/// `None` with the reason.
fn class_price(
    table: &tables::EngineTable,
    service: &str,
    listing: &str,
    class: &str,
    engine_name: &str,
    reasons: &mut Vec<String>,
) -> Option<f64> {
    if let Some(&base) = table.prices.get(class).and_then(|p| p.get(engine_name)) {
        reasons.push(format!(
            "{class} {engine_name} {listing} us-east-1 ${base}/hr"
        ));
        return Some(base);
    }
    let label = format!("{service} {engine_name} table of {}", table.as_of);
    let listed = table
        .prices
        .iter()
        .filter_map(|(k, p)| Some((k, *p.get(engine_name)?)));
    let estimate = estimated_from_neighbour(class, "db.", listed, &label, reasons);
    if estimate.is_none() {
        reasons.push(format!(
            "price unknown for {service} class {class} with {engine_name} (not in the {label}, and no listed size or generation of its family)"
        ));
    }
    estimate
}

fn family_and_size(instance_type: &str) -> (&str, &str) {
    instance_type.split_once('.').unwrap_or((instance_type, ""))
}

/// vCPUs from the size name (large = 2, xlarge = 4, Nxlarge = 4N); `None` where the rule does
/// not hold or cannot be applied.
fn vcpus_from_size(t: &Tables, instance_type: &str) -> Option<u32> {
    let rule = &t.adjustments.vcpu_from_size;
    let (family, size) = family_and_size(instance_type);
    if rule.exception_types.iter().any(|e| e == instance_type)
        || rule.exception_families.iter().any(|e| e == family)
        || rule
            .exception_family_prefixes
            .iter()
            .any(|p| family.starts_with(p.as_str()))
    {
        return None;
    }
    match size {
        "large" => Some(2),
        "xlarge" => Some(4),
        _ => {
            let n: u32 = size.strip_suffix("xlarge")?.parse().ok()?;
            (n > 0).then_some(n * 4)
        }
    }
}

/// Graviton (Arm) families: `a1`, or a `g` among the letters after the generation digit
/// (m6g, c7gn, r6gd, x2gd, t4g, g5g, im4gn, is4gen …; not g4dn, gr6, m8azn).
fn is_arm_family(family: &str) -> bool {
    if family == "a1" {
        return true;
    }
    let Some(first_digit) = family.find(|c: char| c.is_ascii_digit()) else {
        return false;
    };
    family[first_digit..]
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .split('-')
        .next()
        .is_some_and(|attrs| attrs.contains('g'))
}

/// EC2 instance, per instance. Base: Linux, shared tenancy, on-demand, us-east-1.
pub fn ec2_instance(
    instance_type: &str,
    region: &str,
    platform: Platform,
    tenancy: Tenancy,
    spot: bool,
) -> PriceEstimate {
    let t = tables();
    let adj = &t.adjustments;
    let mut dates = vec![t.ec2.as_of.as_str()];
    match platform {
        Platform::Windows => dates.push(&adj.windows.as_of),
        Platform::Rhel => dates.push(&adj.rhel.as_of),
        Platform::Linux | Platform::Unknown => {}
    }
    if tenancy == Tenancy::Dedicated {
        dates.push(&adj.dedicated.as_of);
    }
    let mut est = finish(
        ec2_instance_estimate(instance_type, region, platform, tenancy, spot),
        region,
        &dates,
    );
    if est.is_known() {
        if platform == Platform::Unknown {
            est.basis.caveat("platform unknown: priced as Linux");
        }
        if platform == Platform::Rhel {
            est.basis.caveat("RHEL subscription approximate");
        }
        if tenancy == Tenancy::Dedicated {
            est.basis.caveat(format!(
                "dedicated tenancy: {}× shared assumed",
                adj.dedicated.factor
            ));
        }
        if spot {
            est.basis.caveat(format!(
                "spot: {}% below on-demand assumed",
                (adj.spot.discount * 100.0).round()
            ));
        }
    }
    est
}

fn ec2_instance_estimate(
    instance_type: &str,
    region: &str,
    platform: Platform,
    tenancy: Tenancy,
    spot: bool,
) -> PriceEstimate {
    let t = tables();
    let adj = &t.adjustments;
    let mut reasons = Vec::with_capacity(4);
    let mut stale = t.ec2.stale;

    let base = match t.ec2.prices.get(instance_type) {
        Some(&base) => {
            reasons.push(format!(
                "{instance_type} Linux on-demand us-east-1 ${base}/hr"
            ));
            base
        }
        None => {
            let table = format!("EC2 on-demand table of {}", t.ec2.as_of);
            let listed = t.ec2.prices.iter().map(|(k, v)| (k, *v));
            match estimated_from_neighbour(instance_type, "", listed, &table, &mut reasons) {
                Some(base) => base,
                None => {
                    reasons.push(format!(
                        "price unknown for instance type {instance_type} (not in the {table}, and no listed size or generation of its family)"
                    ));
                    return PriceEstimate::unknown(reasons, stale);
                }
            }
        }
    };
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };

    let mut instance = base * factor;
    if tenancy == Tenancy::Dedicated {
        instance *= adj.dedicated.factor;
        stale |= adj.dedicated.stale;
        reasons.push(format!(
            "dedicated tenancy: {}× the shared rate assumed (approximate, source of {}{}); AWS also charges ${}/hr per region while any Dedicated Instance runs there (not included)",
            adj.dedicated.factor,
            adj.dedicated.as_of,
            if adj.dedicated.stale { ", stale" } else { "" },
            adj.dedicated.region_fee_usd_per_hour
        ));
    }

    let (family, _) = family_and_size(instance_type);
    let lower_bound = |reasons: &mut Vec<String>| {
        reasons.push(format!(
            "lower bound without the licence: ${}/hr",
            money(instance)
        ));
    };
    let licence = match platform {
        Platform::Linux => 0.0,
        Platform::Unknown => {
            reasons.push(
                "platform unknown: priced as Linux (Windows or RHEL would cost more)".to_string(),
            );
            0.0
        }
        Platform::Windows => {
            let w = &adj.windows;
            if is_arm_family(family) {
                reasons.push(format!(
                    "Windows does not run on Arm (Graviton) type {instance_type}: price unknown"
                ));
                return PriceEstimate::unknown(reasons, stale);
            }
            if w.burstable_families.iter().any(|b| b == family) {
                reasons.push(format!(
                    "Windows on burstable {instance_type}: the licence is prorated by baseline CPU, not modelled — price unknown"
                ));
                lower_bound(&mut reasons);
                return PriceEstimate::unknown(reasons, stale);
            }
            let Some(vcpus) = vcpus_from_size(t, instance_type) else {
                reasons.push(format!(
                    "Windows licence unknown: vCPU count of {instance_type} not derivable from its size — price unknown"
                ));
                lower_bound(&mut reasons);
                return PriceEstimate::unknown(reasons, stale);
            };
            let fee = f64::from(vcpus) * w.usd_per_vcpu_hour;
            stale |= w.stale;
            reasons.push(format!(
                "Windows licence: {vcpus} vCPU × ${}/vCPU-hr = ${}/hr (derived from m5.large Windows − Linux prices of {}{})",
                w.usd_per_vcpu_hour,
                money(fee),
                w.as_of,
                if w.stale { "; stale" } else { "" }
            ));
            fee
        }
        Platform::Rhel => {
            let r = &adj.rhel;
            let Some(vcpus) = vcpus_from_size(t, instance_type) else {
                reasons.push(format!(
                    "RHEL subscription unknown: vCPU count of {instance_type} not derivable from its size — price unknown"
                ));
                lower_bound(&mut reasons);
                return PriceEstimate::unknown(reasons, stale);
            };
            let rate = if vcpus <= 4 {
                r.usd_per_vcpu_hour_up_to_4_vcpu
            } else {
                r.usd_per_vcpu_hour_above_4_vcpu
            };
            let fee = f64::from(vcpus) * rate;
            stale |= r.stale;
            reasons.push(format!(
                "RHEL subscription: {vcpus} vCPU × ${rate}/vCPU-hr = ${}/hr (per-vCPU model of {}, approximate)",
                money(fee),
                r.as_of
            ));
            fee
        }
    };

    let mut hourly = instance + licence;
    if spot {
        let d = adj.spot.discount;
        stale |= adj.spot.stale;
        hourly *= 1.0 - d;
        reasons.push(format!(
            "spot: {}% discount assumed (AWS quotes up to 90%; the actual spot price varies)",
            (d * 100.0).round()
        ));
    }
    PriceEstimate::from_hourly(hourly, reasons, stale)
}

// ----------------------------------------------------------------------------- RDS

fn rds_engine_name(engine: &str) -> Option<&'static str> {
    let e = engine.trim();
    if e.eq_ignore_ascii_case("mysql") {
        Some("MySQL")
    } else if e.eq_ignore_ascii_case("postgres") || e.eq_ignore_ascii_case("postgresql") {
        Some("PostgreSQL")
    } else if e.eq_ignore_ascii_case("mariadb") {
        Some("MariaDB")
    } else {
        None
    }
}

fn is_aurora_engine(engine: &str) -> bool {
    engine
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("aurora"))
}

fn aurora_engine_name(engine: &str) -> Option<&'static str> {
    let e = engine.trim();
    if e.eq_ignore_ascii_case("aurora")
        || e.eq_ignore_ascii_case("aurora-mysql")
        || e.eq_ignore_ascii_case("mysql")
    {
        Some("Aurora MySQL")
    } else if e.eq_ignore_ascii_case("aurora-postgresql")
        || e.eq_ignore_ascii_case("postgres")
        || e.eq_ignore_ascii_case("postgresql")
    {
        Some("Aurora PostgreSQL")
    } else {
        None
    }
}

/// RDS DB instance (MySQL, PostgreSQL, MariaDB; `aurora*` engines are priced as Aurora).
/// Multi-AZ doubles the instance (the standby replica).
pub fn rds_instance(class: &str, engine: &str, region: &str, multi_az: bool) -> PriceEstimate {
    if is_aurora_engine(engine) {
        let mut est = aurora_instance(class, engine, region);
        if multi_az {
            est.reasons.push(
                "Multi-AZ flag ignored for Aurora: each Aurora replica is its own instance"
                    .to_string(),
            );
        }
        return est;
    }
    let t = tables();
    finish(
        rds_estimate(class, engine, region, multi_az),
        region,
        &[&t.rds.as_of],
    )
}

fn rds_estimate(class: &str, engine: &str, region: &str, multi_az: bool) -> PriceEstimate {
    let t = tables();
    let mut reasons = Vec::with_capacity(4);
    let mut stale = t.rds.stale;
    let Some(engine_name) = rds_engine_name(engine) else {
        reasons.push(format!(
            "price unknown for RDS engine '{engine}' (dd0c's RDS table covers MySQL, PostgreSQL, MariaDB and Aurora)"
        ));
        return PriceEstimate::unknown(reasons, stale);
    };
    let Some(base) = class_price(
        &t.rds,
        "RDS",
        "Single-AZ on-demand",
        class,
        engine_name,
        &mut reasons,
    ) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    let mut hourly = base * factor;
    if multi_az {
        hourly *= 2.0;
        reasons.push("Multi-AZ: instance cost doubled (standby replica)".to_string());
    }
    if t.rds.stale {
        reasons.push(format!("RDS prices from {} (stale)", t.rds.as_of));
    }
    PriceEstimate::from_hourly(hourly, reasons, stale)
}

/// Aurora DB instance (provisioned, Aurora Standard). `engine`: `aurora-mysql` (or `aurora`,
/// `mysql`) or `aurora-postgresql` (or `postgres`). Storage and I/O are not included.
pub fn aurora_instance(class: &str, engine: &str, region: &str) -> PriceEstimate {
    finish(
        aurora_estimate(class, engine, region),
        region,
        &[&tables().aurora.as_of],
    )
}

fn aurora_estimate(class: &str, engine: &str, region: &str) -> PriceEstimate {
    let t = tables();
    let mut reasons = Vec::with_capacity(4);
    let mut stale = t.aurora.stale;
    if class == "db.serverless" {
        reasons.push(
            "Aurora Serverless v2 is billed per ACU-hour used, not per instance-hour: not estimated"
                .to_string(),
        );
        return PriceEstimate::unknown(reasons, stale);
    }
    let Some(engine_name) = aurora_engine_name(engine) else {
        reasons.push(format!(
            "price unknown for Aurora engine '{engine}' (expected aurora-mysql or aurora-postgresql)"
        ));
        return PriceEstimate::unknown(reasons, stale);
    };
    let Some(base) = class_price(
        &t.aurora,
        "Aurora",
        "on-demand",
        class,
        engine_name,
        &mut reasons,
    ) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    reasons.push("Aurora storage and I/O are billed separately (not estimated)".to_string());
    if t.aurora.stale {
        reasons.push(format!("Aurora prices from {} (stale)", t.aurora.as_of));
    }
    PriceEstimate::from_hourly(base * factor, reasons, stale)
}

/// RDS storage, Single-AZ. See [`rds_storage_deployment`] for Multi-AZ.
pub fn rds_storage(storage_type: &str, gb: f64, iops: Option<f64>, region: &str) -> PriceEstimate {
    rds_storage_deployment(storage_type, gb, iops, region, false)
}

/// RDS storage per GB-month by type (gp2, gp3, io1, magnetic `standard`), plus provisioned IOPS
/// (io1) or IOPS above the gp3 baseline; Multi-AZ doubles it.
pub fn rds_storage_deployment(
    storage_type: &str,
    gb: f64,
    iops: Option<f64>,
    region: &str,
    multi_az: bool,
) -> PriceEstimate {
    finish(
        rds_storage_estimate(storage_type, gb, iops, region, multi_az),
        region,
        &[&tables().rds_storage.as_of],
    )
}

fn rds_storage_estimate(
    storage_type: &str,
    gb: f64,
    iops: Option<f64>,
    region: &str,
    multi_az: bool,
) -> PriceEstimate {
    let t = tables();
    let table = &t.rds_storage;
    let mut reasons = Vec::with_capacity(4);
    let mut stale = table.stale;
    let key = match storage_type {
        "magnetic" => "standard",
        other => other,
    };
    if !valid_quantity(gb) || iops.is_some_and(|i| !valid_quantity(i)) {
        reasons.push(format!(
            "invalid RDS storage size {gb} GB or IOPS {iops:?}: price unknown"
        ));
        return PriceEstimate::unknown(reasons, stale);
    }
    let Some(st) = table.types.get(key) else {
        reasons.push(format!(
            "price unknown for RDS storage type '{storage_type}' (dd0c has sourced gp2, gp3, io1 and magnetic)"
        ));
        return PriceEstimate::unknown(reasons, stale);
    };
    let mut monthly = gb * st.usd_per_gb_month;
    reasons.push(format!(
        "RDS {key} storage {gb} GB × ${}/GB-month us-east-1 = ${}/month",
        st.usd_per_gb_month,
        money(monthly)
    ));
    match (key, st.usd_per_iops_month) {
        ("gp3", Some(rate)) => {
            let baseline = if gb >= st.large_from_gb.unwrap_or(f64::INFINITY) {
                st.baseline_iops_large.unwrap_or(0.0)
            } else {
                st.baseline_iops.unwrap_or(0.0)
            };
            let extra = (iops.unwrap_or(baseline) - baseline).max(0.0);
            if extra > 0.0 {
                monthly += extra * rate;
                reasons.push(format!(
                    "gp3: {extra} IOPS above the {baseline} baseline × ${rate}/IOPS-month = ${}/month",
                    money(extra * rate)
                ));
            }
        }
        (_, Some(rate)) => {
            let Some(iops) = iops else {
                reasons.push(format!(
                    "{key} storage without provisioned IOPS: IOPS charge unknown — price unknown"
                ));
                return PriceEstimate::unknown(reasons, stale);
            };
            monthly += iops * rate;
            reasons.push(format!(
                "{iops} provisioned IOPS × ${rate}/IOPS-month = ${}/month",
                money(iops * rate)
            ));
        }
        _ => {}
    }
    if key == "standard" {
        reasons.push("magnetic I/O requests are billed per million (not estimated)".to_string());
    }
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    monthly *= factor;
    if multi_az {
        monthly *= table.multi_az_factor;
        reasons.push("Multi-AZ: storage doubled".to_string());
    }
    PriceEstimate::from_monthly(monthly, reasons, stale)
}

// ----------------------------------------------------------------------------- EBS

/// EBS volume per GB-month by type, plus provisioned IOPS (io1, io2, gp3 above 3,000) and gp3
/// throughput above 125 MB/s. `volume_type: None` is priced as gp2: the EC2 API's CreateVolume
/// default (`Default: gp2` in the API reference), which CloudTrail records may omit.
pub fn ebs_volume(
    volume_type: Option<&str>,
    gb: f64,
    iops: Option<f64>,
    throughput_mbps: Option<f64>,
    region: &str,
) -> PriceEstimate {
    let mut est = finish(
        ebs_estimate(volume_type, gb, iops, throughput_mbps, region),
        region,
        &[&tables().ebs.as_of],
    );
    if est.is_known() && volume_type.is_none() {
        est.basis.caveat(format!(
            "volume type not given: priced as {}",
            tables().ebs.default_volume_type
        ));
    }
    est
}

fn ebs_estimate(
    volume_type: Option<&str>,
    gb: f64,
    iops: Option<f64>,
    throughput_mbps: Option<f64>,
    region: &str,
) -> PriceEstimate {
    let t = tables();
    let ebs = &t.ebs;
    let mut reasons = Vec::with_capacity(5);
    let mut stale = ebs.stale;
    let vt = match volume_type {
        Some(v) => v,
        None => {
            reasons.push(format!(
                "volume type not given: priced as {}, the CreateVolume default (EC2 API reference)",
                ebs.default_volume_type
            ));
            ebs.default_volume_type.as_str()
        }
    };
    if !valid_quantity(gb)
        || iops.is_some_and(|i| !valid_quantity(i))
        || throughput_mbps.is_some_and(|x| !valid_quantity(x))
    {
        reasons.push(format!(
            "invalid EBS size {gb} GB, IOPS {iops:?} or throughput {throughput_mbps:?}: price unknown"
        ));
        return PriceEstimate::unknown(reasons, stale);
    }
    let Some(vol) = ebs.volumes.get(vt) else {
        reasons.push(format!("price unknown for EBS volume type '{vt}'"));
        return PriceEstimate::unknown(reasons, stale);
    };
    let mut monthly = gb * vol.usd_per_gb_month;
    reasons.push(format!(
        "EBS {vt} {gb} GB × ${}/GB-month us-east-1 = ${}/month",
        vol.usd_per_gb_month,
        money(monthly)
    ));
    if let Some(rate) = vol.usd_per_iops_month {
        match (vol.free_iops, iops) {
            (Some(free), requested) => {
                let extra = (requested.unwrap_or(free) - free).max(0.0);
                if extra > 0.0 {
                    monthly += extra * rate;
                    reasons.push(format!(
                        "{extra} IOPS above the free {free} × ${rate}/IOPS-month = ${}/month",
                        money(extra * rate)
                    ));
                }
            }
            (None, None) => {
                reasons.push(format!(
                    "{vt} volume without provisioned IOPS: IOPS charge unknown — price unknown"
                ));
                return PriceEstimate::unknown(reasons, stale);
            }
            (None, Some(iops)) => {
                if let Some(cap) = vol.iops_priced_up_to {
                    if iops > cap {
                        reasons.push(format!(
                            "{vt} IOPS above {cap} are priced in lower tiers dd0c has not sourced — price unknown"
                        ));
                        return PriceEstimate::unknown(reasons, stale);
                    }
                }
                monthly += iops * rate;
                reasons.push(format!(
                    "{iops} provisioned IOPS × ${rate}/IOPS-month = ${}/month",
                    money(iops * rate)
                ));
            }
        }
    }
    if let (Some(free), Some(rate)) = (vol.free_throughput_mbps, vol.usd_per_mbps_month) {
        let extra = (throughput_mbps.unwrap_or(free) - free).max(0.0);
        if extra > 0.0 {
            monthly += extra * rate;
            reasons.push(format!(
                "{extra} MB/s above the free {free} MB/s × ${rate}/MB/s-month = ${}/month",
                money(extra * rate)
            ));
        }
    }
    if vt == "standard" {
        reasons.push("magnetic I/O requests are billed per million (not estimated)".to_string());
    }
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    PriceEstimate::from_monthly(monthly * factor, reasons, stale)
}

// ----------------------------------------------------------------------------- Lambda

const PLAIN_LAMBDA: &str = "Lambda functions without provisioned concurrency have no hourly cost (billed per request and GB-second of duration, not estimated)";

/// A Lambda function without provisioned concurrency: no hourly cost, in every region.
pub fn lambda_function() -> PriceEstimate {
    finish(
        PriceEstimate::from_hourly(0.0, vec![PLAIN_LAMBDA.to_string()], false),
        BASE_REGION,
        &[],
    )
}

/// Provisioned concurrency: memory (GB) × configured concurrency × the GB-second rate.
pub fn lambda_provisioned_concurrency(
    memory_mb: f64,
    concurrency: f64,
    region: &str,
    arm64: bool,
) -> PriceEstimate {
    finish(
        provisioned_concurrency_estimate(memory_mb, concurrency, region, arm64),
        region,
        &[&tables().lambda.as_of],
    )
}

fn provisioned_concurrency_estimate(
    memory_mb: f64,
    concurrency: f64,
    region: &str,
    arm64: bool,
) -> PriceEstimate {
    let t = tables();
    let mut reasons = Vec::with_capacity(4);
    let mut stale = t.lambda.stale;
    if !valid_quantity(memory_mb) || !valid_quantity(concurrency) {
        reasons.push(format!(
            "invalid Lambda memory {memory_mb} MB or concurrency {concurrency}: price unknown"
        ));
        return PriceEstimate::unknown(reasons, stale);
    }
    if concurrency == 0.0 {
        reasons.push(PLAIN_LAMBDA.to_string());
        return PriceEstimate::from_hourly(0.0, reasons, stale);
    }
    let rates = &t.lambda.provisioned_concurrency_usd_per_gb_second;
    let (arch, rate) = if arm64 {
        ("arm64", rates.arm64)
    } else {
        ("x86_64", rates.x86_64)
    };
    let hourly_base = memory_mb / 1024.0 * concurrency * rate * 3600.0;
    reasons.push(format!(
        "provisioned concurrency {concurrency} × {memory_mb} MB ({arch}) × ${rate}/GB-s us-east-1 = ${}/hr",
        money(hourly_base)
    ));
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return PriceEstimate::unknown(reasons, stale);
    };
    reasons.push(
        "invocations also pay requests and a lower duration rate (not estimated)".to_string(),
    );
    PriceEstimate::from_hourly(hourly_base * factor, reasons, stale)
}

// ----------------------------------------------------------------------------- network

fn flat_hourly(
    what: &str,
    usd: f64,
    (table_stale, as_of): (bool, &str),
    region: &str,
    notes: &[&str],
) -> PriceEstimate {
    let t = tables();
    let mut reasons = Vec::with_capacity(2 + notes.len());
    let mut stale = table_stale;
    reasons.push(format!("{what} ${usd}/hr in us-east-1"));
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return finish(PriceEstimate::unknown(reasons, stale), region, &[as_of]);
    };
    reasons.extend(notes.iter().map(|n| n.to_string()));
    finish(
        PriceEstimate::from_hourly(usd * factor, reasons, stale),
        region,
        &[as_of],
    )
}

/// NAT gateway, per hour (data processing not included).
pub fn nat_gateway(region: &str) -> PriceEstimate {
    let n = &tables().network.nat_gateway;
    flat_hourly(
        "NAT gateway",
        n.usd_per_hour,
        (n.stale, &n.as_of),
        region,
        &["data processing ($0.045/GB in us-east-1) not estimated"],
    )
}

/// Elastic IP (any public IPv4 address), per hour.
pub fn elastic_ip(region: &str) -> PriceEstimate {
    let e = &tables().network.elastic_ip;
    flat_hourly(
        "public IPv4 address (Elastic IP)",
        e.usd_per_hour,
        (e.stale, &e.as_of),
        region,
        &["charged whether attached or idle since 2024-02-01"],
    )
}

/// Load balancer hourly charge: `application`, `network`, `classic` (also `alb`, `nlb`,
/// `clb`/`elb`). Capacity units (LCU/NLCU) are usage-based and not estimated; the Gateway
/// Load Balancer price is not sourced (unknown).
pub fn load_balancer(kind: &str, region: &str) -> PriceEstimate {
    let lb = &tables().network.load_balancer;
    let est = load_balancer_estimate(kind, region);
    if est.basis.label.is_empty() {
        finish(est, region, &[&lb.as_of])
    } else {
        est
    }
}

fn load_balancer_estimate(kind: &str, region: &str) -> PriceEstimate {
    let lb = &tables().network.load_balancer;
    let k = kind.trim().to_ascii_lowercase();
    let key = match k.as_str() {
        "application" | "alb" => "application",
        "network" | "nlb" => "network",
        "classic" | "clb" | "elb" => "classic",
        "gateway" | "gwlb" => {
            return PriceEstimate::unknown(
                vec![
                    "Gateway Load Balancer hourly price not sourced by dd0c: price unknown"
                        .to_string(),
                ],
                lb.stale,
            )
        }
        _ => {
            return PriceEstimate::unknown(
                vec![format!(
                    "unknown load balancer type '{kind}': price unknown"
                )],
                lb.stale,
            )
        }
    };
    let Some(&usd) = lb.usd_per_hour.get(key) else {
        return PriceEstimate::unknown(
            vec![format!(
                "no {key} load balancer price in the table: price unknown"
            )],
            lb.stale,
        );
    };
    flat_hourly(
        &format!("{key} load balancer"),
        usd,
        (lb.stale, &lb.as_of),
        region,
        &["load balancer capacity units (LCU) are usage-based and not estimated"],
    )
}

/// EKS control plane per cluster-hour (standard support).
pub fn eks_cluster(region: &str) -> PriceEstimate {
    let e = &tables().network.eks;
    let note = format!(
        "standard support; a Kubernetes version in extended support costs ${}/hr",
        e.extended_support_usd_per_cluster_hour
    );
    flat_hourly(
        "EKS cluster control plane",
        e.usd_per_cluster_hour,
        (e.stale, &e.as_of),
        region,
        &[note.as_str()],
    )
}

// ----------------------------------------------------------------------------- node tables

fn keyed(
    service: &str,
    table: &tables::KeyedTable,
    key: &str,
    shown: &str,
    region: &str,
    notes: &[&str],
) -> PriceEstimate {
    let t = tables();
    let mut reasons = Vec::with_capacity(2 + notes.len());
    let mut stale = table.stale;
    let Some(&base) = table.prices.get(key) else {
        reasons.push(format!(
            "price unknown for {service} type {shown} (not in dd0c's sourced table of {})",
            table.as_of
        ));
        return finish(
            PriceEstimate::unknown(reasons, stale),
            region,
            &[&table.as_of],
        );
    };
    reasons.push(format!("{shown} {service} on-demand us-east-1 ${base}/hr"));
    let Some(factor) = apply_region(t, region, &mut reasons, &mut stale) else {
        return finish(
            PriceEstimate::unknown(reasons, stale),
            region,
            &[&table.as_of],
        );
    };
    reasons.extend(notes.iter().map(|n| n.to_string()));
    finish(
        PriceEstimate::from_hourly(base * factor, reasons, stale),
        region,
        &[&table.as_of],
    )
}

/// ElastiCache node, per node-hour (Redis OSS / Memcached list price).
pub fn elasticache_node(node_type: &str, region: &str) -> PriceEstimate {
    keyed(
        "ElastiCache",
        &tables().elasticache,
        node_type,
        node_type,
        region,
        &["Redis OSS / Memcached rate; Valkey nodes list at 20% less"],
    )
}

/// OpenSearch Service instance, per instance-hour (`r6g.large.search`; the older
/// `.elasticsearch` suffix, or none, is accepted). EBS storage not included.
pub fn opensearch_instance(instance_type: &str, region: &str) -> PriceEstimate {
    let base = instance_type
        .strip_suffix(".elasticsearch")
        .or_else(|| instance_type.strip_suffix(".search"))
        .unwrap_or(instance_type);
    let key = format!("{base}.search");
    keyed(
        "OpenSearch",
        &tables().opensearch,
        &key,
        instance_type,
        region,
        &["instance only; EBS storage billed separately (not estimated)"],
    )
}

/// Redshift node, per node-hour (managed storage and other usage not included).
pub fn redshift_node(node_type: &str, region: &str) -> PriceEstimate {
    keyed(
        "Redshift",
        &tables().redshift,
        node_type,
        node_type,
        region,
        &["managed storage, concurrency scaling and backups not estimated"],
    )
}

/// SageMaker real-time inference endpoint instance, per instance-hour.
pub fn sagemaker_instance(instance_type: &str, region: &str) -> PriceEstimate {
    keyed(
        "SageMaker hosting",
        &tables().sagemaker,
        instance_type,
        instance_type,
        region,
        &[],
    )
}

// ----------------------------------------------------------------------------- benchmark

/// Time `iterations` lookups, after the tables are loaded (parsing is not timed). Each
/// iteration is one public lookup, cycling through a fixed mix: EC2 Linux us-east-1, EC2
/// Windows eu-west-1 spot, EC2 unknown type, RDS Multi-AZ, Aurora, EBS gp3, NAT gateway,
/// ElastiCache. Mean cost per lookup = returned duration / iterations.
pub fn bench_lookup(iterations: u64) -> Duration {
    let _ = tables();
    let start = Instant::now();
    for i in 0..iterations {
        let est = match i % 8 {
            0 => ec2_instance(
                black_box("m5.large"),
                black_box("us-east-1"),
                Platform::Linux,
                Tenancy::Shared,
                false,
            ),
            1 => ec2_instance(
                black_box("c6i.4xlarge"),
                black_box("eu-west-1"),
                Platform::Windows,
                Tenancy::Shared,
                true,
            ),
            2 => ec2_instance(
                black_box("zz9.plural"),
                black_box("us-east-1"),
                Platform::Linux,
                Tenancy::Shared,
                false,
            ),
            3 => rds_instance(
                black_box("db.r5.2xlarge"),
                black_box("postgres"),
                black_box("us-west-2"),
                true,
            ),
            4 => aurora_instance(
                black_box("db.r6g.large"),
                black_box("aurora-mysql"),
                black_box("us-east-1"),
            ),
            5 => ebs_volume(
                black_box(Some("gp3")),
                black_box(500.0),
                Some(6000.0),
                Some(250.0),
                black_box("us-east-1"),
            ),
            6 => nat_gateway(black_box("ap-south-1")),
            _ => elasticache_node(black_box("cache.r6g.large"), black_box("us-east-1")),
        };
        black_box(est);
    }
    start.elapsed()
}

#[cfg(test)]
mod tests;
