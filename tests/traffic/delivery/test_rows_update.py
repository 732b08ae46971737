"""``rows_update``: many rows, each with its own values, stored in one UPDATE, as ``save(update_fields)`` would."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.models import Bot, OutboundMessage
from bots.services.rows import rows_update

pytestmark = [pytest.mark.django_db]
# One statement for many rows, and the refusal of a long text, are PostgreSQL's; SQLite writes row by row.
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


@pytest.fixture
def bot(make_bot: Callable[..., Any]) -> Bot:
    """A bot of its own: this package's ``bot`` is the sandbox's, on a live server these tests do not need."""
    bot: Bot = make_bot(name="Rows")
    return bot


def outbox_rows(bot: Bot, count: int) -> list[OutboundMessage]:
    return [
        OutboundMessage.objects.create(bot=bot, method="notification", payload={"body": str(n)}, result={"old": n})
        for n in range(count)
    ]


def test_each_row_gets_its_own_values(bot: Bot) -> None:
    first, second = outbox_rows(bot, 2)
    first.status, first.result = "sent", None
    second.status, second.result = "delivered", {"n": 2}

    assert rows_update([first, second], ["status", "result"]) == 2

    stored = dict(OutboundMessage.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", "result"))
    assert stored == {"sent": None, "delivered": {"n": 2}}


@on_postgresql
def test_each_row_gets_its_own_values_in_one_statement(bot: Bot) -> None:
    first, second, untouched = outbox_rows(bot, 3)
    finished = timezone.now() - dt.timedelta(minutes=1)
    sync_id = uuid.uuid4()
    first.status, first.sync_id, first.result, first.finished_at = "sent", sync_id, {"sync_id": str(sync_id)}, None
    second.status, second.sync_id, second.result, second.finished_at = "delivered", None, {"n": [1, 2]}, finished
    untouched.status = "failed"  # not passed: not written

    with CaptureQueriesContext(connection) as queries:
        found = rows_update([first, second], ["status", "sync_id", "result", "finished_at"])

    assert found == 2
    assert len(queries.captured_queries) == 1
    stored = {m.pk: m for m in OutboundMessage.objects.filter(pk__in=[first.pk, second.pk, untouched.pk])}
    assert (stored[first.pk].status, stored[first.pk].sync_id, stored[first.pk].result) == (
        "sent",
        sync_id,
        {"sync_id": str(sync_id)},
    )
    assert stored[first.pk].finished_at is None
    assert (stored[second.pk].status, stored[second.pk].sync_id, stored[second.pk].result) == (
        "delivered",
        None,
        {"n": [1, 2]},
    )
    assert stored[second.pk].finished_at == finished
    assert stored[untouched.pk].status == OutboundMessage.Status.PENDING


def test_none_in_a_json_field_is_stored_as_sql_null_as_save_stores_it(bot: Bot) -> None:
    saved, updated = outbox_rows(bot, 2)
    saved.result = None
    saved.save(update_fields=["result"])
    updated.result = None

    rows_update([updated], ["result"])

    nulls = OutboundMessage.objects.filter(pk__in=[saved.pk, updated.pk], result__isnull=True)
    assert nulls.count() == 2, "SQL NULL, not the JSON null a bulk_update's CASE would store"


@on_postgresql
def test_a_text_too_long_for_its_column_is_refused_not_cut(bot: Bot) -> None:
    (message,) = outbox_rows(bot, 1)
    message.error_reason = "x" * 129  # max_length 128

    with pytest.raises(DataError), transaction.atomic():
        rows_update([message], ["error_reason"])

    message.refresh_from_db()
    assert message.error_reason == ""


def test_no_rows_is_no_statement(bot: Bot) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert rows_update([], ["status"]) == 0
    assert queries.captured_queries == []
