"""Chaos in the deployed shape: events forwarded while function processes are killed mid-batch
and invocations time out. However the work is interrupted, every event ends stored exactly once
or in a dead-letter queue with its reason, every finding is recorded once, and no finding gets
two Slack messages. `make test` runs a short version; `make chaos` runs a few thousand events
(CHAOS_CLOUD_EVENTS) from CHAOS_ACCOUNTS customers, each with its own tenant, account and
channel, whose events are processed side by side (one message group per account or tenant)."""
from __future__ import annotations

import json
import os
import random
import threading
import time
from typing import Any

import pytest
from journeys import assumed_role, cloud_table, forward, run_instances
from test_journeys import Customer, live  # noqa: F401  (the fixture)

EVENTS = int(os.environ.get("CHAOS_CLOUD_EVENTS", "60"))
ACCOUNTS = int(os.environ.get("CHAOS_ACCOUNTS", "3"))
# Seconds between faults, on average: a long run that met one every two seconds would spend
# its time restarting processes rather than testing what an interrupted batch leaves behind.
INTERVAL = float(os.environ.get("CHAOS_INTERVAL", "2"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))
# Killed at random while events flow; ingest is invoked by the inbox stream's event-source mapping, the others
# by their queues' event-source mappings.
VICTIMS = ("ingest", "normalizer", "scorer", "notifier")


class Chaos:
    """Kills a random victim's process every `interval` seconds, and now and then makes one
    victim's invocations time out for a moment."""

    def __init__(self, cloud: Any, seed: int, interval: float = 2.0) -> None:
        self.cloud = cloud
        self.rng = random.Random(seed)
        self.interval = interval
        self.kills: dict[str, int] = {}
        self.timeouts: dict[str, int] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def __enter__(self) -> "Chaos":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopped.wait(self.rng.uniform(0.5, 1.5) * self.interval):
            name = self.rng.choice(VICTIMS)
            fn = self.cloud.function(name)
            if self.rng.random() < 0.25:
                original = fn.timeout_s
                fn.timeout_s = 0.001
                self.timeouts[name] = self.timeouts.get(name, 0) + 1
                self.stopped.wait(0.3)
                fn.timeout_s = original
            elif fn.crash():
                self.kills[name] = self.kills.get(name, 0) + 1


def partition(cloud: Any, pk: str) -> list[dict[str, Any]]:
    """Every item of a partition, page after page."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": cloud_table(cloud), "KeyConditionExpression": "PK = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": pk}}}
    while True:
        page = cloud.dynamodb.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stored_count(cloud: Any, pk: str) -> int:
    kwargs: dict[str, Any] = {"TableName": cloud_table(cloud), "Select": "COUNT",
                              "KeyConditionExpression": "PK = :pk AND begins_with(SK, :event)",
                              "ExpressionAttributeValues": {":pk": {"S": pk}, ":event": {"S": "EVENT#"}}}
    total = 0
    while True:
        page = cloud.dynamodb.query(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dead_letters(cloud: Any) -> list[dict[str, Any]]:
    out = []
    for url in cloud.sqs.list_queues().get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        if "dlq" in name or "failed" in name:
            out.extend(dict(m, queue=name) for m in cloud.receive_all(name, max_messages=10_000))
    return out


def reason_of(message: dict[str, Any]) -> str:
    attrs = message.get("MessageAttributes", {})
    if "dd0c-error" in attrs:
        return attrs["dd0c-error"]["StringValue"]
    body = json.loads(message["Body"])  # Lambda's on-failure record for an async invocation
    return (body.get("responsePayload") or {}).get("errorMessage") or body.get("requestContext", {}).get("condition", "")


def event_ids_in(message: dict[str, Any]) -> set[str]:
    text = message["Body"]
    return {e for e in forwarded_ids if e in text}


forwarded_ids: set[str] = set()


@pytest.fixture
def leaves_no_dead_letters(live):  # noqa: F811
    """The cloud is shared by the session: the dead letters chaos leaves behind (checked here)
    must not stand for another test's (journey 8 waits for its poison message in ingest's DLQ)."""
    yield
    live.wait_idle(timeout=120)
    for url in live.sqs.list_queues().get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        if "dlq" in name or "failed" in name:
            # Received and deleted, not purged: PurgeQueue allows one purge a minute per queue,
            # and other tests purge these queues.
            while True:
                msgs = live.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
                if not msgs:
                    break
                live.sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])


def test_chaos_every_event_once_every_finding_once_one_alert_each(live, leaves_no_dead_letters):  # noqa: F811
    cloud = live
    customers = [Customer(cloud, f"chaos{i}") for i in range(ACCOUNTS)]
    rng = random.Random(SEED)
    launches: dict[str, tuple[str, Customer]] = {}
    t0 = time.time()

    def account_partition(c: Customer) -> str:
        return f"TENANT#{c.tenant}#ACCOUNT#{c.account}"

    # The local cloud runs everything over one moto process; each customer's events share one
    # message group per queue, and the customers' groups are processed side by side.
    budget = 120 + EVENTS
    with Chaos(cloud, SEED, interval=INTERVAL) as chaos:
        for _ in range(EVENTS):
            customer = rng.choice(customers)
            costly = rng.random() < 0.3
            actor = assumed_role(customer.account, "miner", "stolen")
            event = run_instances(customer.account, "p3.16xlarge" if costly else "t3.micro", 1, identity=actor)
            event_id = event["detail"]["eventID"]
            launches[event_id] = ("costly" if costly else "cheap", customer)
            forwarded_ids.add(event_id)
            forward(cloud, event)
        # Faults go on while the pipeline works through the events, until every one is stored
        # or dead-lettered (or the budget runs out: the checks below then say what is missing).
        try:
            cloud.wait_for(lambda: sum(stored_count(cloud, account_partition(c)) for c in customers)
                           + len(dead_letters(cloud)) >= EVENTS,
                           timeout=budget, interval=2, what="every event stored or dead-lettered")
        except TimeoutError:
            pass
    cloud.wait_idle(timeout=budget)
    elapsed = time.time() - t0

    stored: set[str] = set()
    for c in customers:
        stored |= {i["SK"]["S"].rsplit("#", 1)[-1]
                   for i in partition(cloud, account_partition(c))
                   if i["SK"]["S"].startswith("EVENT#")}
    dead = dead_letters(cloud)
    dead_ids: set[str] = set()
    for m in dead:
        assert reason_of(m), f"a dead letter without a reason in {m['queue']}: {m['Body'][:300]}"
        dead_ids |= event_ids_in(m)
    lost = set(launches) - stored - dead_ids
    assert not lost, f"{len(lost)} events neither stored nor dead-lettered: {sorted(lost)[:5]}"
    assert stored <= set(launches), "an event was stored that was never sent"

    findings = []
    posts: dict[str, int] = {}
    for c in customers:
        mine = [i for i in partition(cloud, f"TENANT#{c.tenant}") if i["SK"]["S"].startswith("FINDING#")]
        findings.extend(mine)
        for message in cloud.slack.messages(c.channel):
            text = json.dumps(message)
            for finding in mine:
                # A finding's alert names it in its footer ("finding `<id>`"); an incident's
                # header names its incident, whose id is made of its first finding's.
                if f"finding `{finding['id']['S']}`" in text:
                    posts[finding["id"]["S"]] = posts.get(finding["id"]["S"], 0) + 1
    finding_events = [f["event_id"]["S"] for f in findings]
    assert len(finding_events) == len(set(finding_events)), "an event has two findings"
    costly = {e for e, (kind, _) in launches.items() if kind == "costly"}
    missing = costly - set(finding_events) - dead_ids
    assert not missing, f"{len(missing)} costly launches stored without a finding: {sorted(missing)[:5]}"
    doubled = {f: n for f, n in posts.items() if n > 1}
    assert not doubled, f"findings with more than one Slack message: {doubled}"

    print(f"\nchaos in the local cloud: {ACCOUNTS} accounts, events {len(launches)} ({len(costly)} costly), stored {len(stored)}, "
          f"dead-lettered {len(dead)} ({len(dead_ids)} events), findings {len(findings)}, Slack posts "
          f"{sum(posts.values())}, duplicates 0, losses 0; kills {chaos.kills}, timeouts {chaos.timeouts}; "
          f"{elapsed:.1f} s, {len(launches) / elapsed:.1f} events/s")
