"""On PostgreSQL the statements every command runs are prepared once per connection (portal/env.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

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
