"""Delivering outbox rows to the BotX API: claim, respect the rate limit and chat order, call, record.

What a failure means is decided by the client's error kind (bots/botx/errors.py) and nothing else:
transient errors are retried with exponential backoff and jitter within a budget, permanent ones fail
the message at once, and an ambiguous one (the request went out, no answer came) leaves the message
``unknown`` for an operator, since BotX has no idempotency key and a resend could post it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef
from django.utils import timezone

from bots.botx.client import BotxClient
from bots.botx.errors import BotxError, ErrorKind
from bots.botx.outgoing import (
    MessageStatus,
    OutgoingPayloadError,
    build_request,
    parse_message_status,
    sync_id_from_result,
)
from bots.models import Bot, CallbackReceipt, DeliveryAttempt, InboundEvent, OutboundMessage
from bots.services.botx_clients import client_for
from bots.services.callback_rows import callback_match_settle, callback_store_settle
from bots.services.outbox import (
    deliver_after_commit,
    message_status_change,
    status_change_fields,
    status_change_writes,
    status_step,
)
from bots.services.rows import (
    Columns,
    Insert,
    Update,
    choices_sql,
    column_sql,
    columns_of,
    row_first,
    rows_insert,
    rows_insert_linked,
    rows_select,
    rows_write,
)
from bots.services.send_claims import claim_many

logger = logging.getLogger(__name__)
Status = OutboundMessage.Status

REQUEST_BODY_PREVIEW = 2_000  # characters of a file's data kept in the attempt log


@dataclass(frozen=True)
class DeliveryResult:
    message_id: int
    status: str
    retry_in: float | None = None


def earlier_open_in_chat() -> Exists:
    return Exists(
        OutboundMessage.objects.filter(
            bot=OuterRef("bot"),
            chat_id=OuterRef("chat_id"),
            id__lt=OuterRef("id"),
            status__in=OutboundMessage.OPEN_STATUSES,
        )
    )


def _backoff(attempts: int, retry_after: float | None) -> float:
    base = float(settings.OUTBOX_RETRY_BASE_SECONDS)
    delay = min(base * 2 ** max(attempts - 1, 0), float(settings.OUTBOX_RETRY_MAX_DELAY_SECONDS))
    delay = delay * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not security)
    return max(delay, retry_after or 0.0)


def _loggable_body(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The request as recorded: a file's data is shortened; there is no secret in a BotX body."""
    if not body or "file" not in body or not isinstance(body["file"], dict):
        return body
    file = dict(body["file"])
    data = str(file.get("data", ""))
    if len(data) > REQUEST_BODY_PREVIEW:
        file["data"] = f"{data[:REQUEST_BODY_PREVIEW]}… ({len(data)} characters)"
    return {**body, "file": file}


CLAIM_CHUNK = 16  # messages a batch delivery claims at a time (it checks its deadline between chunks)


@dataclass
class _Send:
    message: OutboundMessage
    wait: float  # seconds after the slot reservation this send may go
    request: Any = None
    result: Any = None
    error: BotxError | None = None
    attempt: DeliveryAttempt | None = None


def messages_deliver(
    message_ids: list[int], *, deadline: float | None = None, bots: Mapping[int, Bot] | None = None
) -> list[DeliveryResult]:
    """Deliver outbox rows in this worker, a few at a time (the batch drain's answers): no task per row.

    Each chunk shares its database work: one claim (a row another worker holds, or one behind an open
    message of its chat, is left to its own task), one reservation of as many send slots, one insert of
    the attempts, one transaction for the answers. Past ``deadline`` (``time.monotonic()``) the rest go
    to a task per chunk: a slow BotX must not keep one worker sending for longer than that. ``bots``:
    the caller's bots by key, just read (the drain's), used instead of reading them again.
    """
    from bots import tasks

    results: list[DeliveryResult] = []
    for start in range(0, len(message_ids), CLAIM_CHUNK):
        if start and deadline is not None and time.monotonic() >= deadline:
            # The rest go on as chunks (one task each), with the chunk's shared statements: a task per
            # message would cost a busy worker several times more per message.
            for rest in range(start, len(message_ids), CLAIM_CHUNK):
                tasks.enqueue_safely(tasks.outbound_deliver_many, message_ids[rest : rest + CLAIM_CHUNK])
            break
        results.extend(_deliver_chunk(message_ids[start : start + CLAIM_CHUNK], bots))
    return results


def _deliver_chunk(message_ids: list[int], bots: Mapping[int, Bot] | None = None) -> list[DeliveryResult]:
    results: list[DeliveryResult] = []
    claimed, slots = claim_many(message_ids, bots)
    by_bot: dict[int | None, list[OutboundMessage]] = {}
    for message in claimed:
        by_bot.setdefault(message.bot_id, []).append(message)
    for bot_pk, messages in by_bot.items():
        if bot_pk is None:
            for message in messages:
                _finish(message, Status.FAILED, note="the bot was deleted", error_kind=ErrorKind.PERMANENT)
                results.append(DeliveryResult(message.pk, Status.FAILED))
            continue
        bot = messages[0].bot
        assert bot is not None
        waits, later, reserved_at = slots[bot_pk].waits, slots[bot_pk].later, slots[bot_pk].reserved_at
        sends = [_Send(message, wait) for message, wait in zip(messages, waits, strict=False)]
        for message in messages[len(waits) :]:
            results.append(_retry_later(message, later, note=f"rate limit: {bot.rate_limit}/s", count_attempt=False))
        client = client_for(bot)
        ready = []
        for send in sends:
            message = send.message
            try:
                send.request = build_request(message.method, message.payload, bot_id=str(bot.bot_id))
            except OutgoingPayloadError as exc:
                _finish(message, Status.FAILED, note=str(exc), error_kind=ErrorKind.PERMANENT, error_detail=str(exc))
                results.append(DeliveryResult(message.pk, Status.FAILED))
                continue
            ready.append(send)
        # A chunk holds at most one message per chat (the claim skips a message with an earlier one
        # open in its chat), so its calls may overlap without reordering any chat: the chunk takes
        # about as long as its slowest call instead of the sum of them.
        if len(ready) > 1:
            pool = _send_pool()
            list(pool.map(_call, [client] * len(ready), ready, [reserved_at] * len(ready)))
        elif ready:
            _call(client, ready[0], reserved_at)
        done = [send for send in sends if send.attempt is not None]
        # The attempts of accepted sends are written with their answers, in one statement.
        rows_insert([send.attempt for send in done if send.attempt is not None and send.error is not None])
        accepted = [send for send in done if send.error is None]
        if accepted:
            results.extend(_accepted_many(bot, accepted))
        for send in done:
            if send.error is not None:
                results.append(_failed(send.message, send.error))
    return results


def _call(client: BotxClient, send: _Send, reserved_at: float) -> None:
    """One BotX call of a chunk, at its rate-limit slot; its outcome and attempt row (not saved yet)
    go on ``send``. No database work: it may run in a thread of the send pool."""
    pause = reserved_at + send.wait - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    request = send.request
    assert request is not None
    started = timezone.now()
    try:
        send.result = client.request(request.http_method, request.path, params=request.params, json=request.json)
    except BotxError as exc:
        send.error = exc
    exchange = client.last_exchange  # this thread's own call
    send.attempt = DeliveryAttempt(
        message=send.message,
        number=send.message.attempts,
        started_at=started,
        duration_ms=exchange.duration_ms if exchange else 0,
        http_method=request.http_method,
        path=request.path,
        request_body=_loggable_body(request.json),
        status_code=exchange.status_code if exchange else None,
        response_body=exchange.response_text if exchange else "",
        outcome=DeliveryAttempt.Outcome.OK if send.error is None else str(send.error.kind),
        error="" if send.error is None else str(send.error),
    )


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _send_pool() -> ThreadPoolExecutor:
    """Threads for the calls of a chunk, made in the process that uses them (Celery forks its workers)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(max_workers=CLAIM_CHUNK, thread_name_prefix="botx-send")
        _pool_pid = os.getpid()
    return _pool


def _accepted_many(bot: Bot, sends: list[_Send]) -> list[DeliveryResult]:
    """``_accepted`` for several messages of one bot: their new statuses, history and attempt rows in
    one statement, then the callbacks that came first matched.

    A callback BotX sent before its send's answer got here (the usual order on a fast BotX) is stored
    unmatched; it is found by the look after the write and settles the message at once, with both
    steps in its history. The Bot API looks for the message once it has stored a callback: whichever
    of the two commits second sees the other.
    """
    history = []
    answered = [(send, sync_id_from_result(send.message.method, send.result)) for send in sends]
    changed: dict[tuple[str, ...], list[OutboundMessage]] = {}
    for send, sync_id in answered:
        message = send.message
        status: str = Status.SENT if send.request.expects_callback and sync_id else Status.DELIVERED
        fields = status_change_fields(
            status,
            result=send.result,
            sync_id=uuid.UUID(sync_id) if sync_id else None,
            error_kind="",
            error_reason="",
            error_detail="",
        )
        for name, value in fields.items():
            setattr(message, name, value)
        changed.setdefault(tuple(sorted(fields)), []).append(message)
        history.append(status_step(status, "accepted by BotX", message))
    # Only this worker moves a message out of sending (a callback needs the sync ID stored here; the
    # sweeper waits far longer than any send): no lock to take first, and no transaction, as the
    # writes are one statement. One write of the messages per set of changed fields (usually one).
    rows_write(
        *(Update(messages, names) for names, messages in changed.items()),
        Insert(history),
        Insert([send.attempt for send in sends if send.attempt is not None]),
    )
    chats = {send.message.chat_id for send in sends if send.message.chat_id is not None}
    stored = {sync_id: send.message for send, sync_id in answered if sync_id}
    if transaction.get_connection().in_atomic_block:
        # The caller's transaction: the chats' next messages are looked for once it commits.
        _next_in_chats(bot.pk, chats)
        early = _unmatched(bot.pk, list(stored))
    else:
        early, pending = _looked_after_answers(bot.pk, list(stored), chats)
        _pending_go(pending)
    # Each message is at hand, just written: all settled by one checked write; should any have changed
    # meanwhile, each callback is looked at again and its message, if still open, settled under its lock.
    found = [(receipt, stored[str(receipt.sync_id)]) for receipt in early]
    if found and not callbacks_apply(found, checked=True):
        for receipt, _message in found:
            callback_settle_locked(receipt)
    return [DeliveryResult(send.message.pk, send.message.status) for send in sends]


def _unmatched(bot_pk: int, sync_ids: list[str]) -> list[CallbackReceipt]:
    """The bot's callbacks for these sync IDs not matched to a message yet, oldest first."""
    found = rows_select(CallbackReceipt, where={"sync_id": sync_ids, "bot": bot_pk}, order_by="id")
    return [receipt for receipt in found if receipt.message_id is None]


def _looked_after_answers(
    bot_pk: int, sync_ids: list[str], chats: set[uuid.UUID]
) -> tuple[list[CallbackReceipt], list[OutboundMessage]]:
    """Once a chunk's answers are committed, the two looks that must follow the commit: the bot's
    callbacks for ``sync_ids`` that came first (``_unmatched``) and the pending messages of ``chats``
    (``_first_pending_go``), oldest first. One statement on PostgreSQL, where it runs for every reply."""
    connection = connections[router.db_for_write(OutboundMessage)]
    if connection.vendor != "postgresql" or not (sync_ids or chats):
        return _unmatched(bot_pk, sync_ids), _pending_in(bot_pk, chats)
    look = _after_answers.get(connection.alias)
    if look is None:
        look = _after_answers[connection.alias] = _AfterAnswers.build(connection)
    params: list[Any] = [[uuid.UUID(sync_id) for sync_id in sync_ids], bot_pk, bot_pk, list(chats)]
    with connection.cursor() as cursor:
        cursor.execute(look.sql, params)
        found = cursor.fetchall()
    width = len(look.receipts.fields)
    # Oldest first in each part (ids grow with time); each part's key is its first column.
    early = sorted((row[1 : width + 1] for row in found if row[0]), key=lambda row: row[0])
    pending = sorted((row[width + 1 :] for row in found if not row[0]), key=lambda row: row[0])
    return (
        look.receipts.instances(CallbackReceipt, connection, early),
        look.pending.instances(OutboundMessage, connection, pending),
    )


@dataclass(frozen=True)
class _AfterAnswers:
    sql: str
    receipts: Columns
    pending: Columns

    @classmethod
    def build(cls, connection: BaseDatabaseWrapper) -> _AfterAnswers:
        receipts = columns_of(CallbackReceipt, connection)
        pending = columns_of(OutboundMessage, connection, _PENDING_FIELDS)

        def column(model: type[Any], name: str) -> str:
            return column_sql(connection, model, name)

        def nulls(columns: Columns) -> str:
            return ", ".join(f"NULL::{field.db_type(connection)}" for field in columns.fields)

        quote = connection.ops.quote_name
        # The first column tells the parts apart; the other part's columns are NULLs of their types.
        sql = (
            f"SELECT true, {receipts.sql(connection, 'r')}, {nulls(pending)}"  # noqa: S608 (model metadata)
            f" FROM {quote(CallbackReceipt._meta.db_table)} r"
            f" WHERE r.{column(CallbackReceipt, 'sync_id')} = ANY(%s) AND r.{column(CallbackReceipt, 'bot')} = %s"
            f" AND r.{column(CallbackReceipt, 'message')} IS NULL"
            f" UNION ALL SELECT false, {nulls(receipts)}, {pending.sql(connection, 'm')}"
            f" FROM {quote(OutboundMessage._meta.db_table)} m"
            f" WHERE m.{column(OutboundMessage, 'bot')} = %s AND m.{column(OutboundMessage, 'chat_id')} = ANY(%s)"
            f" AND m.{column(OutboundMessage, 'status')} = {choices_sql(Status.PENDING)}"  # outbound_chat_order_idx
        )
        return cls(sql, receipts, pending)


_after_answers: dict[str, _AfterAnswers] = {}


def _callback_outcome(receipt: CallbackReceipt) -> tuple[str, dict[str, Any]]:
    """The status a callback moves its message to, and the other fields it sets."""
    if receipt.ok:
        return Status.DELIVERED, {}
    return Status.FAILED, {
        "error_kind": str(ErrorKind.PERMANENT),
        "error_reason": receipt.reason[:128],
        "error_detail": "; ".join(str(e) for e in receipt.errors)[:2000],
        "error_data": receipt.error_data,
    }


def _callback_note(receipt: CallbackReceipt) -> str:
    return "callback: ok" if receipt.ok else f"callback: {receipt.reason}"


def _next_in_chats(bot_pk: int, chats: set[uuid.UUID]) -> None:
    """The messages after those just settled in these chats of a bot: the first pending one of each may go now.

    Looked for once the caller's transaction has committed, never inside it. A message made meanwhile
    by another worker is claimed there only if no earlier one of its chat is still open; were the look
    to run before this commit, that worker could find ours still sending while ours had not seen its
    message yet, and the message would wait for the sweeper. After the commit, one of the two sees the
    other.
    """
    if chats:
        transaction.on_commit(lambda: _first_pending_go(bot_pk, chats))


_PENDING_FIELDS = ("id", "chat_id", "next_attempt_at")


def _first_pending_go(bot_pk: int, chats: set[uuid.UUID]) -> None:
    _pending_go(_pending_in(bot_pk, chats))


def _pending_in(bot_pk: int, chats: set[uuid.UUID]) -> list[OutboundMessage]:
    """The pending messages of a bot's ``chats``, oldest first."""
    return rows_select(
        OutboundMessage,
        where={"bot": bot_pk, "chat_id": chats, "status": Status.PENDING},
        fields=_PENDING_FIELDS,
        order_by="id",
    )


def _pending_go(pending: Sequence[OutboundMessage]) -> None:
    """The first of each chat's pending messages (``pending``, oldest first) may go now."""
    first: dict[uuid.UUID, tuple[int, dt.datetime]] = {}
    for message in pending:
        if message.chat_id is not None:
            first.setdefault(message.chat_id, (message.pk, message.next_attempt_at))
    now = timezone.now()
    for pk, due in first.values():
        delay = max((due - now).total_seconds(), 0.0)
        deliver_after_commit(pk, countdown=delay or None)


def message_deliver(*, message_id: int) -> DeliveryResult | None:
    """Try to deliver one outbox row. Returns what happened, or None when the row was not ours to send."""
    results = _deliver_chunk([message_id])
    return results[0] if results else None


def _failed(message: OutboundMessage, error: BotxError) -> DeliveryResult:
    fields: dict[str, Any] = {
        "error_kind": str(error.kind),
        "error_reason": error.reason[:128],
        "error_detail": str(error),
        "error_data": error.error_data,
    }
    if error.kind is ErrorKind.TRANSIENT and _within_budget(message):
        return _retry_later(message, _backoff(message.attempts, error.retry_after), note=str(error), **fields)
    if error.kind is ErrorKind.AMBIGUOUS:
        _finish(message, Status.UNKNOWN, note=str(error), **fields)
        return DeliveryResult(message.pk, Status.UNKNOWN)
    _finish(message, Status.FAILED, note=str(error), **fields)
    return DeliveryResult(message.pk, Status.FAILED)


def _within_budget(message: OutboundMessage) -> bool:
    age = (timezone.now() - message.created_at).total_seconds()
    return message.attempts < settings.OUTBOX_MAX_ATTEMPTS and age < settings.OUTBOX_RETRY_BUDGET_SECONDS


def _retry_later(
    message: OutboundMessage, delay: float, *, note: str, count_attempt: bool = True, **fields: Any
) -> DeliveryResult:
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if not count_attempt:
            fields["attempts"] = max(locked.attempts - 1, 0)
        message_status_change(
            locked,
            Status.PENDING,
            note=f"retry in {delay:.1f} s: {note}",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            **fields,
        )
        deliver_after_commit(locked.pk, countdown=delay)
    return DeliveryResult(message.pk, Status.PENDING, retry_in=delay)


def _finish(message: OutboundMessage, status: str, *, note: str, **fields: Any) -> None:
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        message_status_change(locked, status, note=note, **fields)
        _next_in_chat(locked)


def _next_in_chat(message: OutboundMessage) -> None:
    """The message after this one in its chat may go now."""
    if message.bot_id is not None and message.chat_id is not None:
        _next_in_chats(message.bot_id, {message.chat_id})


# --- callbacks -------------------------------------------------------------------------------------


# What settling a callback reads of its message; the rest (a payload may hold a whole file) stays unread.
CALLBACK_TARGET_FIELDS = ("id", "correlation_id", "status")


def callback_target(bot_pk: int, sync_id: uuid.UUID, *, lock: bool = True) -> OutboundMessage | None:
    """The message a callback with ``sync_id`` answers, or None; locked (the caller is in a
    transaction) unless ``lock`` is False.

    Loaded with ``CALLBACK_TARGET_FIELDS`` only, the others deferred: a statement built once, as this
    runs for every callback (bots/services/rows.py)."""
    return row_first(
        OutboundMessage,
        fields=CALLBACK_TARGET_FIELDS,
        where={"sync_id": sync_id, "bot_id": bot_pk},
        order_by="-id",
        for_update=lock,
    )


def callback_apply(receipt: CallbackReceipt, message: OutboundMessage, *, checked: bool = False) -> bool:
    """Record a BotX callback on its message: the caller holds the message row, or with ``checked``
    the message's status is checked at the write (``callback_settling_checked``). False if it had changed:
    the receipt is matched all the same, the message left for the caller to settle under its lock."""
    return callbacks_apply([(receipt, message)], checked=checked)


def callbacks_apply(found: Sequence[tuple[CallbackReceipt, OutboundMessage]], *, checked: bool = False) -> bool:
    """``callback_apply`` for several callbacks, in one statement: a delivered chunk's callbacks that came
    before its answers cost one write, not one each. False if any checked message had changed; the
    others are settled, every receipt is matched. Of several callbacks for one message, the first
    settles it (the others find it settled, as a repeated callback does)."""
    now = timezone.now()
    settling: list[Update | Insert] = []
    for receipt, message in found:
        receipt.message, receipt.matched_at = message, now
        # In order: settling a message changes its status here, which the next callback for it sees.
        settling += callback_settling_checked(receipt, message) if checked else _settling(receipt, message)
    return rows_write(
        Update([receipt for receipt, _message in found], ["message", "matched_at"]),
        # A callback's request joins the conversation turn of the message it answers.
        Update(
            [InboundEvent(pk=receipt.inbound_id, correlation_id=message.correlation_id) for receipt, message in found],
            ["correlation_id"],
        ),
        *settling,
    )


def callback_settle(receipt: CallbackReceipt, message: OutboundMessage) -> None:
    """What a matched callback says about its message (the caller holds the message row)."""
    rows_write(*_settling(receipt, message))


def callback_settle_locked(receipt: CallbackReceipt) -> None:
    """``callback_settle`` for a matched receipt whose checked write found its message changed since it
    was read. Usually the same callback, matched on the other side meanwhile, has settled it (a plain
    read tells); otherwise it is settled under its lock."""
    found = row_first(OutboundMessage, fields=("status",), where={"id": receipt.message_id})
    if found is None or found.status not in _OPEN_FOR_CALLBACK:
        return
    with transaction.atomic():
        message = row_first(
            OutboundMessage, fields=CALLBACK_TARGET_FIELDS, where={"id": receipt.message_id}, for_update=True
        )
        if message is not None:
            callback_settle(receipt, message)


def callback_settling_checked(receipt: CallbackReceipt, message: OutboundMessage) -> list[Update | Insert]:
    """``_settling`` for a message read without a lock: its new status is written only if it still has
    the status it was read with, and its history row only then (``rows_write`` says whether it had).

    A callback is then one read and one statement, not a transaction of four; a message changed in
    between (a repeated callback, an operator's action) is rare, and is settled again under its lock.
    """
    seen = message.status
    writes = _settling(receipt, message)
    if not writes:
        return []
    update, history = writes
    assert isinstance(update, Update) and isinstance(history, Insert)
    checked = Update(update.rows, update.fields, only_if=("status", seen))
    return [checked, Insert(history.rows, after=checked)]


# The statuses a callback settles; any other means the message is settled already.
_OPEN_FOR_CALLBACK = frozenset({Status.SENT, Status.SENDING, Status.UNKNOWN})


def _settling(receipt: CallbackReceipt, message: OutboundMessage) -> list[Update | Insert]:
    if message.status not in _OPEN_FOR_CALLBACK:
        return []  # already settled (a repeated callback); the receipt is kept, the status stays
    status, outcome = _callback_outcome(receipt)
    return status_change_writes(message, status, note=_callback_note(receipt), **outcome)


def callback_record(event: InboundEvent, receipt: CallbackReceipt) -> bool:
    """Store a callback's request and receipt, matched to the message with its sync ID and settling it,
    if that message is known yet; True if it was. The receipt names its bot.

    On PostgreSQL one statement (bots/services/callback_rows.py). Elsewhere the message is read, then
    the request, the receipt and the message's new status written by a checked write."""
    status, outcome = _callback_outcome(receipt)
    matched = callback_store_settle(
        event,
        receipt,
        changes=status_change_fields(status, **outcome),
        history=status_step(status, _callback_note(receipt)),
        open_statuses=_OPEN_FOR_CALLBACK,
    )
    if matched is not None:
        return matched
    assert receipt.bot_id is not None
    message = callback_target(receipt.bot_id, receipt.sync_id, lock=False)
    if message is None:
        rows_insert_linked(event, receipt, link="inbound")
        return False
    receipt.message, receipt.matched_at = message, timezone.now()
    # The callback's request joins the conversation turn of the message it answers.
    event.correlation_id = message.correlation_id
    if not rows_insert_linked(event, receipt, link="inbound", also=callback_settling_checked(receipt, message)):
        callback_settle_locked(receipt)  # the message changed after it was read
    return True


def callback_match(receipt: CallbackReceipt) -> bool:
    """Match a stored callback to the message with its sync ID, if that message is known yet."""
    with transaction.atomic():
        if receipt.bot_id is not None:
            message = callback_target(receipt.bot_id, receipt.sync_id)
        else:  # the bot deleted since: the message's bot is gone too
            message = (
                OutboundMessage.objects.select_for_update()
                .filter(sync_id=receipt.sync_id, bot=None)
                .order_by("-id")
                .first()
            )
        if message is None:
            return False
        callback_apply(receipt, message)
    return True


def callback_match_after_commit(receipt: CallbackReceipt) -> None:
    """Match a callback stored unmatched, now committed, if its message has got its sync ID meanwhile.

    The worker looks for callbacks once it has committed a sync ID (``_accepted_many``), and the Bot
    API looks for the message once it has committed the callback: whichever commits second sees the
    other. Without this second look, a pair that crossed waited for the sweeper (in bench/traffic.py
    at 200 commands/s, a quarter of the callbacks, their messages shown as sent for seconds). On
    PostgreSQL one statement finds the message, matches the receipt unless the worker has meanwhile,
    and settles the message if it is still open (``callback_rows.callback_match_settle``); elsewhere
    the message found is settled by a checked write, or, changed meanwhile, under its lock.
    """
    if receipt.bot_id is None:
        return
    status, outcome = _callback_outcome(receipt)
    found = callback_match_settle(
        receipt,
        changes=status_change_fields(status, **outcome),
        history=status_step(status, _callback_note(receipt)),
        open_statuses=_OPEN_FOR_CALLBACK,
    )
    if found is not None:
        return  # one statement on PostgreSQL (bots/services/callback_rows.py)
    message = callback_target(receipt.bot_id, receipt.sync_id, lock=False)
    if message is not None and not callback_apply(receipt, message, checked=True):
        callback_settle_locked(receipt)


# --- operator actions ------------------------------------------------------------------------------


def message_resend(*, message: OutboundMessage, actor: str) -> bool:
    """Send an unknown or failed message again, as an operator decided. False if it is not in such a state."""
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status not in {Status.UNKNOWN, Status.FAILED}:
            return False
        message_status_change(
            locked, Status.PENDING, note=f"sent again by {actor}", next_attempt_at=timezone.now(), finished_at=None
        )
        deliver_after_commit(locked.pk)
    return True


def message_cancel(*, message: OutboundMessage, actor: str) -> bool:
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status not in {Status.PENDING, Status.UNKNOWN}:
            return False
        message_status_change(locked, Status.CANCELLED, note=f"cancelled by {actor}")
        _next_in_chat(locked)
    return True


def message_status_fetch(*, message: OutboundMessage) -> MessageStatus:
    """Ask BotX who got and read the message (``sent_to``, ``received_by``, ``read_by``) and keep it."""
    if message.sync_id is None or message.bot is None:
        raise ValueError("The message has no sync ID yet.")
    request = build_request("message_status", {"sync_id": str(message.sync_id)})
    result = client_for(message.bot).request(request.http_method, request.path, params=request.params)
    status = parse_message_status(result)
    OutboundMessage.objects.filter(pk=message.pk).update(delivery_status=status, delivery_status_at=timezone.now())
    return status
