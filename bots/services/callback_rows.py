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

A callback that came before its message had a sync ID is stored unmatched and looked for once more
after its commit (``delivery.callback_match_after_commit``): that look is one statement too, which
matches the receipt only if the worker has not meanwhile, and settles the message the same way.
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
    sql, fields, statuses = _built(_statements, _statement, connection, changes, open_statuses)
    receipt.inbound, receipt.message, receipt.matched_at = event, None, timezone.now()
    changed, history_row = _settling_params(connection, changes, fields, statuses, history)
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
        *changed,
        *history_row,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk, receipt.pk, message_id, correlation_id = cursor.fetchone()
    for row in (event, receipt):
        row._state.adding, row._state.db = False, connection.alias
    # The request's key is known only now: assigned before, the receipt took its empty one.
    receipt.inbound, receipt.message_id = event, message_id
    if message_id is None:
        receipt.matched_at = None
    else:
        event.correlation_id = correlation_id
    return message_id is not None


def callback_match_settle(
    receipt: CallbackReceipt,
    *,
    changes: Mapping[str, Any],
    history: MessageEvent,
    open_statuses: Iterable[str],
) -> bool | None:
    """A stored, unmatched ``receipt`` matched to the message its bot and sync ID name, its request joined
    to the message's conversation turn, and the message given ``changes`` and ``history`` if its
    status is one of ``open_statuses``: ``callback_store_settle`` for a callback stored before its
    message had a sync ID, looked for again once stored. Unless the receipt was matched meanwhile (by
    the worker, which then settled the message itself): then nothing is written. Returns whether the
    message was found; None where this is not PostgreSQL.
    """
    connection = connections[router.db_for_write(CallbackReceipt)]
    if connection.vendor != "postgresql":
        return None
    sql, fields, statuses = _built(_matches, _match_statement, connection, changes, open_statuses)
    matched_at = timezone.now()
    changed, history_row = _settling_params(connection, changes, fields, statuses, history)
    params: list[Any] = [
        _sync_field.get_db_prep_value(receipt.sync_id, connection),
        receipt.bot_id,
        *changed,
        receipt.pk,
        *history_row,
        _matched_at.get_db_prep_save(matched_at, connection),
        receipt.pk,
        receipt.inbound_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        message_id, _settled, matched = cursor.fetchone()
    if matched is not None:
        receipt.message_id, receipt.matched_at = message_id, matched_at
    return message_id is not None


_Statements = dict[tuple[str, tuple[str, ...], int], str]


def _built(
    kept: _Statements,
    build: Callable[[BaseDatabaseWrapper, tuple[str, ...], int], str],
    connection: BaseDatabaseWrapper,
    changes: Mapping[str, Any],
    open_statuses: Iterable[str],
) -> tuple[str, tuple[str, ...], list[str]]:
    """A statement built once per changed fields and number of open statuses (and kept in ``kept``),
    with those fields and statuses in the order of its parameters."""
    statuses = sorted(open_statuses)
    fields = tuple(sorted(changes))
    key = (connection.alias, fields, len(statuses))
    sql = kept.get(key)
    if sql is None:
        sql = kept[key] = build(connection, fields, len(statuses))
    return sql, fields, statuses


def _settling_params(
    connection: BaseDatabaseWrapper,
    changes: Mapping[str, Any],
    fields: tuple[str, ...],
    statuses: list[str],
    history: MessageEvent,
) -> tuple[list[Any], list[Any]]:
    """The parameters of ``_settling_parts``: of ``settled`` (the changes, the open statuses), of ``history``."""
    changed = [OutboundMessage._meta.get_field(name) for name in fields]
    return (
        [*(field.get_db_prep_save(changes[field.name], connection) for field in changed), *statuses],  # type: ignore[union-attr]
        row_values(history, connection, without=MessageEvent._meta.get_field("message")),
    )


_found = (CallbackReceipt._meta.get_field("inbound"), CallbackReceipt._meta.get_field("message"))
_matched_at = CallbackReceipt._meta.get_field("matched_at")
_sync_field = OutboundMessage._meta.get_field("sync_id")
_statements: _Statements = {}
_matches: _Statements = {}


def _statement(connection: BaseDatabaseWrapper, changed: tuple[str, ...], statuses: int) -> str:
    """The statement for a set of changed message fields and a number of open statuses. Its parameters:
    the sync and bot IDs, the request's row, the receipt's (no request, no message), the changes, the
    statuses, the history row's (no message)."""
    pk = column_sql(connection, OutboundMessage, "id")
    correlation = column_sql(connection, OutboundMessage, "correlation_id")
    request_pk, receipt_pk = column_sql(connection, InboundEvent, "id"), column_sql(connection, CallbackReceipt, "id")
    inbound, message = _found
    own = {
        inbound: f"(SELECT {request_pk} FROM parent)",
        message: f"(SELECT {pk} FROM m)",
        _matched_at: f"CASE WHEN EXISTS (SELECT 1 FROM m) THEN {typed_placeholder(_matched_at, connection)} END",
    }
    parts = [
        _message_part(connection),
        _inserted(
            connection,
            "parent",
            InboundEvent,
            lambda f: f"COALESCE((SELECT {correlation} FROM m), %s)" if f.name == "correlation_id" else "%s",
            f"VALUES ({{row}}) RETURNING {request_pk}",
        ),
        _inserted(
            connection,
            "receipt",
            CallbackReceipt,
            lambda f: own.get(f, "%s"),
            f"VALUES ({{row}}) RETURNING {receipt_pk}",
        ),
        *_settling_parts(connection, changed, statuses, source="m"),
    ]
    # The parts that write run to completion whether or not the SELECT reads them.
    keys = f"(SELECT {request_pk} FROM parent), (SELECT {receipt_pk} FROM receipt), (SELECT {pk} FROM m)"
    return f"WITH {', '.join(parts)} SELECT {keys}, (SELECT {correlation} FROM m)"


def _match_statement(connection: BaseDatabaseWrapper, changed: tuple[str, ...], statuses: int) -> str:
    """``callback_match_settle``'s statement. Its parameters: the sync and bot IDs, the changes, the
    statuses, the receipt's key, the history row's (no message), the time matched, the receipt's key
    again and its request's.

    The message is settled only if the receipt was not matched when the statement began, and if its
    status is open as it is at the write; the receipt is matched only if it is not yet, as it is at
    the write. Rows are locked in the order the worker's ``callbacks_apply`` locks them (the message,
    the receipt, the request): the main query asks for ``settled`` before ``matched``, and the part
    no one reads runs last. The other order deadlocked with the worker settling the same callback.
    """
    quote = connection.ops.quote_name
    pk = column_sql(connection, OutboundMessage, "id")
    correlation = column_sql(connection, OutboundMessage, "correlation_id")
    receipts, requests = quote(CallbackReceipt._meta.db_table), quote(InboundEvent._meta.db_table)
    receipt_pk, request_pk = column_sql(connection, CallbackReceipt, "id"), column_sql(connection, InboundEvent, "id")
    receipt_message = column_sql(connection, CallbackReceipt, "message")
    unmatched = f"EXISTS (SELECT 1 FROM {receipts} r WHERE r.{receipt_pk} = %s AND r.{receipt_message} IS NULL)"
    parts = [
        _message_part(connection),
        *_settling_parts(connection, changed, statuses, source="m", also=unmatched),
        f"matched AS (UPDATE {receipts} SET {receipt_message} = m.{pk},"
        f" {quote(_matched_at.column)} = {typed_placeholder(_matched_at, connection)}"
        f" FROM m WHERE {receipts}.{receipt_pk} = %s AND {receipts}.{receipt_message} IS NULL"
        f" RETURNING {receipts}.{receipt_pk})",
        # The request joins the conversation turn of the message its callback answers.
        f"joined AS (UPDATE {requests} SET {column_sql(connection, InboundEvent, 'correlation_id')} = m.{correlation}"
        f" FROM m, matched WHERE {requests}.{request_pk} = %s)",
    ]
    keys = f"(SELECT {pk} FROM m), (SELECT count(*) FROM settled), (SELECT {receipt_pk} FROM matched)"
    return f"WITH {', '.join(parts)} SELECT {keys}"


def _message_part(connection: BaseDatabaseWrapper) -> str:
    """``m``: the message of the bot and sync ID given, its key and correlation ID (the newest, should
    BotX ever give a sync ID twice)."""
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    pk = column_sql(connection, OutboundMessage, "id")
    correlation = column_sql(connection, OutboundMessage, "correlation_id")
    return (
        f"m AS (SELECT {pk}, {correlation} FROM {table} WHERE {column_sql(connection, OutboundMessage, 'sync_id')} = %s"
        f" AND {column_sql(connection, OutboundMessage, 'bot')} = %s ORDER BY {pk} DESC LIMIT 1)"
    )


def _settling_parts(
    connection: BaseDatabaseWrapper, changed: tuple[str, ...], statuses: int, *, source: str, also: str = ""
) -> list[str]:
    """``settled``: the message ``m`` (of ``source``) given the changes if its status is one of the open
    ones, as it is at the write (and ``also`` holds); ``history``: its history row, if it was."""
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    pk = column_sql(connection, OutboundMessage, "id")
    changes = ", ".join(f"{column_sql(connection, OutboundMessage, name)} = %s" for name in changed)
    return [
        f"settled AS (UPDATE {table} SET {changes}"
        f" FROM {source} WHERE {table}.{pk} = m.{pk} AND {table}.{column_sql(connection, OutboundMessage, 'status')}"
        f" IN ({', '.join(['%s'] * statuses)}){f' AND {also}' if also else ''} RETURNING {table}.{pk})",
        _inserted(
            connection,
            "history",
            MessageEvent,
            lambda f: f"settled.{pk}" if f.name == "message" else typed_placeholder(f, connection),
            "SELECT {row} FROM settled",
        ),
    ]


def _inserted(
    connection: BaseDatabaseWrapper,
    name: str,
    model: type[Any],
    values: Callable[[Field[Any, Any]], str],
    source: str,
) -> str:
    """``name AS (INSERT INTO <model's table> (<its columns>) <source>)``; ``values`` gives each column's
    expression, which ``source`` takes as ``{row}``."""
    quote = connection.ops.quote_name
    fields = insert_fields(model)
    columns, row = ", ".join(quote(f.column) for f in fields), ", ".join(values(f) for f in fields)
    return f"{name} AS (INSERT INTO {quote(model._meta.db_table)} ({columns}) {source.format(row=row)})"
