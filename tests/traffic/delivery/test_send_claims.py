"""``claim_many``: a chunk's claim and the send slots of its bots (the per-bot rate limit), one statement on
PostgreSQL and a transaction of several elsewhere, with the same outcome."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.models import Bot, OutboundMessage, SendSlot
from bots.services.send_claims import INLINE_WAIT_SECONDS, claim_many

pytestmark = [pytest.mark.django_db]
Status = OutboundMessage.Status


@pytest.fixture
def bot(make_bot: Callable[..., Any]) -> Bot:
    """A bot of its own: this package's ``bot`` is the sandbox's, on a live server these tests do not need."""
    bot: Bot = make_bot(name="Claims")
    return bot


def pending(bot: Bot, count: int) -> list[int]:
    """``count`` due messages of ``bot``, each in a chat of its own (so none waits for another)."""
    return [
        OutboundMessage.objects.create(bot=bot, method="notification", payload={"body": "x"}, chat_id=uuid.uuid4()).pk
        for _ in range(count)
    ]


def test_slots_are_taken_one_interval_apart_up_to_the_inline_wait_and_the_slot_moves_on(bot: Bot) -> None:
    Bot.objects.filter(pk=bot.pk).update(rate_limit=4)  # a slot every 0.25 s
    bot.refresh_from_db()
    ahead = dt.timedelta(seconds=0.5)
    before = timezone.now()
    SendSlot.objects.update_or_create(bot=bot, defaults={"next_at": before + ahead})
    ids = pending(bot, 6)

    with CaptureQueriesContext(connection) as queries:
        won, slots = claim_many(ids, {bot.pk: bot})
    after = timezone.now()

    assert [message.pk for message in won] == ids
    assert all(message.status == Status.SENDING and message.bot is bot for message in won)
    # The slot was 0.5 s ahead: 0.5, 0.75 and 1.0 s fit within INLINE_WAIT_SECONDS (1.0), the next is at 1.25.
    assert INLINE_WAIT_SECONDS == 1.0
    slot = slots[bot.pk]
    elapsed = (after - before).total_seconds()
    assert len(slot.waits) == 3
    for wait, expected in zip(slot.waits, [0.5, 0.75, 1.0], strict=True):
        assert expected - elapsed - 0.001 <= wait <= expected + 0.001
    assert 1.25 - elapsed - 0.001 <= slot.later <= 1.25 + 0.001
    # Three slots taken from the slot's time: it moves on by 0.75 s.
    assert SendSlot.objects.get(bot=bot).next_at == before + ahead + dt.timedelta(seconds=0.75)
    # The claim and the slots: one statement on PostgreSQL (the bot was lent), a transaction elsewhere.
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1


def test_a_slot_too_far_ahead_gives_no_wait_and_is_left_as_it_is(bot: Bot) -> None:
    far = timezone.now() + dt.timedelta(seconds=5)
    SendSlot.objects.update_or_create(bot=bot, defaults={"next_at": far})

    won, slots = claim_many(pending(bot, 2), {bot.pk: bot})

    assert len(won) == 2
    assert slots[bot.pk].waits == []
    assert 4.9 <= slots[bot.pk].later <= 5.0
    assert SendSlot.objects.get(bot=bot).next_at == far


def test_a_bots_first_send_makes_its_slot(bot: Bot, make_bot: Callable[..., Any]) -> None:
    other: Bot = make_bot(name="Other")
    SendSlot.objects.filter(bot__in=[bot, other]).delete()
    SendSlot.objects.create(bot=other, next_at=timezone.now() - dt.timedelta(seconds=10))  # in the past: now

    won, slots = claim_many(pending(bot, 2) + pending(other, 1))

    assert len(won) == 3 and set(slots) == {bot.pk, other.pk}
    interval = 1 / bot.rate_limit
    assert slots[bot.pk].waits[0] == pytest.approx(0.0, abs=0.01)
    assert slots[bot.pk].waits[1] - slots[bot.pk].waits[0] == pytest.approx(interval)
    assert slots[other.pk].waits == [pytest.approx(0.0, abs=0.01)]
    assert SendSlot.objects.filter(bot=bot).exists()


def test_nothing_due_claims_nothing_and_takes_no_slot(bot: Bot) -> None:
    ids = pending(bot, 1)
    OutboundMessage.objects.filter(pk__in=ids).update(status=Status.SENT)
    slot = SendSlot.objects.update_or_create(bot=bot, defaults={"next_at": timezone.now()})[0]

    assert claim_many(ids) == ([], {})
    assert SendSlot.objects.get(bot=bot).next_at == slot.next_at
