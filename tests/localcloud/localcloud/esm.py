"""SQS event source mappings: for each AWS::Lambda::EventSourceMapping, up to N concurrent
receive -> invoke loops, building the event as Lambda's SQS poller does and honouring partial
batch responses.

Concurrency: N = the mapping's ScalingConfig.MaximumConcurrency, else the function's concurrency,
and never more than the function's concurrency (its pool of execution environments). One loop
always polls; the others are woken one at a time while full batches keep coming and go back to
sleep after an empty receive, as Lambda's pollers scale up with the backlog and down when it is gone.
Each loop holds its own batch. Receives are serialised per mapping (moto's FIFO group lock is
computed per receive and is not thread-safe across concurrent receives of one queue); on a FIFO
queue moto does not hand out a message group that has a message in flight, so concurrent batches
hold different groups and each group keeps its order.

Visibility: a record that is not deleted becomes visible again after the queue's visibility
timeout divided by the cloud's time-compression factor (so redrive to the DLQ after
maxReceiveCount happens within seconds).
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from .runtime import FunctionError

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger("localcloud.esm")

# moto's long poll spins (re-scanning the queue) while every visible message belongs to a group
# in flight. On a FIFO queue the poller long-polls only when none of its loops holds a batch and
# no failed record of its holds a group; otherwise it short-polls and sleeps here between tries.
IDLE_SLEEP_MIN_S = 0.05
IDLE_SLEEP_MAX_S = 0.25


class SqsPoller:
    def __init__(self, cloud: "LocalCloud", logical_id: str, props: dict[str, Any]) -> None:
        self.cloud = cloud
        self.logical_id = logical_id
        self.queue_arn = props["EventSourceArn"]
        self.queue_name = self.queue_arn.split(":")[-1]
        self.queue_url = cloud.queue_url(self.queue_name)
        self.fifo = self.queue_name.endswith(".fifo")
        fn = cloud.function(props["FunctionName"])
        self.function = fn.name
        self.batch_size = int(props.get("BatchSize", 10))
        self.window_s = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.max_concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        wanted = int(self.max_concurrency) if self.max_concurrency else fn.concurrency
        # More loops than environments would only hold batches (and their visibility) waiting.
        self.concurrency = max(1, min(wanted, fn.concurrency))
        self.enabled = props.get("Enabled", True) not in (False, "false")
        attrs = cloud.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout", "QueueArn"])["Attributes"]
        self.visibility_timeout = int(attrs.get("VisibilityTimeout", 30))
        self.retry_after_s = max(1, math.ceil(self.visibility_timeout / cloud.time_compression))
        self.batches = 0
        # Loops holding a batch now, and the most at once.
        self.holding = 0
        self.peak_holding = 0
        self._seqs: dict[str, str] = {}
        self._seq_counter = 0
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()
        self._lock = threading.Condition()
        self._receive_lock = threading.Lock()
        self._dormant = 0
        self._wakeups = 0
        # Until then a failed record (made invisible for retry_after_s) may hold its FIFO group.
        self._group_held_until = 0.0
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"esm-{self.queue_name}-{i}", daemon=True)
                         for i in range(self.concurrency)]

    def start(self) -> None:
        if self.enabled:
            for t in self._threads:
                t.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()

    def join(self, timeout: float = 5) -> None:
        deadline = time.time() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.time()))

    def pause(self) -> None:
        """No receive after this returns (one in flight is waited for; batches held run on)."""
        self._paused.set()
        with self._receive_lock:
            pass

    def resume(self) -> None:
        self._paused.clear()

    def busy(self) -> bool:
        """True while a loop holds a batch (received and not yet deleted or released)."""
        with self._lock:
            return self.holding > 0

    def _receive(self, n: int, wait: int) -> list[dict[str, Any]]:
        return self.cloud.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, n),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _long_poll(self) -> bool:
        if not self.fifo:
            return True
        with self._lock:
            return self.holding == 0 and time.monotonic() >= self._group_held_until

    def _receive_batch(self) -> tuple[list[dict[str, Any]], bool]:
        """(messages, whether it was a long poll)."""
        with self._receive_lock:
            if self._paused.is_set():
                return [], True
            long_poll = self._long_poll()
            msgs = self._receive(self.batch_size, 1 if long_poll else 0)
            if msgs and self.batch_size > 10:
                deadline = time.time() + self.window_s / self.cloud.time_compression
                while len(msgs) < self.batch_size and time.time() < deadline:
                    more = self._receive(self.batch_size - len(msgs), 0)
                    if not more:
                        time.sleep(0.05)
                    msgs.extend(more)
            if msgs and self.fifo:
                # Numbered in receive order, before another loop's batch (event() reads these).
                for m in msgs:
                    if "SequenceNumber" not in m.get("Attributes", {}):
                        self._sequence(m["MessageId"], m.get("Attributes", {}).get("SentTimestamp", "0"))
            if msgs:
                # Counted before the receive lock is released: wait_idle never sees a batch
                # that is received but not yet held.
                with self._lock:
                    self.holding += 1
                    self.peak_holding = max(self.peak_holding, self.holding)
                    self.batches += 1
            return msgs, long_poll

    def _sleep_until_woken(self) -> bool:
        """A secondary loop with nothing to do: sleep until a loop with work wakes it. False
        when the mapping stops."""
        with self._lock:
            self._dormant += 1
            try:
                while not self._stop.is_set():
                    if self._wakeups > 0:
                        self._wakeups -= 1
                        return True
                    self._lock.wait(1.0)
                return False
            finally:
                self._dormant -= 1

    def _wake_one(self) -> None:
        with self._lock:
            if self._dormant > self._wakeups:
                self._wakeups += 1
                self._lock.notify()

    def _run(self, index: int) -> None:
        idle_sleep = IDLE_SLEEP_MIN_S
        if index > 0 and not self._sleep_until_woken():
            return
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.2)
                continue
            try:
                msgs, long_poll = self._receive_batch()
            except Exception as e:  # noqa: BLE001
                if self._stop.is_set():
                    return
                log.warning("%s: receive failed: %s", self.queue_name, e)
                time.sleep(0.5)
                continue
            if not msgs:
                self._idle.set()
                if index > 0:
                    if not self._sleep_until_woken():
                        return
                elif not long_poll:
                    time.sleep(idle_sleep)
                    idle_sleep = min(IDLE_SLEEP_MAX_S, idle_sleep * 2)
                continue
            idle_sleep = IDLE_SLEEP_MIN_S
            self._idle.clear()
            # A full batch: another loop may find more (Lambda's pollers scale up with the
            # backlog). A short one means nothing else could be handed out just now (a receive
            # takes up to ten messages from every group not in flight).
            if len(msgs) >= min(10, self.batch_size):
                self._wake_one()
            try:
                self._process(msgs)
            except Exception:  # noqa: BLE001
                log.exception("%s: poller error", self.queue_name)
            finally:
                with self._lock:
                    self.holding -= 1

    def _sequence(self, message_id: str, sent_ms: str) -> str:
        with self._lock:
            seq = self._seqs.get(message_id)
            if seq is None:
                self._seq_counter += 1
                seq = self._seqs[message_id] = f"{int(sent_ms):013d}{self._seq_counter % 10**7:07d}"
            return seq

    def event(self, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        records = []
        for m in msgs:
            a = m.get("Attributes", {})
            attrs = {k: a[k] for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                        "ApproximateFirstReceiveTimestamp", "SequenceNumber",
                                        "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
                                        "DeadLetterQueueSourceArn") if k in a}
            if self.queue_name.endswith(".fifo") and "SequenceNumber" not in attrs:
                # moto numbers only messages sent with an explicit deduplication id; SQS numbers
                # every FIFO message (a 20-digit, increasing string).
                attrs["SequenceNumber"] = self._sequence(m["MessageId"], a.get("SentTimestamp", "0"))
            mattrs = {}
            for name, v in (m.get("MessageAttributes") or {}).items():
                mattrs[name] = {
                    "stringValue": v.get("StringValue"),
                    "binaryValue": v.get("BinaryValue"),
                    "stringListValues": v.get("StringListValues", []),
                    "binaryListValues": v.get("BinaryListValues", []),
                    "dataType": v.get("DataType"),
                }
                if mattrs[name]["binaryValue"] is None:
                    del mattrs[name]["binaryValue"]
                if mattrs[name]["stringValue"] is None:
                    del mattrs[name]["stringValue"]
            rec = {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m.get("Body", ""),
                "attributes": attrs,
                "messageAttributes": mattrs,
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.queue_arn,
                "awsRegion": self.cloud.template.region,
            }
            if m.get("MD5OfMessageAttributes"):
                rec["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
            records.append(rec)
        return {"Records": records}

    def _process(self, msgs: list[dict[str, Any]]) -> None:
        event = self.event(msgs)
        failed_ids: set[str] | None
        try:
            resp = self.cloud.invoke(self.function, event, source=f"sqs:{self.queue_name}")
            failed_ids = self._failures(resp, msgs)
        except FunctionError as e:
            log.warning("%s: %s failed the whole batch of %d: %s", self.queue_name, self.function, len(msgs), e.message[:300])
            failed_ids = None
        ids = {m["MessageId"] for m in msgs}
        failed = ids if failed_ids is None else failed_ids
        ok = [m for m in msgs if m["MessageId"] not in failed]
        for i in range(0, len(ok), 10):
            chunk = ok[i:i + 10]
            self.cloud.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(chunk)],
            )
        if failed and self.fifo:
            with self._lock:
                self._group_held_until = max(self._group_held_until, time.monotonic() + self.retry_after_s + 0.5)
        for m in msgs:
            if m["MessageId"] in failed:
                try:
                    self.cloud.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self.retry_after_s
                    )
                except Exception as e:  # noqa: BLE001
                    log.debug("change_message_visibility: %s", e)

    def _failures(self, resp: Any, msgs: list[dict[str, Any]]) -> set[str] | None:
        """The records to keep, from a partial batch response; None = the whole batch failed."""
        if not self.report_failures:
            return set()
        if resp is None or resp == "" or resp == {}:
            return set()
        if isinstance(resp, (bytes, str)):
            try:
                resp = json.loads(resp)
            except ValueError:
                return set()
        if not isinstance(resp, dict) or "batchItemFailures" not in resp:
            return set()
        items = resp.get("batchItemFailures")
        if items is None:
            return set()
        ids = {m["MessageId"] for m in msgs}
        out = set()
        for it in items:
            ident = it.get("itemIdentifier") if isinstance(it, dict) else None
            if not ident or ident not in ids:
                log.warning("%s: invalid batchItemFailures entry %r: the whole batch fails", self.queue_name, it)
                return None
            out.add(ident)
        return out
