"""``row_first`` (the ORM's ``filter().order_by().only().first()``, optionally locking) and ``rows_insert_linked``:
the statements of every callback, built once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots.models import Bot, CallbackReceipt, InboundEvent, OutboundMessage
from bots.services.rows import row_first, rows_insert_linked

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def bot(make_bot: Callable[..., Any]) -> Bot:
    """A bot of its own: this package's ``bot`` is the sandbox's, on a live server these tests do not need."""
    bot: Bot = make_bot(name="Rows")
    return bot


def outbox_row(bot: Bot, sync_id: uuid.UUID, **fields: Any) -> OutboundMessage:
    return OutboundMessage.objects.create(
        bot=bot, method="notification", payload={"body": "x"}, sync_id=sync_id, **fields
    )


def test_no_matching_row_is_none(bot: Bot) -> None:
    outbox_row(bot, uuid.uuid4())

    assert row_first(OutboundMessage, fields=("id",), where={"sync_id": uuid.uuid4(), "bot_id": bot.pk}) is None


def test_the_fields_named_are_read_as_the_orm_reads_them_and_the_others_load_on_access(bot: Bot) -> None:
    sync_id = uuid.uuid4()
    stored = outbox_row(bot, sync_id, status="sent", error_data={"a": [1]})

    found = row_first(
        OutboundMessage,
        fields=("id", "correlation_id", "status", "created_at", "error_data"),
        where={"sync_id": sync_id, "bot_id": bot.pk},
    )

    assert isinstance(found, OutboundMessage)
    expected = OutboundMessage.objects.only("id", "correlation_id", "status", "created_at", "error_data").get()
    for name in ("pk", "correlation_id", "status", "created_at", "error_data"):
        assert getattr(found, name) == getattr(expected, name), name
    assert isinstance(found.correlation_id, uuid.UUID) and found.error_data == {"a": [1]}
    assert found.get_deferred_fields() == expected.get_deferred_fields()
    assert not found._state.adding
    with CaptureQueriesContext(connection) as context:
        assert found.payload == stored.payload
    assert len(context.captured_queries) == 1


def test_order_by_picks_the_first_or_the_last(bot: Bot) -> None:
    sync_id = uuid.uuid4()
    first, last = outbox_row(bot, sync_id), outbox_row(bot, sync_id)
    where = {"sync_id": sync_id, "bot_id": bot.pk}

    newest = row_first(OutboundMessage, fields=("id",), where=where, order_by="-id", for_update=True)
    oldest = row_first(OutboundMessage, fields=("id",), where=where, order_by="id")

    assert (newest and newest.pk, oldest and oldest.pk) == (last.pk, first.pk)


def test_a_locking_read_says_for_update_where_the_database_can(bot: Bot) -> None:
    sync_id = uuid.uuid4()
    outbox_row(bot, sync_id)

    with CaptureQueriesContext(connection) as context:
        row_first(OutboundMessage, fields=("id",), where={"sync_id": sync_id}, for_update=True)

    sql = context.captured_queries[-1]["sql"]
    assert sql.rstrip().endswith("FOR UPDATE") == connection.features.has_select_for_update


def test_a_request_and_its_receipt_are_stored_together_as_two_inserts_would(bot: Bot) -> None:
    sync_id = uuid.uuid4()
    event = InboundEvent(endpoint="callback", bot=bot, sync_id=sync_id, raw_body="{}", headers={"a": "b"})
    receipt = CallbackReceipt(bot=bot, sync_id=sync_id, ok=False, reason="r", errors=["e"], error_data={"k": 1})

    rows_insert_linked(event, receipt, link="inbound")

    stored = CallbackReceipt.objects.select_related("inbound").get()
    assert (stored.pk, stored.inbound_id, receipt.inbound_id) == (receipt.pk, event.pk, event.pk)
    assert (stored.reason, stored.errors, stored.error_data, stored.ok) == ("r", ["e"], {"k": 1}, False)
    assert (stored.inbound.headers, stored.inbound.sync_id, stored.inbound.bot_id) == ({"a": "b"}, sync_id, bot.pk)
    assert not event._state.adding and not receipt._state.adding
