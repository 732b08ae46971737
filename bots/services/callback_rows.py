# ruff: noqa: S608  (the statement is built from the models' metadata; every value is a parameter)
"""A BotX callback stored and settled in one statement on PostgreSQL.

Every message sent brings a callback: half of a bot's requests are callbacks. Read first and written
after (``delivery.callback_settling_checked``), a matched one costs two statements and the read message
built as a model. Here one statement does it all: it finds the message by the bot and sync ID, inserts
the request (joined to the message's conversation turn) and the receipt (matched to the message), and
moves the message to the callback's status, with its history row, if it is still open to a callback.

That condition is checked on the row as it is at the write: an UPDATE that finds its row changed since
its snapshot waits for the change and tests its WHERE again on the new version (READ COMMITTED). So a
message settled meanwhile, by a repeated callback or an operator, is left as it is, as under a lock,
with no lock taken before and no second try.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from bots.models import CallbackReceipt, InboundEvent, MessageEvent, OutboundMessage
from bots.services.rows import column_sql, insert_fields, row_values, typed_placeholder


def callback_store_settle(
    event: InboundEvent,
    receipt: CallbackReceipt,
    *,
    changes: Mapping[str, Any],
    history: MessageEvent,
    open_statuses: Iterable[str],
) -> bool | None:
    """Insert ``event`` and ``receipt`` (its ``bot_id`` and ``sync_id`` name the message), and write
    ``changes`` to the message if its status is one of ``open_statuses``, with ``history`` (its message
    left unset) as the step. Returns whether the message was found (matched); None where this is not
    PostgreSQL: the caller reads, then writes.

    ``event`` and ``receipt`` get their keys; if the message is found, ``receipt`` is matched to it
    and ``event`` takes its correlation ID."""
    connection = connections[router.db_for_write(InboundEvent)]
    if connection.vendor != "postgresql":
        return None
    statuses = sorted(open_statuses)
    fields = tuple(sorted(changes))
    key = (connection.alias, fields, len(statuses))
    sql = _statements.get(key)
    if sql is None:
        sql = _statements[key] = _statement(connection, fields, len(statuses))
    receipt.inbound, receipt.message, receipt.matched_at = event, None, timezone.now()
    changed = [OutboundMessage._meta.get_field(name) for name in fields]
    params: list[Any] = [
        _sync_field.get_db_prep_value(receipt.sync_id, connection),
        receipt.bot_id,
        *row_values(event, connection),
        # The receipt's request and message are the statement's own (the request it inserts, the message it finds).
        *(
            field.get_db_prep_save(field.pre_save(receipt, True), connection)
            for field in insert_fields(CallbackReceipt)
            if field not in _found
        ),
        *(field.get_db_prep_save(changes[field.name], connection) for field in changed),  # type: ignore[union-attr]
        *statuses,
        *row_values(history, connection, without=MessageEvent._meta.get_field("message")),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk, receipt.pk, message_id, correlation_id = cursor.fetchone()
    for row in (event, receipt):
        row._state.adding, row._state.db = False, connection.alias
    receipt.message_id = message_id
    if message_id is None:
        receipt.matched_at = None
    else:
        event.correlation_id = correlation_id
    return message_id is not None


_found = (CallbackReceipt._meta.get_field("inbound"), CallbackReceipt._meta.get_field("message"))
_sync_field = OutboundMessage._meta.get_field("sync_id")
_statements: dict[tuple[str, tuple[str, ...], int], str] = {}


def _statement(connection: BaseDatabaseWrapper, changed: tuple[str, ...], statuses: int) -> str:
    """The statement for a set of changed message fields and a number of open statuses. Its parameters:
    the sync and bot IDs, the request's row, the receipt's (no request, no message), the changes, the
    statuses, the history row's (no message)."""
    quote = connection.ops.quote_name

    def column(model: type[Any], name: str) -> str:
        return column_sql(connection, model, name)

    def inserted(name: str, model: type[Any], values: Callable[[Field[Any, Any]], str], source: str) -> str:
        """``name AS (INSERT INTO <model's table> (<its columns>) <source>)``; ``values`` gives each
        column's expression, which ``source`` takes as ``{row}``."""
        fields = insert_fields(model)
        columns, row = ", ".join(quote(f.column) for f in fields), ", ".join(values(f) for f in fields)
        return f"{name} AS (INSERT INTO {quote(model._meta.db_table)} ({columns}) {source.format(row=row)})"

    table, pk = quote(OutboundMessage._meta.db_table), column(OutboundMessage, "id")
    correlation = column(OutboundMessage, "correlation_id")
    request_pk, receipt_pk = column(InboundEvent, "id"), column(CallbackReceipt, "id")
    inbound, message = _found
    matched_at = CallbackReceipt._meta.get_field("matched_at")
    own = {
        inbound: f"(SELECT {request_pk} FROM parent)",
        message: f"(SELECT {pk} FROM m)",
        matched_at: f"CASE WHEN EXISTS (SELECT 1 FROM m) THEN {typed_placeholder(matched_at, connection)} END",
    }
    parts = [
        f"m AS (SELECT {pk}, {correlation} FROM {table} WHERE {column(OutboundMessage, 'sync_id')} = %s"
        f" AND {column(OutboundMessage, 'bot')} = %s ORDER BY {pk} DESC LIMIT 1)",
        inserted(
            "parent",
            InboundEvent,
            lambda f: f"COALESCE((SELECT {correlation} FROM m), %s)" if f.name == "correlation_id" else "%s",
            f"VALUES ({{row}}) RETURNING {request_pk}",
        ),
        inserted("receipt", CallbackReceipt, lambda f: own.get(f, "%s"), f"VALUES ({{row}}) RETURNING {receipt_pk}"),
        f"settled AS (UPDATE {table} SET {', '.join(f'{column(OutboundMessage, name)} = %s' for name in changed)}"
        f" FROM m WHERE {table}.{pk} = m.{pk} AND {table}.{column(OutboundMessage, 'status')}"
        f" IN ({', '.join(['%s'] * statuses)}) RETURNING {table}.{pk})",
        inserted(
            "history",
            MessageEvent,
            lambda f: f"settled.{pk}" if f.name == "message" else typed_placeholder(f, connection),
            "SELECT {row} FROM settled",
        ),
    ]
    # The parts that write run to completion whether or not the SELECT reads them.
    keys = f"(SELECT {request_pk} FROM parent), (SELECT {receipt_pk} FROM receipt), (SELECT {pk} FROM m)"
    return f"WITH {', '.join(parts)} SELECT {keys}, (SELECT {correlation} FROM m)"
