"""On PostgreSQL the statements every command runs are prepared once per connection (portal/env.py)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from psycopg.sql import Literal

from bots.models import InboundEvent, OutboundMessage
from bots.services import dispatch, send_claims
from bots.services.delivery import callback_target

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"),
]


def prepared_on_this_connection(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{table}%"])
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_run_again_is_prepared_with_its_values_sent_apart(make_bot: Callable[..., Any]) -> None:
    bot = make_bot(name="Prepared")
    table = '"bots_outboundmessage"'
    for _ in range(3):
        callback_target(bot.pk, uuid.uuid4())

    # One prepared statement for all three lookups: the sync IDs are parameters, not part of the text.
    (statement,) = [s for s in prepared_on_this_connection(table) if "FOR UPDATE" in s]
    assert "$1" in statement


def test_a_statement_run_once_is_not_prepared(make_bot: Callable[..., Any]) -> None:
    make_bot(name="Once")
    marker = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s AS m{marker}", [1])

    assert prepared_on_this_connection(marker) == []


def generic_plan(sql: str, params: list[Any]) -> str:
    """The plan PostgreSQL keeps for ``sql`` once it is prepared and has run five times: one for any
    values (EXPLAIN of a statement with its values plans for those values, so it is prepared by name)."""
    numbers = itertools.count(1)
    name = f"probe_{uuid.uuid4().hex}"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE {name} AS {re.sub('%s', lambda _: f'${next(numbers)}', sql)}")
        values = ", ".join(Literal(value).as_string(connection.connection) for value in params)
        cursor.execute(f"EXPLAIN EXECUTE {name}({values})")  # a statement of its own: no parameters
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"DEALLOCATE {name}")
    return plan


def only_the_partial_index_left(*others: str) -> None:
    """Drop the other indexes the planner could pick (in the test's transaction, rolled back with it):
    what is left to compare is the partial index against reading the table."""
    with connection.cursor() as cursor:
        for index in others:
            cursor.execute(f"DROP INDEX {index}")
        cursor.execute(f"ANALYZE {OutboundMessage._meta.db_table}")


def test_the_delivery_claim_looks_for_an_open_message_before_in_the_partial_index(
    make_bot: Callable[..., Any],
) -> None:
    # A chat with a long history and two messages open. With the statuses as parameters, the generic plan
    # could not use the partial index of open messages: on tables without statistics it read the chat's
    # or the bot's every message for each message claimed (bench/traffic.py: 7,700 index entries each).
    bot, chat = make_bot(name="Claim plan"), uuid.uuid4()
    Status = OutboundMessage.Status
    OutboundMessage.objects.bulk_create(
        OutboundMessage(bot=bot, chat_id=chat, method="notification", payload={}, status=status)
        for status in [Status.DELIVERED] * 3000 + [Status.PENDING] * 2
    )
    only_the_partial_index_left("outbound_chat_time_idx", "outbound_bot_time_idx")
    sql, _columns = send_claims._claim_statement(connection, 2, slots=False)

    plan = generic_plan(sql, send_claims._claim_params(connection, [1, 2], timezone.now()))

    assert "outbound_chat_order_idx" in plan


def test_the_drain_claims_from_the_partial_index_of_waiting_commands_whatever_the_statistics_say(
    make_bot: Callable[..., Any],
) -> None:
    # Statistics taken when no command waited, then a burst: a plan on another index of the status read
    # and sorted the whole backlog for each claim (bench/traffic.py: 8,400 entries, 23 ms a claim).
    bot = make_bot(name="Drain plan")
    Status, Endpoint = InboundEvent.Status, InboundEvent.Endpoint

    def commands(status: str, count: int) -> None:
        InboundEvent.objects.bulk_create(
            InboundEvent(bot=bot, endpoint=Endpoint.COMMAND, sync_id=uuid.uuid4(), status=status) for _ in range(count)
        )

    commands(Status.RECEIVED, 3000)
    InboundEvent.objects.update(status=Status.DONE)  # all drained, as the statistics are taken
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {InboundEvent._meta.db_table}")
    commands(Status.RECEIVED, 2000)
    select, params = dispatch.claim_statement(50, {1})

    plan = generic_plan(select.sql, params)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX inbound_queue_idx")  # rolled back with the test's transaction
    without = generic_plan(select.sql, params)

    assert "inbound_queue_idx" in plan and "Sort" not in plan
    # No other index offers the waiting commands, however the statistics lead the planner.
    assert "Index Cond: ((status)::text = 'received'::text)" not in without
