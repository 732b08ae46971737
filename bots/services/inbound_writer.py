"""Storing accepted commands: the rows of concurrent requests of one process in one INSERT and one commit.

A ``/command`` is answered 202 only once its row is committed. One INSERT and one commit per request
costs the web process more CPU than everything else it does for the request (Django's compiler builds
each INSERT anew, and every commit is a round trip and a WAL flush on the server). So the request
threads of a process share their writes (group commit): a thread that finds no write under way writes
every row queued by then in one ``INSERT ... ON CONFLICT DO NOTHING`` and commits it; the threads that
queued meanwhile wait for that commit, or for the next write, which the first of them leads. Nobody
waits for a timer: under light load each write holds one row, under heavy load the batch grows by
itself while the previous write is in flight.

A row that conflicts with a stored command (the same ``sync_id`` for the same bot again) is not
inserted, and its request is told so. When a batch fails as a whole on a constraint (a bot deleted
meanwhile), its rows are written again one by one, so that one bad row does not refuse the others.
A database error refuses every row of the batch; their requests answer 503 and BotX sends them again.

Inside a transaction (tests, a caller's atomic block) the row is written at once, in a savepoint, and
the wake-up waits for that transaction's commit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction

from bots.models import InboundEvent
from bots.services.rows import insert_sql, row_values

# Bound on one INSERT: a batch that grows past it is written in several statements of one commit.
BATCH_ROWS = 200


@dataclass(eq=False)
class _Queued:
    event: InboundEvent
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to write the queue, not because its own row was written
    inserted: bool = False
    error: BaseException | None = None


class CommandWriter:
    """Group commit of command rows within one process; ``store`` is safe to call from any thread."""

    def __init__(self, after_commit: Callable[[], None]) -> None:
        self._after_commit = after_commit
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._writing = False

    def store(self, event: InboundEvent) -> bool:
        """Insert ``event`` and commit it; False if the same command is already stored (nothing written).

        Raises the database's error if the row could not be written.
        """
        item = _Queued(event)
        if connection.in_atomic_block:
            _write_batch([item])
            transaction.on_commit(self._after_commit)
            if item.error is not None:
                raise item.error
            return item.inserted
        with self._lock:
            self._queue.append(item)
            lead = not self._writing
            self._writing = True
        if not lead:
            item.ready.wait()
            lead = item.lead
        if lead:
            self._write_queue()
        if item.error is not None:
            raise item.error
        return item.inserted

    def _write_queue(self) -> None:
        """Write what is queued now (this thread's row included), then hand the lead on or give it up."""
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            _write_batch(batch)
            self._after_commit()
        finally:
            with self._lock:
                if self._queue:
                    # Rows queued during this write: their first thread writes them next.
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._writing = False
            for item in batch:
                item.lead = False
                item.ready.set()


def _write_batch(batch: list[_Queued]) -> None:
    try:
        # A statement is atomic by itself. Several (a batch past BATCH_ROWS) need a transaction, and a row
        # written inside a caller's transaction a savepoint, so that its failure does not break that one.
        with transaction.atomic() if len(batch) > BATCH_ROWS or connection.in_atomic_block else nullcontext():
            for start in range(0, len(batch), BATCH_ROWS):
                _insert(batch[start : start + BATCH_ROWS])
    except IntegrityError:
        if len(batch) == 1:
            batch[0].inserted = False
            return
        for item in batch:  # one row broke the batch: each on its own, so only that one is refused
            _write_batch([item])
    except BaseException as exc:
        for item in batch:
            item.error = exc


def _insert(items: Sequence[_Queued]) -> None:
    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, looked up once
    params: list[Any] = []
    for item in items:
        params.extend(row_values(item.event, db))
    with db.cursor() as cursor:
        cursor.execute(insert_sql(InboundEvent, len(items), _ON_CONFLICT), params)
        stored: dict[tuple[Any, uuid.UUID | None], list[int]] = {}
        for pk, bot_id, sync_id in cursor.fetchall():
            # Compared as UUIDs: SQLite hands back the text it stores.
            stored.setdefault((bot_id, None if sync_id is None else uuid.UUID(str(sync_id))), []).append(pk)
    for item in items:
        # Two rows of one command in one batch: the first is stored, the second is the duplicate.
        pks = stored.get((item.event.bot_id, item.event.sync_id))
        item.inserted = bool(pks)
        if pks:
            item.event.pk = pks.pop(0)
            item.event._state.adding = False


# The arbiter is the partial unique index inbound_command_once (the model's constraint): the same
# command again is not an error but a row not returned.
_ON_CONFLICT = (
    "ON CONFLICT (bot_id, sync_id) WHERE endpoint = 'command' AND NOT status = 'rejected' DO NOTHING "
    "RETURNING id, bot_id, sync_id"
)
