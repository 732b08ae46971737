"""The simulator's reads (selectors): which bots a portal user may drive, what a sandbox user sees in a
chat, and the traffic between the sandbox and the bot, tied to the ledger.

The traffic comes from two records of one exchange: what the sandbox posted to the bot
(``SandboxDelivery``, with the bot's HTTP answer) and what the bot called on the sandbox (the ledger's
``OutboundMessage`` and ``DeliveryAttempt`` rows), joined to the ledger's ``InboundEvent`` by sync ID
for the correlation ID. Bots served elsewhere (a ``bot_base_url`` outside the portal) have no ledger
rows here: only what the sandbox posted to them is shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from bots.models import Bot, Capability, DeliveryAttempt, InboundEvent, OutboundMessage
from bots.sandbox.models import SandboxChat, SandboxDelivery, SandboxMember, SandboxMessage, SandboxUser
from bots.sandbox.selectors import sandbox_bot_list
from bots.selectors import bot_list_for_user

# eXpress clients drop a typing indicator that no stop_typing followed after a few seconds.
TYPING_SECONDS = 8
FEED_LIMIT = 200
TRAFFIC_LIMIT = 40


def _fingerprint(parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def simulator_bot_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Bot]:
    """Sandbox bots ``user`` may talk to: talking to a bot sends through it, an operator's right."""
    allowed = bot_list_for_user(user=user, capability=Capability.OPERATE).values("pk")  # type: ignore[arg-type]
    return sandbox_bot_list().filter(pk__in=allowed).order_by("name", "pk")


def simulator_user_list() -> QuerySet[SandboxUser]:
    return SandboxUser.objects.filter(active=True).order_by("name", "pk")


def simulator_chat_list(*, bot: Bot, user: SandboxUser) -> QuerySet[SandboxChat]:
    """The chats in which ``user`` can talk to ``bot``: both are members."""
    return (
        SandboxChat.objects.filter(members__huid=bot.bot_id)
        .filter(members__huid=user.huid)
        .distinct()
        .order_by("chat_type", "name", "pk")
    )


def mention_targets(chat: SandboxChat) -> tuple[list[SandboxUser], list[SandboxChat]]:
    """Whom the composer offers to mention: the chat's people, and chats to link to."""
    huids = chat.members.filter(kind=SandboxMember.Kind.USER).values("huid")
    people = list(SandboxUser.objects.filter(huid__in=huids).order_by("name", "pk"))
    chats = list(SandboxChat.objects.exclude(chat_type=SandboxChat.Type.CHAT).order_by("name", "pk")[:50])
    return people, chats


# --- the chat ----------------------------------------------------------------------------------------


@dataclass
class FeedMessage:
    message: SandboxMessage
    sender_name: str
    from_bot: bool
    mine: bool
    reply_to: SandboxMessage | None = None


@dataclass
class Feed:
    messages: list[FeedMessage]
    typing: bool
    keyboard: FeedMessage | None  # the latest bot message with a keyboard: the one the client shows
    version: str
    names: dict[str, str] = field(default_factory=dict)


def _names(huids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    names = {person.huid: person.name for person in SandboxUser.objects.filter(huid__in=huids)}
    names.update({bot.bot_id: bot.name for bot in sandbox_bot_list().filter(bot_id__in=huids)})
    return names


def _visible_to(message: SandboxMessage, user: SandboxUser) -> bool:
    return message.recipients is None or str(user.huid) in message.recipients


def bot_typing(*, bot: Bot, chat: SandboxChat, now: dt.datetime | None = None) -> bool:
    """Whether the bot's latest typing event in the chat still shows: delivered to the sandbox, not
    followed by stop_typing or by a message of the bot, and younger than ``TYPING_SECONDS``."""
    now = now or timezone.now()
    latest = (
        OutboundMessage.objects.filter(
            bot=bot,
            chat_id=chat.group_chat_id,
            method__in=["typing", "stop_typing"],
            status=OutboundMessage.Status.DELIVERED,
        )
        .order_by("-finished_at", "-pk")
        .only("method", "finished_at")
        .first()
    )
    if latest is None or latest.method != "typing" or latest.finished_at is None:
        return False
    if now - latest.finished_at > dt.timedelta(seconds=TYPING_SECONDS):
        return False
    answered = SandboxMessage.objects.filter(
        chat=chat, sender_huid=bot.bot_id, created_at__gt=latest.finished_at
    ).exists()
    return not answered


def chat_feed(*, bot: Bot, chat: SandboxChat, user: SandboxUser) -> Feed:
    rows = list(
        SandboxMessage.objects.filter(chat=chat).select_related("file").order_by("-created_at", "-pk")[:FEED_LIMIT]
    )
    rows.reverse()
    rows = [row for row in rows if _visible_to(row, user)]
    by_sync = {row.sync_id: row for row in rows}
    names = _names({row.sender_huid for row in rows})
    messages = [
        FeedMessage(
            message=row,
            sender_name=names.get(row.sender_huid, str(row.sender_huid)),
            from_bot=row.sender_kind == SandboxMessage.SenderKind.BOT,
            mine=row.sender_huid == user.huid,
            reply_to=by_sync.get(row.source_sync_id) if row.source_sync_id else None,
        )
        for row in rows
    ]
    keyboard = next(
        (
            item
            for item in reversed(messages)
            if item.from_bot and item.message.keyboard and not item.message.is_deleted
        ),
        None,
    )
    typing = bot_typing(bot=bot, chat=chat)
    version = _fingerprint(
        (
            [(row.pk, row.edited_at, row.deleted_at) for row in rows],
            typing,
            chat.members.count(),
        )
    )
    return Feed(
        messages=messages,
        typing=typing,
        keyboard=keyboard,
        version=version,
        names={str(huid): name for huid, name in names.items()},
    )


# --- the traffic -------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP exchange between the sandbox and the bot, as the side panel shows it."""

    key: str  # stable across polls, so the page can keep an opened exchange open
    direction: str  # "to_bot": the sandbox posted to the bot; "to_sandbox": the bot called the sandbox
    at: dt.datetime
    title: str
    request: Any
    status_code: int | None
    response: str
    error: str
    ok: bool
    state: str = ""  # the outbox status of a bot's call, or the delivery status of a post to the bot
    correlation_id: uuid.UUID | None = None
    ledger_url: str = ""
    attempts: list[DeliveryAttempt] = field(default_factory=list)


def _chat_deliveries(bot: Bot, chat: SandboxChat, callback_sync_ids: list[uuid.UUID]) -> list[SandboxDelivery]:
    chat_id = str(chat.group_chat_id)
    in_chat = Q(kind=SandboxDelivery.Kind.COMMAND) & (
        Q(payload__from__group_chat_id=chat_id) | Q(payload__from__group_chat_id=None)
    )
    callbacks = Q(kind=SandboxDelivery.Kind.CALLBACK, sync_id__in=callback_sync_ids)
    return list(SandboxDelivery.objects.filter(bot=bot).filter(in_chat | callbacks).order_by("-pk")[:TRAFFIC_LIMIT])


def _inbound_by_sync(bot: Bot, sync_ids: list[uuid.UUID]) -> dict[tuple[str, uuid.UUID], InboundEvent]:
    found: dict[tuple[str, uuid.UUID], InboundEvent] = {}
    events = InboundEvent.objects.filter(bot=bot, sync_id__in=sync_ids).order_by("received_at", "pk")
    for event in events:
        if event.sync_id is not None:
            found.setdefault((event.endpoint, event.sync_id), event)
    return found


def _inbound_url(event: InboundEvent | None) -> str:
    return reverse("admin:bots_inboundevent_change", args=[event.pk]) if event is not None else ""


@dataclass
class Traffic:
    exchanges: list[Exchange]
    version: str


def chat_traffic(*, bot: Bot, chat: SandboxChat) -> Traffic:
    """The latest exchanges about ``chat``, newest first."""
    inbound_in_chat = InboundEvent.objects.filter(bot=bot, chat_id=chat.group_chat_id)
    outbound = list(
        OutboundMessage.objects.filter(bot=bot)
        .filter(
            Q(chat_id=chat.group_chat_id)
            | Q(
                correlation_id__in=inbound_in_chat.filter(endpoint=InboundEvent.Endpoint.COMMAND).values(
                    "correlation_id"
                )
            )
        )
        .prefetch_related("attempts_log")
        .order_by("-pk")[:TRAFFIC_LIMIT]
    )
    callback_sync_ids = [message.sync_id for message in outbound if message.sync_id is not None]
    deliveries = _chat_deliveries(bot, chat, callback_sync_ids)
    inbound = _inbound_by_sync(bot, [delivery.sync_id for delivery in deliveries])
    smartapp = list(inbound_in_chat.filter(endpoint=InboundEvent.Endpoint.SMARTAPP).order_by("-pk")[:TRAFFIC_LIMIT])

    exchanges: list[Exchange] = []
    for delivery in deliveries:
        endpoint = (
            InboundEvent.Endpoint.COMMAND
            if delivery.kind == SandboxDelivery.Kind.COMMAND
            else InboundEvent.Endpoint.CALLBACK
        )
        event = inbound.get((endpoint, delivery.sync_id))
        payload: Any = delivery.payload
        title = "/command" if delivery.kind == SandboxDelivery.Kind.COMMAND else "/notification/callback"
        if isinstance(payload, dict) and isinstance(payload.get("command"), dict):
            title = f"{title} · {str(payload['command'].get('body', ''))[:60]}"
        exchanges.append(
            Exchange(
                key=f"d{delivery.pk}",
                direction="to_bot",
                at=delivery.delivered_at or delivery.created_at,
                title=title,
                request=payload,
                status_code=delivery.response_status,
                response=delivery.response_body,
                error=delivery.error,
                ok=delivery.status
                in {SandboxDelivery.Status.DELIVERED, SandboxDelivery.Status.PENDING, SandboxDelivery.Status.SENDING},
                state=delivery.get_status_display(),
                correlation_id=event.correlation_id if event else None,
                ledger_url=_inbound_url(event),
            )
        )
    for event in smartapp:
        exchanges.append(
            Exchange(
                key=f"s{event.pk}",
                direction="to_bot",
                at=event.received_at,
                title=f"/smartapps/request · {event.text}",
                request=event.raw_body,
                status_code=event.http_status,
                response=event.error,
                error="",
                ok=event.status == InboundEvent.Status.ANSWERED,
                state=event.get_status_display(),
                correlation_id=event.correlation_id,
                ledger_url=_inbound_url(event),
            )
        )
    for message in outbound:
        attempts = list(message.attempts_log.all())
        last = attempts[-1] if attempts else None
        failed = message.status in {OutboundMessage.Status.FAILED, OutboundMessage.Status.UNKNOWN}
        exchanges.append(
            Exchange(
                key=f"o{message.pk}",
                direction="to_sandbox",
                at=(last.started_at if last else message.created_at),
                title=f"{message.method} · {last.path if last else ''}".rstrip(" ·"),
                request=last.request_body if last else message.payload,
                status_code=last.status_code if last else None,
                response=last.response_body if last else "",
                error=message.error_detail if failed else (last.error if last else ""),
                ok=not failed and (last is None or last.outcome == DeliveryAttempt.Outcome.OK),
                state=message.get_status_display(),
                correlation_id=message.correlation_id,
                ledger_url=reverse("admin:bots_outboundmessage_change", args=[message.pk]),
                attempts=attempts,
            )
        )
    exchanges.sort(key=lambda item: item.at, reverse=True)
    version = _fingerprint(
        (
            [(d.pk, d.status) for d in deliveries],
            [(m.pk, m.status, len(m.attempts_log.all())) for m in outbound],
            [(e.pk, e.status) for e in smartapp],
            [(e.pk, e.status) for e in inbound.values()],
        )
    )
    return Traffic(exchanges=exchanges[:TRAFFIC_LIMIT], version=version)
