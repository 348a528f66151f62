"""moto_server, with SQS FIFO receives filled the way SQS fills them.

    python tests/localcloud/localcloud/moto_server.py -H 127.0.0.1 -p PORT

SQS: "when receiving messages from a FIFO queue with multiple message groups, Amazon SQS tries
to return as many messages with the same message group ID as possible"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
moto hands out visible messages in send order, so with sends interleaved across groups one
receive of ten takes a message or two from every group and holds them all: a mapping's
concurrent loops then find nothing else to do. Here a FIFO queue's visible messages are listed
group by group (the group with the oldest message first, each group in its own order), so a
receive fills its batch from one group before the next, as SQS does. Everything else is moto's.
"""
from __future__ import annotations

import sys
from typing import Any


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
    from moto.server import main

    sys.argv[0] = "moto_server"
    sys.exit(main())
