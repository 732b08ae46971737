"""Ledger rows as a streamed CSV or JSON file: written row by row, never held whole."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# Spreadsheets run a cell that starts with one of these as a formula; such text gets a quote first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def csv_stream(rows: Iterable[dict[str, Any]], columns: Sequence[str], header: Sequence[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield flush()
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
        yield flush()


def json_stream(rows: Iterable[dict[str, Any]], columns: Sequence[str], header: Sequence[str]) -> Iterator[str]:
    yield "["
    separator = ""
    for row in rows:
        record = {name: _plain(row[column]) for column, name in zip(columns, header, strict=True)}
        yield separator + json.dumps(record, ensure_ascii=False)
        separator = ",\n"
    yield "]\n"
