"""The bots a batch of traffic needs, read afresh from the registry in one prebuilt statement.

A drained batch and a delivered chunk read their bots once each (never from the web processes'
cache: a bot disabled or a rule changed a moment ago must count). With the ORM that is a join and two
prefetches compiled on every call, which costs a small batch more CPU than everything else it does.
Here one statement, built once per number of bots, reads each bot joined to its CTS and says whether
it has chat and command rules at all; the rules are read only for the bots that have them (most have
none), and everything is wired as ``select_related("cts")`` and ``prefetch_related("chat_rules",
"command_rules")`` would wire it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from bots.models import Bot, ChatRule, CommandRule, CtsServer
from bots.services.rows import Columns, M, Select, column_sql, columns_of, rows_select, select_run

RULES: tuple[tuple[type[Model], str], ...] = ((ChatRule, "chat_rules"), (CommandRule, "command_rules"))


def bots_read(bot_pks: Iterable[int], *, rules: bool = False) -> dict[int, Bot]:
    """The bots with these keys by key (a key with no bot is left out), each with its CTS and, with
    ``rules``, its chat and command rules loaded (``bot.chat_rules.all()`` reads no more rows)."""
    keys = sorted(set(bot_pks))
    if not keys:
        return {}
    connection = connections[router.db_for_write(Bot)]
    read = _read_statement(connection, len(keys), rules)
    with connection.cursor() as cursor:
        cursor.execute(read.sql, keys)
        found = cursor.fetchall()
    return _bots_built(connection, read, found, rules)


def rows_with_bots(
    model: type[M], select: Select, params: list[Any], *, rules: bool = False
) -> tuple[list[M], dict[int, Bot]]:
    """The rows of a ``rows_select`` statement (``rows.select_prepared``) of ``model``, a model with a
    ``bot`` key, in ``select``'s order, and their bots by key, read as ``bots_read`` reads them. On
    PostgreSQL in the same statement (a drained batch claims its commands and reads their bots in one
    round trip); elsewhere the rows, then ``bots_read``."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        rows = select_run(model, connection, select, params)
        return rows, bots_read({row.bot_id for row in rows if row.bot_id is not None}, rules=rules)  # type: ignore[attr-defined]
    read = _read_statement(connection, 0, rules)  # no keys: its columns only, joined to the rows
    quote = connection.ops.quote_name
    width = len(select.columns.fields)
    key = column_sql(connection, model, "bot")
    sql = (
        # Names from the models' metadata; every value is a parameter. The rows' own statement stays
        # whole (its lock, order and limit), the bots joined to what it found.
        f"WITH q AS ({select.sql}) SELECT q.*, {read.columns} FROM q "  # noqa: S608
        f"LEFT JOIN ({quote(Bot._meta.db_table)} b INNER JOIN {quote(CtsServer._meta.db_table)} c "
        f"ON c.{column_sql(connection, CtsServer, 'id')} = b.{column_sql(connection, Bot, 'cts')}) "
        f"ON b.{column_sql(connection, Bot, 'id')} = q.{key}" + (f" ORDER BY q.{select.order}" if select.order else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = select.columns.instances(model, connection, [row[:width] for row in found])
    unique = {row[width]: row[width:] for row in found if row[width] is not None}
    return rows, _bots_built(connection, read, list(unique.values()), rules)


def _bots_built(
    connection: BaseDatabaseWrapper, read: _Read, found: list[Sequence[Any]], rules: bool
) -> dict[int, Bot]:
    """The bots of rows laid out as ``_Read`` says, each wired to its CTS and, with ``rules``, its rules."""
    split = len(read.bot.fields)
    end = split + len(read.cts.fields)
    servers = read.cts.instances(CtsServer, connection, [row[split:end] for row in found])
    bots: dict[int, Bot] = {}
    for bot, cts in zip(read.bot.instances(Bot, connection, [row[:split] for row in found]), servers, strict=True):
        bot.cts = cts
        bots[bot.pk] = bot
    if rules:
        for index, (model, name) in enumerate(RULES):
            having = [row[0] for row in found if row[end + index]]
            loaded: dict[int, list[Model]] = {pk: [] for pk in bots}
            for rule in rows_select(model, where={"bot": having}, order_by="id"):
                loaded[rule.bot_id].append(rule)  # type: ignore[attr-defined]
            for pk, bot in bots.items():
                _prefetched(bot, name, loaded[pk])
    return bots


@dataclass(frozen=True)
class _Read:
    sql: str
    columns: str  # the SELECT list (the bot ``b``, its CTS ``c``), laid out as follows:
    bot: Columns  # the bot's columns come first in each row (its key first of them), then the CTS's,
    cts: Columns  # then, with rules, one flag per model of RULES


_reads: dict[tuple[str, int, bool], _Read] = {}
_READS_KEPT = 256


def _read_statement(connection: BaseDatabaseWrapper, count: int, rules: bool) -> _Read:
    key = (connection.alias, count, rules)
    read = _reads.get(key)
    if read is None:
        quote = connection.ops.quote_name
        bot, cts = columns_of(Bot, connection), columns_of(CtsServer, connection)
        # Names from the models' metadata; every value is a parameter.
        bot_pk = column_sql(connection, Bot, "id")
        flags = [
            f"EXISTS (SELECT 1 FROM {quote(model._meta.db_table)} r "  # noqa: S608
            f"WHERE r.{column_sql(connection, model, 'bot')} = b.{bot_pk})"
            for model, _name in RULES
        ]
        columns = ", ".join([bot.sql(connection, "b"), cts.sql(connection, "c"), *(flags if rules else [])])
        sql = (
            f"SELECT {columns} "  # noqa: S608
            f"FROM {quote(Bot._meta.db_table)} b INNER JOIN {quote(CtsServer._meta.db_table)} c "
            f"ON c.{column_sql(connection, CtsServer, 'id')} = b.{column_sql(connection, Bot, 'cts')} "
            f"WHERE b.{bot_pk} IN ({', '.join(['%s'] * count)})"
            if count
            else ""
        )
        if len(_reads) >= _READS_KEPT:
            _reads.clear()
        read = _reads[key] = _Read(sql, columns, bot, cts)
    return read


def _prefetched(bot: Bot, name: str, rows: list[Model]) -> None:
    """Store ``rows`` as the bot's prefetched ``name`` relation, as ``prefetch_related`` does."""
    queryset = getattr(bot, name).all()  # the relation's own queryset: a further filter() still queries
    queryset._result_cache = rows
    queryset._prefetch_done = True
    instance: Any = bot
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[name] = queryset
