"""Claiming outbox rows for delivery, with the bots' send slots they need (the per-bot rate limit).

A worker moves the due rows from pending to sending (skipping a row another worker holds, and one
behind an earlier open message of its chat), then takes as many of each bot's next send slots as it
won rows, up to ``INLINE_WAIT_SECONDS`` ahead; the rest wait for a later slot. On PostgreSQL the claim
and the slots are one statement; elsewhere they are three or four in a transaction. Both for every
chunk of messages a worker sends, so each round trip saved is one per reply.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from bots.models import Bot, OutboundMessage, SendSlot
from bots.services.bot_rows import bots_read
from bots.services.rows import Columns, choices_sql, column_sql, columns_of, row_first, rows_update

Status = OutboundMessage.Status

# A wait for the rate limit shorter than this is slept in the worker; a longer one is rescheduled.
INLINE_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class Slots:
    """A bot's send slots taken for a chunk: each message's wait in seconds from ``reserved_at``
    (``time.monotonic()``), and how far away the next free slot is (for the messages left without one)."""

    waits: list[float]
    later: float
    reserved_at: float


def claim_many(
    message_ids: list[int], known: Mapping[int, Bot] | None = None
) -> tuple[list[OutboundMessage], dict[int, Slots]]:
    """Claim the due rows of ``message_ids`` (``claim_rows``) and take their send slots; returns the rows
    this worker won, in id order, each with its bot (from ``known``, the caller's bots by key, or read),
    and the slots by bot."""
    now = timezone.now()
    reserved_at = time.monotonic()
    connection = connections[router.db_for_write(OutboundMessage)]
    if connection.vendor == "postgresql":
        won, taken = _claim_with_slots(message_ids, now, reserved_at, connection)
        bots = _bots_attach(won, known)
        for bot_pk, count in _counts(won).items():
            if bot_pk not in taken:
                # The bot's first send: its slot row is made now.
                with transaction.atomic():
                    taken[bot_pk] = _reserve(bots[bot_pk], count, reserved_at)
        return won, taken
    with transaction.atomic():
        won = claim_rows(message_ids, now)
        bots = _bots_attach(won, known)
        # In the order of the bots' keys, so that two workers taking the slots of the same bots
        # cannot wait for each other.
        counts = _counts(won)
        return won, {bot_pk: _reserve(bots[bot_pk], counts[bot_pk], reserved_at) for bot_pk in sorted(counts)}


def _bots_attach(won: list[OutboundMessage], known: Mapping[int, Bot] | None) -> dict[int, Bot]:
    """Give the rows their bots, each (with its CTS) read once for the chunk rather than joined to
    every row, unless ``known``; a row whose bot is gone is left without one (and without ``bot_id``)."""
    wanted = {m.bot_id for m in won if m.bot_id is not None}
    bots = {pk: bot for pk, bot in (known or {}).items() if pk in wanted}
    bots.update(bots_read(wanted - bots.keys()))
    for message in won:
        if message.bot_id is not None:
            message.bot = bots.get(message.bot_id)  # None (the bot deleted) also clears bot_id
    return bots


def _counts(won: list[OutboundMessage]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for message in won:
        if message.bot_id is not None:
            counts[message.bot_id] = counts.get(message.bot_id, 0) + 1
    return counts


_claims: dict[tuple[str, int, bool], tuple[str, Columns]] = {}


def claim_rows(message_ids: list[int], now: dt.datetime) -> list[OutboundMessage]:
    """Move the due ``message_ids`` from pending to sending, skipping a row another worker holds and a
    row with an earlier message of its chat still open; return the rows moved, in id order.

    One statement, built once per chunk size: the ORM's ``select_for_update(skip_locked=True)`` with
    an ``Exists`` test of the chat's earlier messages, then an ``update()``, compiled both every time,
    cost a chunk more CPU than its BotX calls.
    """
    connection = connections[router.db_for_write(OutboundMessage)]
    sql, columns = _claim_statement(connection, len(message_ids), slots=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, _claim_params(connection, message_ids, now))
        won: list[OutboundMessage] = columns.instances(OutboundMessage, connection, cursor.fetchall())
    won.sort(key=lambda message: message.pk)
    return won


def _claim_with_slots(
    message_ids: list[int], now: dt.datetime, reserved_at: float, connection: Any
) -> tuple[list[OutboundMessage], dict[int, Slots]]:
    """``claim_rows`` and the slots of the bots of the rows won, in one statement (PostgreSQL). A bot
    without a slot row yet is left out of the slots."""
    sql, columns = _claim_statement(connection, len(message_ids), slots=True)
    params = _claim_params(connection, message_ids, now)
    # The slot part's values, in their order in the statement: now, now, how far ahead, now.
    params += [now, now, INLINE_WAIT_SECONDS, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    won: list[OutboundMessage] = columns.instances(OutboundMessage, connection, [row[:-1] for row in found])
    won.sort(key=lambda message: message.pk)
    taken: dict[int, Slots] = {}
    # Every row carries the same list: per bot, the first slot's wait, the slots taken, the interval.
    for bot_pk, first, count, interval in json.loads(found[0][-1] or "[]") if found else []:
        waits = [first + n * interval for n in range(count)]
        taken[bot_pk] = Slots(waits, first + count * interval, reserved_at)
    return won, taken


def _claim_params(connection: Any, message_ids: list[int], now: dt.datetime) -> list[Any]:
    status = OutboundMessage._meta.get_field("status")
    at = OutboundMessage._meta.get_field("sent_at")
    return [
        status.get_db_prep_value(Status.SENDING, connection),
        at.get_db_prep_value(now, connection),
        *message_ids,
        at.get_db_prep_value(now, connection),
    ]


def _claim_statement(connection: Any, count: int, *, slots: bool) -> tuple[str, Columns]:
    key = (connection.alias, count, slots)
    if key not in _claims:
        _claims[key] = _claim_build(connection, count, slots)
    return _claims[key]


def _claim_build(connection: Any, count: int, slots: bool) -> tuple[str, Columns]:
    quote = connection.ops.quote_name
    table = quote(OutboundMessage._meta.db_table)

    def column(name: str) -> str:
        return column_sql(connection, OutboundMessage, name)

    pk, bot, chat, status = column("id"), column("bot"), column("chat_id"), column("status")
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = " FOR UPDATE SKIP LOCKED"
    elif connection.features.has_select_for_update:
        lock = " FOR UPDATE"
    # The statuses as constants: the earlier open message of the chat is looked for in the partial index
    # outbound_chat_order_idx (rows.choices_sql).
    pending, opened = choices_sql(Status.PENDING), choices_sql(*OutboundMessage.OPEN_STATUSES)
    columns = columns_of(OutboundMessage, connection)
    # Names from the model's metadata, choices of the model; every other value is a parameter.
    claim = (
        f"UPDATE {table} SET {status} = %s, {column('attempts')} = {column('attempts')} + 1, "  # noqa: S608
        f"{column('sent_at')} = %s WHERE {pk} IN ("
        f"SELECT m.{pk} FROM {table} m WHERE m.{pk} IN ({', '.join(['%s'] * count)}) AND m.{status} = {pending} "
        f"AND m.{column('next_attempt_at')} <= %s AND NOT EXISTS (SELECT 1 FROM {table} e "
        f"WHERE e.{bot} = m.{bot} AND e.{chat} = m.{chat} AND e.{pk} < m.{pk} AND e.{status} IN ({opened})) "
        f"ORDER BY m.{pk}{lock}) RETURNING {columns.sql(connection)}"
    )
    if not slots:
        return claim, columns
    slot_table, slot_bot = quote(SendSlot._meta.db_table), column_sql(connection, SendSlot, "bot")
    next_at = column_sql(connection, SendSlot, "next_at")
    bot_table, rate = quote(Bot._meta.db_table), column_sql(connection, Bot, "rate_limit")
    bot_pk = column_sql(connection, Bot, "id")
    # The slots as _reserve takes them: from the later of the slot's time and now, one per
    # 1/rate_limit seconds, as many as the bot's rows won but none more than INLINE_WAIT_SECONDS
    # ahead. The slot rows are locked in the order of their bots (two workers never wait for each
    # other), read afresh once locked, and moved on only if a slot was taken.
    sql = (
        f"WITH won AS ({claim}), "  # noqa: S608
        f"wanted AS (SELECT {bot} AS bot, count(*) AS n FROM won WHERE {bot} IS NOT NULL GROUP BY {bot}), "
        f"locked AS MATERIALIZED (SELECT s.{slot_bot} AS bot, GREATEST(s.{next_at}, %s) AS start, w.n, "
        f"1.0::float8 / GREATEST(b.{rate}, 1) AS step FROM {slot_table} s JOIN wanted w ON w.bot = s.{slot_bot} "
        f"JOIN {bot_table} b ON b.{bot_pk} = s.{slot_bot} ORDER BY s.{slot_bot} FOR UPDATE OF s), "
        f"taken AS MATERIALIZED (SELECT bot, start, step, EXTRACT(EPOCH FROM start - %s)::float8 AS first, "
        f"LEAST(n, GREATEST(0, FLOOR((%s - EXTRACT(EPOCH FROM start - %s)::float8) / step) + 1))::int AS k "
        f"FROM locked), "
        f"moved AS (UPDATE {slot_table} s SET {next_at} = t.start + make_interval(secs => t.k * t.step) "
        f"FROM taken t WHERE s.{slot_bot} = t.bot AND t.k > 0) "
        f"SELECT won.*, (SELECT json_agg(json_build_array(bot, first, k, step)) FROM taken)::text FROM won"
    )
    return sql, columns


def _slot_locked(bot: Bot) -> SendSlot:
    """The bot's send slot, locked until the end of the caller's transaction (made on first use)."""
    slot = row_first(SendSlot, fields=("bot", "next_at"), where={"bot": bot.pk}, for_update=True)
    if slot is None:
        slot, _ = SendSlot.objects.select_for_update().get_or_create(bot=bot)
    return slot


def _reserve(bot: Bot, count: int, reserved_at: float) -> Slots:
    """Take up to ``count`` of the bot's next send slots (the caller holds a transaction)."""
    interval = dt.timedelta(seconds=1 / max(bot.rate_limit, 1))
    waits: list[float] = []
    slot = _slot_locked(bot)
    now = timezone.now()
    at = max(slot.next_at, now)
    while len(waits) < count and (at - now).total_seconds() <= INLINE_WAIT_SECONDS:
        waits.append((at - now).total_seconds())
        at += interval
    if waits:
        slot.next_at = at
        rows_update([slot], ["next_at"])
    return Slots(waits, (at - now).total_seconds(), reserved_at)
