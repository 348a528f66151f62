"""Load in the deployed shape: many customer accounts forward CloudTrail at once, and each
account's events are processed while the others' are (ingest, normalize, score and alert are
ordered per account or per tenant, never across tenants). Reports the sustained events per
second and the largest delay any one account saw, to stdout and to target/e2e/load.json
(`make bench` prints it). `make test` runs a small load; `make bench` LOAD_ACCOUNTS=100."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from journeys import assumed_role, forward, run_instances
from test_chaos import stored_count
from test_journeys import Customer, live  # noqa: F401  (the fixture)

ACCOUNTS = int(os.environ.get("LOAD_ACCOUNTS", "8"))
EVENTS_PER_ACCOUNT = int(os.environ.get("LOAD_EVENTS_PER_ACCOUNT", "3"))
REPORT = Path(__file__).resolve().parents[2] / "target" / "e2e" / "load.json"


def test_load_many_accounts_are_processed_side_by_side(live):  # noqa: F811
    cloud = live
    t_setup = time.time()
    customers = [Customer(cloud, f"load{i}", install=False) for i in range(ACCOUNTS)]
    setup_s = time.time() - t_setup
    # Each connection reads the account's history and discovers its stacks, a step per region
    # and account on the backfill queue: that work ends before the load begins.
    cloud.wait_idle(timeout=120 + 30 * ACCOUNTS)
    history_s = time.time() - t_setup

    last_forward: dict[str, float] = {}
    t0 = time.time()
    # Round-robin over the accounts, as many organisations' trails arrive interleaved.
    for n in range(EVENTS_PER_ACCOUNT):
        for c in customers:
            actor = assumed_role(c.account, "ci-deploy", f"pipeline-{n}")
            last_forward[c.account] = forward(cloud, run_instances(c.account, "t3.micro", 1, identity=actor))
    sent_s = time.time() - t0

    done: dict[str, float] = {}
    budget = 120 + 2 * ACCOUNTS * EVENTS_PER_ACCOUNT

    def all_stored() -> bool:
        for c in customers:
            if c.account in done:
                continue
            if stored_count(cloud, f"TENANT#{c.tenant}#ACCOUNT#{c.account}") >= EVENTS_PER_ACCOUNT:
                done[c.account] = time.time()
        return len(done) == len(customers)

    cloud.wait_for(all_stored, timeout=budget, interval=0.5, what="every account's events stored")
    stored_s = max(done.values()) - t0
    cloud.wait_idle(timeout=budget)
    idle_s = time.time() - t0

    total = ACCOUNTS * EVENTS_PER_ACCOUNT
    delays = sorted(done[a] - last_forward[a] for a in done)
    first_done = min(done.values()) - t0
    report: dict[str, Any] = {
        "accounts": ACCOUNTS,
        "events": total,
        "setup_seconds": round(setup_s, 1),
        "history_read_seconds": round(history_s, 1),
        "forward_seconds": round(sent_s, 2),
        "stored_seconds": round(stored_s, 2),
        "pipeline_idle_seconds": round(idle_s, 2),
        "events_per_second": round(total / stored_s, 1),
        "first_account_done_seconds": round(first_done, 2),
        "median_account_delay_seconds": round(delays[len(delays) // 2], 2),
        "max_account_delay_seconds": round(delays[-1], 2),
        # Each function's most resident memory so far, next to what the template gives it
        # (the local cloud fails an invocation over it, as Lambda does).
        "peak_memory_mb": {fn.name: [round(fn.peak_rss_mb), fn.memory_mb] for fn in cloud.functions.values()},
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nload in the local cloud: {json.dumps(report)}")
    assert len(done) == ACCOUNTS
