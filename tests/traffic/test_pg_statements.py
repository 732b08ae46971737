"""The conversion of long statements is kept per process on PostgreSQL (bots/pg_statements.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import ProgrammingError, connection
from django.db.backends.postgresql.base import Cursor as ClientBindingCursor  # type: ignore[attr-defined]
from psycopg import _queries
from psycopg.adapt import Transformer
from psycopg.types.json import Jsonb

from bots import pg_statements

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's conversion of statements"),
]

# Past psycopg's own cache (more than 50 parameters), with a literal percent sign.
LONG = "SELECT " + ", ".join(["%s::int"] * 60) + ", 7 %% 4"


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The statements psycopg converts from now on (the kept ones emptied first)."""
    converted: list[bytes] = []
    convert = _queries._query2pg_nocache

    def counted(query: bytes, encoding: str) -> Any:
        converted.append(query)
        return convert(query, encoding)

    monkeypatch.setattr(_queries, "_query2pg_nocache", counted)
    monkeypatch.setattr(pg_statements, "_kept", {})
    monkeypatch.setattr(pg_statements, "_kept_chars", 0)
    yield converted


def run(sql: str, params: list[Any]) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return tuple(cursor.fetchone())


def test_a_long_statement_is_converted_once_and_runs_with_each_call_s_values(conversions: list[bytes]) -> None:
    first = run(LONG, list(range(60)))
    second = run(LONG, list(range(100, 160)))

    assert first == (*range(60), 3)
    assert second == (*range(100, 160), 3)
    assert len(conversions) == 1


def sent(query: _queries.PostgresQuery) -> tuple[Any, ...]:
    """What a cursor sends of a converted statement: the text, the values as bytes, their types and formats."""
    params = [None if value is None else bytes(value) for value in query.params or ()]
    return query.query, params, tuple(query.types), list(query.formats or ())


def test_what_is_sent_is_what_psycopg_itself_sends(conversions: list[bytes]) -> None:
    connection.ensure_connection()
    sql = "SELECT " + ", ".join(["%s"] * 60) + " WHERE 7 %% 4 = 3"
    when = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    values: list[Any] = [1, "текст", None, uuid.uuid4(), when, Jsonb({"a": [1]})] * 10

    theirs = _queries.PostgresQuery(Transformer(connection.connection))
    theirs.convert(sql, values)
    ours = [pg_statements._KeptQuery(Transformer(connection.connection)) for _ in range(2)]
    for query in ours:
        query.convert(sql, values)

    assert sent(ours[0]) == sent(ours[1]) == sent(theirs)
    assert len(conversions) == 2  # psycopg's, and the first of ours; the second was kept


def test_a_short_statement_is_left_to_psycopgs_own_cache(conversions: list[bytes]) -> None:
    short = "SELECT " + ", ".join(["%s::int"] * 3)

    assert run(short, [1, 2, 3]) == (1, 2, 3)
    assert (short, "utf-8") not in pg_statements._kept
    assert run(LONG, list(range(60)))[-1] == 3
    assert (LONG, "utf-8") in pg_statements._kept


def test_the_connections_cursor_is_the_one_that_keeps_conversions() -> None:
    connection.ensure_connection()

    assert connection.connection.cursor_factory is pg_statements.KeptStatementCursor


def test_a_statement_given_the_wrong_number_of_values_is_refused_every_time(conversions: list[bytes]) -> None:
    for _ in range(2):
        with pytest.raises(ProgrammingError, match="60 placeholders but 59 parameters"):
            run(LONG, list(range(59)))

    assert run(LONG, list(range(60)))[-1] == 3


def test_past_the_bound_the_kept_conversions_start_again(
    conversions: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = LONG.replace("7 %% 4", "9 %% 4")
    monkeypatch.setattr(pg_statements, "KEPT_CHARS", len(LONG) + len(other) - 1)
    run(LONG, list(range(60)))
    run(other, list(range(60)))  # does not fit beside the first: the first is let go

    assert run(LONG, list(range(60)))[-1] == 3
    assert run(other, list(range(60)))[-1] == 1
    assert len(conversions) == 4
    assert pg_statements._kept_chars <= pg_statements.KEPT_CHARS


def test_a_cursor_other_than_djangos_server_binding_one_is_left_as_configured() -> None:
    connection.ensure_connection()
    raw = connection.connection
    kept = raw.cursor_factory
    try:
        raw.cursor_factory = ClientBindingCursor
        pg_statements._on_connection_created(None, connection)

        assert raw.cursor_factory is ClientBindingCursor
    finally:
        raw.cursor_factory = kept
