"""moto_server, with SQS FIFO receives filled the way SQS fills them.

    python tests/localcloud/localcloud/moto_server.py -H 127.0.0.1 -p PORT

SQS: "when receiving messages from a FIFO queue with multiple message groups, Amazon SQS tries
to return as many messages with the same message group ID as possible"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
moto hands out visible messages in send order, so with sends interleaved across groups one
receive of ten takes a message or two from every group and holds them all: a mapping's
concurrent loops then find nothing else to do. Here a FIFO queue's visible messages are listed
group by group (the group with the oldest message first, each group in its own order), so a
receive fills its batch from one group before the next, as SQS does.

DynamoDB: moto's TransactWriteItems deep-copies every table it touches before it starts, to
roll back by putting the copies back. That costs time in proportion to the table (a busy run
slows down as it goes), races other writers ("dictionary changed size during iteration", a
500), and a rollback would undo every other client's writes made meanwhile. Here a transaction
holds a lock that single writes also take, remembers only the items it touches, and a failed
one puts exactly those back, as DynamoDB isolates and rolls back a transaction. Everything else
is moto's.
"""
from __future__ import annotations

import copy
import sys
import threading
from typing import Any


def _patch_dynamodb() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class _TablesAreNotCopied:
        """moto's module sees this as `copy`: a whole table is not copied (rollback is ours)."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = _TablesAreNotCopied  # type: ignore[assignment]
    lock = threading.RLock()

    def locked(method: Any) -> Any:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(self, *args, **kwargs)
        return run

    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))

    transact = DynamoDBBackend.transact_write_items

    def touched(self: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
        out = []
        for item in transact_items:
            _, op = next(iter(item.items()))
            name = op.get("TableName")
            table = self.tables.get(name)
            if table is None:
                continue
            if "Item" in op:
                attrs = op["Item"]
                key = {k: attrs[k] for k in (table.hash_key_attr, table.range_key_attr) if k and k in attrs}
            else:
                key = op.get("Key") or {}
            if not key:
                continue
            current = self.get_item(name, key)
            out.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        return out

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            before = touched(self, transact_items)
            try:
                return transact(self, transact_items)
            except Exception:
                for name, key, attrs in before:
                    if attrs is None:
                        if self.get_item(name, key) is not None:
                            self.delete_item(name, key)
                    else:
                        self.put_item(name, attrs)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _patch() -> None:
    from moto.sqs.models import Queue

    visible = Queue.messages.fget  # type: ignore[attr-defined]

    def messages(self: Any) -> list[Any]:
        msgs = visible(self)
        if not self.fifo_queue or len(msgs) < 2:
            return msgs
        first: dict[Any, int] = {}
        for m in msgs:
            first.setdefault(m.group_id, len(first))
        return sorted(msgs, key=lambda m: first[m.group_id])  # stable: each group keeps its order

    Queue.messages = property(messages)  # type: ignore[assignment]


if __name__ == "__main__":
    _patch()
    _patch_dynamodb()
    from moto.server import main

    sys.argv[0] = "moto_server"
    sys.exit(main())
