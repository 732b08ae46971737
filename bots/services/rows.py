"""INSERT, UPDATE and SELECT statements for the ledger rows written for every message, built once per model.

Django's ``save()`` and ``bulk_create`` compile their statement anew on every call, and ``bulk_update``
builds a CASE expression per row and field; on the message path (a command's row, a callback's two
rows, a drained batch's statuses, a delivered chunk's attempts and history) that costs more CPU than
the database spends on the rows. Here the statement is built from the model's metadata and only the
values are prepared per row, as ``save()`` prepares them (``pre_save`` and ``get_db_prep_save`` of
each field), so what is stored is the same. Only for plain rows: no signals are sent and no parents
or relations are saved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import Col

_statements: dict[tuple[type[Model], int, str], str] = {}


def insert_sql(model: type[Model], rows: int = 1, tail: str = "") -> str:
    """``INSERT INTO <table> (<every column but the key>) VALUES (...) * rows <tail>``.

    ``tail`` is fixed SQL (``ON CONFLICT ...``, ``RETURNING ...``), never a value."""
    key = (model, rows, tail)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        fields = _fields(model)
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
        for field in _fields(type(instance))
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


def rows_update(rows: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Store ``fields`` of ``rows`` (all of one model, each with its own values) in one UPDATE.

    What ``save(update_fields=fields)`` of each row stores (values prepared as it prepares them), for
    a fraction of the Python of either that or ``bulk_update``, whose CASE expressions cost more to
    build than the rows they write (and would store JSON null for a None that ``save()`` stores as
    SQL NULL). Returns how many rows were found.
    """
    if not rows:
        return 0
    model = type(rows[0])
    connection = connections[router.db_for_write(model)]
    pk = model._meta.pk
    assert pk is not None
    columns: list[models.Field[Any, Any]] = [pk]
    for name in fields:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field) and field.concrete, f"{name} is not a column"
        columns.append(field)
    if connection.vendor != "postgresql":
        # The embedded SQLite of a development install: one UPDATE per row, as save() would.
        found = 0
        for row in rows:
            changed = {field.attname: getattr(row, field.attname) for field in columns[1:]}
            found += model._default_manager.using(connection.alias).filter(pk=row.pk).update(**changed)
        return found
    quote = connection.ops.quote_name
    # Text is cast to text, not to the column's varchar(n): an explicit cast would cut a long value
    # where assigning it fails, as a save() does. The other casts give the VALUES list its types.
    casts = [
        "text" if isinstance(field, models.CharField | models.TextField) else field.db_type(connection)
        for field in columns
    ]
    placeholder = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params: list[Any] = []
    for row in rows:
        params.extend(field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns)
    table = quote(model._meta.db_table)
    names = [quote(field.column) for field in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    values = ", ".join([placeholder] * len(rows))
    # Names from the model's metadata; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v ({', '.join(names)}) "  # noqa: S608
        f"WHERE {table}.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def rows_insert_linked(parent: Model, child: Model, *, link: str) -> None:
    """``rows_insert([parent])`` then ``rows_insert([child])`` with ``child.<link>`` set to ``parent``.

    On PostgreSQL in one statement (the child's row takes the key the parent's INSERT returns), since
    a round trip costs more than either row's values: a callback's request and its receipt are two
    such rows. Elsewhere, the two INSERTs.
    """
    connection = connections[router.db_for_write(type(parent))]
    if connection.vendor != "postgresql":
        rows_insert([parent])
        setattr(child, link, parent)
        rows_insert([child])
        return
    link_field = _column(type(child), link)
    key = (type(child), 1, f"linked:{type(parent)._meta.label}:{link}")
    sql = _statements.get(key)
    if sql is None:
        sql = _linked_insert_sql(type(parent), type(child), link_field, connection.ops.quote_name)
        _statements[key] = sql
    params = row_values(parent, connection) + row_values(child, connection, without=link_field)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        parent.pk, child.pk = cursor.fetchone()
    for row in (parent, child):
        row._state.adding, row._state.db = False, connection.alias
    setattr(child, link, parent)


def _linked_insert_sql(
    parent: type[Model], child: type[Model], link: Field[Any, Any], quote: Callable[[str], str]
) -> str:
    parent_pk, child_pk = parent._meta.pk, child._meta.pk
    assert parent_pk is not None and child_pk is not None
    fields = _fields(child)
    # Names from the models' metadata; every value is a parameter.
    key = f"(SELECT {quote(parent_pk.column)} FROM parent)"  # noqa: S608
    values = ", ".join(key if f is link else "%s" for f in fields)
    return (
        f"WITH parent AS ({insert_sql(parent, 1, f'RETURNING {quote(parent_pk.column)}')}) "  # noqa: S608
        f"INSERT INTO {quote(child._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({values}) RETURNING {quote(link.column)}, {quote(child_pk.column)}"
    )


@dataclass(frozen=True)
class _Select:
    """A ``row_first`` statement, with what it needs to prepare its values and read its columns."""

    sql: str
    where: list[Field[Any, Any]]
    columns: list[tuple[Col, list[Callable[[Any, Any, Any], Any]]]]  # each with the ORM's converters
    attnames: list[str]


_selects: dict[tuple[type[Model], str, tuple[str, ...], tuple[str, ...], str, bool], _Select] = {}


def row_first(
    model: type[Model],
    *,
    fields: Sequence[str],
    where: Mapping[str, Any],
    order_by: str = "",
    for_update: bool = False,
) -> Model | None:
    """The first row of ``model`` whose ``where`` fields equal their values, or None; ``fields`` loaded.

    What ``select_for_update().filter(**where).order_by(order_by).only(*fields).first()`` of the ORM
    (which compiles its statement anew on every call) gives, with a statement built once: values are
    prepared and the columns read back converted as the ORM does, and the instance has the other
    fields deferred (each loads on access, as with ``only()``). ``order_by``: one field, ``-`` for
    descending. Each condition is ``column = value``: a None matches nothing (the ORM says IS NULL).
    Read from the database written to: a locking read belongs with the writes after it.
    """
    connection = connections[router.db_for_write(model)]
    key = (model, connection.alias, tuple(fields), tuple(where), order_by, for_update)
    select = _selects.get(key)
    if select is None:
        select = _select_build(model, connection, fields, tuple(where), order_by, for_update)
        _selects[key] = select
    values = zip(select.where, where.values(), strict=True)
    params = [field.get_db_prep_value(value, connection) for field, value in values]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        found = cursor.fetchone()
    if found is None:
        return None
    row = []
    for value, (col, converters) in zip(found, select.columns, strict=True):
        for convert in converters:
            value = convert(value, col, connection)
        row.append(value)
    return model.from_db(connection.alias, select.attnames, row)


def _select_build(
    model: type[Model], connection: Any, fields: Sequence[str], where: Sequence[str], order_by: str, for_update: bool
) -> _Select:
    quote = connection.ops.quote_name
    meta = model._meta
    table = meta.db_table
    wanted = {_column(model, name) for name in fields}
    # In the model's order of columns: ``Model.from_db`` takes a subset of them in that order.
    selected = [field for field in meta.concrete_fields if field in wanted]
    conditions = [_column(model, name) for name in where]
    # Names from the model's metadata; every value is a parameter.
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in selected)} FROM {quote(table)} "  # noqa: S608
        f"WHERE {' AND '.join(f'{quote(field.column)} = %s' for field in conditions)}"
    )
    if order_by:
        column = quote(_column(model, order_by.lstrip("-")).column)
        sql += f" ORDER BY {column} {'DESC' if order_by.startswith('-') else 'ASC'}"
    sql += " LIMIT 1"
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    columns = []
    for field in selected:
        col = field.get_col(table)
        # The backend's converters, then the field's own (``from_db_value``), as the ORM applies them.
        columns.append((col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]))
    return _Select(sql, conditions, columns, [field.attname for field in selected])


def _column(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.concrete, f"{name} is not a column"
    return field


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]
