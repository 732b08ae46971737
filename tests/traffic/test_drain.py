"""The batch drain: stored commands processed many to a transaction, each on its own, none twice.

Commands are posted through the real /command endpoint inside the test's transaction, so no task is
woken (its on-commit hook never runs); the tests call the drain themselves, as the worker does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots.models import Bot, ChatRule, CommandRule, InboundEvent, MessageEvent, OutboundMessage
from bots.services import dispatch, wake
from bots.services.outbox import PendingMessage, deliveries_collected
from bots.tasks import inbound_drain
from tests.botx import payloads

pytestmark = [pytest.mark.django_db]

Status = InboundEvent.Status
SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT")
# The batched writes, and the refusals a row may meet, are PostgreSQL's (SQLite writes row by row).
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


def stored(bot: Bot, post_command: Callable[..., Any], texts: list[str]) -> list[InboundEvent]:
    events = []
    for text in texts:
        payload = payloads.command(body=text, user_huid=str(uuid.uuid4()), group_chat_id=str(uuid.uuid4()))
        assert post_command(bot, payload).status_code == 202
        events.append(InboundEvent.objects.get(bot=bot, sync_id=payload["sync_id"]))
    return events


def answers_by_event() -> dict[int | None, list[str]]:
    found: dict[int | None, list[str]] = {}
    for inbound_id, body in OutboundMessage.objects.order_by("id").values_list("inbound_id", "payload__body"):
        found.setdefault(inbound_id, []).append(body)
    return found


def test_the_drain_processes_every_stored_command_in_batches_and_answers_each_once(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    events = stored(bot, post_command, [f"message {n}" for n in range(7)])

    result = dispatch.inbound_drain(batch=3)

    assert result.statuses == {event.pk: Status.DONE for event in events}
    assert answers_by_event() == {event.pk: [f"message {n}"] for n, event in enumerate(events)}
    for event in events:
        event.refresh_from_db()
        assert (event.status, event.attempts) == (Status.DONE, 1)
        assert event.started_at is not None and event.finished_at is not None
    # What the batches put in the outbox was handed to delivery at once, not left for a task.
    assert sorted(result.messages) == sorted(OutboundMessage.objects.values_list("pk", flat=True))
    assert not OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING, attempts=0).exists()

    again = dispatch.inbound_drain(batch=3)

    assert again.statuses == {}
    assert OutboundMessage.objects.count() == len(events)


def test_a_worker_killed_mid_batch_keeps_nothing_of_it_and_the_next_drain_does_each_once(
    bot: Bot, post_command: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = stored(bot, post_command, ["first", "second", "third", "fourth"])
    process = dispatch._process

    def killed_on_the_third(event: InboundEvent, outbox: list[PendingMessage]) -> str:
        status = process(event, outbox)  # the handler has run and its answer is in the outbox (uncommitted)
        if event.pk == events[2].pk:
            # Not an Exception: what a worker's death looks like to the code it interrupts.
            raise SystemExit("the worker process was killed")
        return status

    with monkeypatch.context() as dying:
        dying.setattr(dispatch, "_process", killed_on_the_third)
        with pytest.raises(SystemExit):
            dispatch.inbound_drain(batch=4)

    assert set(InboundEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("status", flat=True)) == {
        Status.RECEIVED
    }
    assert not OutboundMessage.objects.exists(), "the answers of the whole batch went with it"
    assert set(InboundEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("attempts", flat=True)) == {0}

    result = dispatch.inbound_drain(batch=4)

    assert result.statuses == {event.pk: Status.DONE for event in events}
    assert answers_by_event() == {
        event.pk: [text] for event, text in zip(events, ["first", "second", "third", "fourth"], strict=True)
    }


def test_an_event_that_breaks_outside_its_handler_stays_received_and_the_rest_of_its_batch_is_done(
    bot: Bot, post_command: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = stored(bot, post_command, ["one", "two", "three"])
    broken = events[1]
    process = dispatch._process

    def breaks_on_the_second(event: InboundEvent, outbox: list[PendingMessage]) -> str:
        status = process(event, outbox)
        if event.pk == broken.pk:
            raise RuntimeError("a bug past the handler")
        return status

    monkeypatch.setattr(dispatch, "_process", breaks_on_the_second)

    result = dispatch.inbound_drain(batch=3)

    assert result.statuses == {events[0].pk: Status.DONE, events[2].pk: Status.DONE}
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == (Status.RECEIVED, 0)  # for the sweeper, as a lost task is
    assert answers_by_event() == {events[0].pk: ["one"], events[2].pk: ["three"]}


def test_a_failing_handler_fails_only_its_own_event_of_the_batch(bot: Bot, post_command: Callable[..., Any]) -> None:
    # echo answers a message with its text; one far over BotX's limit cannot be put in the outbox.
    events = stored(bot, post_command, ["fine", "x" * 5000, "also fine"])

    result = dispatch.inbound_drain(batch=3)

    assert result.statuses[events[0].pk] == Status.DONE
    assert result.statuses[events[2].pk] == Status.DONE
    assert result.statuses[events[1].pk] == Status.FAILED
    found = answers_by_event()
    assert found[events[0].pk] == ["fine"] and found[events[2].pk] == ["also fine"]
    assert "x" * 5000 not in found.get(events[1].pk, []), "nothing of the failed handler's sending is kept"


def test_a_drain_past_its_time_budget_stops_between_events_and_wakes_another(
    bot: Bot, post_command: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = stored(bot, post_command, ["a", "b", "c"])
    woken: list[str] = []

    def wake_noted(task: Any) -> bool:
        woken.append(task.name)
        return True

    monkeypatch.setattr(wake, "wake", wake_noted)

    result = dispatch.inbound_drain(batch=10, budget_seconds=0)

    assert result.more is True
    assert list(result.statuses) == [events[0].pk], "at least one event per batch, then it stops"
    assert woken == [inbound_drain.name]
    assert InboundEvent.objects.filter(status=Status.RECEIVED, pk__in=[e.pk for e in events[1:]]).count() == 2


@on_postgresql
def test_a_batch_reads_its_bot_once_and_writes_its_events_and_answers_in_a_few_statements(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    def statements_of_a_batch(count: int) -> list[str]:
        stored(bot, post_command, [f"say {n}" for n in range(count)])
        with deliveries_collected(), CaptureQueriesContext(connection) as queries:
            claimed, _stopped = dispatch._drain_batch(count, set(), dispatch.DrainResult(), deadline=float("inf"))
        assert claimed == count
        # Each handler runs in its own savepoint; everything else is done once for the batch.
        sqls = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(SAVEPOINTS)]
        # The claim: on PostgreSQL the commands locked and their bots read in one statement.
        claim = sqls[0]
        assert claim.startswith("WITH") and "SKIP LOCKED" in claim and '"bots_ctsserver"' in claim
        return [sql.split()[0] for sql in sqls[1:]]

    one = statements_of_a_batch(1)
    two = statements_of_a_batch(2)
    five = statements_of_a_batch(5)

    assert two == five
    postgresql = connection.vendor == "postgresql"

    def writes(statements: list[str]) -> list[str]:
        return [sql for sql in statements if sql in {"INSERT", "UPDATE", "WITH"}]

    assert "SELECT" not in one + two, "no read of its bots after the claim (they have no rules)"

    # The answers, then their first history steps with the events' statuses: one statement on
    # PostgreSQL; elsewhere the answers, their history and the statuses one by one.
    assert writes(two) == (["INSERT", "WITH"] if postgresql else ["INSERT", "INSERT", "UPDATE"])
    # One answer: the answer, its history step and the event's status, one statement on PostgreSQL.
    assert writes(one) == (["WITH"] if postgresql else ["INSERT", "INSERT", "UPDATE"])
    assert InboundEvent.objects.filter(status=Status.DONE).count() == 8


def test_a_batch_answers_each_event_by_its_chats_and_commands_rules(bot: Bot, post_command: Callable[..., Any]) -> None:
    denied, served = uuid.uuid4(), uuid.uuid4()
    ChatRule.objects.create(bot=bot, chat_id=denied, kind=ChatRule.Kind.DENY)
    rule = CommandRule(bot=bot, command="/help", ad_domains=["corp.example.com"])
    rule.full_clean()
    rule.save()
    texts = {"in a denied chat": denied, "/help": served, "in a served chat": served}
    events = []
    for text, chat in texts.items():
        payload = payloads.command(body=text, group_chat_id=str(chat), ad_domain="elsewhere.example")
        assert post_command(bot, payload).status_code == 202
        events.append(InboundEvent.objects.get(bot=bot, sync_id=payload["sync_id"]))

    result = dispatch.inbound_drain(batch=3)

    assert [result.statuses[event.pk] for event in events] == [Status.REFUSED, Status.REFUSED, Status.DONE]
    assert answers_by_event() == {
        events[0].pk: ["Sorry, this bot does not work in this chat."],
        events[1].pk: ["Sorry, you may not run /help."],
        events[2].pk: ["in a served chat"],
    }


@on_postgresql
def test_an_event_the_database_refuses_to_store_stays_received_and_the_rest_of_its_batch_is_done(
    bot: Bot, post_command: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = stored(bot, post_command, ["one", "two", "three"])
    unstorable = events[1]
    process = dispatch._process

    def nul_in_the_second(event: InboundEvent, outbox: list[PendingMessage]) -> str:
        status = process(event, outbox)
        if event.pk == unstorable.pk:
            event.error = "PostgreSQL refuses \x00 in text"
        return status

    monkeypatch.setattr(dispatch, "_process", nul_in_the_second)

    result = dispatch.inbound_drain(batch=3)

    assert result.statuses == {events[0].pk: Status.DONE, events[2].pk: Status.DONE}
    unstorable.refresh_from_db()
    assert (unstorable.status, unstorable.attempts) == (Status.RECEIVED, 0)
    assert answers_by_event() == {events[0].pk: ["one"], events[2].pk: ["three"]}
    assert sorted(
        MessageEvent.objects.filter(note="handler: echo").values_list("message__payload__body", "status")
    ) == [
        ("one", OutboundMessage.Status.PENDING),
        ("three", OutboundMessage.Status.PENDING),
    ], "each answer with its first history step, written again with it"
    # Handed to delivery: the answers as written one by one (and the ids of the first, rolled-back
    # write, which the delivery does not find).
    assert set(OutboundMessage.objects.values_list("pk", flat=True)) <= set(result.messages)


@on_postgresql
def test_a_batch_changes_its_events_in_the_transaction_that_claimed_them_not_in_a_savepoint(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    """A row locked by a transaction and changed by one of its savepoints gets a multixact as its
    deleter, and PostgreSQL never takes such a row version for dead on sight: each claim would read
    every command processed since the last vacuum through the queue's index (seen in bench/traffic.py:
    a claim that found nothing read 600 pages)."""
    stored(bot, post_command, ["one", "two"])

    with deliveries_collected(), CaptureQueriesContext(connection) as queries:
        claimed, _stopped = dispatch._drain_batch(2, set(), dispatch.DrainResult(), deadline=float("inf"))

    assert claimed == 2
    statements = [q["sql"] for q in queries.captured_queries]
    (claim,) = [n for n, sql in enumerate(statements) if "FOR UPDATE SKIP LOCKED" in sql]
    # The events' statuses: an UPDATE, on PostgreSQL a part of the outbox's statement.
    (update,) = [n for n, sql in enumerate(statements) if 'UPDATE "bots_inboundevent"' in sql]
    between = statements[claim:update]
    opened = sum(sql.startswith("SAVEPOINT") for sql in between)
    closed = sum(sql.startswith(("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")) for sql in between)
    assert opened == closed
