"""``/notification/callback`` through the deployed fast path: what a callback stores on its message.

The rest of this package reaches the endpoint through the sandbox over HTTP; these post BotX's callback
bodies (tests/fixtures/botx/callback_*.json) straight to the WSGI application, and also hold the number
of statements one callback costs, since every message sent brings one.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from bots.botx.outgoing import build_request
from bots.models import Bot, CallbackReceipt, InboundEvent, MessageEvent, OutboundMessage
from bots.services import delivery
from bots.services.delivery import DeliveryResult, _accepted_many, _Send, callback_match
from bots.services.outbox import deliveries_collected
from tests.botx import payloads
from tests.traffic.conftest import WsgiResponse, botx_token, wsgi_post

pytestmark = [pytest.mark.django_db]
Status = OutboundMessage.Status


@pytest.fixture
def bot(make_bot: Callable[..., Any]) -> Bot:
    """A bot of its own: this package's ``bot`` is the sandbox's, on a live server these tests do not need."""
    bot: Bot = make_bot(name="Callbacks")
    return bot


def accepted(bot: Bot, message: OutboundMessage, result: dict[str, Any]) -> DeliveryResult:
    """What the worker does with BotX's answer to the send of ``message``."""
    (outcome,) = accepted_chunk(bot, [(message, result)])
    return outcome


def accepted_chunk(bot: Bot, answers: list[tuple[OutboundMessage, dict[str, Any]]]) -> list[DeliveryResult]:
    """What the worker does with BotX's answers to the sends of a chunk of messages."""
    sends = []
    for message, result in answers:
        payload = {**message.payload, "chat_id": str(message.chat_id)}
        request = build_request(message.method, payload, bot_id=str(bot.bot_id))
        sends.append(_Send(message, 0.0, request=request, result=result))
    return _accepted_many(bot, sends)


def sent_message(bot: Bot, *, status: str = Status.SENT, sync_id: uuid.UUID | None = None) -> OutboundMessage:
    """An outbox row as the worker leaves it once BotX accepted it (``sync_id`` stored, a callback due)."""
    return OutboundMessage.objects.create(
        bot=bot,
        method="notification",
        chat_id=uuid.uuid4(),
        payload={"body": "hello"},
        text="hello",
        status=status,
        attempts=1,
        sync_id=sync_id or (uuid.uuid4() if status == Status.SENT else None),
        result={"sync_id": "kept"},
    )


def post_callback(bot: Bot, name: str, sync_id: uuid.UUID | None) -> WsgiResponse:
    """BotX's callback of the fixture ``name``, about the message with ``sync_id``."""
    assert sync_id is not None
    body = payloads.load(name) | {"sync_id": str(sync_id)}
    return wsgi_post(
        f"/botx/{bot.bot_id}/notification/callback",
        json.dumps(body),
        headers={"authorization": f"Bearer {botx_token(bot)}"},
    )


def callback_events(message: OutboundMessage) -> list[tuple[str, str]]:
    return list(message.events.filter(note__startswith="callback").values_list("status", "note"))


def assert_settled_once_if_open(message: OutboundMessage, status_before: str) -> None:
    """After an error callback: a message delivered already keeps its status (the callback is recorded
    and changes nothing, as a repeated one); one still open has failed, with one step in its history."""
    stored = OutboundMessage.objects.get(pk=message.pk)
    if status_before == Status.DELIVERED:
        assert stored.status == Status.DELIVERED
        assert callback_events(message) == []
    else:
        assert stored.status == Status.FAILED
        assert [status for status, _note in callback_events(message)] == [Status.FAILED]


def run_while_held(
    hold: Callable[[], None], wait: Callable[[], None], holding: threading.Event, release: threading.Event
) -> None:
    """Run ``hold`` in a thread until it sets ``holding`` (a row lock taken), then ``wait`` in another,
    which must still be waiting for that lock half a second later; then set ``release`` and let both end."""
    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive(), "waiting for the row the other transaction holds"
    release.set()
    holder.join(10)
    waiter.join(10)


def test_an_ok_callback_delivers_its_message(bot: Bot) -> None:
    message = sent_message(bot)

    response = post_callback(bot, "callback_ok", message.sync_id)

    assert (response.status_code, response.json()) == (202, {"result": "accepted"})
    stored = OutboundMessage.objects.get(pk=message.pk)
    assert stored.status == Status.DELIVERED
    assert stored.finished_at is not None
    assert (stored.error_kind, stored.error_reason, stored.error_data) == ("", "", {})
    assert (stored.payload, stored.result, stored.sync_id) == (message.payload, message.result, message.sync_id)
    assert callback_events(stored) == [(Status.DELIVERED, "callback: ok")]
    receipt = CallbackReceipt.objects.get()
    assert (receipt.message_id, receipt.bot_id, receipt.sync_id) == (message.pk, bot.pk, message.sync_id)
    assert receipt.ok and receipt.matched_at is not None
    request = receipt.inbound
    assert (request.endpoint, request.status, request.http_status, request.text) == ("callback", "answered", 202, "ok")
    assert (request.bot_id, request.bot_ref, request.sync_id) == (bot.pk, str(bot.bot_id), message.sync_id)
    assert request.verification == InboundEvent.Verification.VERIFIED
    assert request.correlation_id == message.correlation_id


def test_an_error_callback_fails_its_message_with_the_reason_and_the_error_data(bot: Bot) -> None:
    message = sent_message(bot)
    error_data = payloads.load("callback_error")["error_data"]

    response = post_callback(bot, "callback_error", message.sync_id)

    assert response.status_code == 202
    stored = OutboundMessage.objects.get(pk=message.pk)
    assert stored.status == Status.FAILED
    assert (stored.error_kind, stored.error_reason, stored.error_detail) == ("permanent", "chat_not_found", "")
    assert stored.error_data == error_data
    assert stored.finished_at is not None
    assert callback_events(stored) == [(Status.FAILED, "callback: chat_not_found")]
    receipt = CallbackReceipt.objects.get()
    assert (receipt.ok, receipt.reason, receipt.errors, receipt.error_data) == (False, "chat_not_found", [], error_data)
    assert receipt.message_id == message.pk
    assert receipt.inbound.text == "chat_not_found"
    assert receipt.inbound.correlation_id == message.correlation_id


def test_a_repeated_callback_is_recorded_and_leaves_the_status_as_it_is(bot: Bot) -> None:
    message = sent_message(bot)
    post_callback(bot, "callback_ok", message.sync_id)
    finished_at = OutboundMessage.objects.get(pk=message.pk).finished_at

    response = post_callback(bot, "callback_error", message.sync_id)

    assert response.status_code == 202
    stored = OutboundMessage.objects.get(pk=message.pk)
    assert (stored.status, stored.error_reason, stored.finished_at) == (Status.DELIVERED, "", finished_at)
    assert callback_events(stored) == [(Status.DELIVERED, "callback: ok")]
    receipts = CallbackReceipt.objects.order_by("id")
    assert [(r.ok, r.message_id) for r in receipts] == [(True, message.pk), (False, message.pk)]
    assert {r.inbound.correlation_id for r in receipts} == {message.correlation_id}


def test_a_callback_before_the_worker_stored_the_sync_id_is_kept_and_matched_when_it_does(bot: Bot) -> None:
    message = sent_message(bot, status=Status.SENDING)
    sync_id = uuid.uuid4()

    response = post_callback(bot, "callback_ok", sync_id)

    assert response.status_code == 202
    receipt = CallbackReceipt.objects.get()
    assert (receipt.message_id, receipt.matched_at) == (None, None)
    assert receipt.inbound.correlation_id != message.correlation_id
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.SENDING

    # The worker gets BotX's answer with the sync ID: the waiting callback settles the message at once.
    result = accepted(bot, message, {"sync_id": str(sync_id)})

    assert result.status == Status.DELIVERED
    receipt.refresh_from_db()
    assert receipt.message_id == message.pk and receipt.matched_at is not None
    assert InboundEvent.objects.get(pk=receipt.inbound_id).correlation_id == message.correlation_id
    stored = OutboundMessage.objects.get(pk=message.pk)
    assert (stored.status, stored.sync_id) == (Status.DELIVERED, sync_id)
    assert list(stored.events.order_by("id").values_list("status", "note")) == [
        (Status.SENT, "accepted by BotX"),
        (Status.DELIVERED, "callback: ok"),
    ]


def test_the_worker_looks_for_callbacks_once_after_its_write_and_settles_the_message_without_a_lock(
    bot: Bot,
) -> None:
    """BotX's answer written, then one look for the callbacks that came first, then the message
    settled by a checked write: three statements on PostgreSQL, and no message locked."""
    message = sent_message(bot, status=Status.SENDING)
    sync_id = uuid.uuid4()
    post_callback(bot, "callback_ok", sync_id)  # before the worker stored the sync ID: kept unmatched

    with CaptureQueriesContext(connection) as context:
        result = accepted(bot, message, {"sync_id": str(sync_id)})

    assert result.status == Status.DELIVERED
    assert CallbackReceipt.objects.get().message_id == message.pk
    assert list(message.events.order_by("id").values_list("status", "note")) == [
        (Status.SENT, "accepted by BotX"),
        (Status.DELIVERED, "callback: ok"),
    ]
    assert not any("FOR UPDATE" in q["sql"] for q in context.captured_queries)
    looks = [q["sql"] for q in context.captured_queries if 'FROM "bots_callbackreceipt"' in q["sql"]]
    assert len(looks) == 1
    if connection.vendor == "postgresql":
        # The answer with its history and attempt; the look; the match with the message's new status.
        assert _statements(context) == ["WITH", "SELECT", "WITH"]


def test_the_callbacks_that_came_before_a_chunks_answers_are_settled_in_one_statement(bot: Bot) -> None:
    """However many of a chunk's callbacks came first, the worker writes them all at once: one look,
    one write (three statements with the answers' own on PostgreSQL). A second callback for the same
    message is matched and changes nothing, as a repeated one."""
    messages = [sent_message(bot, status=Status.SENDING) for _ in range(3)]
    sync_ids = [uuid.uuid4() for _ in messages]
    post_callback(bot, "callback_ok", sync_ids[0])
    post_callback(bot, "callback_error", sync_ids[1])
    post_callback(bot, "callback_error", sync_ids[0])  # repeated, with another outcome
    # The third message's callback has not come: it stays sent.

    with CaptureQueriesContext(connection) as context:
        results = accepted_chunk(bot, [(m, {"sync_id": str(s)}) for m, s in zip(messages, sync_ids, strict=True)])

    assert [r.status for r in results] == [Status.DELIVERED, Status.FAILED, Status.SENT]
    stored = {m.pk: m for m in OutboundMessage.objects.all()}
    assert [stored[m.pk].status for m in messages] == [Status.DELIVERED, Status.FAILED, Status.SENT]
    assert stored[messages[1].pk].error_reason == "chat_not_found"
    assert [callback_events(m) for m in messages] == [
        [(Status.DELIVERED, "callback: ok")],
        [(Status.FAILED, "callback: chat_not_found")],
        [],
    ]
    receipts = CallbackReceipt.objects.order_by("id")
    assert [r.message_id for r in receipts] == [messages[0].pk, messages[1].pk, messages[0].pk]
    assert [r.inbound.correlation_id for r in receipts] == [messages[i].correlation_id for i in (0, 1, 0)]
    assert not any("FOR UPDATE" in q["sql"] for q in context.captured_queries)
    if connection.vendor == "postgresql":
        assert _statements(context) == ["WITH", "SELECT", "WITH"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement for both looks on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_after_its_committed_answers_the_worker_looks_for_early_callbacks_and_the_chats_next_message_at_once(
    make_bot: Callable[..., Any],
) -> None:
    """Outside a transaction (as the worker writes), the callbacks that came first and the next pending
    message of each chat are found by one statement after the answers' write: the answers, the look,
    the callbacks' write. The chat's next message is handed to delivery."""
    bot: Bot = make_bot(name="Looks")
    message = sent_message(bot, status=Status.SENDING)
    later = OutboundMessage.objects.create(
        bot=bot, method="notification", chat_id=message.chat_id, payload={"body": "next"}, text="next"
    )
    elsewhere = OutboundMessage.objects.create(
        bot=bot, method="notification", chat_id=uuid.uuid4(), payload={"body": "other"}, text="other"
    )
    sync_id = uuid.uuid4()
    post_callback(bot, "callback_error", sync_id)  # before the worker stored the sync ID

    with deliveries_collected() as handed, CaptureQueriesContext(connection) as context:
        (result,) = accepted_chunk(bot, [(message, {"sync_id": str(sync_id)})])

    assert result.status == Status.FAILED
    assert CallbackReceipt.objects.get().message_id == message.pk
    assert handed == [later.pk], "the next message of its chat, not of another chat"
    assert OutboundMessage.objects.get(pk=elsewhere.pk).status == Status.PENDING
    assert _statements(context) == ["WITH", "SELECT", "WITH"]


@pytest.mark.parametrize("meanwhile", [Status.DELIVERED, Status.UNKNOWN])
def test_a_chunks_message_changed_before_its_early_callback_was_written_is_settled_once_if_open(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """One message of the chunk changes between the worker's write and its callbacks' (settled by
    another callback, or left unknown by an operator): the others are settled by the one write, and
    that one, looked at again, is settled under its lock if it is still open, once."""
    changed, other = sent_message(bot, status=Status.SENDING), sent_message(bot, status=Status.SENDING)
    sync_ids = [uuid.uuid4(), uuid.uuid4()]
    for sync_id in sync_ids:
        post_callback(bot, "callback_error", sync_id)
    look = delivery._unmatched

    def changed_after_the_write(*args: Any) -> list[CallbackReceipt]:
        OutboundMessage.objects.filter(pk=changed.pk).update(status=meanwhile)
        return look(*args)

    monkeypatch.setattr(delivery, "_unmatched", changed_after_the_write)

    accepted_chunk(bot, [(changed, {"sync_id": str(sync_ids[0])}), (other, {"sync_id": str(sync_ids[1])})])

    assert_settled_once_if_open(changed, meanwhile)
    assert_settled_once_if_open(other, Status.SENT)
    assert set(CallbackReceipt.objects.values_list("message_id", flat=True)) == {changed.pk, other.pk}


def test_a_callback_the_worker_missed_is_matched_by_the_sweepers_callback_match(bot: Bot) -> None:
    sync_id = uuid.uuid4()
    post_callback(bot, "callback_error", sync_id)
    message = sent_message(bot, sync_id=sync_id)  # stored by a worker that looked before the callback came
    receipt = CallbackReceipt.objects.get()

    assert callback_match(receipt) is True

    stored = OutboundMessage.objects.get(pk=message.pk)
    assert (stored.status, stored.error_reason) == (Status.FAILED, "chat_not_found")
    assert CallbackReceipt.objects.get().message_id == message.pk
    assert InboundEvent.objects.get(pk=receipt.inbound_id).correlation_id == message.correlation_id


def test_a_callback_with_an_unknown_sync_id_is_recorded_unmatched(bot: Bot) -> None:
    sent_message(bot)
    sync_id = uuid.uuid4()

    response = post_callback(bot, "callback_ok", sync_id)

    assert (response.status_code, response.json()) == (202, {"result": "accepted"})
    receipt = CallbackReceipt.objects.get()
    assert (receipt.sync_id, receipt.bot_id, receipt.message_id, receipt.ok) == (sync_id, bot.pk, None, True)
    assert receipt.inbound.status == InboundEvent.Status.ANSWERED
    assert OutboundMessage.objects.get().status == Status.SENT
    assert not MessageEvent.objects.filter(note__startswith="callback").exists()


def test_a_callback_for_another_bots_message_is_not_matched_to_it(bot: Bot, make_bot: Callable[..., Any]) -> None:
    other: Bot = make_bot(name="Other")
    message = sent_message(other)

    post_callback(bot, "callback_ok", message.sync_id)

    assert CallbackReceipt.objects.get().message_id is None
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.SENT


def _statements(context: CaptureQueriesContext) -> list[str]:
    # The test's own transaction turns the callback's into a savepoint; those lines are not the callback's.
    sqls = [q["sql"] for q in context.captured_queries]
    return [sql.split()[0].upper() for sql in sqls if not sql.upper().startswith(("SAVEPOINT", "RELEASE"))]


# The message found, the request, its receipt, the message's new status and its history: one statement
# on PostgreSQL (bots/services/callback_rows.py); elsewhere the read, then one each (the status checked).
MATCHED = ["WITH"] if connection.vendor == "postgresql" else ["SELECT", "INSERT", "INSERT", "UPDATE", "INSERT"]
# The message looked for, the request and its receipt stored: one statement on PostgreSQL, three elsewhere.
STORED = ["WITH"] if connection.vendor == "postgresql" else ["SELECT", "INSERT", "INSERT"]
# The second look of a callback stored unmatched: on PostgreSQL one statement that also settles what it finds.
LOOKED = "WITH" if connection.vendor == "postgresql" else "SELECT"


def test_a_matched_callback_is_one_statement_on_postgresql_and_takes_no_lock(bot: Bot) -> None:
    message = sent_message(bot)
    post_callback(bot, "callback_ok", uuid.uuid4())  # the bot cached, as in a running process

    with CaptureQueriesContext(connection) as context:
        post_callback(bot, "callback_ok", message.sync_id)

    # The message found, the request and its receipt stored, the message's status and history written.
    assert _statements(context) == MATCHED
    assert not any("FOR UPDATE" in q["sql"] for q in context.captured_queries)
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.DELIVERED
    assert callback_events(message) == [(Status.DELIVERED, "callback: ok")]


def test_an_early_callback_is_stored_then_looked_for_once_more(bot: Bot) -> None:
    post_callback(bot, "callback_ok", uuid.uuid4())

    with CaptureQueriesContext(connection) as context:
        post_callback(bot, "callback_ok", uuid.uuid4())

    assert _statements(context) == [*STORED, LOOKED]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="on PostgreSQL there is no read before the write")
@pytest.mark.parametrize("meanwhile", [Status.DELIVERED, Status.UNKNOWN])
def test_a_message_changed_between_the_callbacks_read_and_its_write_is_settled_under_its_lock(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """Another callback of the same message (delivered), or an operator's action, lands after this
    callback read the message: the checked write leaves the message, which is then settled afresh."""
    message = sent_message(bot)
    lookup = delivery.callback_target

    def changed_after_the_read(bot_pk: int, wanted: uuid.UUID, *, lock: bool = True) -> OutboundMessage | None:
        found = lookup(bot_pk, wanted, lock=lock)
        if not lock:
            OutboundMessage.objects.filter(pk=message.pk).update(status=meanwhile)
        return found

    monkeypatch.setattr(delivery, "callback_target", changed_after_the_read)

    assert post_callback(bot, "callback_error", message.sync_id).status_code == 202

    receipt = CallbackReceipt.objects.get()
    assert receipt.message_id == message.pk  # matched either way
    assert_settled_once_if_open(message, meanwhile)  # under the lock, once


@pytest.mark.parametrize("meanwhile", [Status.DELIVERED, Status.UNKNOWN])
def test_a_callback_settles_its_message_only_if_it_is_still_open_to_one(bot: Bot, meanwhile: str) -> None:
    """A message settled already (by an earlier callback) keeps its status; one an operator left
    unknown is settled by the callback."""
    message = sent_message(bot)
    OutboundMessage.objects.filter(pk=message.pk).update(status=meanwhile)

    assert post_callback(bot, "callback_error", message.sync_id).status_code == 202

    receipt = CallbackReceipt.objects.get()
    assert receipt.message_id == message.pk and receipt.matched_at is not None
    assert InboundEvent.objects.get(pk=receipt.inbound_id).correlation_id == message.correlation_id
    assert_settled_once_if_open(message, meanwhile)
    if meanwhile != Status.DELIVERED:
        stored = OutboundMessage.objects.get(pk=message.pk)
        assert (stored.error_reason, stored.finished_at is not None) == ("chat_not_found", True)


def test_a_callback_whose_sync_id_was_stored_while_it_was_being_stored_is_matched_at_once(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stores the sync ID after the callback looked for its message, and looks for the
    callback before the callback is committed: neither sees the other in its own transaction."""
    sync_id = uuid.uuid4()
    record = delivery.callback_record
    stored: list[OutboundMessage] = []

    def sync_id_stored_meanwhile(event: InboundEvent, receipt: CallbackReceipt) -> bool:
        matched = record(event, receipt)
        stored.append(sent_message(bot, sync_id=sync_id))
        return matched

    monkeypatch.setattr(delivery, "callback_record", sync_id_stored_meanwhile)

    with CaptureQueriesContext(connection) as context:
        assert post_callback(bot, "callback_ok", sync_id).status_code == 202

    (message,) = stored
    receipt = CallbackReceipt.objects.get()
    assert receipt.message_id == message.pk and receipt.matched_at is not None
    assert InboundEvent.objects.get(pk=receipt.inbound_id).correlation_id == message.correlation_id
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.DELIVERED
    assert callback_events(message) == [(Status.DELIVERED, "callback: ok")]
    if connection.vendor == "postgresql":
        # Stored unmatched, the message made (the test's), then found, matched and settled at once.
        statements = _statements(context)
        assert [s for s in statements[statements.index("WITH") :] if s != "INSERT"] == ["WITH", "WITH"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second look's one statement")
def test_the_second_look_leaves_a_callback_the_worker_matched_meanwhile_to_it(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stored the sync ID and matched the early callback between its store and the Bot
    API's second look: that look changes nothing (the receipt keeps the worker's match, the message
    its one callback step)."""
    sync_id = uuid.uuid4()
    record = delivery.callback_record
    settled: list[tuple[OutboundMessage, Any]] = []

    def matched_by_the_worker_meanwhile(event: InboundEvent, receipt: CallbackReceipt) -> bool:
        matched = record(event, receipt)
        message = sent_message(bot, status=Status.SENDING)
        accepted(bot, message, {"sync_id": str(sync_id)})  # its answer written, the callback found
        settled.append((message, CallbackReceipt.objects.get().matched_at))
        return matched

    monkeypatch.setattr(delivery, "callback_record", matched_by_the_worker_meanwhile)

    assert post_callback(bot, "callback_error", sync_id).status_code == 202

    ((message, matched_at),) = settled
    assert matched_at is not None
    receipt = CallbackReceipt.objects.get()
    assert (receipt.message_id, receipt.matched_at) == (message.pk, matched_at)
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.FAILED
    assert callback_events(message) == [(Status.FAILED, "callback: chat_not_found")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second look's one statement and its locks")
@pytest.mark.django_db(transaction=True)
def test_the_second_look_locks_the_message_before_the_receipt_as_the_worker_does(
    make_bot: Callable[..., Any],
) -> None:
    """The worker settling an early callback holds its message and is about to match the receipt when
    the Bot API's second look for the same callback runs: the look waits for the message and takes
    nothing the worker needs, so the worker goes on (the other order deadlocked, one of the two
    failing after a second)."""
    bot: Bot = make_bot(name="Locks")
    sync_id = uuid.uuid4()
    post_callback(bot, "callback_ok", sync_id)  # stored before the worker stored the sync ID
    receipt = CallbackReceipt.objects.get()
    message = sent_message(bot, sync_id=sync_id)
    holding, go_on = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with transaction.atomic():
                OutboundMessage.objects.filter(pk=message.pk).update(status=Status.DELIVERED)
                holding.set()
                go_on.wait(10)
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                CallbackReceipt.objects.filter(pk=receipt.pk).update(message=message)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def look() -> None:
        try:
            delivery.callback_match_after_commit(receipt)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    run_while_held(worker, look, holding, go_on)

    assert errors == [], "neither waited for the other: no deadlock"
    assert CallbackReceipt.objects.get().message_id == message.pk
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.DELIVERED
    assert callback_events(message) == [], "settled by the worker, not again by the look"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's re-check of a row changed meanwhile")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("meanwhile", [Status.DELIVERED, Status.UNKNOWN])
def test_a_message_changed_by_a_transaction_the_callbacks_statement_waited_for_is_judged_as_it_is_then(
    make_bot: Callable[..., Any], meanwhile: str
) -> None:
    """Another transaction holds the message (a repeated callback settling it, an operator's action)
    when the callback's statement reaches it: the statement waits, then tests the new status."""
    bot: Bot = make_bot(name="Callbacks")
    message = sent_message(bot)
    post_callback(bot, "callback_ok", uuid.uuid4())  # the bot cached: the callback's only statement is the one
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                OutboundMessage.objects.filter(pk=message.pk).update(status=meanwhile)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def post() -> None:
        try:
            answers.append(post_callback(bot, "callback_error", message.sync_id).status_code)
        finally:
            connections.close_all()

    answers: list[int] = []
    run_while_held(hold, post, holding, release)

    assert answers == [202]
    assert CallbackReceipt.objects.filter(message=message).count() == 1  # matched
    assert_settled_once_if_open(message, meanwhile)
