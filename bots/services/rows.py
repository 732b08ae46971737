"""INSERT, UPDATE and SELECT statements of the message path, built once per model and shape.

Django's ``save()``, ``bulk_create`` and querysets compile their statement anew on every call, and
``bulk_update`` builds a CASE expression per row and field; on the message path (a command's row, a
callback's two rows, a drained batch's claim, bots and statuses, a delivered chunk's attempts and
history) that costs more CPU than the database spends on the rows. Here the statement is built from
the model's metadata and only the values are prepared per row, as ``save()`` prepares them
(``pre_save`` and ``get_db_prep_save`` of each field), so what is stored is the same. Only for plain
rows: no signals are sent and no parents or relations are saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from django.db import connection, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import Col

_statements: dict[tuple[type[Model], int, str], str] = {}
M = TypeVar("M", bound=Model)


def insert_sql(model: type[Model], rows: int = 1, tail: str = "") -> str:
    """``INSERT INTO <table> (<every column but the key>) VALUES (...) * rows <tail>``.

    ``tail`` is fixed SQL (``ON CONFLICT ...``, ``RETURNING ...``), never a value."""
    key = (model, rows, tail)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        fields = insert_fields(model)
        table, columns = quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * rows)
        # Names from the model's metadata; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES {values} {tail}".rstrip()  # noqa: S608
        _statements[key] = sql
    return sql


def row_values(instance: Model, using: BaseDatabaseWrapper, *, without: Field[Any, Any] | None = None) -> list[Any]:
    """The parameters of ``instance``'s row in ``insert_sql``'s column order (``without`` one column), as
    ``save()`` prepares them for the database ``using`` (a connection itself, not the per-thread proxy:
    it is looked up once, not once per field)."""
    return [
        field.get_db_prep_save(field.pre_save(instance, True), using)
        for field in insert_fields(type(instance))
        if field is not without
    ]


INSERT_ROWS = 500  # rows per INSERT statement, well within every backend's limit on parameters


def rows_insert(rows: Sequence[models.Model]) -> None:
    """Insert new rows of one model and give each its primary key, as ``bulk_create`` does."""
    if not rows:
        return
    model = type(rows[0])
    pk = model._meta.pk
    assert pk is not None
    connection = connections[router.db_for_write(model)]
    returning = f"RETURNING {connection.ops.quote_name(pk.column)}"
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        params: list[Any] = []
        for row in chunk:
            params.extend(row_values(row, connection))
        with connection.cursor() as cursor:
            cursor.execute(insert_sql(model, len(chunk), returning), params)
            # One key back per row, in the order the rows were given (as bulk_create relies on too).
            for row, (key,) in zip(chunk, cursor.fetchall(), strict=True):
                row.pk = key
                row._state.adding, row._state.db = False, connection.alias


def rows_update(rows: Sequence[models.Model], fields: Sequence[str], *, only_if: tuple[str, Any] | None = None) -> int:
    """Store ``fields`` of ``rows`` (all of one model, each with its own values) in one UPDATE.

    What ``save(update_fields=fields)`` of each row stores (values prepared as it prepares them), for
    a fraction of the Python of either that or ``bulk_update``, whose CASE expressions cost more to
    build than the rows they write (and would store JSON null for a None that ``save()`` stores as
    SQL NULL). Returns how many rows were found; with ``only_if`` (``Update``'s), only rows that still
    hold the value are.
    """
    if not rows:
        return 0
    model = type(rows[0])
    connection = connections[router.db_for_write(model)]
    update = _update_sql(rows, fields, connection, only_if)
    if update is None:
        # The embedded SQLite of a development install: one UPDATE per row, as save() would.
        columns = _update_statement(model, connection, fields)[0]
        condition = dict([only_if]) if only_if is not None else {}
        manager = model._default_manager.using(connection.alias)
        found = 0
        for row in rows:
            changed = {field.attname: getattr(row, field.attname) for field in columns[1:]}
            found += manager.filter(pk=row.pk, **condition).update(**changed)
        return found
    with connection.cursor() as cursor:
        cursor.execute(*update)
        return int(cursor.rowcount)


def _update_sql(
    rows: Sequence[Model],
    fields: Sequence[str],
    connection: BaseDatabaseWrapper,
    only_if: tuple[str, Any] | None = None,
) -> tuple[str, list[Any]] | None:
    """``rows_update``'s one statement for ``rows`` and its parameters; None where it writes row by row.
    With ``only_if``, rows whose field no longer holds the value are left, and the others' keys returned."""
    model = type(rows[0])
    columns, statement = _update_statement(model, connection, fields)
    if statement is None:
        return None
    params: list[Any] = []
    for row in rows:
        params.extend(field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns)
    head, one_row, tail = statement
    sql = head + ", ".join([one_row] * len(rows)) + tail
    if only_if is not None:
        name, value = only_if
        table, pk = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(columns[0].column)
        # Names from the model's metadata; the value is a parameter.
        sql += f" AND {table}.{column_sql(connection, model, name)} = %s RETURNING {table}.{pk}"
        params.append(_column(model, name).get_db_prep_value(value, connection))
    return sql, params


@dataclass(frozen=True, eq=False)
class Update:
    """For ``rows_write``: store ``fields`` of ``rows`` (one model), as ``rows_update`` does.

    ``only_if``: a field and the value it was read with; only rows that still hold it are written. A
    check at the write instead of a lock held from the read (``rows_write`` says whether it held)."""

    rows: Sequence[Model]
    fields: Sequence[str]
    only_if: tuple[str, Any] | None = None


@dataclass(frozen=True, eq=False)
class Insert:
    """For ``rows_write``: insert new ``rows`` (one model) that nothing reads back by key afterwards
    (history rows): their keys are not fetched. ``after``: a guarded ``Update`` (``only_if``) of the
    same call; the rows are inserted only if it wrote all of its rows."""

    rows: Sequence[Model]
    after: Update | None = None


def rows_write(*writes: Update | Insert) -> bool:
    """Several writes to different rows in one statement on PostgreSQL, one by one (in a transaction)
    elsewhere; False if a guarded ``Update`` found a row changed (it and the inserts after it wrote
    nothing; the other writes are made).

    A status change is an UPDATE and a history row, a settled callback two or three UPDATEs and one:
    each statement is a round trip and costs the client more CPU than the server, so on PostgreSQL
    they go as data-modifying ``WITH`` parts of one statement, which all run to completion in one
    snapshot. So a write must not depend on another's effect, nor touch the same row as another.
    """
    writes = tuple(write for write in writes if write.rows)
    if not writes:
        return True
    connection = connections[router.db_for_write(type(writes[0].rows[0]))]
    guarded = any(isinstance(write, Update) and write.only_if is not None for write in writes)
    if connection.vendor != "postgresql" or (len(writes) == 1 and not guarded):
        with _together(connection, len(writes) > 1):
            return _write_one_by_one(writes)
    return bool(_write_statement(connection, writes)[0])


def _write_statement(
    connection: BaseDatabaseWrapper,
    writes: Sequence[Update | Insert],
    head: tuple[str, list[Any]] | None = None,
    read: str = "",
) -> tuple[Any, ...]:
    """``rows_write``'s statement on PostgreSQL; returns whether its guards held, then what ``read``
    selects. ``head``: a first part (``name AS (...)``) with its parameters, ``read`` may use it."""
    guarded = [write for write in writes if isinstance(write, Update) and write.only_if is not None]
    parts: list[str] = [head[0]] if head else []
    params: list[Any] = list(head[1]) if head else []
    names: dict[int, str] = {}
    for index, write in enumerate(writes):
        name = names[id(write)] = f"w{index}"
        if isinstance(write, Update):
            update = _update_sql(write.rows, write.fields, connection, write.only_if)
            assert update is not None  # built for PostgreSQL
            sql, values = update
        else:
            sql, values = _insert_values_sql(write.rows, connection)
            if write.after is not None:
                # Only if the update it follows wrote every row it was given.
                sql += f" WHERE (SELECT count(*) FROM {names[id(write.after)]}) = {len(write.after.rows)}"  # noqa: S608
        parts.append(f"{name} AS ({sql})")
        params.extend(values)
    # Names of the statement's own parts and counts of rows; every value is a parameter.
    held = " AND ".join(f"(SELECT count(*) FROM {names[id(write)]}) = {len(write.rows)}" for write in guarded)  # noqa: S608
    sql = "WITH " + ", ".join(parts) + f" SELECT {held or 'true'}{', ' + read if read else ''}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return tuple(cursor.fetchone())


def _together(connection: BaseDatabaseWrapper, several: bool) -> AbstractContextManager[Any]:
    """A transaction for several statements that must be made together, unless the caller's holds them."""
    if several and not connection.in_atomic_block:
        return transaction.atomic(using=connection.alias)
    return nullcontext()


def _write_one_by_one(writes: Sequence[Update | Insert]) -> bool:
    held = True
    written: dict[int, bool] = {}
    for write in writes:
        if isinstance(write, Update):
            found = rows_update(write.rows, write.fields, only_if=write.only_if)
            if write.only_if is not None:
                written[id(write)] = found == len(write.rows)
                held = held and written[id(write)]
        elif write.after is None or written.get(id(write.after)):
            rows_insert(write.rows)
    return held


_Update: TypeAlias = "tuple[list[Field[Any, Any]], tuple[str, str, str] | None]"
_updates: dict[tuple[type[Model], str, tuple[str, ...]], _Update] = {}


def _update_statement(model: type[Model], connection: BaseDatabaseWrapper, fields: Sequence[str]) -> _Update:
    key = (model, connection.alias, tuple(fields))
    update = _updates.get(key)
    if update is None:
        update = _update_build(model, connection, fields)
        _updates[key] = update
    return update


def _update_build(model: type[Model], connection: BaseDatabaseWrapper, fields: Sequence[str]) -> _Update:
    """``rows_update``'s columns (the key first) and statement: what comes before the rows of its VALUES
    list, one row, what comes after (None where one UPDATE per row is used)."""
    pk = model._meta.pk
    assert pk is not None
    columns: list[Field[Any, Any]] = [pk, *(_column(model, name) for name in fields)]
    if connection.vendor != "postgresql":
        return columns, None
    quote = connection.ops.quote_name
    placeholder = _typed_row(columns, connection)
    table = quote(model._meta.db_table)
    names = [quote(field.column) for field in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    # Names from the model's metadata; every value is a parameter.
    head = f"UPDATE {table} SET {assignments} FROM (VALUES "  # noqa: S608
    tail = f") AS v ({', '.join(names)}) WHERE {table}.{names[0]} = v.{names[0]}"
    return columns, (head, placeholder, tail)


def _typed_row(fields: Sequence[Field[Any, Any]], connection: BaseDatabaseWrapper) -> str:
    """One row of a VALUES list of placeholders, each cast to its field's type.

    Text is cast to text, not to the column's varchar(n): an explicit cast would cut a long value where
    assigning it fails, as a save() does. The other casts give the VALUES list its types.
    """
    return "(" + ", ".join(typed_placeholder(field, connection) for field in fields) + ")"


def typed_placeholder(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """A placeholder cast to ``field``'s type (text for text: see ``_typed_row``), for a value whose type
    the statement gives it no other way (a VALUES list, a SELECT list)."""
    cast = "text" if isinstance(field, models.CharField | models.TextField) else field.db_type(connection)
    return f"%s::{cast}"


def _insert_values_sql(rows: Sequence[Model], connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
    """An INSERT of ``rows`` (one model) as a SELECT of a typed VALUES list, which a WHERE may follow."""
    model = type(rows[0])
    key = (model, len(rows), f"select:{connection.alias}")
    sql = _statements.get(key)
    if sql is None:
        fields = insert_fields(model)
        quote = connection.ops.quote_name
        # A VALUES list inside a SELECT takes no types from the columns it is inserted into.
        row = _typed_row(fields, connection)
        # Names from the model's metadata; every value is a parameter.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
            f"SELECT * FROM (VALUES {', '.join([row] * len(rows))}) AS v"
        )
        _statements[key] = sql
    params: list[Any] = []
    for instance in rows:
        params.extend(row_values(instance, connection))
    return sql, params


def rows_insert_linked(parent: Model, child: Model, *, link: str, also: Sequence[Update | Insert] = ()) -> bool:
    """``rows_insert([parent])`` then ``rows_insert([child])`` with ``child.<link>`` set to ``parent``.

    On PostgreSQL in one statement (the child's row takes the key the parent's INSERT returns), since
    a round trip costs more than either row's values: a callback's request and its receipt are two
    such rows. Elsewhere, the two INSERTs. The writes ``also`` go with them, as ``rows_write`` makes
    them (in the same statement), and what it returns is returned.
    """
    connection = connections[router.db_for_write(type(parent))]
    if connection.vendor != "postgresql":
        with _together(connection, bool(also)):
            rows_insert([parent])
            setattr(child, link, parent)
            rows_insert([child])
            return rows_write(*also)
    link_field = _column(type(child), link)
    quote, pk = connection.ops.quote_name, type(child)._meta.pk
    assert pk is not None
    key = (type(child), 1, f"linked:{type(parent)._meta.label}:{link}")
    parts = _linked.get(key)
    if parts is None:
        parts = _linked[key] = _linked_insert_parts(type(parent), type(child), link_field, quote)
    params = row_values(parent, connection) + row_values(child, connection, without=link_field)
    held = True
    also = [write for write in also if write.rows]
    if also:
        # The two INSERTs as the first parts of rows_write's statement, which reads their keys last.
        head = (f"parent AS ({parts[0]}), inserted AS ({parts[1]})", params)
        read = f"(SELECT {quote(link_field.column)} FROM inserted), (SELECT {quote(pk.column)} FROM inserted)"  # noqa: S608
        held, parent.pk, child.pk = _write_statement(connection, also, head, read)
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"WITH parent AS ({parts[0]}) {parts[1]}", params)
            parent.pk, child.pk = cursor.fetchone()
    for row in (parent, child):
        row._state.adding, row._state.db = False, connection.alias
    setattr(child, link, parent)
    return held


_linked: dict[tuple[type[Model], int, str], tuple[str, str]] = {}


def _linked_insert_parts(
    parent: type[Model], child: type[Model], link: Field[Any, Any], quote: Callable[[str], str]
) -> tuple[str, str]:
    """The parent's INSERT, and the child's, which takes the key of the first (named ``parent``)."""
    parent_pk, child_pk = parent._meta.pk, child._meta.pk
    assert parent_pk is not None and child_pk is not None
    fields = insert_fields(child)
    # Names from the models' metadata; every value is a parameter.
    key = f"(SELECT {quote(parent_pk.column)} FROM parent)"  # noqa: S608
    values = ", ".join(key if f is link else "%s" for f in fields)
    return (
        insert_sql(parent, 1, f"RETURNING {quote(parent_pk.column)}"),
        f"INSERT INTO {quote(child._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES ({values}) RETURNING {quote(link.column)}, {quote(child_pk.column)}",
    )


@dataclass(frozen=True)
class Columns:
    """Columns of a model that a statement reads back (in the model's order of columns), and how the
    ORM converts their values (the backend's converters, then the field's own ``from_db_value``)."""

    fields: list[Field[Any, Any]]
    converters: list[tuple[Col, list[Callable[[Any, Any, Any], Any]]]]

    def sql(self, connection: BaseDatabaseWrapper, alias: str = "") -> str:
        """The columns for a SELECT list, each qualified by the table's ``alias`` if one is given."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + connection.ops.quote_name(field.column) for field in self.fields)

    def instances(self, model: type[M], connection: BaseDatabaseWrapper, found: Sequence[Sequence[Any]]) -> list[M]:
        """``model`` instances from the rows ``found`` (the other fields deferred, as with ``only()``)."""
        attnames = [field.attname for field in self.fields]
        rows = []
        for raw in found:
            values = []
            for value, (col, converters) in zip(raw, self.converters, strict=True):
                for convert in converters:
                    value = convert(value, col, connection)
                values.append(value)
            rows.append(model.from_db(connection.alias, attnames, values))
        return rows


def columns_of(model: type[Model], connection: BaseDatabaseWrapper, fields: Sequence[str] | None = None) -> Columns:
    """``fields`` of ``model`` (every column by default) as ``Columns``; ``Model.from_db`` takes a subset
    of the columns in the model's order."""
    meta = model._meta
    wanted = set(meta.concrete_fields) if fields is None else {_column(model, name) for name in fields}
    selected = [field for field in meta.concrete_fields if field in wanted]
    converters = []
    for field in selected:
        col = field.get_col(meta.db_table)
        converters.append((col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]))
    return Columns(selected, converters)


@dataclass(frozen=True)
class Select:
    """A ``rows_select`` statement, with what it needs to prepare its values and read its columns."""

    sql: str
    where: list[Field[Any, Any]]
    columns: Columns
    order: str = ""  # its ORDER BY's column and direction ('"id" ASC'), or nothing


# A condition's field, its list's length (0: one value), NOT, and its values when they are constants.
_Condition = tuple[str, int, bool, str]
_SelectKey = tuple[type[Model], str, tuple[str, ...] | None, tuple[_Condition, ...], str, int | None, str]
_selects: dict[_SelectKey, Select] = {}
_SELECTS_KEPT = 1024


def rows_select(
    model: type[M],
    *,
    where: Mapping[str, Any],
    exclude: Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    order_by: str = "",
    limit: int | None = None,
    lock: str = "",
) -> list[M]:
    """The rows of ``model`` matching ``where`` and not ``exclude``, as instances with ``fields`` loaded
    (all by default).

    What ``filter(**where).exclude(a=...).exclude(b=...).order_by(order_by).only(*fields)[:limit]`` of
    the ORM gives, one ``exclude()`` per item of ``exclude``, for columns without NULLs (with
    ``select_for_update()`` when ``lock`` is ``"update"``, ``(skip_locked=True)`` when it is
    ``"skip"``), with a statement built once per shape rather than compiled on every call: values are
    prepared and the columns read back converted as the ORM does, and instances come from
    ``Model.from_db`` (other fields deferred, each loading on access, as with ``only()``). A condition
    is ``column = value`` (a None matches nothing; the ORM says IS NULL), or ``column IN (...)`` for a
    list, tuple or set (an empty one matches nothing, or in ``exclude`` leaves nothing out).
    ``order_by``: one field, ``-`` for descending. Read from the database written to: a locking read
    belongs with the writes after it. A value that is one of a model's choices is written into the
    statement (``choices_sql``).
    """
    connection = connections[router.db_for_write(model)]
    prepared = select_prepared(
        model, connection, where=where, exclude=exclude, fields=fields, order_by=order_by, limit=limit, lock=lock
    )
    return [] if prepared is None else select_run(model, connection, *prepared)


def select_run(model: type[M], connection: BaseDatabaseWrapper, select: Select, params: list[Any]) -> list[M]:
    """The rows a prepared ``rows_select`` statement (``select_prepared``) finds, as its instances."""
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        return select.columns.instances(model, connection, cursor.fetchall())


def select_prepared(
    model: type[Model],
    connection: BaseDatabaseWrapper,
    *,
    where: Mapping[str, Any],
    exclude: Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    order_by: str = "",
    limit: int | None = None,
    lock: str = "",
) -> tuple[Select, list[Any]] | None:
    """``rows_select``'s statement (built once per shape) and its parameters, for a caller that runs it
    as part of a larger one; None if it can match nothing (an empty list in ``where``)."""
    values: list[Any] = []
    shape: list[_Condition] = []
    for negated, conditions in ((False, where), (True, exclude or {})):
        for name, value in conditions.items():
            if isinstance(value, list | tuple | set | frozenset):
                if not value:
                    if negated:
                        continue
                    return None
                value = list(value)
                count = len(value)
            else:
                count = 0
            constants = _constants_sql(value if count else [value])
            if constants:
                shape.append((name, count, negated, constants))
            else:
                values.append(value)
                shape.append((name, count, negated, ""))
    key = (model, connection.alias, None if fields is None else tuple(fields), tuple(shape), order_by, limit, lock)
    select = _selects.get(key)
    if select is None:
        select = _select_build(model, connection, fields, shape, order_by, limit, lock)
        if len(_selects) >= _SELECTS_KEPT:
            _selects.clear()  # a list of every length ever asked for is not worth keeping statements for
        _selects[key] = select
    params: list[Any] = []
    for field, value in zip(select.where, values, strict=True):
        if isinstance(value, list):
            params.extend(field.get_db_prep_value(item, connection) for item in value)
        else:
            params.append(field.get_db_prep_value(value, connection))
    return select, params


def row_first(
    model: type[M],
    *,
    fields: Sequence[str],
    where: Mapping[str, Any],
    order_by: str = "",
    for_update: bool = False,
) -> M | None:
    """The first row of ``model`` whose ``where`` fields equal their values, or None; ``fields`` loaded:
    ``select_for_update().filter(**where).order_by(order_by).only(*fields).first()`` (``rows_select``)."""
    found = rows_select(
        model, where=where, fields=fields, order_by=order_by, limit=1, lock="update" if for_update else ""
    )
    return found[0] if found else None


def _select_build(
    model: type[Model],
    connection: Any,
    fields: Sequence[str] | None,
    where: Sequence[_Condition],
    order_by: str,
    limit: int | None,
    lock: str,
) -> Select:
    quote = connection.ops.quote_name
    columns = columns_of(model, connection, fields)
    tests = []
    for name, count, negated, constants in where:
        column = quote(_column(model, name).column)
        values = constants or ", ".join(["%s"] * (count or 1))
        tests.append(("NOT " if negated else "") + (f"{column} IN ({values})" if count else f"{column} = {values}"))
    conditions = [_column(model, name) for name, _count, _negated, constants in where if not constants]
    # Names from the model's metadata, choices of the model (choices_sql); every other value a parameter.
    sql = f"SELECT {columns.sql(connection)} FROM {quote(model._meta.db_table)}"  # noqa: S608
    if tests:
        sql += f" WHERE {' AND '.join(tests)}"
    order = ""
    if order_by:
        order = f"{column_sql(connection, model, order_by.lstrip('-'))} {'DESC' if order_by.startswith('-') else 'ASC'}"
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
        if lock == "skip" and connection.features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    return Select(sql, conditions, columns, order)


# What a choice's value may be to be written into a statement as it is.
_PLAIN = re.compile(r"[a-z0-9_]+")


def choices_sql(*values: models.TextChoices) -> str:
    """Choices of a model (its own constants, a status or a kind) as SQL literals, comma-separated.

    For the conditions that a partial index's own condition must be proved from. PostgreSQL proves it
    from constants only: a prepared statement that passes the status as a parameter has a generic plan
    (after its fifth run; the hot statements are prepared, portal/env.py) that cannot use the partial
    index, and reads a broader one instead. In bench/traffic.py the delivery claim read every message
    of the bot for each message it claimed (15 ms a claim), and the drain's claim 8,000 index entries
    for a batch of 50.
    """
    constants = _constants_sql(values)
    if not constants:
        raise ValueError(f"not plain choices of a model: {values!r}")
    return constants


def _constants_sql(values: Sequence[Any]) -> str:
    """``values`` as SQL literals if each is a plain choice of a model, else nothing."""
    if not all(isinstance(value, models.TextChoices) and _PLAIN.fullmatch(value) for value in values):
        return ""
    return ", ".join(f"'{value}'" for value in values)


def column_sql(connection: BaseDatabaseWrapper, model: type[Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name``, for a statement built from the model's metadata."""
    return str(connection.ops.quote_name(_column(model, name).column))


def _column(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.concrete, f"{name} is not a column"
    return field


def insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    """The columns an INSERT of ``model`` writes, in ``row_values``' order: all but the key."""
    return [field for field in model._meta.concrete_fields if not field.primary_key]
