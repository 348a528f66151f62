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


class KinesisPoller:
    """A Kinesis event source mapping, as Lambda runs one with a parallelization factor of 1:
    per shard, one batch at a time in sequence-number order (up to BatchSize records, gathered
    for up to MaximumBatchingWindowInSeconds). A partial batch response (ReportBatchItemFailures)
    checkpoints before the lowest failed sequence number and retries from there; a function error
    retries the batch (halved first with BisectBatchOnFunctionError). After MaximumRetryAttempts
    the batch is skipped and its description (shard and sequence numbers, not the records) goes
    to the OnFailure destination, as Lambda does for streams."""

    def __init__(self, cloud: "LocalCloud", logical_id: str, props: dict[str, Any]) -> None:
        self.cloud = cloud
        self.logical_id = logical_id
        self.stream_arn = str(props["EventSourceArn"])
        self.stream_name = self.stream_arn.split("/")[-1]
        self.queue_name = self.stream_name
        self.function = cloud.function(props["FunctionName"]).name
        self.batch_size = int(props.get("BatchSize", 100))
        self.window_s = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.bisect = str(props.get("BisectBatchOnFunctionError", "false")).lower() == "true"
        self.on_failure = (((props.get("DestinationConfig") or {}).get("OnFailure")) or {}).get("Destination")
        self.starting_position = props.get("StartingPosition", "TRIM_HORIZON")
        self.enabled = props.get("Enabled", True) not in (False, "false")
        self.batches = 0
        self.holding = 0
        self.peak_holding = 0
        self._put = 0
        self._done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        shards = cloud.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        self._threads = [threading.Thread(target=self._run, args=(s["ShardId"],), name=f"esm-{self.stream_name}-{s['ShardId']}",
                                          daemon=True) for s in shards]

    def start(self) -> None:
        if self.enabled:
            for t in self._threads:
                t.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5) -> None:
        deadline = time.time() + timeout
        for t in self._threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.time()))

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def busy(self) -> bool:
        with self._lock:
            return self.holding > 0

    def record_put(self) -> None:
        with self._lock:
            self._put += 1

    def pending(self) -> bool:
        """Records put through the cloud that no batch has handled (or skipped) yet."""
        with self._lock:
            return self._done < self._put

    def _iterator(self, shard: str, kind: str, seq: str | None = None) -> str:
        args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard, "ShardIteratorType": kind}
        if seq is not None:
            args["StartingSequenceNumber"] = seq
        return self.cloud.kinesis.get_shard_iterator(**args)["ShardIterator"]

    def _read(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        r = self.cloud.kinesis.get_records(ShardIterator=iterator, Limit=limit)
        return r.get("Records", []), r["NextShardIterator"]

    def _run(self, shard: str) -> None:
        iterator = self._iterator(shard, self.starting_position)
        attempts = 0
        limit = self.batch_size
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.2)
                continue
            try:
                records, after = self._read(iterator, limit)
                if records and len(records) < limit and self.window_s > 0:
                    deadline = time.time() + self.window_s / self.cloud.time_compression
                    while len(records) < limit and time.time() < deadline:
                        more, after = self._read(after, limit - len(records))
                        if not more:
                            time.sleep(0.05)
                        records.extend(more)
            except Exception as e:  # noqa: BLE001
                if self._stop.is_set():
                    return
                log.warning("%s: get_records failed: %s", self.stream_name, e)
                time.sleep(0.5)
                continue
            if not records:
                iterator = after
                time.sleep(0.1)
                continue
            with self._lock:
                self.holding += 1
                self.peak_holding = max(self.peak_holding, self.holding)
                self.batches += 1
            try:
                failed_at = self._process(shard, records)
            finally:
                with self._lock:
                    self.holding -= 1
            if failed_at is None:
                self._handled(len(records))
                iterator, attempts, limit = after, 0, self.batch_size
                continue
            index, whole = failed_at
            self._handled(index)
            attempts += 1
            if self.max_retries >= 0 and attempts > self.max_retries:
                self._give_up(shard, records[index:], attempts)
                self._handled(len(records) - index)
                iterator, attempts, limit = after, 0, self.batch_size
                continue
            if whole and self.bisect and len(records) > 1:
                limit = max(1, len(records) // 2)
            time.sleep(min(1.0, 0.1 * attempts))
            iterator = self._iterator(shard, "AT_SEQUENCE_NUMBER", records[index]["SequenceNumber"])

    def _handled(self, n: int) -> None:
        with self._lock:
            self._done += n

    def event(self, shard: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        import base64

        out = []
        for r in records:
            ts = r.get("ApproximateArrivalTimestamp")
            out.append({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": ts.timestamp() if hasattr(ts, "timestamp") else time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{self.cloud.template.account}:role/localcloud",
                "awsRegion": self.cloud.template.region,
                "eventSourceARN": self.stream_arn,
            })
        return {"Records": out}

    def _process(self, shard: str, records: list[dict[str, Any]]) -> tuple[int, bool] | None:
        """None when the batch is done; else (index of the record to retry from, whether the
        whole batch failed)."""
        try:
            resp = self.cloud.invoke(self.function, self.event(shard, records), source=f"kinesis:{self.stream_name}")
        except FunctionError as e:
            log.warning("%s: %s failed the whole batch of %d: %s", self.stream_name, self.function, len(records), e.message[:300])
            return 0, True
        if not self.report_failures or not isinstance(resp, dict):
            return None
        items = resp.get("batchItemFailures") or []
        if not items:
            return None
        seqs = [r["SequenceNumber"] for r in records]
        failed = []
        for it in items:
            ident = it.get("itemIdentifier") if isinstance(it, dict) else None
            if ident not in seqs:
                log.warning("%s: invalid batchItemFailures entry %r: the whole batch fails", self.stream_name, it)
                return 0, True
            failed.append(seqs.index(ident))
        return min(failed), False

    def _give_up(self, shard: str, records: list[dict[str, Any]], attempts: int) -> None:
        log.error("%s: %d records skipped after %d attempts", self.stream_name, len(records), attempts)
        if not self.on_failure:
            return
        body = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts,
                               "functionArn": f"arn:aws:lambda:{self.cloud.template.region}:{self.cloud.template.account}:function:{self.function}"},
            "KinesisBatchInfo": {"shardId": shard, "startSequenceNumber": records[0]["SequenceNumber"],
                                 "endSequenceNumber": records[-1]["SequenceNumber"], "batchSize": len(records),
                                 "streamArn": self.stream_arn},
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.cloud.send_to_queue_arn(self.on_failure, json.dumps(body))
