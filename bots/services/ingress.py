"""Receiving what BotX sends to the bots: store it, check it, answer it.

Every request is stored before it is judged, with the answer it got, so a refused or malformed
request is visible in the ledger like any other. ``/command`` is answered 202 as soon as its row is
committed; the handler runs later in a worker (bots/services/dispatch.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from bots.botx import responses
from bots.botx.incoming import (
    IncomingCommand,
    PayloadError,
    opt_uuid,
    parse_callback,
    parse_command,
    parse_status_query,
)
from bots.botx.jwt import UnverifiedRequest, peek_bot_id, token_from_header, verify_incoming
from bots.models import Bot, CallbackReceipt, InboundEvent
from bots.services import bot_cache, inbound_writer, wake
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
Status = InboundEvent.Status
Verification = InboundEvent.Verification

# Headers kept with each request; the token itself is never stored.
RECORDED_HEADERS = ("content-type", "content-length", "user-agent", "x-request-id", "x-forwarded-for")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class BotxHttpRequest:
    """A request to a Bot API endpoint, as the view hands it over."""

    endpoint: str
    body: bytes
    headers: Mapping[str, str]
    url_bot_id: uuid.UUID | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    remote_addr: str | None = None
    too_large: bool = False


class Rejection(Exception):
    """The request is answered now with ``answer`` and recorded as rejected."""

    def __init__(self, answer: Answer, error: str, verification: str | None = None) -> None:
        super().__init__(error)
        self.answer = answer
        self.error = error
        self.verification = verification


def disabled(status: int, message: str) -> Rejection:
    return Rejection(Answer(status, responses.bot_disabled(message)), message)


def unavailable() -> Answer:
    """The answer when the portal cannot store a request: BotX may try again."""
    return Answer(503, responses.bot_disabled(_("The bot is temporarily unavailable. Please try again later.")))


# --- common steps ----------------------------------------------------------------------------------


def event_new(request: BotxHttpRequest) -> InboundEvent:
    headers = {name: request.headers[name] for name in RECORDED_HEADERS if name in request.headers}
    headers["authorization"] = "present" if request.headers.get("authorization") else "absent"
    return InboundEvent(
        endpoint=request.endpoint,
        headers=headers,
        remote_addr=request.remote_addr,
        raw_body=scrub(request.body.decode("utf-8", errors="replace")),
        bot_ref=str(request.url_bot_id or "")[:64],
    )


def json_object(request: BotxHttpRequest) -> dict[str, Any]:
    if request.too_large:
        raise disabled(
            413, _("The request body is larger than %(limit)d bytes.") % {"limit": settings.BOTX_MAX_BODY_BYTES}
        )
    try:
        data = json.loads(request.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise disabled(400, _("The request body is not UTF-8 text.")) from None
    except ValueError as exc:
        raise disabled(400, _("The request body is not valid JSON: %(error)s") % {"error": exc}) from None
    if not isinstance(data, dict):
        raise disabled(400, _("The request body must be a JSON object."))
    return data


def bot_find(bot_id: uuid.UUID | None, token: str | None, host: str | None) -> Bot:
    """The bot a request is for, read afresh (``/status``, Smart Apps); the hot endpoints use ``bot_verified``."""
    if bot_id is None:
        raise disabled(400, _("The request does not name a bot."))
    candidates = bot_cache.bots_for(bot_id, fresh=True)
    if not candidates:
        raise disabled(503, _("No bot %(bot_id)s is registered in the portal.") % {"bot_id": bot_id})
    return _candidate_choose(candidates, token, host).bot


def token_verify(bot: Bot, token: str) -> None:
    verify_incoming(
        token,
        bot_id=bot.bot_id,
        host=bot.cts.host,
        secrets=bot.valid_secrets(),
        trusted_issuers=bot.cts.trusted_issuers,
    )


def token_check(bot: Bot, token: str | None, *, required: bool) -> str:
    if token is None:
        if required:
            message = _("The authorization token was not provided.")
            raise Rejection(Answer(401, responses.unverified_request(message)), message, Verification.FAILED)
        return Verification.ABSENT
    try:
        token_verify(bot, token)
    except UnverifiedRequest as exc:
        raise Rejection(
            Answer(401, responses.unverified_request(exc.message)), exc.message, Verification.FAILED
        ) from None
    return Verification.VERIFIED


def not_served_message(bot: Bot) -> str | None:
    """Why requests for ``bot`` are not served (what users see), or None when they are."""
    if bot.protocol_version != Bot.SUPPORTED_PROTOCOL:
        return _(
            "The bot uses BotX protocol version %(version)s; ask the administrator to set version 4 "
            "for it in the eXpress admin panel and in the portal."
        ) % {"version": bot.protocol_version}
    if not bot.enabled:
        return bot.status_message or _("The bot is turned off.")
    if not bot.is_served:
        return _("The bot has no handler code; ask the administrator to choose one in the portal.")
    return None


def event_record(event: InboundEvent, answer: Answer, status: str, **fields: Any) -> Answer:
    event.http_status = answer.status
    event.status = status
    for name, value in fields.items():
        setattr(event, name, value)
    event.save()
    return answer


def handle_recorded(event: InboundEvent, run: Any) -> Answer:
    """Run one endpoint's steps; a rejection or a database failure is recorded (when possible) and answered."""
    try:
        return run()
    except Rejection as rejection:
        if rejection.verification:
            event.verification = rejection.verification
        try:
            return event_record(event, rejection.answer, Status.REJECTED, error=rejection.error[:5000])
        except DatabaseError:
            logger.exception("could not record a rejected BotX request")
            return rejection.answer
    except DatabaseError:
        logger.exception("the database is unavailable; BotX is asked to try again")
        return unavailable()


# --- /command --------------------------------------------------------------------------------------


def bot_verified(
    event: InboundEvent,
    bot_id: uuid.UUID | None,
    token: str | None,
    host: str | None,
    *,
    token_required: bool | None = None,
) -> Bot:
    """``bot_find`` and ``token_check`` for the hot endpoints, from the per-process cache (bot_cache).

    Sets the event's bot and verification outcome; raises a ``Rejection`` as they do. A missing token is
    refused when ``token_required`` (default: the bot's JWT policy) says so. A token that does
    not verify with the cached keys is tried once more with the bot read afresh: its secret may just
    have been rotated in another process.
    """
    if bot_id is None:
        raise disabled(400, _("The request does not name a bot."))
    candidates = bot_cache.bots_for(bot_id)
    if not candidates:
        candidates = bot_cache.bots_for(bot_id, fresh=True)
    if not candidates:
        raise disabled(503, _("No bot %(bot_id)s is registered in the portal.") % {"bot_id": bot_id})
    chosen = _candidate_choose(candidates, token, host)
    event.bot = chosen.bot
    if token is None:
        if token_required is None:
            token_required = chosen.bot.jwt_policy == Bot.JwtPolicy.REQUIRED
        event.verification = token_check(chosen.bot, None, required=token_required)
        return chosen.bot
    try:
        _cached_token_verify(chosen, token)
    except UnverifiedRequest:
        fresh = bot_cache.bots_for(bot_id, fresh=True)
        if not fresh:
            raise disabled(503, _("No bot %(bot_id)s is registered in the portal.") % {"bot_id": bot_id}) from None
        chosen = _candidate_choose(fresh, token, host)
        event.bot = chosen.bot
        try:
            _cached_token_verify(chosen, token)
        except UnverifiedRequest as exc:
            raise Rejection(
                Answer(401, responses.unverified_request(exc.message)), exc.message, Verification.FAILED
            ) from None
    event.verification = Verification.VERIFIED
    return chosen.bot


def _candidate_choose(
    candidates: tuple[bot_cache.CachedBot, ...], token: str | None, host: str | None
) -> bot_cache.CachedBot:
    if len(candidates) > 1 and host:
        candidates = tuple(c for c in candidates if c.bot.cts.host == host.lower()) or candidates
    if len(candidates) == 1 or token is None:
        return candidates[0]
    # One bot ID on several CTS servers: the token's signature and audience tell which one called.
    for candidate in candidates:
        try:
            _cached_token_verify(candidate, token)
        except UnverifiedRequest:
            continue
        return candidate
    return candidates[0]


def _cached_token_verify(cached: bot_cache.CachedBot, token: str) -> None:
    verify_incoming(
        token,
        bot_id=cached.bot.bot_id,
        host=cached.bot.cts.host,
        secrets=cached.valid_secrets(),
        trusted_issuers=cached.bot.cts.trusted_issuers,
    )


def command_receive(request: BotxHttpRequest) -> Answer:
    event = event_new(request)

    def run() -> Answer:
        data = json_object(request)
        event.sync_id = opt_uuid(data.get("sync_id"))
        token = token_from_header(request.headers.get("authorization"))
        body_bot = opt_uuid(data.get("bot_id"))
        if request.url_bot_id and body_bot and body_bot != request.url_bot_id:
            raise disabled(400, _("The bot_id in the body does not match the bot in the URL."))
        bot_id = request.url_bot_id or body_bot or (peek_bot_id(token) if token else None)
        event.bot_ref = str(bot_id or "")
        sender = data.get("from")
        host = sender.get("host") if isinstance(sender, dict) and isinstance(sender.get("host"), str) else None
        bot = bot_verified(event, bot_id, token, host)
        reason = not_served_message(bot)
        if reason is not None:
            raise disabled(503, reason)
        if data.get("proto_version") not in (None, Bot.SUPPORTED_PROTOCOL):
            raise disabled(
                503,
                _(
                    "BotX sent protocol version %(version)s; ask the administrator to set "
                    "version 4 for the bot in the eXpress admin panel."
                )
                % {"version": data.get("proto_version")},
            )
        try:
            command = command_parse(data, bot)
        except PayloadError as exc:
            raise disabled(400, str(exc)) from None
        event.sync_id = command.sync_id
        event.summary = scrub(command.summary())
        event.chat_id = command.chat_id
        event.user_huid = command.sender.user_huid
        event.text = scrub((command.event and f"system:{command.event}") or command.body)[:255]
        return _store_command(event)

    return handle_recorded(event, run)


def command_parse(data: dict[str, Any], bot: Bot) -> IncomingCommand:
    """Parse a stored command body; one routed by its token (the shared URL) may name no bot itself."""
    if "bot_id" not in data:
        data = {**data, "bot_id": str(bot.bot_id)}
    return parse_command(data)


def _store_command(event: InboundEvent) -> Answer:
    """The row committed before the answer (with the rows of concurrent requests: inbound_writer)."""
    answer = Answer(202, responses.accepted())
    event.http_status = answer.status
    event.status = Status.RECEIVED
    event.queued_at = timezone.now()
    if _writer.store(event):
        return answer
    # The same command again: acknowledged, counted on the first row, not processed twice.
    counted = (
        InboundEvent.objects.filter(bot=event.bot, sync_id=event.sync_id, endpoint=InboundEvent.Endpoint.COMMAND)
        .exclude(status=Status.REJECTED)
        .update(duplicates=F("duplicates") + 1)
    )
    if not counted:
        # Not a duplicate: the cached bot was deleted meanwhile (its row is gone, the reference
        # fails). It is not accepted, and is recorded as refused like any request for an unknown bot.
        bot_cache.cache_clear()
        bot_id = event.bot.bot_id if event.bot is not None else event.bot_ref
        event.bot, event.queued_at = None, None
        raise disabled(503, _("No bot %(bot_id)s is registered in the portal.") % {"bot_id": bot_id})
    return answer


def _wake_processing() -> None:
    from bots import tasks

    wake.wake(tasks.inbound_drain)


_writer = inbound_writer.CommandWriter(after_commit=_wake_processing)


# --- /status ---------------------------------------------------------------------------------------


def status_answer(request: BotxHttpRequest) -> Answer:
    from bots.services.menu import status_menu

    event = event_new(request)
    event.raw_body = json.dumps(dict(request.params), ensure_ascii=False)

    def run() -> Answer:
        try:
            query = parse_status_query(request.params)
        except PayloadError as exc:
            raise disabled(400, str(exc)) from None
        if request.url_bot_id and query.bot_id != request.url_bot_id:
            raise disabled(400, _("The bot_id in the query does not match the bot in the URL."))
        if query.user_huid is None:
            raise disabled(400, _('"user_huid" is missing.'))
        token = token_from_header(request.headers.get("authorization"))
        event.bot_ref = str(query.bot_id)
        bot = bot_find(query.bot_id, token, None)
        event.bot = bot
        event.verification = token_check(bot, token, required=bot.jwt_policy == Bot.JwtPolicy.REQUIRED)
        event.user_huid = query.user_huid
        answer = Answer(200, status_menu(bot=bot, query=query, unavailable_reason=not_served_message(bot)))
        return event_record(event, answer, Status.ANSWERED)

    return handle_recorded(event, run)


# --- /notification/callback ------------------------------------------------------------------------


def callback_receive(request: BotxHttpRequest) -> Answer:
    """Record a BotX callback and match it to its outbound message (now, or once its sync ID is known)."""
    from bots.models import OutboundMessage
    from bots.services.delivery import callback_match_after_commit, callback_record

    event = event_new(request)

    def run() -> Answer:
        data = json_object(request)
        try:
            callback = parse_callback(data)
        except PayloadError as exc:
            raise disabled(400, str(exc)) from None
        event.sync_id = callback.sync_id
        bot_id = request.url_bot_id
        if bot_id is None:
            # The shared URL: the callback names no bot; the message it answers does.
            bot_id = (
                OutboundMessage.objects.filter(sync_id=callback.sync_id).values_list("bot__bot_id", flat=True).first()
            )
        token = token_from_header(request.headers.get("authorization"))
        bot_id = bot_id or (peek_bot_id(token) if token else None)
        event.bot_ref = str(bot_id or "")
        # BotX is not known to sign every callback (the vendor's own bots do not check them): a token
        # that is present must be valid, an absent one is recorded as such.
        bot = bot_verified(event, bot_id, token, None, token_required=False)
        event.bot_ref = str(bot.bot_id)
        reason = scrub(callback.reason or "")
        event.text = ("ok" if callback.ok else (reason or "error"))[:255]
        answer = Answer(202, responses.accepted())
        event.http_status = answer.status
        event.status = Status.ANSWERED
        receipt = CallbackReceipt(
            bot=bot,
            sync_id=callback.sync_id,
            ok=callback.ok,
            reason=reason[:128],
            errors=scrub(list(callback.errors)),
            error_data=scrub(dict(callback.error_data)),
        )
        if callback_record(event, receipt):
            return answer
        # The callback came before the worker stored the send's sync ID: the worker matches it when
        # it does (delivery._accepted_many), or, had the two crossed, this second look does.
        try:
            callback_match_after_commit(receipt)
        except DatabaseError:
            # Stored and answered all the same: the sweeper matches it.
            logger.warning("matching callback %s after its commit failed", callback.sync_id, exc_info=True)
        return answer

    return handle_recorded(event, run)
