"""INSERT and UPDATE statements for the ledger rows written for every message, built once per model.

Django's ``save()`` and ``bulk_create`` compile their statement anew on every call, and ``bulk_update``
builds a CASE expression per row and field; on the message path (a command's row, a callback's two
rows, a drained batch's statuses, a delivered chunk's attempts and history) that costs more CPU than
the database spends on the rows. Here the statement is built from the model's metadata and only the
values are prepared per row, as ``save()`` prepares them (``pre_save`` and ``get_db_prep_save`` of
each field), so what is stored is the same. Only for plain rows: no signals are sent and no parents
or relations are saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, connections, models, router
from django.db.models import Field, Model

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


def row_values(instance: Model) -> list[Any]:
    """The parameters of ``instance``'s row in ``insert_sql``'s column order, as ``save()`` prepares them."""
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in _fields(type(instance))]


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
            params.extend(row_values(row))
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


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]
