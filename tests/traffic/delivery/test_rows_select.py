"""The prebuilt reads of the drain and the delivery: ``rows_select`` (the ORM's ``filter()`` with lists,
order, limit and locks), ``bots_read`` (a batch's bots with their CTS and rules wired as
``select_related``/``prefetch_related`` wire them) and the delivery's one-statement claim."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bots.models import Bot, ChatRule, CommandRule, CtsServer, InboundEvent, OutboundMessage
from bots.services import send_claims
from bots.services.bot_rows import bots_read
from bots.services.rows import choices_sql, rows_select, select_prepared

pytestmark = [pytest.mark.django_db]
Status = OutboundMessage.Status


@pytest.fixture
def bot(make_bot: Callable[..., Any]) -> Bot:
    bot: Bot = make_bot(name="Rows")
    return bot


def outbox_row(bot: Bot, chat_id: uuid.UUID | None = None, **fields: Any) -> OutboundMessage:
    return OutboundMessage.objects.create(
        bot=bot, method="notification", payload={"body": "x"}, chat_id=chat_id or uuid.uuid4(), **fields
    )


def test_rows_select_reads_what_the_orm_reads_with_lists_order_and_limit(bot: Bot) -> None:
    rows = [outbox_row(bot, status=status) for status in (Status.PENDING, Status.SENT, Status.PENDING, Status.FAILED)]
    wanted = [rows[0].pk, rows[2].pk, rows[3].pk]

    found = rows_select(OutboundMessage, where={"id": wanted, "status": Status.PENDING}, order_by="-id")
    limited = rows_select(OutboundMessage, where={"id": set(wanted)}, order_by="id", limit=2)

    assert [row.pk for row in found] == [rows[2].pk, rows[0].pk]
    assert [row.pk for row in limited] == [rows[0].pk, rows[2].pk]
    expected = OutboundMessage.objects.get(pk=rows[2].pk)
    for field in OutboundMessage._meta.concrete_fields:
        assert getattr(found[0], field.attname) == getattr(expected, field.attname), field.name
    assert found[0].get_deferred_fields() == set() and not found[0]._state.adding


def test_exclude_leaves_out_the_rows_it_names_and_an_empty_list_none(bot: Bot) -> None:
    rows = [outbox_row(bot) for _ in range(3)]

    left = rows_select(OutboundMessage, where={"bot": bot.pk}, exclude={"id": [rows[1].pk]}, order_by="id")
    everything = rows_select(OutboundMessage, where={"bot": bot.pk}, exclude={"id": set()}, order_by="id")
    one = rows_select(OutboundMessage, where={"bot": bot.pk}, exclude={"id": rows[0].pk, "status": Status.SENT})

    assert [row.pk for row in left] == [rows[0].pk, rows[2].pk]
    assert [row.pk for row in everything] == [row.pk for row in rows]
    assert {row.pk for row in one} == {rows[1].pk, rows[2].pk}


def test_a_choice_of_the_model_is_written_into_the_statement_and_any_other_value_is_a_parameter(bot: Bot) -> None:
    pending, sent = outbox_row(bot), outbox_row(bot, status=Status.SENT)

    select, params = select_prepared(
        OutboundMessage, connection, where={"bot": bot.pk, "status": Status.PENDING}, exclude={"id": [sent.pk]}
    ) or (None, [])
    found = rows_select(OutboundMessage, where={"bot": bot.pk, "status": [Status.SENT, Status.PENDING]})
    plain = rows_select(OutboundMessage, where={"bot": bot.pk, "status": "sent"})

    assert select is not None and "= 'pending'" in select.sql
    assert params == [bot.pk, sent.pk]
    assert {row.pk for row in found} == {pending.pk, sent.pk}
    assert [row.pk for row in plain] == [sent.pk]  # a plain string stays a parameter


def test_choices_sql_refuses_what_is_not_a_plain_choice_of_a_model() -> None:
    from django.db import models

    class Odd(models.TextChoices):
        QUOTE = "it's", "quote"

    assert choices_sql(Status.PENDING, Status.SENDING) == "'pending', 'sending'"
    for values in (("pending",), (Odd.QUOTE,), ()):
        with pytest.raises(ValueError):
            choices_sql(*values)


def test_an_empty_list_matches_nothing_without_asking_the_database(bot: Bot) -> None:
    outbox_row(bot)

    with CaptureQueriesContext(connection) as context:
        assert rows_select(OutboundMessage, where={"id": []}) == []
    assert context.captured_queries == []


def test_a_locking_read_skips_locked_rows_where_the_database_can(bot: Bot) -> None:
    outbox_row(bot)

    with CaptureQueriesContext(connection) as context, transaction.atomic():
        rows_select(OutboundMessage, where={"bot": bot.pk}, lock="skip")
        rows_select(OutboundMessage, where={"bot": bot.pk}, lock="update")

    skip, update = (query["sql"].rstrip() for query in context.captured_queries if "FROM" in query["sql"])
    features = connection.features
    assert skip.endswith("SKIP LOCKED") == features.has_select_for_update_skip_locked
    assert update.endswith("FOR UPDATE") == features.has_select_for_update


def test_bots_read_wires_the_cts_and_the_rules_and_reads_nothing_more(bot: Bot, make_bot: Callable[..., Any]) -> None:
    other: Bot = make_bot(name="Other")
    chat = uuid.uuid4()
    ChatRule.objects.create(bot=bot, chat_id=chat, kind=ChatRule.Kind.DENY)
    CommandRule.objects.create(bot=bot, command="/secret", user_huids=[str(uuid.uuid4())])
    CommandRule.objects.create(bot=bot, command="/open")

    with CaptureQueriesContext(connection) as reads:
        bots = bots_read({bot.pk, other.pk, 10**9}, rules=True)

    assert set(bots) == {bot.pk, other.pk}
    # The bots with their CTS, then each kind of rule that one of them has.
    assert len(reads.captured_queries) == 3
    with CaptureQueriesContext(connection) as context:
        mine = bots[bot.pk]
        assert mine.cts.pk == bot.cts_id and mine.name == "Rows" and mine.handler == bot.handler
        assert [(rule.chat_id, rule.kind) for rule in mine.chat_rules.all()] == [(chat, "deny")]
        assert sorted(rule.command for rule in mine.command_rules.all()) == ["/open", "/secret"]
        assert list(bots[other.pk].chat_rules.all()) == [] and list(bots[other.pk].command_rules.all()) == []
    assert context.captured_queries == []
    # A further filter on a relation still asks the database, and only about this bot.
    assert [rule.command for rule in mine.command_rules.filter(command="/open")] == ["/open"]
    assert bots_read(set()) == {}


def test_bots_without_rules_are_read_in_one_statement(bot: Bot, make_bot: Callable[..., Any]) -> None:
    other: Bot = make_bot(name="Other")
    ChatRule.objects.create(bot=other, chat_id=uuid.uuid4(), kind=ChatRule.Kind.ALLOW)

    with CaptureQueriesContext(connection) as reads:
        alone = bots_read([bot.pk], rules=True)[bot.pk]
    with CaptureQueriesContext(connection) as more:
        both = bots_read([bot.pk, other.pk], rules=True)

    assert len(reads.captured_queries) == 1 and len(more.captured_queries) == 2  # the other's chat rules
    with CaptureQueriesContext(connection) as context:
        assert list(alone.chat_rules.all()) == [] and list(alone.command_rules.all()) == []
        assert [rule.kind for rule in both[other.pk].chat_rules.all()] == ["allow"]
        assert list(both[other.pk].command_rules.all()) == []
        assert alone.cts.host == bot.cts.host
    assert context.captured_queries == []


def test_bots_read_without_rules_leaves_them_to_the_database(bot: Bot) -> None:
    CommandRule.objects.create(bot=bot, command="/open")

    found = bots_read([bot.pk])[bot.pk]

    with CaptureQueriesContext(connection) as context:
        assert [rule.command for rule in found.command_rules.all()] == ["/open"]
    assert len(context.captured_queries) == 1


def test_the_drain_claims_received_commands_oldest_first(bot: Bot) -> None:
    from bots.services.dispatch import _claim

    def event(status: str, endpoint: str = InboundEvent.Endpoint.COMMAND) -> InboundEvent:
        return InboundEvent.objects.create(bot=bot, endpoint=endpoint, status=status, raw_body="{}")

    first, _done, second, _callback, third = (
        event(InboundEvent.Status.RECEIVED),
        event(InboundEvent.Status.DONE),
        event(InboundEvent.Status.RECEIVED),
        event(InboundEvent.Status.RECEIVED, InboundEvent.Endpoint.CALLBACK),
        event(InboundEvent.Status.RECEIVED),
    )

    with transaction.atomic():
        events, bots = _claim(2, set())
        assert [e.pk for e in events] == [first.pk, second.pk]
        assert [e.pk for e in _claim(5, {second.pk})[0]] == [first.pk, third.pk]

    # Each with its bot, read with its CTS and rules (a bot with none: no further read).
    assert set(bots) == {bot.pk} and all(e.bot is bots[bot.pk] for e in events)
    with CaptureQueriesContext(connection) as context:
        assert bots[bot.pk].cts.host == bot.cts.host and list(bots[bot.pk].command_rules.all()) == []
    assert context.captured_queries == []


def test_the_drain_claim_reads_the_rules_of_the_bots_that_have_them_and_a_deleted_bots_command_has_none(
    bot: Bot, make_bot: Callable[..., Any]
) -> None:
    from bots.services.dispatch import _claim

    other: Bot = make_bot(name="Other")
    CommandRule.objects.create(bot=other, command="/open")
    events = [
        InboundEvent.objects.create(bot=owner, endpoint=InboundEvent.Endpoint.COMMAND, raw_body="{}")
        for owner in (bot, other, None, other)
    ]

    with transaction.atomic(), CaptureQueriesContext(connection) as reads:
        claimed, bots = _claim(10, set())

    assert [e.pk for e in claimed] == [e.pk for e in events]
    assert set(bots) == {bot.pk, other.pk}
    assert [e.bot_id for e in claimed] == [bot.pk, other.pk, None, other.pk]
    assert claimed[1].bot is claimed[3].bot is bots[other.pk], "one bot read once for the batch"
    # The claim with the bots (one statement on PostgreSQL), then the command rules of the one that has them.
    assert len(reads.captured_queries) == (2 if connection.vendor == "postgresql" else 3)
    with CaptureQueriesContext(connection) as context:
        assert [rule.command for rule in bots[other.pk].command_rules.all()] == ["/open"]
        assert list(bots[bot.pk].command_rules.all()) == []
    assert context.captured_queries == []


def test_the_delivery_claim_takes_due_rows_in_order_behind_nothing_open_in_their_chat(bot: Bot) -> None:
    busy_chat = uuid.uuid4()
    open_first = outbox_row(bot, busy_chat, status=Status.SENDING)
    behind = outbox_row(bot, busy_chat)
    later = outbox_row(bot, next_attempt_at=timezone.now() + dt.timedelta(minutes=5))
    done = outbox_row(bot, status=Status.DELIVERED)
    due = [outbox_row(bot, attempts=2), outbox_row(bot)]
    ids = [row.pk for row in (*reversed(due), behind, later, done, open_first)]
    now = timezone.now()

    with transaction.atomic():
        won = send_claims.claim_rows(ids, now)

    assert [row.pk for row in won] == [row.pk for row in due]
    assert [(row.status, row.attempts, row.sent_at) for row in won] == [
        (Status.SENDING, 3, now),
        (Status.SENDING, 1, now),
    ]
    for row in won:
        stored = OutboundMessage.objects.get(pk=row.pk)
        for field in OutboundMessage._meta.concrete_fields:
            assert getattr(row, field.attname) == getattr(stored, field.attname), field.name
    assert OutboundMessage.objects.get(pk=behind.pk).status == Status.PENDING
    assert send_claims.claim_rows([row.pk for row in due], now) == []  # no longer pending


def test_a_chunk_claim_uses_the_bots_it_is_lent_and_reads_only_the_others(
    bot: Bot, make_bot: Callable[..., Any]
) -> None:
    other: Bot = make_bot(name="Other")
    mine, theirs = outbox_row(bot), outbox_row(other)

    with CaptureQueriesContext(connection) as context, transaction.atomic():
        won, slots = send_claims.claim_many([mine.pk, theirs.pk], {bot.pk: bot})

    assert [message.bot for message in won] == [bot, other]
    assert won[0].bot is bot and set(slots) == {bot.pk, other.pk}
    bot_reads = [q["sql"] for q in context.captured_queries if 'FROM "bots_bot"' in q["sql"]]
    assert len(bot_reads) == 1 and bot_reads[0].rstrip().endswith(f'"id" IN ({other.pk})')


def test_bots_read_reads_again_a_bot_whose_cts_went_between_its_two_reads(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bots.services import bot_rows

    real = bot_rows.rows_select

    def cts_gone(model: Any, **kwargs: Any) -> list[Any]:
        return [] if model is CtsServer else real(model, **kwargs)

    monkeypatch.setattr(bot_rows, "rows_select", cts_gone)

    found = bots_read([bot.pk], rules=True)[bot.pk]

    assert found.cts.pk == bot.cts_id and [rule for rule in found.chat_rules.all()] == []
