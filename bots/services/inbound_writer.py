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

Batching needs PostgreSQL in autocommit; inside a transaction (tests, a caller's atomic block) or on
another database the row is saved on its own, in a savepoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction

from bots.models import InboundEvent

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
        if connection.in_atomic_block or connection.vendor != "postgresql":
            return _store_alone(event, self._after_commit)
        item = _Queued(event)
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


def _store_alone(event: InboundEvent, after_commit: Callable[[], None]) -> bool:
    try:
        # A savepoint keeps a duplicate's IntegrityError from breaking an enclosing transaction.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            event.save(force_insert=True)
    except IntegrityError:
        return False
    transaction.on_commit(after_commit)
    return True


def _write_batch(batch: list[_Queued]) -> None:
    try:
        # One statement is atomic by itself; a batch past BATCH_ROWS needs a transaction around its parts.
        with transaction.atomic() if len(batch) > BATCH_ROWS else nullcontext():
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
    sql = _insert_sql(len(items))
    params: list[Any] = []
    for item in items:
        params.extend(field.get_db_prep_save(field.pre_save(item.event, True), connection) for field in _fields())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        stored = {(bot_id, sync_id): pk for pk, bot_id, sync_id in cursor.fetchall()}
    for item in items:
        # Two rows of one command in one batch: the first is stored, the second is the duplicate.
        pk = stored.pop((item.event.bot_id, item.event.sync_id), None)
        item.inserted = pk is not None
        if pk is not None:
            item.event.pk = pk
            item.event._state.adding = False


def _fields() -> list[Any]:
    return [f for f in InboundEvent._meta.concrete_fields if not f.primary_key]


_sql_cache: dict[int, str] = {}


def _insert_sql(rows: int) -> str:
    sql = _sql_cache.get(rows)
    if sql is None:
        fields = _fields()
        quote = connection.ops.quote_name
        table, columns = quote(InboundEvent._meta.db_table), ", ".join(quote(f.column) for f in fields)
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * rows)
        # Names from the model's metadata, every value a parameter. The arbiter is the partial unique
        # index inbound_command_once (the model's constraint).
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608
            "ON CONFLICT (bot_id, sync_id) WHERE endpoint = 'command' AND NOT status = 'rejected' DO NOTHING "
            "RETURNING id, bot_id, sync_id"
        )
        _sql_cache[rows] = sql
    return sql
