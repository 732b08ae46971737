"""psycopg's conversion of the portal's long statements, kept per process.

Before sending a statement, psycopg turns its ``%s`` placeholders into PostgreSQL's ``$1, $2, ...`` with
a regular expression over the whole text. It keeps the result only for statements under 4 KB with at
most 50 parameters, since an ORM's ``INSERT ... VALUES (...), (...)`` of every length would fill its
cache. The message path's statements are exactly those: a batch of command rows is one INSERT of up to
200 rows, a callback one statement of five parts, a delivered chunk one of several. Converted afresh
on every call, they took 15% of a Celery worker's CPU and 3% of the web's in the acknowledgement
burst of bench/traffic.py. They are few shapes, each built once (bots/services/rows.py) and run
thousands of times, so here the conversion is kept per statement text, up to ``KEPT_CHARS`` in all.

That takes psycopg's own query class (from its private module ``psycopg._queries``): the pinned
version's conversion is reused, not written again, and tests/traffic/test_pg_statements.py checks it.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
from django.db.backends.signals import connection_created
from psycopg import _queries

# Characters of statement text kept per process (the converted parts hold about as much again). The
# message path's shapes fit many times over; a process that meets more (an ORM's IN lists of every
# length) starts again empty, as rows._selects does, rather than keep every one it ever met.
KEPT_CHARS = 8_000_000

_Converted = tuple[bytes, list[Any], list[str] | None, list[Any]]
_kept: dict[tuple[str, str], _Converted] = {}
_kept_chars = 0


class _KeptQuery(_queries.PostgresQuery):
    """psycopg's ``PostgresQuery`` with the conversion of a statement with parameters looked up first."""

    __slots__ = ()

    def convert(self, query: Any, vars: Any) -> None:
        if vars is None or type(query) is not str:
            super().convert(query, vars)
            return
        encoding = self._tx.encoding
        # The text is the key: the statements of rows.py are the same string objects every time, whose
        # hash Python keeps, so a lookup does not read the text again.
        converted = _kept.get((query, encoding))
        if converted is None:
            converted = _queries._query2pg_nocache(query.encode(encoding), encoding)
            _keep((query, encoding), converted)
        self.query, self._want_formats, self._order, self._parts = converted
        self.dump(vars)


def _keep(key: tuple[str, str], converted: _Converted) -> None:
    # No lock: dict operations are atomic between request threads, and a total off by a statement or
    # a conversion made twice by two threads costs nothing.
    global _kept_chars
    if _kept_chars + len(key[0]) > KEPT_CHARS:
        _kept.clear()
        _kept_chars = 0
    _kept[key] = converted
    _kept_chars += len(key[0])


class KeptStatementCursor(ServerBindingCursor):
    """Django's cursor for server-side binding, with the statements' conversion kept."""

    _query_cls = _KeptQuery


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    # Only Django's own cursor for server-side binding (portal/env.py's default): client-side binding
    # converts differently, and a cursor class someone configured is theirs.
    if connection.vendor == "postgresql" and connection.connection.cursor_factory is ServerBindingCursor:
        connection.connection.cursor_factory = KeptStatementCursor


def connect() -> None:
    """Give every new PostgreSQL connection the cursor that keeps conversions (from ``AppConfig.ready``)."""
    connection_created.connect(_on_connection_created, dispatch_uid="bots.pg_statements")
