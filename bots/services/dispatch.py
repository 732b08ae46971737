"""Processing a stored ``/command`` in a worker: parse it, check who may, run the bot's handler.

The event row is locked for the run, and what the handler sends is written to the outbox in the same
transaction that marks the event processed: a worker killed mid-run leaves the event ``received`` with
nothing sent, and the next delivery of the task (late acknowledgement) or the sweeper runs it again.

``inbound_drain`` is the worker's usual way in (woken by the Bot API, bots/services/wake.py): it claims
stored commands many at a time and delivers their answers itself; ``inbound_process`` runs one event.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bots.botx.incoming import IncomingCommand, PayloadError
from bots.handlers.registry import handler_get
from bots.models import Bot, InboundEvent
from bots.services import delivery, wake
from bots.services.access import access_check
from bots.services.bot_rows import rows_with_bots
from bots.services.handler_context import context_build, handler_run, savepoint_when_used
from bots.services.ingress import command_parse, not_served_message
from bots.services.outbox import (
    OutgoingPayloadError,
    PendingMessage,
    deliveries_collected,
    message_build,
    messages_insert,
)
from bots.services.rows import Select, Update, rows_select, select_prepared
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
Status = InboundEvent.Status


def _language(command: IncomingCommand) -> str:
    locale = (command.sender.locale or "").split("-")[0].lower()
    return locale if locale in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def inbound_process(*, event_id: int) -> str | None:
    """Process one stored command once. Returns the status it ended in, or None if it was not ours."""
    with transaction.atomic():
        event = (
            # of=self: the bot is joined for reading only (and PostgreSQL refuses FOR UPDATE on the
            # nullable side of the outer join to it).
            InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("bot__cts")
            .filter(pk=event_id, status=Status.RECEIVED)
            .first()
        )
        if event is None:
            return None  # done already, or another worker holds it
        event.attempts += 1
        event.started_at = timezone.now()
        outbox: list[PendingMessage] = []
        status = _process(event, outbox)
        messages_insert(outbox)
        event.status = status
        event.finished_at = timezone.now()
        event.save()
    return status


@dataclass
class DrainResult:
    statuses: dict[int, str] = field(default_factory=dict)  # event id -> the status it ended in
    messages: list[int] = field(default_factory=list)  # outbox rows created, in order
    more: bool = False  # stopped on its time budget with work left (and woke another drain)
    bots: dict[int, Bot] = field(default_factory=dict)  # the last batch's bots, lent to its deliveries


# A claim of this many commands means they come faster than one drain answers them alone. Two, not
# four: in six paired runs at 150 commands/s (bench/traffic.py) the p99 was lower in five, with the
# other worker process drawn in sooner, for about 0.1 ms more worker CPU per command.
HELP_AT = 2

DRAIN_FIELDS = ["attempts", "started_at", "status", "finished_at", "error", "summary"]


def inbound_drain(
    *, batch: int | None = None, budget_seconds: float | None = None, linger: bool = False
) -> DrainResult:
    """Process stored commands in batches until none is left or the time budget is spent; with
    ``linger``, wait within the budget for the next command rather than end (bots/services/wake.py).

    Each batch is one transaction: its events are claimed (``FOR UPDATE SKIP LOCKED``, so drains in
    parallel never share one), each one processed on its own (a failure stays with its event: its
    handler runs in a savepoint, and what it sends is held back until the event is done), and their
    statuses written with the outbox rows their handlers made, a few statements for the whole batch.
    A worker killed mid-batch commits nothing of it: the events stay ``received`` for the task's
    redelivery or the sweeper.
    What the batch put in the outbox is delivered here once it is committed, without a task per row.
    """
    from bots import tasks

    batch = batch or settings.INBOUND_DRAIN_BATCH
    budget = settings.INBOUND_DRAIN_SECONDS if budget_seconds is None else budget_seconds
    started = time.monotonic()
    result = DrainResult()
    skipped: set[int] = set()
    lingerer = wake.Lingerer(tasks.inbound_drain) if linger else None
    last_look = False
    try:
        if lingerer is not None:
            lingerer.start()
        while True:
            with deliveries_collected() as created:
                claimed, stopped_early = _drain_batch(batch, skipped, result, deadline=started + budget)
            result.messages.extend(created)
            delivery.messages_deliver(created, deadline=started + budget, bots=result.bots)
            if lingerer is not None and (claimed >= HELP_AT or stopped_early):
                # Commands come faster than one drain answers them: open the gate, so that the next
                # wakes publish drains to help, and wait no more. One more claim follows in any case,
                # for the rows that signalled this drain before the gate opened.
                lingerer.release()
                lingerer = None
                continue
            if claimed < batch and not stopped_early:
                if last_look or lingerer is None:
                    return result
                # Nothing left: wait for the next command here rather than have it publish a task.
                waited = lingerer.wait(started + budget - time.monotonic())
                if waited is wake.Linger.NOT:
                    return result
                last_look = waited is wake.Linger.TIMED_OUT  # one more claim: a wake may have come as it ended
                continue
            if time.monotonic() - started >= budget:
                # Leave the rest to a fresh task, so that one drain does not hold its worker for ever:
                # the gate opened first, or the wake would only signal this task, which is ending.
                if lingerer is not None:
                    lingerer.release()
                    lingerer = None
                wake.wake(tasks.inbound_drain)
                result.more = True
                return result
    finally:
        if lingerer is not None:
            lingerer.release()


class _BatchRefused(Exception):
    """The database refused the batch's writes (``_drain_batch``)."""


def _drain_batch(batch: int, skipped: set[int], result: DrainResult, *, deadline: float) -> tuple[int, bool]:
    """One batch; returns how many events it claimed and whether it stopped early with some left.

    The batch's writes run in the transaction that claimed its events, with no savepoint between: an
    event locked by one transaction and changed by another (a savepoint's) gets a multixact for its
    row version, which PostgreSQL never knows for certain to be dead, so every later claim would go
    on reading it through the queue's index until a vacuum. Should the writes fail, the batch is
    rolled back and its events written one by one (``_written_one_by_one``).
    """
    try:
        with transaction.atomic():
            events, result.bots = _claim(batch, skipped)
            done: list[tuple[InboundEvent, list[PendingMessage]]] = []
            stopped_early = False
            for event in events:
                if done and time.monotonic() >= deadline:
                    stopped_early = True  # the rest stay received, for the next batch or drain
                    break
                event.attempts += 1
                event.started_at = timezone.now()
                outbox: list[PendingMessage] = []
                try:
                    # No savepoint of its own: before the batch's writes, the only statements of an event
                    # are reads and what its handler runs in the handler's savepoint (kept only if the
                    # handler succeeded); what it sends is in ``outbox`` until then.
                    event.status = _process(event, outbox)
                    event.finished_at = timezone.now()
                except Exception:
                    # Outside the handler (which _process guards itself): nothing of this event is kept
                    # and it stays received, left for the sweeper rather than retried in a loop here. A
                    # lost connection fails the next statement, and with it the whole batch, which runs
                    # again.
                    logger.exception("processing inbound event %s failed; it is left for the sweeper", event.pk)
                    skipped.add(event.pk)
                    continue
                done.append((event, outbox))
            try:
                # The events' statuses in the outbox's last statement: usually one for the whole batch.
                messages_insert(
                    [pending for _event, outbox in done for pending in outbox],
                    also=[Update([event for event, _outbox in done], DRAIN_FIELDS)],
                )
            except DatabaseError as exc:
                raise _BatchRefused from exc
    except _BatchRefused:
        # A row the database refuses: each event on its own, so that the failure stays with its event.
        logger.warning("writing a batch of %s inbound events failed; writing them one by one", len(done))
        done = _written_one_by_one(done, skipped)
    result.statuses.update((event.pk, event.status) for event, _outbox in done)
    return len(events), stopped_early


def _claim(batch: int, skipped: set[int]) -> tuple[list[InboundEvent], dict[int, Bot]]:
    """The next ``batch`` stored commands no other drain holds, locked, oldest first, each with its bot
    (read once for the batch, with its CTS and access rules); the bots by key. One statement on
    PostgreSQL; elsewhere the commands, then their bots."""
    events, bots = rows_with_bots(InboundEvent, *claim_statement(batch, skipped), rules=True)
    _bots_attach(events, bots)
    return events, bots


def claim_statement(batch: int, skipped: set[int]) -> tuple[Select, list[Any]]:
    """The drain's claim of the next ``batch`` waiting commands but ``skipped``, and its parameters
    (``rows.select_prepared``; served by inbound_queue_idx alone)."""
    prepared = select_prepared(
        InboundEvent,
        connections[router.db_for_write(InboundEvent)],
        where={"status": Status.RECEIVED, "endpoint": InboundEvent.Endpoint.COMMAND},
        exclude={"id": skipped},
        order_by="id",
        limit=batch,
        lock="skip",
    )
    assert prepared is not None  # no empty list among its conditions
    return prepared


def _bots_attach(events: list[InboundEvent], bots: dict[int, Bot]) -> None:
    """Give the events their bots."""
    for event in events:
        if event.bot_id is not None:
            # Missing only if deleted between the claim and the bots' read: then processed as a
            # deleted bot's event is.
            event.bot = bots.get(event.bot_id)


def _written_one_by_one(
    done: list[tuple[InboundEvent, list[PendingMessage]]], skipped: set[int]
) -> list[tuple[InboundEvent, list[PendingMessage]]]:
    """Write each event of a refused batch in a transaction of its own; returns the events written.

    The batch's claim was rolled back with it: each event is claimed again, and one another drain
    took meanwhile is left to it. One the database refuses again is left received, for the sweeper.
    """
    written = []
    for event, outbox in done:
        for pending in outbox:
            # Ids given by the insert that was rolled back are not theirs any more.
            for row in (pending.message, pending.event):
                row.pk, row._state.adding = None, True
        try:
            with transaction.atomic():
                if not rows_select(
                    InboundEvent, where={"id": event.pk, "status": Status.RECEIVED}, fields=("id",), lock="skip"
                ):
                    continue
                messages_insert(outbox)
                event.save(update_fields=DRAIN_FIELDS)
        except DatabaseError:
            logger.exception("writing inbound event %s failed; it is left for the sweeper", event.pk)
            skipped.add(event.pk)
            continue
        written.append((event, outbox))
    return written


def _process(event: InboundEvent, outbox: list[PendingMessage]) -> str:
    """Run the event's command; what it sends is added to ``outbox`` for the caller to write."""
    bot = event.bot
    if bot is None:
        event.error = "the bot was deleted before its request was processed"
        return Status.UNHANDLED
    try:
        command = command_parse(json.loads(event.raw_body), bot)
    except (PayloadError, ValueError) as exc:  # it was parsed at the door; only a changed parser gets here
        event.error = str(exc)
        return Status.FAILED
    info = handler_get(bot.handler)
    reason = not_served_message(bot)
    if info is None or reason is not None:
        # Changed in the registry after the request was accepted.
        event.error = f"no longer served: {reason}"
        return Status.UNHANDLED

    with translation.override(_language(command)):
        refusal = access_check(bot=bot, command=command)
        if refusal is not None:
            event.error = refusal.reason
            if refusal.answer and command.chat_id is not None:
                outbox += _build(
                    event,
                    bot,
                    [("notification", {"chat_id": str(command.chat_id), "body": refusal.answer})],
                    created_by="portal: refusal",
                )
            return Status.REFUSED
        handler = info.router.resolve(command)
        if handler is None:
            event.error = (
                f"unknown system event {command.event}"
                if command.is_system and not command.event_known
                else "no handler for it"
            )
            return Status.UNHANDLED
        context = context_build(bot=bot, command=command, router=info.router)
        started = time.monotonic()
        try:
            # A savepoint: a failing handler leaves nothing half-sent, the failure itself is recorded.
            with savepoint_when_used():
                handler_run(handler, context)
                sent = _build(event, bot, context.outgoing, created_by=f"handler: {bot.handler}")
        except Exception as exc:
            event.error = scrub("".join(traceback.format_exception(exc)))[-20_000:]
            logger.warning("handler %s of bot %s failed on %s: %r", bot.handler, bot.bot_id, event.sync_id, exc)
            if command.chat_id is not None and not command.is_system:
                apology = settings.HANDLER_APOLOGY or _("Sorry, something went wrong. Please try again later.")
                outbox += _build(
                    event,
                    bot,
                    [("notification", {"chat_id": str(command.chat_id), "body": apology})],
                    created_by="portal: apology",
                )
            return Status.FAILED
        outbox += sent
        event.summary = {**event.summary, "handler_ms": round((time.monotonic() - started) * 1000, 1)}
    return Status.DONE


def _build(
    event: InboundEvent, bot: Bot, outgoing: list[tuple[str, dict[str, Any]]], *, created_by: str
) -> list[PendingMessage]:
    built = []
    for method, payload in outgoing:
        try:
            built.append(message_build(bot=bot, method=method, payload=payload, inbound=event, created_by=created_by))
        except OutgoingPayloadError as exc:
            raise ValueError(f"the handler asked to send an invalid {method}: {exc}") from exc
    return built
