//! Tests of the price lookup against the real table values (EC2 from the karpenter-generated
//! fixture, RDS 2021, infracost golden-file figures for storage and network items).

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[track_caller]
fn assert_hourly(est: &PriceEstimate, expected: f64) {
    let h = est
        .hourly_usd
        .unwrap_or_else(|| panic!("expected ${expected}/hr, got unknown: {:?}", est.reasons));
    assert!(
        close(h, expected),
        "hourly {h} != {expected}; {:?}",
        est.reasons
    );
    let m = est.monthly_usd.expect("monthly");
    assert!(close(m, expected * HOURS_PER_MONTH), "monthly {m}");
}

#[track_caller]
fn assert_monthly(est: &PriceEstimate, expected: f64) {
    let m = est
        .monthly_usd
        .unwrap_or_else(|| panic!("expected ${expected}/month, got unknown: {:?}", est.reasons));
    assert!(
        close(m, expected),
        "monthly {m} != {expected}; {:?}",
        est.reasons
    );
    let h = est.hourly_usd.expect("hourly");
    assert!(close(h, expected / HOURS_PER_MONTH), "hourly {h}");
}

#[track_caller]
fn assert_unknown(est: &PriceEstimate, reason_contains: &str) {
    assert_eq!(est.hourly_usd, None, "{:?}", est.reasons);
    assert_eq!(est.monthly_usd, None);
    assert!(
        est.reasons.iter().any(|r| r.contains(reason_contains)),
        "no reason containing {reason_contains:?} in {:?}",
        est.reasons
    );
}

fn has_reason(est: &PriceEstimate, part: &str) -> bool {
    est.reasons.iter().any(|r| r.contains(part))
}

fn linux(instance_type: &str, region: &str) -> PriceEstimate {
    ec2_instance(
        instance_type,
        region,
        Platform::Linux,
        Tenancy::Shared,
        false,
    )
}

// ------------------------------------------------------------------------------- EC2

#[test]
fn ec2_real_fixture_values() {
    for (itype, price) in [
        ("m5.large", 0.096),
        ("t3.micro", 0.0104),
        ("c7g.large", 0.0725),
        ("m5.metal", 4.608),
        ("p4d.24xlarge", 21.957642),
        ("u-12tb1.112xlarge", 109.2),
    ] {
        let est = linux(itype, "us-east-1");
        assert_hourly(&est, price);
        assert!(!est.stale, "the 2026 EC2 table is not stale");
    }
    let est = linux("m5.large", "us-east-1");
    assert_eq!(
        est.reasons,
        vec!["m5.large Linux on-demand us-east-1 $0.096/hr"]
    );
    assert!(close(est.monthly_usd.unwrap(), 70.08));
}

#[test]
fn ec2_unknown_type_is_none_with_reason() {
    let est = linux("foo.bar", "us-east-1");
    assert_unknown(&est, "price unknown for instance type foo.bar");
}

#[test]
fn region_factor_is_applied_and_marked() {
    let factor = region_factor("eu-west-1").unwrap();
    assert!(close(factor, 1.1146));
    let est = linux("m5.large", "eu-west-1");
    assert_hourly(&est, 0.096 * 1.1146);
    assert!(has_reason(
        &est,
        "eu-west-1 priced at 1.1146× us-east-1 (regional factor"
    ));
    assert!(est.stale, "the regional factors come from ~2022 prices");
    assert_eq!(region_factor("us-east-1"), Some(1.0));
    assert!(close(region_factor("sa-east-1").unwrap(), 1.5938));
}

#[test]
fn unknown_region_is_none_not_us_east_1() {
    assert_eq!(region_factor("mars-north-1"), None);
    assert_unknown(
        &linux("m5.large", "mars-north-1"),
        "no regional price factor for region 'mars-north-1'",
    );
    assert_unknown(&nat_gateway(""), "no regional price factor");
    assert_unknown(
        &rds_instance("db.m5.large", "mysql", "xx-1", false),
        "no regional price factor",
    );
    assert_unknown(
        &ebs_volume(Some("gp3"), 10.0, None, None, "xx-1"),
        "no regional price factor",
    );
}

#[test]
fn windows_uplift_per_vcpu() {
    // 0.096 + 2 × 0.046 = 0.188, the real m5.large Windows price.
    let est = ec2_instance(
        "m5.large",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_hourly(&est, 0.188);
    assert!(has_reason(
        &est,
        "Windows licence: 2 vCPU × $0.046/vCPU-hr = $0.092/hr"
    ));
    // The licence is not scaled by the regional factor.
    let eu = ec2_instance(
        "m5.large",
        "eu-west-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_hourly(&eu, 0.096 * 1.1146 + 0.092);
}

#[test]
fn windows_unknown_where_not_modelled() {
    let burst = ec2_instance(
        "t3.micro",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_unknown(&burst, "burstable");
    assert!(has_reason(
        &burst,
        "lower bound without the licence: $0.0104/hr"
    ));
    let arm = ec2_instance(
        "m6g.large",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_unknown(&arm, "Arm (Graviton)");
    let metal = ec2_instance(
        "m5.metal",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_unknown(&metal, "vCPU count of m5.metal not derivable");
}

#[test]
fn rhel_uplift_per_vcpu_tiers() {
    let small = ec2_instance(
        "m5.large",
        "us-east-1",
        Platform::Rhel,
        Tenancy::Shared,
        false,
    );
    assert_hourly(&small, 0.096 + 2.0 * 0.0144);
    let big = ec2_instance(
        "c5.4xlarge",
        "us-east-1",
        Platform::Rhel,
        Tenancy::Shared,
        false,
    );
    assert_hourly(&big, 0.68 + 16.0 * 0.0108);
    assert!(has_reason(
        &big,
        "RHEL subscription: 16 vCPU × $0.0108/vCPU-hr"
    ));
}

#[test]
fn unknown_platform_priced_as_linux_and_said() {
    let est = ec2_instance(
        "m5.large",
        "us-east-1",
        Platform::Unknown,
        Tenancy::Shared,
        false,
    );
    assert_hourly(&est, 0.096);
    assert!(has_reason(&est, "platform unknown: priced as Linux"));
}

#[test]
fn dedicated_and_spot_factors() {
    let ded = ec2_instance(
        "m5.large",
        "us-east-1",
        Platform::Linux,
        Tenancy::Dedicated,
        false,
    );
    assert_hourly(&ded, 0.096 * 1.1);
    assert!(ded.stale);
    assert!(has_reason(&ded, "$2/hr per region"));
    let spot = ec2_instance(
        "p4d.24xlarge",
        "us-east-1",
        Platform::Linux,
        Tenancy::Shared,
        true,
    );
    assert_hourly(&spot, 21.957642 * 0.3);
    assert!(has_reason(&spot, "spot: 70% discount assumed"));
}

#[test]
fn vcpu_rule_and_arm_detection() {
    let t = tables();
    assert_eq!(vcpus_from_size(t, "m5.large"), Some(2));
    assert_eq!(vcpus_from_size(t, "m5.xlarge"), Some(4));
    assert_eq!(vcpus_from_size(t, "m5.24xlarge"), Some(96));
    assert_eq!(vcpus_from_size(t, "u-6tb1.56xlarge"), None);
    assert_eq!(vcpus_from_size(t, "c4.8xlarge"), None);
    assert_eq!(vcpus_from_size(t, "c1.xlarge"), None);
    assert_eq!(vcpus_from_size(t, "hpc7g.16xlarge"), None);
    assert_eq!(vcpus_from_size(t, "t3.micro"), None);
    assert_eq!(vcpus_from_size(t, "m7i.metal-24xl"), None);
    for arm in [
        "a1", "m6g", "c7gn", "r6gd", "x2gd", "t4g", "g5g", "im4gn", "is4gen", "c8gb",
    ] {
        assert!(is_arm_family(arm), "{arm}");
    }
    for x86 in [
        "m5",
        "g4dn",
        "gr6",
        "m8azn",
        "c7i-flex",
        "p6-b200",
        "u7in-16tb",
        "inf2",
        "mac2",
    ] {
        assert!(!is_arm_family(x86), "{x86}");
    }
}

#[test]
fn known_types_cover_the_table_sorted() {
    let types: Vec<&str> = known_ec2_types().collect();
    assert_eq!(types.len(), 1367);
    assert!(types.windows(2).all(|w| w[0] < w[1]));
    assert!(types.contains(&"m5.large"));
    for t in &types {
        assert!(linux(t, "us-east-1").is_known(), "{t}");
    }
}

// ------------------------------------------------------------------------------- RDS

#[test]
fn rds_single_and_multi_az_stale() {
    let single = rds_instance("db.m5.large", "mysql", "us-east-1", false);
    assert_hourly(&single, 0.171);
    assert!(single.stale);
    assert!(has_reason(&single, "RDS prices from 2021-08-03 (stale)"));
    let multi = rds_instance("db.m5.large", "mysql", "us-east-1", true);
    assert_hourly(&multi, 0.342);
    assert!(has_reason(&multi, "Multi-AZ: instance cost doubled"));
    assert_hourly(
        &rds_instance("db.t3.large", "postgres", "us-east-1", false),
        0.145,
    );
    assert_hourly(
        &rds_instance("db.m5.large", "MariaDB", "us-east-1", false),
        0.171,
    );
}

#[test]
fn rds_unknown_engine_and_class() {
    assert_unknown(
        &rds_instance("db.m5.large", "oracle-ee", "us-east-1", false),
        "RDS engine 'oracle-ee'",
    );
    assert_unknown(
        &rds_instance("db.zz9.large", "mysql", "us-east-1", false),
        "price unknown for RDS class db.zz9.large",
    );
}

#[test]
fn aurora_by_engine_family() {
    let est = aurora_instance("db.r5.large", "aurora-postgresql", "us-east-1");
    assert_hourly(&est, 0.29);
    assert!(est.stale);
    assert!(has_reason(&est, "Aurora prices from 2021-08-03 (stale)"));
    assert_hourly(
        &aurora_instance("db.t3.small", "aurora-mysql", "us-east-1"),
        0.041,
    );
    // rds_instance hands aurora engines over.
    let via_rds = rds_instance("db.r6g.large", "aurora-mysql", "us-east-1", true);
    assert_hourly(&via_rds, 0.26);
    assert!(has_reason(&via_rds, "Multi-AZ flag ignored for Aurora"));
    assert_unknown(
        &aurora_instance("db.serverless", "aurora-mysql", "us-east-1"),
        "ACU-hour",
    );
}

#[test]
fn rds_storage_matches_published_figures() {
    // infracost golden: gp2 20 GB $2.30/month; io1 100 GB + 1,200 IOPS $12.50 + $120.00;
    // gp3 400 GB + 2,000 IOPS above 12,000: $46 + $40, Multi-AZ $92 + $80.
    assert_monthly(&rds_storage("gp2", 20.0, None, "us-east-1"), 2.30);
    assert_monthly(
        &rds_storage("io1", 100.0, Some(1200.0), "us-east-1"),
        132.50,
    );
    assert_monthly(&rds_storage("gp3", 400.0, Some(14000.0), "us-east-1"), 86.0);
    assert_monthly(
        &rds_storage("gp3", 20.0, Some(4000.0), "us-east-1"),
        2.30 + 20.0,
    );
    assert_monthly(&rds_storage("gp3", 20.0, None, "us-east-1"), 2.30);
    let multi = rds_storage_deployment("gp3", 400.0, Some(14000.0), "us-east-1", true);
    assert_monthly(&multi, 172.0);
    assert_monthly(&rds_storage("magnetic", 40.0, None, "us-east-1"), 4.0);
    assert_unknown(
        &rds_storage("io1", 100.0, None, "us-east-1"),
        "without provisioned IOPS",
    );
    assert_unknown(
        &rds_storage("io2", 100.0, Some(1000.0), "us-east-1"),
        "RDS storage type 'io2'",
    );
    assert_unknown(&rds_storage("gp2", f64::NAN, None, "us-east-1"), "invalid");
}

// ------------------------------------------------------------------------------- EBS

#[test]
fn ebs_volume_types_match_published_figures() {
    // infracost golden ebs_volume_test figures.
    assert_monthly(
        &ebs_volume(Some("gp2"), 10.0, None, None, "us-east-1"),
        1.00,
    );
    assert_monthly(
        &ebs_volume(Some("standard"), 20.0, None, None, "us-east-1"),
        1.00,
    );
    assert_monthly(
        &ebs_volume(Some("io1"), 30.0, Some(300.0), None, "us-east-1"),
        3.75 + 19.50,
    );
    assert_monthly(
        &ebs_volume(Some("io2"), 30.0, Some(300.0), None, "us-east-1"),
        3.75 + 19.50,
    );
    assert_monthly(
        &ebs_volume(Some("st1"), 40.0, None, None, "us-east-1"),
        1.80,
    );
    assert_monthly(
        &ebs_volume(Some("sc1"), 50.0, None, None, "us-east-1"),
        0.75,
    );
    assert_monthly(
        &ebs_volume(Some("gp3"), 40.0, Some(4000.0), Some(130.0), "us-east-1"),
        3.20 + 5.00 + 0.20,
    );
    // Free baselines: no extra charge at or below 3,000 IOPS / 125 MB/s.
    assert_monthly(
        &ebs_volume(Some("gp3"), 100.0, Some(3000.0), Some(125.0), "us-east-1"),
        8.0,
    );
}

#[test]
fn ebs_default_type_and_unknowns() {
    let est = ebs_volume(None, 100.0, None, None, "us-east-1");
    assert_monthly(&est, 10.0);
    assert!(has_reason(&est, "priced as gp2, the CreateVolume default"));
    assert_unknown(
        &ebs_volume(Some("io2"), 100.0, Some(40000.0), None, "us-east-1"),
        "not sourced",
    );
    assert_unknown(
        &ebs_volume(Some("io1"), 100.0, None, None, "us-east-1"),
        "without provisioned IOPS",
    );
    assert_unknown(
        &ebs_volume(Some("gp9"), 100.0, None, None, "us-east-1"),
        "EBS volume type 'gp9'",
    );
    assert_unknown(
        &ebs_volume(Some("gp3"), -1.0, None, None, "us-east-1"),
        "invalid",
    );
}

// ------------------------------------------------------------------------------- Lambda

#[test]
fn lambda_provisioned_concurrency_rates() {
    let x86 = lambda_provisioned_concurrency(1024.0, 100.0, "us-east-1", false);
    assert_hourly(&x86, 100.0 * 0.0000041667 * 3600.0);
    // infracost golden: arm64, 50 × 512 MB for 100 h = 9,000,000 GB-s → $30.00.
    let arm = lambda_provisioned_concurrency(512.0, 50.0, "us-east-1", true);
    assert!((arm.hourly_usd.unwrap() * 100.0 - 30.0).abs() < 0.01);
}

#[test]
fn plain_lambda_has_no_hourly_cost_and_says_so() {
    for est in [
        lambda_function(),
        lambda_provisioned_concurrency(1024.0, 0.0, "us-east-1", false),
    ] {
        assert_hourly(&est, 0.0);
        assert!(has_reason(
            &est,
            "Lambda functions without provisioned concurrency have no hourly cost"
        ));
    }
}

// ------------------------------------------------------------------------------- network etc.

#[test]
fn network_items() {
    assert_hourly(&nat_gateway("us-east-1"), 0.045);
    assert!(close(nat_gateway("us-east-1").monthly_usd.unwrap(), 32.85));
    assert!(has_reason(&nat_gateway("us-east-1"), "data processing"));
    assert_hourly(&elastic_ip("us-east-1"), 0.005);
    assert_hourly(&load_balancer("application", "us-east-1"), 0.0225);
    assert_hourly(&load_balancer("network", "us-east-1"), 0.0225);
    assert_hourly(&load_balancer("classic", "us-east-1"), 0.025);
    assert!(has_reason(
        &load_balancer("alb", "us-east-1"),
        "(LCU) are usage-based and not estimated"
    ));
    assert_unknown(
        &load_balancer("gateway", "us-east-1"),
        "Gateway Load Balancer",
    );
    assert_unknown(
        &load_balancer("teleport", "us-east-1"),
        "unknown load balancer type",
    );
    assert_hourly(&eks_cluster("us-east-1"), 0.10);
    assert!(close(eks_cluster("us-east-1").monthly_usd.unwrap(), 73.0));
    assert_hourly(
        &nat_gateway("ap-south-1"),
        0.045 * region_factor("ap-south-1").unwrap(),
    );
}

#[test]
fn node_tables() {
    assert_hourly(&elasticache_node("cache.m4.large", "us-east-1"), 0.156);
    assert_hourly(&elasticache_node("cache.r6g.large", "us-east-1"), 0.206);
    assert_hourly(
        &opensearch_instance("c4.2xlarge.search", "us-east-1"),
        0.587,
    );
    assert_hourly(
        &opensearch_instance("c4.2xlarge.elasticsearch", "us-east-1"),
        0.587,
    );
    assert_hourly(&opensearch_instance("r6g.large", "us-east-1"), 0.167);
    assert_hourly(&redshift_node("ra3.4xlarge", "us-east-1"), 3.26);
    assert_hourly(&sagemaker_instance("ml.m5.xlarge", "us-east-1"), 0.23);
    assert_unknown(
        &sagemaker_instance("ml.g5.xlarge", "us-east-1"),
        "price unknown for SageMaker hosting type ml.g5.xlarge",
    );
    assert_unknown(
        &redshift_node("ra3.xlplus", "us-east-1"),
        "price unknown for Redshift type ra3.xlplus",
    );
    assert_unknown(
        &elasticache_node("cache.x9.huge", "us-east-1"),
        "price unknown for ElastiCache",
    );
}

// ------------------------------------------------------------------------------- misc

#[test]
fn every_table_loads_and_is_populated() {
    let t = tables();
    assert_eq!(t.ec2.prices.len(), 1367);
    assert_eq!(t.rds.prices.len(), 71);
    assert!(!t.aurora.prices.is_empty());
    assert_eq!(t.regions.factors.len(), 24);
    assert_eq!(t.elasticache.prices.len(), 73);
    assert_eq!(t.opensearch.prices.len(), 237);
    assert_eq!(t.redshift.prices.len(), 4);
    assert_eq!(t.sagemaker.prices.len(), 2);
    assert!(t.rds.stale && t.aurora.stale && !t.ec2.stale);
    let all = t
        .ec2
        .prices
        .values()
        .chain(t.elasticache.prices.values())
        .chain(t.opensearch.prices.values());
    for p in all {
        assert!(p.is_finite() && *p > 0.0);
    }
}

#[test]
fn times_scales_and_explains() {
    let one = linux("m5.large", "us-east-1");
    let three = one.times(3);
    assert_hourly(&three, 0.288);
    assert!(has_reason(&three, "× 3 units"));
    let unknown = linux("foo.bar", "us-east-1").times(5);
    assert_eq!(unknown.hourly_usd, None);
}

#[test]
fn platform_and_tenancy_parsing() {
    assert_eq!(
        Platform::from_platform_details("Linux/UNIX"),
        Platform::Linux
    );
    assert_eq!(
        Platform::from_platform_details("windows"),
        Platform::Windows
    );
    assert_eq!(
        Platform::from_platform_details("Red Hat Enterprise Linux"),
        Platform::Rhel
    );
    assert_eq!(Platform::from_platform_details("SUSE"), Platform::Unknown);
    assert_eq!(Tenancy::from_api("default"), Some(Tenancy::Shared));
    assert_eq!(Tenancy::from_api("dedicated"), Some(Tenancy::Dedicated));
    assert_eq!(Tenancy::from_api("host"), None);
}

#[test]
fn money_formatting() {
    assert_eq!(money(0.092), "0.092");
    assert_eq!(money(0.1), "0.10");
    assert_eq!(money(32.85), "32.85");
    assert_eq!(money(1.5000012), "1.50");
    assert_eq!(money(786.0), "786.00");
    assert_eq!(money(0.0), "0.00");
}

#[test]
fn estimate_serializes_for_events() {
    let est = linux("m5.large", "us-east-1");
    let json = serde_json::to_value(&est).unwrap();
    assert_eq!(json["hourly_usd"], serde_json::json!(0.096));
    assert_eq!(json["stale"], serde_json::json!(false));
    let unknown = serde_json::to_value(linux("foo.bar", "us-east-1")).unwrap();
    assert!(unknown["hourly_usd"].is_null());
}

#[test]
fn bench_lookup_runs() {
    // Timing is reported, never asserted (see DESIGN §6); `make bench` runs it optimised.
    let n = 200_000;
    let elapsed = bench_lookup(n);
    assert!(elapsed > Duration::ZERO);
    eprintln!(
        "pricing::bench_lookup: {n} lookups in {elapsed:?}, {:.0} ns per lookup",
        elapsed.as_nanos() as f64 / n as f64
    );
}

// ------------------------------------------------------------------ boundaries and flags

#[test]
fn is_known_says_whether_there_is_a_price() {
    assert!(linux("m5.large", "us-east-1").is_known());
    assert!(!linux("zz9.plural", "us-east-1").is_known());
}

#[test]
fn platform_details_naming_only_linux_or_only_unix_are_linux() {
    assert_eq!(Platform::from_platform_details("Linux"), Platform::Linux);
    assert_eq!(Platform::from_platform_details("UNIX"), Platform::Linux);
}

#[test]
fn a_zero_size_gives_no_vcpu_count() {
    assert_eq!(vcpus_from_size(tables(), "m5.0xlarge"), None);
}

#[test]
fn an_estimate_is_stale_when_any_price_it_rests_on_is() {
    assert!(!linux("m5.large", "us-east-1").stale);
    // The Windows licence comes from old prices; the EC2 price itself is fresh.
    let windows = ec2_instance(
        "m5.large",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert!(windows.stale);
    // A stale regional factor stays stale through the fresh RHEL and spot adjustments.
    for (platform, spot) in [(Platform::Rhel, false), (Platform::Linux, true)] {
        let est = ec2_instance("m5.large", "eu-west-1", platform, Tenancy::Shared, spot);
        assert!(est.is_known() && est.stale, "{platform:?} spot={spot}");
    }
}

#[test]
fn aurora_accepts_every_spelling_of_its_two_engines() {
    for (engine, name) in [
        ("aurora", "Aurora MySQL"),
        ("aurora-mysql", "Aurora MySQL"),
        ("mysql", "Aurora MySQL"),
        ("aurora-postgresql", "Aurora PostgreSQL"),
        ("postgres", "Aurora PostgreSQL"),
        ("postgresql", "Aurora PostgreSQL"),
    ] {
        let est = aurora_instance("db.r6g.large", engine, "us-east-1");
        assert!(has_reason(&est, name), "{engine}: {:?}", est.reasons);
    }
}

#[test]
fn every_price_outside_us_east_1_is_the_us_east_1_price_times_the_regional_factor() {
    let factor = region_factor("eu-west-1").unwrap();
    let both = |price: &dyn Fn(&str) -> PriceEstimate| (price("us-east-1"), price("eu-west-1"));
    let cases = [
        both(&|r| rds_instance("db.m5.large", "mysql", r, false)),
        both(&|r| aurora_instance("db.r6g.large", "aurora-mysql", r)),
        both(&|r| rds_storage("gp2", 20.0, None, r)),
        both(&|r| ebs_volume(Some("gp3"), 100.0, None, None, r)),
        both(&|r| lambda_provisioned_concurrency(1024.0, 10.0, r, false)),
        both(&|r| elasticache_node("cache.r6g.large", r)),
        both(&|r| nat_gateway(r)),
    ];
    for (us, eu) in cases {
        assert_hourly(&eu, us.hourly_usd.unwrap() * factor);
        assert!(has_reason(&eu, "eu-west-1 priced at 1.1146× us-east-1"));
    }
}

#[test]
fn rds_storage_charges_only_iops_above_the_gp3_baseline_and_doubles_for_multi_az() {
    let at_baseline = rds_storage("gp3", 20.0, Some(3000.0), "us-east-1");
    assert_monthly(&at_baseline, 20.0 * 0.115);
    assert!(
        !has_reason(&at_baseline, "IOPS above"),
        "{:?}",
        at_baseline.reasons
    );
    // infracost: Multi-AZ gp2 30 GB $6.90.
    assert_monthly(
        &rds_storage_deployment("gp2", 30.0, None, "us-east-1", true),
        6.90,
    );
    let magnetic = rds_storage("magnetic", 40.0, None, "us-east-1");
    assert_monthly(&magnetic, 4.0);
    assert!(has_reason(
        &magnetic,
        "magnetic I/O requests are billed per million"
    ));
    assert!(!has_reason(
        &rds_storage("gp2", 40.0, None, "us-east-1"),
        "magnetic"
    ));
}

#[test]
fn ebs_charges_only_what_is_above_the_free_iops_and_throughput() {
    let free = ebs_volume(Some("gp3"), 100.0, Some(3000.0), Some(125.0), "us-east-1");
    assert_monthly(&free, 8.0);
    assert_eq!(free.reasons.len(), 1, "{:?}", free.reasons);
    // io2 is priced up to 32,000 IOPS; the tiers above are not sourced.
    assert_monthly(
        &ebs_volume(Some("io2"), 100.0, Some(32_000.0), None, "us-east-1"),
        12.5 + 32_000.0 * 0.065,
    );
    assert_unknown(
        &ebs_volume(Some("io2"), 100.0, Some(32_001.0), None, "us-east-1"),
        "IOPS above 32000",
    );
    let magnetic = ebs_volume(Some("standard"), 100.0, None, None, "us-east-1");
    assert!(has_reason(
        &magnetic,
        "magnetic I/O requests are billed per million"
    ));
    assert!(!has_reason(&free, "magnetic"));
}

#[test]
fn any_one_invalid_quantity_makes_the_price_unknown() {
    for (gb, iops, throughput) in [
        (-1.0, None, None),
        (10.0, Some(f64::NAN), None),
        (10.0, None, Some(-1.0)),
    ] {
        assert_unknown(
            &ebs_volume(Some("gp3"), gb, iops, throughput, "us-east-1"),
            "invalid EBS size",
        );
    }
    assert_unknown(
        &lambda_provisioned_concurrency(-128.0, 10.0, "us-east-1", false),
        "invalid Lambda memory",
    );
    assert_unknown(
        &lambda_provisioned_concurrency(1024.0, f64::INFINITY, "us-east-1", false),
        "invalid Lambda memory",
    );
}

/// The RDS table dates from 2021: a current class is estimated from its nearest listed
/// neighbour and says so first, never left unpriced (a large Multi-AZ launch was silent).
#[test]
fn current_database_classes_get_a_labelled_estimate() {
    for (class, from) in [
        ("db.r6i.16xlarge", "db.r6g.16xlarge"),
        ("db.m7g.large", "db.m6g.large"),
        ("db.r7g.4xlarge", "db.r6g.4xlarge"),
        ("db.t4g.medium", "db.t3.medium"),
    ] {
        let est = rds_instance(class, "mysql", "us-east-1", true);
        assert!(est.is_known(), "{class}: {:?}", est.reasons);
        assert_eq!(est.reasons[0], format!("estimated from {from}"), "{class}");
        assert!(
            est.reasons[1].contains("not in the RDS MySQL table"),
            "{:?}",
            est.reasons
        );
    }
    // Scaled by EC2: r6i costs 1.25× r6g on EC2, so the database does too (×2 Multi-AZ).
    let r6g = rds_instance("db.r6g.16xlarge", "mysql", "us-east-1", false)
        .hourly_usd
        .unwrap();
    let r6i = rds_instance("db.r6i.16xlarge", "mysql", "us-east-1", true)
        .hourly_usd
        .unwrap();
    assert!(
        (r6i / r6g - 2.0 * 4.032 / 3.2256).abs() < 1e-3,
        "{r6i} {r6g}"
    );
    // A series no listed class shares: EC2's price of the type times the median premium.
    let x2g = rds_instance("db.x2g.large", "mysql", "us-east-1", false);
    assert!(x2g.is_known(), "{:?}", x2g.reasons);
    assert!(
        x2g.reasons[0].starts_with("estimated from EC2 x2g"),
        "{:?}",
        x2g.reasons
    );
    // A family with no relative anywhere is still unknown, with its reason.
    let est = rds_instance("db.q9.large", "mysql", "us-east-1", false);
    assert!(!est.is_known());
    assert!(est.reasons[0].contains("no listed size or generation"));
}

#[test]
fn an_instance_family_newer_than_the_table_is_estimated_from_its_predecessor() {
    let est = ec2_instance(
        "m10g.large",
        "us-east-1",
        Platform::Linux,
        Tenancy::Shared,
        false,
    );
    assert!(est.is_known(), "{:?}", est.reasons);
    assert_eq!(est.reasons[0], "estimated from m9g.large");
}

// ----------------------------------------------------------------------------- basis

#[test]
fn every_estimate_says_which_price_in_a_few_words_and_how_old() {
    let exact = linux("m5.large", "us-east-1");
    assert_eq!(exact.basis.label, LIST_PRICE);
    assert_eq!(exact.basis.as_of.as_deref(), Some("2026-07-20"));
    assert!(exact.basis.caveats.is_empty());

    // A regional price rests on the factor's older prices too.
    let regional = linux("m5.large", "eu-central-1");
    assert_eq!(
        regional.basis.label,
        "list price, eu-central-1 price by regional factor"
    );
    assert_eq!(regional.basis.as_of.as_deref(), Some("2022"));

    let estimated = rds_instance("db.r6i.16xlarge", "postgres", "us-east-1", true);
    assert_eq!(
        estimated.basis.label,
        format!("estimated from {}", estimated.estimated_from().unwrap())
    );
    assert_eq!(estimated.basis.as_of.as_deref(), Some("2021-08-03"));

    let spot = ec2_instance(
        "c6i.large",
        "us-east-1",
        Platform::Unknown,
        Tenancy::Shared,
        true,
    );
    assert_eq!(
        spot.basis.caveats,
        [
            "platform unknown: priced as Linux",
            "spot: 70% below on-demand assumed"
        ]
    );

    let windows_burstable = ec2_instance(
        "t3.micro",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    );
    assert_eq!(windows_burstable.basis.label, PRICE_UNKNOWN);
    assert!(
        windows_burstable.basis.caveats[0].contains("not modelled"),
        "{:?}",
        windows_burstable.basis
    );

    assert_eq!(
        nat_gateway("us-east-1").basis.as_of.as_deref(),
        Some("2026-11-22")
    );
    assert_eq!(lambda_function().basis.label, NO_HOURLY_COST);
    assert_eq!(
        ebs_volume(None, 100.0, None, None, "us-east-1")
            .basis
            .caveats,
        ["volume type not given: priced as gp2"]
    );
    assert_eq!(
        elasticache_node("cache.r6g.large", "mars-1").basis.label,
        PRICE_UNKNOWN
    );
    // Several units share the basis of one.
    assert_eq!(exact.times(3).basis, exact.basis);
}

#[test]
fn a_sum_of_parts_combines_their_bases() {
    let total = PriceEstimate::sum(vec![
        rds_instance("db.m5.large", "mysql", "us-east-1", false),
        rds_storage("gp2", 100.0, None, "us-east-1"),
    ]);
    assert_eq!(total.basis.label, LIST_PRICE);
    assert_eq!(total.basis.as_of.as_deref(), Some("2021-08-03"));
    let unknown = PriceEstimate::sum(vec![
        linux("m5.large", "us-east-1"),
        PriceEstimate::unknown_because("no idea"),
    ]);
    assert_eq!(unknown.basis.label, PRICE_UNKNOWN);
    assert_eq!(unknown.basis.caveats, ["no idea"]);
}
