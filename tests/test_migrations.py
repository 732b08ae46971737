"""The migrations: complete for the models, and gentle with a live ledger."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_the_models_need_no_migration_that_is_not_written() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="CREATE INDEX CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db
def test_the_ledger_indexes_are_built_without_blocking_writes() -> None:
    out = io.StringIO()
    call_command("sqlmigrate", "bots", "0004", stdout=out)

    creates = [line for line in out.getvalue().splitlines() if line.startswith("CREATE INDEX")]
    assert len(creates) == 3
    assert all(line.startswith("CREATE INDEX CONCURRENTLY") for line in creates)
    assert "BEGIN;" not in out.getvalue(), "CONCURRENTLY cannot run in a transaction"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DROP INDEX CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db
@pytest.mark.parametrize("backwards", [False, True])
def test_an_index_replaced_on_the_ledger_is_built_and_dropped_without_blocking_writes(backwards: bool) -> None:
    out = io.StringIO()
    call_command("sqlmigrate", "bots", "0005", *(["--backwards"] if backwards else []), stdout=out)

    statements = [line for line in out.getvalue().splitlines() if line.startswith(("CREATE INDEX", "DROP INDEX"))]
    # Either way the index that takes over is built before the other one goes.
    assert [line.split()[0] for line in statements] == ["CREATE", "DROP"]
    assert ("inbound_status_time_idx" in statements[0]) is backwards
    assert all(" INDEX CONCURRENTLY " in line for line in statements)
    assert "BEGIN;" not in out.getvalue()
