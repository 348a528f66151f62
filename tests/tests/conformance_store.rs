//! One suite, two adapters: the embedded table and the DynamoDB adapter against moto must
//! agree on every behaviour dd0c relies on.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::store::dynamodb::DynamoDbTable;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{
    item_size, query_all, AttrValue, Condition, Index, Item, Key, Query, SortKeyCondition,
    StoreError, Table, TransactWrite, Update, MAX_ITEM_BYTES,
};
use dd0c_tests::{aws_setup, moto::MotoServer};

struct Env {
    table: Arc<dyn Table>,
    clock: ManualClock,
    _moto: Option<MotoServer>,
}

fn start_clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

async fn memory() -> Env {
    let clock = start_clock();
    Env {
        table: Arc::new(MemoryTable::new(Arc::new(clock.clone()))),
        clock,
        _moto: None,
    }
}

async fn dynamodb() -> Env {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    aws_setup::create_table(&sdk, "dd0c-test").await;
    let clock = start_clock();
    let table = DynamoDbTable::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "dd0c-test",
        Arc::new(clock.clone()),
    );
    Env {
        table: Arc::new(table),
        clock,
        _moto: Some(moto),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn embedded() {
                super::$name(super::memory().await).await
            }
            #[tokio::test]
            async fn dynamodb_on_moto() {
                super::$name(super::dynamodb().await).await
            }
        })*
    };
}

conformance!(
    round_trips_every_attribute_type,
    conditional_put_writes_once,
    add_counts_and_unions_sets,
    update_conditions_and_if_absent,
    query_by_prefix_range_order_and_pages,
    gsi_is_sparse_and_ordered,
    index_queries_return_whole_items,
    ttl_hides_expired_items,
    transactions_are_all_or_nothing,
    invalid_updates_are_rejected,
    items_over_400_kb_are_refused,
);

fn item(pk: &str, sk: &str) -> Item {
    let mut i = Item::new();
    i.insert("PK".into(), pk.into());
    i.insert("SK".into(), sk.into());
    i
}

fn with(mut i: Item, name: &str, value: impl Into<AttrValue>) -> Item {
    i.insert(name.into(), value.into());
    i
}

async fn round_trips_every_attribute_type(env: Env) {
    let mut nested = Item::new();
    nested.insert("inner".into(), AttrValue::N(2.5));
    let original = with(
        with(
            with(
                with(
                    with(with(item("P", "S"), "s", "text"), "n", AttrValue::N(-12.25)),
                    "b",
                    true,
                ),
                "null",
                AttrValue::Null,
            ),
            "list",
            AttrValue::L(vec!["a".into(), AttrValue::N(1.0)]),
        ),
        "map",
        AttrValue::M(nested),
    );
    let original = with(original, "set", AttrValue::string_set(["x", "y"]));
    let original = with(original, "bytes", AttrValue::B(vec![0, 159, 146, 150, 255]));
    env.table.put(original.clone(), None).await.unwrap();
    let read = env.table.get(&Key::new("P", "S")).await.unwrap().unwrap();
    assert_eq!(read, original);
    assert!(env
        .table
        .get(&Key::new("P", "other"))
        .await
        .unwrap()
        .is_none());
}

async fn conditional_put_writes_once(env: Env) {
    let first = with(item("E", "1"), "v", "first");
    env.table
        .put(first, Some(Condition::ItemNotExists))
        .await
        .unwrap();
    let err = env
        .table
        .put(
            with(item("E", "1"), "v", "second"),
            Some(Condition::ItemNotExists),
        )
        .await
        .unwrap_err();
    assert!(err.is_condition_failed(), "{err}");
    let read = env.table.get(&Key::new("E", "1")).await.unwrap().unwrap();
    assert_eq!(read["v"], AttrValue::S("first".into()));
    // ItemExists on an absent item fails; on a present one succeeds.
    let err = env
        .table
        .put(item("E", "2"), Some(Condition::ItemExists))
        .await
        .unwrap_err();
    assert!(err.is_condition_failed());
    env.table
        .put(
            with(item("E", "1"), "v", "third"),
            Some(Condition::ItemExists),
        )
        .await
        .unwrap();
    // Deletes honour conditions too.
    let err = env
        .table
        .delete(
            &Key::new("E", "1"),
            Some(Condition::Equals("v".into(), "nope".into())),
        )
        .await
        .unwrap_err();
    assert!(err.is_condition_failed());
    env.table.delete(&Key::new("E", "1"), None).await.unwrap();
    assert!(env.table.get(&Key::new("E", "1")).await.unwrap().is_none());
}

async fn add_counts_and_unions_sets(env: Env) {
    let key = Key::new("B", "baseline");
    for (cost, actor) in [(1.5, "alice"), (2.0, "bob"), (0.5, "alice")] {
        env.table
            .update(
                &key,
                Update::new()
                    .add("count", AttrValue::N(1.0))
                    .add("sum", AttrValue::N(cost))
                    .add("sum_sq", AttrValue::N(cost * cost))
                    .add("actors", AttrValue::string_set([actor])),
            )
            .await
            .unwrap();
    }
    let read = env.table.get(&key).await.unwrap().unwrap();
    assert_eq!(read["count"], AttrValue::N(3.0));
    assert_eq!(read["sum"], AttrValue::N(4.0));
    assert_eq!(read["sum_sq"], AttrValue::N(6.5));
    assert_eq!(read["actors"], AttrValue::string_set(["alice", "bob"]));
}

async fn update_conditions_and_if_absent(env: Env) {
    let key = Key::new("U", "1");
    let after = env
        .table
        .update(
            &key,
            Update::new()
                .set_if_absent("first_seen", "2026-01-01")
                .set("status", "open"),
        )
        .await
        .unwrap();
    assert_eq!(after["status"], AttrValue::S("open".into()));
    let after = env
        .table
        .update(
            &key,
            Update::new()
                .set_if_absent("first_seen", "2026-02-02")
                .set("status", "resolved")
                .when(Condition::Equals("status".into(), "open".into())),
        )
        .await
        .unwrap();
    assert_eq!(after["first_seen"], AttrValue::S("2026-01-01".into()));
    assert_eq!(after["status"], AttrValue::S("resolved".into()));
    let err = env
        .table
        .update(
            &key,
            Update::new()
                .set("status", "open")
                .when(Condition::Equals("status".into(), "open".into())),
        )
        .await
        .unwrap_err();
    assert!(err.is_condition_failed());
    // Newer-wins writes: only when the stored version is older.
    let err = env
        .table
        .update(
            &key,
            Update::new()
                .set("version", AttrValue::N(1.0))
                .when(Condition::Or(vec![
                    Condition::AttributeNotExists("version".into()),
                    Condition::LessThan("version".into(), AttrValue::N(1.0)),
                ])),
        )
        .await;
    assert!(err.is_ok());
    let err = env
        .table
        .update(
            &key,
            Update::new()
                .set("version", AttrValue::N(0.0))
                .when(Condition::Or(vec![
                    Condition::AttributeNotExists("version".into()),
                    Condition::LessThan("version".into(), AttrValue::N(0.0)),
                ])),
        )
        .await
        .unwrap_err();
    assert!(err.is_condition_failed());
    let removed = env
        .table
        .update(&key, Update::new().remove("first_seen"))
        .await
        .unwrap();
    assert!(!removed.contains_key("first_seen"));
}

async fn query_by_prefix_range_order_and_pages(env: Env) {
    for sk in [
        "EVENT#2026-01-03",
        "EVENT#2026-01-01",
        "EVENT#2026-01-02",
        "EVENT#2026-01-05",
        "EVENT#2026-01-04",
        "OTHER#1",
    ] {
        env.table.put(item("A", sk), None).await.unwrap();
    }
    env.table.put(item("Z", "EVENT#x"), None).await.unwrap();
    let sks = |items: Vec<Item>| -> Vec<String> {
        items
            .into_iter()
            .map(|i| i["SK"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = query_all(
        env.table.as_ref(),
        Query::partition("A").begins_with("EVENT#"),
    )
    .await
    .unwrap();
    assert_eq!(
        sks(all),
        vec![
            "EVENT#2026-01-01",
            "EVENT#2026-01-02",
            "EVENT#2026-01-03",
            "EVENT#2026-01-04",
            "EVENT#2026-01-05"
        ]
    );
    let range = env
        .table
        .query(Query::partition("A").sort(SortKeyCondition::Between(
            "EVENT#2026-01-02".into(),
            "EVENT#2026-01-04".into(),
        )))
        .await
        .unwrap();
    assert_eq!(range.items.len(), 3);
    let newest = env
        .table
        .query(
            Query::partition("A")
                .begins_with("EVENT#")
                .backward()
                .limit(2),
        )
        .await
        .unwrap();
    assert_eq!(
        sks(newest.items),
        vec!["EVENT#2026-01-05", "EVENT#2026-01-04"]
    );
    assert!(newest.next.is_some());
    // Paging with limit 2 visits everything once, in order.
    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let page = env
            .table
            .query(
                Query::partition("A")
                    .begins_with("EVENT#")
                    .limit(2)
                    .start_after(next),
            )
            .await
            .unwrap();
        seen.extend(sks(page.items));
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let after = env
        .table
        .query(Query::partition("A").sort(SortKeyCondition::GreaterThan("EVENT#2026-01-04".into())))
        .await
        .unwrap();
    assert_eq!(sks(after.items), vec!["EVENT#2026-01-05", "OTHER#1"]);
}

async fn gsi_is_sparse_and_ordered(env: Env) {
    for (sk, time) in [
        ("f3", "2026-01-03"),
        ("f1", "2026-01-01"),
        ("f2", "2026-01-02"),
    ] {
        let i = with(
            with(item("TENANT#t", sk), "GSI1PK", "TENANT#t#FINDINGS"),
            "GSI1SK",
            time,
        );
        env.table.put(i, None).await.unwrap();
    }
    env.table
        .put(item("TENANT#t", "no-index"), None)
        .await
        .unwrap();
    let page = env
        .table
        .query(Query::partition("TENANT#t#FINDINGS").on(Index::Gsi1))
        .await
        .unwrap();
    let sks: Vec<&str> = page
        .items
        .iter()
        .map(|i| i["SK"].as_str().unwrap())
        .collect();
    assert_eq!(sks, vec!["f1", "f2", "f3"]);
    let recent = env
        .table
        .query(
            Query::partition("TENANT#t#FINDINGS")
                .on(Index::Gsi1)
                .sort(SortKeyCondition::GreaterOrEqual("2026-01-02".into()))
                .backward()
                .limit(1),
        )
        .await
        .unwrap();
    assert_eq!(recent.items[0]["SK"], AttrValue::S("f3".into()));
    let second = env
        .table
        .query(
            Query::partition("TENANT#t#FINDINGS")
                .on(Index::Gsi1)
                .sort(SortKeyCondition::GreaterOrEqual("2026-01-02".into()))
                .backward()
                .limit(1)
                .start_after(recent.next),
        )
        .await
        .unwrap();
    assert_eq!(second.items[0]["SK"], AttrValue::S("f2".into()));
}

/// The indexes hold keys and the TTL only (shared/table-indexes.json); a query on one still
/// returns each item whole, leaves expired ones out, and pages through more than one
/// BatchGetItem's worth.
async fn index_queries_return_whole_items(env: Env) {
    let now = env.clock_now();
    let finding = |n: usize| {
        let i = with(
            item("TENANT#t", &format!("f{n:03}")),
            "GSI2PK",
            "TENANT#t#open",
        );
        let i = with(i, "GSI2SK", format!("2026-01-01#{n:03}"));
        with(i, "json", format!("{{\"title\":\"finding {n}\"}}"))
    };
    for n in 0..130 {
        env.table.put(finding(n), None).await.unwrap();
    }
    let expiring = with(finding(130), "ttl", AttrValue::N((now + 60) as f64));
    env.table.put(expiring, None).await.unwrap();
    let all = query_all(
        env.table.as_ref(),
        Query::partition("TENANT#t#open").on(Index::Gsi2),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 131);
    for (n, i) in all.iter().enumerate() {
        assert_eq!(i["SK"].as_str(), Some(format!("f{n:03}").as_str()));
        assert_eq!(
            i["json"].as_str(),
            Some(format!("{{\"title\":\"finding {n}\"}}").as_str())
        );
    }
    let newest = |limit| {
        env.table.query(
            Query::partition("TENANT#t#open")
                .on(Index::Gsi2)
                .backward()
                .limit(limit),
        )
    };
    let page = newest(2).await.unwrap();
    let sks: Vec<_> = page
        .items
        .iter()
        .map(|i| i["SK"].as_str().unwrap())
        .collect();
    assert_eq!(sks, ["f130", "f129"]);
    env.clock.advance(chrono::Duration::seconds(120));
    let page = newest(1).await.unwrap();
    assert_eq!(
        page.items.len(),
        0,
        "the expired entry is filtered, not replaced"
    );
    assert!(page.next.is_some());
}

async fn ttl_hides_expired_items(env: Env) {
    let now = env.clock_now();
    let live = with(item("T", "live"), "ttl", AttrValue::N((now + 60) as f64));
    let expired = with(item("T", "expired"), "ttl", AttrValue::N((now - 60) as f64));
    env.table.put(live, None).await.unwrap();
    env.table.put(expired, None).await.unwrap();
    assert!(env
        .table
        .get(&Key::new("T", "live"))
        .await
        .unwrap()
        .is_some());
    assert!(env
        .table
        .get(&Key::new("T", "expired"))
        .await
        .unwrap()
        .is_none());
    let page = env.table.query(Query::partition("T")).await.unwrap();
    assert_eq!(page.items.len(), 1);
    // An expired item counts as absent for a write-once condition.
    env.table
        .put(item("T", "expired"), Some(Condition::ItemNotExists))
        .await
        .unwrap();
    // Time passes: the live one expires as well.
    env.clock.advance(chrono::Duration::seconds(120));
    assert!(env
        .table
        .get(&Key::new("T", "live"))
        .await
        .unwrap()
        .is_none());
}

impl Env {
    fn clock_now(&self) -> i64 {
        use dd0c_shared::clock::Clock;
        self.clock.now().timestamp()
    }
}

async fn transactions_are_all_or_nothing(env: Env) {
    env.table
        .put(with(item("X", "existing"), "v", "1"), None)
        .await
        .unwrap();
    let err = env
        .table
        .transact_write(vec![
            TransactWrite::Put {
                item: item("X", "new"),
                condition: Some(Condition::ItemNotExists),
            },
            TransactWrite::Update {
                key: Key::new("X", "counter"),
                update: Update::new().add("n", AttrValue::N(1.0)),
            },
            TransactWrite::Put {
                item: item("X", "existing"),
                condition: Some(Condition::ItemNotExists),
            },
        ])
        .await
        .unwrap_err();
    match err {
        StoreError::TransactionCanceled { reasons } => {
            assert_eq!(reasons.len(), 3);
            assert!(reasons[0].is_none() && reasons[1].is_none());
            assert_eq!(reasons[2].as_deref(), Some("ConditionalCheckFailed"));
        }
        other => panic!("expected a cancelled transaction, got {other}"),
    }
    assert!(env
        .table
        .get(&Key::new("X", "new"))
        .await
        .unwrap()
        .is_none());
    assert!(env
        .table
        .get(&Key::new("X", "counter"))
        .await
        .unwrap()
        .is_none());
    env.table
        .transact_write(vec![
            TransactWrite::Put {
                item: item("X", "new"),
                condition: Some(Condition::ItemNotExists),
            },
            TransactWrite::Update {
                key: Key::new("X", "counter"),
                update: Update::new().add("n", AttrValue::N(1.0)),
            },
            TransactWrite::ConditionCheck {
                key: Key::new("X", "existing"),
                condition: Condition::Equals("v".into(), "1".into()),
            },
            TransactWrite::Delete {
                key: Key::new("X", "gone"),
                condition: None,
            },
        ])
        .await
        .unwrap();
    assert!(env
        .table
        .get(&Key::new("X", "new"))
        .await
        .unwrap()
        .is_some());
    let counter = env
        .table
        .get(&Key::new("X", "counter"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter["n"], AttrValue::N(1.0));
}

async fn invalid_updates_are_rejected(env: Env) {
    let key = Key::new("V", "1");
    let err = env
        .table
        .update(
            &key,
            Update::new().set("a", "x").add("a", AttrValue::N(1.0)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = env
        .table
        .update(&key, Update::new().set("PK", "other"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let err = env
        .table
        .put(with(Item::new(), "PK", "only"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}

/// DynamoDB's item limit (400 KB, names included): a write over it is an invalid request,
/// which fails the same way on every retry, and nothing of it is stored. (moto refuses from
/// 405,000 bytes, DynamoDB from 409,600: the sizes here are clear of both.)
async fn items_over_400_kb_are_refused(env: Env) {
    let key = Key::new("BIG", "1");
    let near = 399_000;
    env.table
        .put(with(item("BIG", "1"), "body", "x".repeat(near)), None)
        .await
        .expect("an item just under the limit fits");
    let err = env
        .table
        .put(
            with(item("BIG", "2"), "body", "x".repeat(MAX_ITEM_BYTES)),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(env.table.get(&Key::new("BIG", "2")).await.unwrap(), None);
    // An update that grows the item past the limit is refused and leaves it as it was.
    let err = env
        .table
        .update(&key, Update::new().set("more", "y".repeat(12_000)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let stored = env.table.get(&key).await.unwrap().unwrap();
    assert!(!stored.contains_key("more"));
    assert_eq!(item_size(&stored), 2 + 3 + 2 + 1 + 4 + near);
}
