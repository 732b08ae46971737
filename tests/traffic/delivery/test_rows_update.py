"""``rows_update``: many rows, each with its own values, stored in one UPDATE, as ``save(update_fields)`` would;
``rows_write``: several such writes, and inserts, in one statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.models import Bot, CallbackReceipt, InboundEvent, MessageEvent, OutboundMessage
from bots.services.rows import Insert, Update, rows_update, rows_write

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


def test_rows_write_makes_updates_and_inserts_of_several_tables_at_once(bot: Bot) -> None:
    first, second = outbox_rows(bot, 2)
    request = InboundEvent.objects.create(bot=bot, endpoint=InboundEvent.Endpoint.CALLBACK, raw_body="{}")
    receipt = CallbackReceipt.objects.create(bot=bot, inbound=request, sync_id=uuid.uuid4(), ok=True)
    first.status, second.status, second.result = "sent", "delivered", {"n": 2}
    receipt.message, receipt.matched_at = first, timezone.now()
    history = [MessageEvent(message=first, status="sent", note="a"), MessageEvent(message=second, status="delivered")]

    with CaptureQueriesContext(connection) as queries:
        rows_write(
            Update([first], ["status"]),
            Update([second], ["status", "result"]),
            Update([receipt], ["message", "matched_at"]),
            Update([], ["status"]),  # nothing to write: left out
            Insert(history),
        )

    stored = dict(OutboundMessage.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "status"))
    assert stored == {first.pk: "sent", second.pk: "delivered"}
    assert OutboundMessage.objects.get(pk=second.pk).result == {"n": 2}
    receipt.refresh_from_db()
    assert receipt.message_id == first.pk and receipt.matched_at is not None
    events = MessageEvent.objects.filter(message__in=[first, second]).order_by("pk")
    assert [(e.message_id, e.status, e.note) for e in events] == [(first.pk, "sent", "a"), (second.pk, "delivered", "")]
    # One statement on PostgreSQL (each write a part of one WITH); one each elsewhere.
    expected = 1 if connection.vendor == "postgresql" else 4
    assert len(queries.captured_queries) == expected


def test_rows_write_of_nothing_is_no_statement(bot: Bot) -> None:
    with CaptureQueriesContext(connection) as queries:
        rows_write(Update([], ["status"]), Insert([]))
    assert queries.captured_queries == []


def test_a_checked_update_writes_only_rows_that_still_hold_the_value_read_and_its_inserts_only_then(bot: Bot) -> None:
    held, changed, other = outbox_rows(bot, 3)
    OutboundMessage.objects.filter(pk=changed.pk).update(status="delivered")  # after it was read as pending
    for message in (held, changed):
        message.status = "sent"

    def write(message: OutboundMessage, note: str) -> bool:
        checked = Update([message], ["status"], only_if=("status", "pending"))
        history = MessageEvent(message=message, status="sent", note=note)
        other.text = note
        return rows_write(checked, Insert([history], after=checked), Update([other], ["text"]))

    assert write(held, "held") is True
    assert write(changed, "changed") is False

    stored = dict(OutboundMessage.objects.filter(pk__in=[held.pk, changed.pk]).values_list("pk", "status"))
    assert stored == {held.pk: "sent", changed.pk: "delivered"}
    assert list(MessageEvent.objects.filter(message__bot=bot).values_list("message_id", "note")) == [(held.pk, "held")]
    # A write not checked is made either way.
    assert OutboundMessage.objects.get(pk=other.pk).text == "changed"
