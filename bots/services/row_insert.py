"""INSERT statements built once per model, for the rows written on every BotX request.

Django's ``save()`` compiles its INSERT anew for every row; on the Bot API's hot path (a command's row,
a callback's two rows) that compiling costs more CPU than the database spends on the row. Here the
statement is built from the model's metadata once and only the values are prepared per row, as
``save()`` prepares them (``pre_save`` and ``get_db_prep_save`` of each field), so what is stored is
the same. Only for plain rows: no signals are sent and no parents or relations are saved.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
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


def insert(instance: Model) -> None:
    """Insert one new row and set its primary key, like ``save(force_insert=True)`` without signals."""
    model = type(instance)
    with connection.cursor() as cursor:
        cursor.execute(
            insert_sql(model, tail=f"RETURNING {connection.ops.quote_name(model._meta.pk.column)}"),
            row_values(instance),
        )
        (instance.pk,) = cursor.fetchone()
    instance._state.adding = False
    instance._state.db = connection.alias


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]
