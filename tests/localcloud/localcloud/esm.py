"""SQS event source mappings: one poller thread per AWS::Lambda::EventSourceMapping, building the
event as Lambda's SQS poller does and honouring partial batch responses.

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


class SqsPoller:
    def __init__(self, cloud: "LocalCloud", logical_id: str, props: dict[str, Any]) -> None:
        self.cloud = cloud
        self.logical_id = logical_id
        self.queue_arn = props["EventSourceArn"]
        self.queue_name = self.queue_arn.split(":")[-1]
        self.queue_url = cloud.queue_url(self.queue_name)
        fn = cloud.function(props["FunctionName"])
        self.function = fn.name
        self.batch_size = int(props.get("BatchSize", 10))
        self.window_s = float(props.get("MaximumBatchingWindowInSeconds", 0))
        self.report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
        self.max_concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        self.enabled = props.get("Enabled", True) not in (False, "false")
        attrs = cloud.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout", "QueueArn"])["Attributes"]
        self.visibility_timeout = int(attrs.get("VisibilityTimeout", 30))
        self.retry_after_s = max(1, math.ceil(self.visibility_timeout / cloud.time_compression))
        self.batches = 0
        self._seqs: dict[str, str] = {}
        self._seq_counter = 0
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"esm-{self.queue_name}", daemon=True)

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def _receive(self, n: int, wait: int) -> list[dict[str, Any]]:
        return self.cloud.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, n),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.2)
                continue
            try:
                msgs = self._receive(self.batch_size, 1)
                if msgs and self.batch_size > 10:
                    deadline = time.time() + self.window_s / self.cloud.time_compression
                    while len(msgs) < self.batch_size and time.time() < deadline:
                        more = self._receive(self.batch_size - len(msgs), 0)
                        if not more:
                            time.sleep(0.05)
                        msgs.extend(more)
            except Exception as e:  # noqa: BLE001
                if self._stop.is_set():
                    return
                log.warning("%s: receive failed: %s", self.queue_name, e)
                time.sleep(0.5)
                continue
            if not msgs:
                self._idle.set()
                continue
            self._idle.clear()
            try:
                self._process(msgs)
            except Exception:  # noqa: BLE001
                log.exception("%s: poller error", self.queue_name)

    def _sequence(self, message_id: str, sent_ms: str) -> str:
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
        self.batches += 1
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
