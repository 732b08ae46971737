"""psycopg's conversion of the portal's long statements, kept per process.

Before sending a statement, psycopg turns its ``%s`` placeholders into PostgreSQL's ``$1, $2, ...`` with
a regular expression over the whole text. It keeps the result only for statements under 4 KB with at
most 50 parameters, since an ORM's ``INSERT ... VALUES (...), (...)`` of every length would fill its
cache. The message path's statements are exactly those: a batch of command rows is one INSERT of up to
200 rows, a callback one statement of five parts, a delivered chunk one of several. Converted afresh
on every call, they took 15% of a Celery worker's CPU and 3% of the web's in the acknowledgement
burst of bench/traffic.py. Their shapes repeat (each is built once, bots/services/rows.py, and run
thousands of times), so here the conversion is kept per statement text, up to ``KEPT_CHARS`` in all.

That takes psycopg's own query class (from its private module ``psycopg._queries``): the pinned
version's conversion is reused, not written again, and tests/traffic/test_pg_statements.py checks
that what is sent is what psycopg itself would send.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
from django.db.backends.signals import connection_created
from psycopg import _queries
from psycopg.errors import ProgrammingError

# Characters of statement text kept per process, about 16 MB with what each keeps (its converted copy
# and its placeholders' formats: some four bytes a character in all; a 200-row INSERT of commands is
# 18 KB of text). The message path's usual shapes fit many times over; a process that meets more
# (batches of every size beside each other, an ORM's IN lists of every length) starts again empty, as
# rows._selects does, rather than keep every one it ever met.
KEPT_CHARS = 4_000_000

_Converted = tuple[bytes, list[Any]]  # the statement with $n placeholders, the placeholders' formats
_kept: dict[tuple[str, str], _Converted] = {}
_kept_chars = 0


class _KeptQuery(_queries.PostgresQuery):
    """psycopg's ``PostgresQuery``, with a statement of positional placeholders converted once.

    What is kept is the converted text and the formats, not psycopg's split of the statement (a
    tuple per placeholder, about 45 bytes for each byte of text), so ``dump`` is done here as
    psycopg's does it for a sequence of values: check their number, dump them.
    """

    __slots__ = ()

    def convert(self, query: Any, vars: Any) -> None:
        if type(query) is not str or type(vars) not in (list, tuple) or _psycopg_keeps(query, vars):
            super().convert(query, vars)
            return
        key = (query, self._tx.encoding)
        # The text is the key: the statements of rows.py are the same string objects every time, whose
        # hash Python keeps, so a lookup does not read the text again.
        kept = _kept.get(key)
        if kept is None:
            super().convert(query, vars)  # psycopg's conversion and its checks, then kept if positional
            if self._order is None and self._want_formats is not None:
                _keep(key, (self.query, self._want_formats))
            return
        self.query, self._want_formats = kept
        if len(vars) != len(self._want_formats):
            raise ProgrammingError(
                f"the query has {len(self._want_formats)} placeholders but {len(vars)} parameters were passed"
            )
        self.params = self._tx.dump_sequence(vars, self._want_formats)
        self.types = self._tx.types or ()
        self.formats = self._tx.formats


def _psycopg_keeps(query: str, vars: list[Any] | tuple[Any, ...]) -> bool:
    """Whether psycopg keeps the conversion itself: the ORM's short statements, of every shape, are
    left to its cache rather than crowd out the long ones here."""
    return len(vars) <= _queries.MAX_CACHED_STATEMENT_PARAMS and len(query) <= _queries.MAX_CACHED_STATEMENT_LENGTH


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
