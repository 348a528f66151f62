use std::collections::BTreeSet;

use super::*;

fn small() -> SimulateOptions {
    SimulateOptions {
        seed: 7,
        days: 10,
        accounts: 2,
        noise_per_day: 5,
        history_days: 0,
    }
}

#[test]
fn the_same_seed_gives_the_same_output() {
    let a = generate(&small());
    let b = generate(&small());
    assert_eq!(a.records.len(), b.records.len());
    assert!(a
        .records
        .iter()
        .zip(&b.records)
        .all(|(x, y)| x.record == y.record));
    assert_eq!(a.labels, b.labels);
    let c = generate(&SimulateOptions { seed: 8, ..small() });
    assert_ne!(a.labels, c.labels);
}

#[test]
fn every_label_names_a_generated_event_and_records_parse() {
    let sim = generate(&small());
    assert_eq!(sim.accounts.len(), 2);
    assert!(sim.labels.len() >= 2 * 6);
    for l in &sim.labels {
        assert!(sim
            .records
            .iter()
            .any(|r| r.record["eventID"] == l.event_id.as_str()));
    }
    for r in &sim.records {
        dd0c_shared::domain::CloudTrailRecord::from_value(r.record.clone())
            .expect("a CloudTrail record");
    }
    let templated = sim
        .labels
        .iter()
        .find(|l| l.kind == "launch_template_launch")
        .and_then(|l| {
            sim.records
                .iter()
                .find(|r| r.record["eventID"] == l.event_id.as_str())
        })
        .expect("a launch-template launch");
    assert!(templated.record["requestParameters"]
        .get("instanceType")
        .is_none());
    assert_eq!(
        templated.record["responseElements"]["instancesSet"]["items"][0]["instanceType"],
        "m5.8xlarge"
    );
}

#[test]
fn writes_envelopes_s3_logs_and_labels() {
    let dir = std::env::temp_dir().join(format!("dd0c-sim-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sim = generate(&small());
    let w = write(&sim, &dir).expect("written");
    assert_eq!(w.envelope_files.len(), 2);
    assert!(w.s3_files > 0);
    let first = &sim.accounts[0];
    let logs = dir.join(format!(
        "s3/AWSLogs/{first}/CloudTrail/us-east-1/2026/01/05"
    ));
    assert!(std::fs::read_dir(&logs).expect("S3 layout").count() > 0);
    assert_eq!(read_labels(&dir.join("labels.jsonl")).unwrap(), sim.labels);
    let input = crate::input::read_inputs(&[dir.join("events")]);
    assert_eq!(input.records.len(), sim.records.len());
    assert!(input.errors.is_empty(), "{:?}", input.errors);
    let s3 = crate::input::read_inputs(&[dir.join("s3")]);
    let first_count = sim.records.iter().filter(|r| &r.account == first).count();
    assert_eq!(s3.records.len(), first_count);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file of a directory tree, by path relative to it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("file");
                out.insert(p.strip_prefix(dir).expect("under").to_path_buf(), bytes);
            }
        }
    }
    out
}

#[test]
fn writing_one_account_at_a_time_writes_the_same_files() {
    let base = std::env::temp_dir().join(format!("dd0c-sim-stream-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let options = SimulateOptions {
        accounts: 3,
        ..small()
    };
    let whole = write(&generate(&options), &base.join("whole")).expect("written");
    let streamed = generate_and_write(&options, &base.join("streamed")).expect("written");
    assert_eq!(whole.events, streamed.events);
    assert_eq!(whole.labels, streamed.labels);
    assert_eq!(whole.s3_files, streamed.s3_files);
    let (a, b) = (tree(&base.join("whole")), tree(&base.join("streamed")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "the files differ");
    let _ = std::fs::remove_dir_all(&base);
}

fn sessions_of(sim: &Simulation, role: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut arns = BTreeSet::new();
    let mut issuers = BTreeSet::new();
    for r in &sim.records {
        let identity = &r.record["userIdentity"];
        if identity["arn"]
            .as_str()
            .is_some_and(|a| a.contains(&format!(":assumed-role/{role}/")))
        {
            arns.insert(identity["arn"].as_str().unwrap_or_default().to_owned());
            issuers.insert(
                identity["sessionContext"]["sessionIssuer"]["arn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    (arns, issuers)
}

/// Automation assumes its role with a new session name every run, as on real accounts; the
/// role stays the same.
#[test]
fn automation_gets_a_new_session_name_every_run_of_the_same_role() {
    let sim = generate(&small());
    for role in ["batch-runner", "terraform-deployer"] {
        let (arns, issuers) = sessions_of(&sim, role);
        assert!(arns.len() > 5, "{role}: {arns:?}");
        assert_eq!(issuers.len(), 2, "one role per account: {issuers:?}");
    }
    let nightly_types: BTreeSet<&str> = sim
        .records
        .iter()
        .filter(|r| r.activity == "nightly_batch" && r.record["eventName"] == "RunInstances")
        .filter_map(|r| {
            r.record["responseElements"]["instancesSet"]["items"][0]["instanceType"].as_str()
        })
        .collect();
    assert!(nightly_types.len() > 1, "{nightly_types:?}");
}

/// Routine backups act on what Terraform owns without changing it, and every drift label
/// names a change by a person to a resource Terraform created before.
#[test]
fn backups_touch_owned_resources_and_drift_labels_follow_their_creation() {
    let sim = generate(&SimulateOptions {
        days: 21,
        ..small()
    });
    let backups: BTreeSet<&str> = sim
        .records
        .iter()
        .filter(|r| r.activity == "backups")
        .filter_map(|r| r.record["eventName"].as_str())
        .collect();
    for name in ["CreateSnapshot", "CreateDBSnapshot", "CreateImage"] {
        assert!(backups.contains(name), "{backups:?}");
    }
    let drift: Vec<&Label> = sim.labels.iter().filter(|l| l.product == DRIFT).collect();
    assert!(drift.len() >= 2 * 3, "{drift:?}");
    for l in drift {
        let change = sim
            .records
            .iter()
            .find(|r| r.record["eventID"] == l.event_id.as_str())
            .expect("the labeled change");
        assert_eq!(change.activity, "drift");
        let target = change.record["requestParameters"]
            .as_object()
            .and_then(|p| {
                [
                    "groupId",
                    "instanceId",
                    "dBInstanceIdentifier",
                    "userName",
                    "policyArn",
                    "snapshotId",
                    "bucketName",
                    "trailName",
                ]
                .iter()
                .find_map(|k| p.get(*k).and_then(Value::as_str))
            })
            .expect("a target");
        let created = sim
            .records
            .iter()
            .find(|r| r.account == change.account && r.record.to_string().contains(target))
            .expect("its creation");
        assert!(created.time < change.time);
        assert!(
            created.record["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.contains("Terraform")),
            "{target} first appears in {}",
            created.record
        );
    }
    assert!(sim.labels.iter().any(|l| l.product == COST));
    let kinds: BTreeSet<&str> = sim.labels.iter().map(|l| l.kind.as_str()).collect();
    for kind in [
        "console_password_for_a_service_user",
        "policy_made_to_allow_everything",
        "snapshot_shared_outside",
        "bucket_versioning_suspended",
        "bucket_set_to_delete_its_objects",
        "trail_records_no_more_changes",
    ] {
        assert!(kinds.contains(kind), "{kinds:?}");
    }
}

/// Every other account has run since before it connected: its history is written apart and
/// holds no label; the others have none.
#[test]
fn accounts_with_history_write_it_apart_and_it_holds_no_label() {
    let options = SimulateOptions {
        history_days: 20,
        ..small()
    };
    let sim = generate(&options);
    let with_history: BTreeSet<&str> = sim
        .records
        .iter()
        .filter(|r| r.time < sim.start)
        .map(|r| r.account.as_str())
        .collect();
    assert_eq!(with_history.len(), 1, "{with_history:?}");
    assert!(!with_history.contains(sim.accounts[0].as_str()));
    let earliest = sim.records.iter().map(|r| r.time).min().unwrap();
    assert!(earliest < sim.start - chrono::Duration::days(19));
    assert!(sim.labels.iter().all(|l| l.event_time >= sim.start));
    let dir = std::env::temp_dir().join(format!("dd0c-sim-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let w = write(&sim, &dir).expect("written");
    assert_eq!(w.history_files.len(), 1);
    assert_eq!(w.events + w.history_events, sim.records.len());
    let history = crate::input::read_inputs(&[dir.join("history")]);
    assert_eq!(history.records.len(), w.history_events);
    assert!(history.records.iter().all(|r| r.time.unwrap() < sim.start));
    let streamed = generate_and_write(&options, &dir.join("streamed")).expect("written");
    assert_eq!(
        (streamed.events, streamed.history_events),
        (w.events, w.history_events)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
