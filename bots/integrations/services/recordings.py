"""The recordings notifier: a call-recording system posts that a recording is ready; the bot tells the
call's chat, or its participants in their personal chats with the bot.

Every request is recorded (``WebhookRequest``) with the answer it got, accepted or not. A request is
accepted at most once: its signature is unique among accepted requests of the integration (a
database constraint), so a replay, even a concurrent one, is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bots.botx.incoming import opt_uuid
from bots.integrations import signing
from bots.integrations.models import RecordingContact, RecordingIntegration, WebhookRequest
from bots.integrations.services.common import language_of
from bots.models import Bot
from bots.services.outbox import message_enqueue
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
BODY_EXCERPT = 2_000
MAX_PARTICIPANTS = 500


@dataclass(frozen=True)
class WebhookHttpRequest:
    """A request to the webhook, as the view hands it over."""

    integration_ref: str
    body: bytes
    timestamp: str | None
    signature: str | None
    remote_addr: str | None = None
    too_large: bool = False


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RecordingNotice:
    """A valid notice of a ready recording."""

    recording_id: str
    url: str
    title: str
    chat_id: uuid.UUID | None
    participants: list[uuid.UUID] = field(default_factory=list)
    duration_seconds: int | None = None


class _Refused(Exception):
    def __init__(self, status: int, error: str, detail: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = fields

    def answer(self) -> WebhookAnswer:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.fields:
            body["fields"] = self.fields
        return WebhookAnswer(self.status, body)


def _excerpt(body: bytes) -> str:
    return scrub(body[:BODY_EXCERPT].decode("utf-8", errors="replace"))


def _log(request: WebhookHttpRequest, integration: RecordingIntegration | None, **fields: Any) -> WebhookRequest:
    return WebhookRequest.objects.create(
        integration=integration,
        bot_id=integration.bot_id if integration is not None else None,
        integration_ref=request.integration_ref[:64],
        body_excerpt=_excerpt(request.body),
        body_size=len(request.body),
        remote_addr=request.remote_addr,
        **fields,
    )


def webhook_receive(request: WebhookHttpRequest, *, now: float | None = None) -> WebhookAnswer:
    """Check, record and act on one webhook request; the answer says what happened."""
    integration = _integration(request.integration_ref)
    verified: signing.Verified | None = None
    try:
        if integration is None:
            raise _Refused(404, "unknown_integration", _("No recording system has this address."))
        if request.too_large:
            raise _Refused(
                413,
                "too_large",
                _("The body is larger than %(limit)d bytes.") % {"limit": settings.RECORDINGS_WEBHOOK_MAX_BYTES},
            )
        try:
            verified = signing.verify(
                secret=integration.secret,
                body=request.body,
                timestamp=request.timestamp,
                given=request.signature,
                max_age=settings.RECORDINGS_SIGNATURE_MAX_AGE_SECONDS,
                now=now,
            )
        except signing.SignatureError as exc:
            raise _Refused(401, exc.code, str(exc)) from None
        if not integration.enabled:
            raise _Refused(403, "integration_disabled", _("This recording system is turned off in the portal."))
        if not integration.bot.is_served:
            raise _Refused(503, "bot_disabled", _("The bot of this recording system is not served now."))
        notice = notice_parse(request.body)
        return _accept(request, integration, verified, notice)
    except _Refused as refused:
        _log(
            request,
            integration,
            status=WebhookRequest.Status.REJECTED,
            http_status=refused.status,
            error=refused.error,
            detail=refused.detail if not refused.fields else json.dumps(refused.fields, ensure_ascii=False),
            signature=verified.signature if verified else (request.signature or "")[:100],
            signed_at=_signed_at(verified),
        )
        logger.info("recordings webhook %s refused: %s", request.integration_ref, refused.error)
        return refused.answer()


def _integration(ref: str) -> RecordingIntegration | None:
    try:
        pk = uuid.UUID(ref)
    except ValueError:
        return None
    return RecordingIntegration.objects.select_related("bot").filter(pk=pk).first()


def _signed_at(verified: signing.Verified | None) -> dt.datetime | None:
    if verified is None:
        return None
    return dt.datetime.fromtimestamp(verified.timestamp, tz=dt.UTC)


def _told_before(
    request: WebhookHttpRequest,
    integration: RecordingIntegration,
    verified: signing.Verified,
    notice: RecordingNotice,
) -> WebhookAnswer | None:
    """The answer to a replay or to a second notice of one recording; None for a new notice."""
    accepted = WebhookRequest.objects.filter(integration=integration, status=WebhookRequest.Status.ACCEPTED)
    if accepted.filter(signature=verified.signature).exists():
        raise _Refused(401, "replayed", _("This signed request was accepted before."))
    first = accepted.filter(recording_id=notice.recording_id).first()
    if first is None:
        return None
    _log(
        request,
        integration,
        status=WebhookRequest.Status.DUPLICATE,
        http_status=200,
        signature=verified.signature,
        signed_at=_signed_at(verified),
        recording_id=notice.recording_id,
        result=first.result,
    )
    return WebhookAnswer(200, {"status": "duplicate", **first.result})


def _accept(
    request: WebhookHttpRequest,
    integration: RecordingIntegration,
    verified: signing.Verified,
    notice: RecordingNotice,
) -> WebhookAnswer:
    answer = _told_before(request, integration, verified, notice)
    if answer is not None:
        return answer
    try:
        with transaction.atomic():
            entry = _log(
                request,
                integration,
                status=WebhookRequest.Status.ACCEPTED,
                http_status=202,
                signature=verified.signature,
                signed_at=_signed_at(verified),
                recording_id=notice.recording_id,
            )
            result = _notify(integration, notice)
            if not result["messages"]:
                raise _Refused(
                    422,
                    "nobody_to_tell",
                    _("None of the participants has a personal chat with the bot, and no chat was named."),
                )
            entry.result = result
            entry.save(update_fields=["result"])
    except IntegrityError:
        # A twin of this request was accepted while this one was being checked.
        answer = _told_before(request, integration, verified, notice)
        if answer is None:
            raise
        return answer
    return WebhookAnswer(202, {"status": "accepted", **result})


def _notify(integration: RecordingIntegration, notice: RecordingNotice) -> dict[str, Any]:
    bot = integration.bot
    messages: list[int] = []
    unreachable: list[str] = []
    chat_id = notice.chat_id or (None if notice.participants else integration.default_chat_id)
    if chat_id is not None:
        recipients = [str(huid) for huid in notice.participants] or None
        messages.append(_send(bot, chat_id, notice, recipients=recipients, language=settings.LANGUAGE_CODE))
    else:
        contacts = {
            contact.user_huid: contact
            for contact in RecordingContact.objects.filter(bot=bot, user_huid__in=notice.participants)
        }
        for huid in notice.participants:
            contact = contacts.get(huid)
            if contact is None:
                unreachable.append(str(huid))
                continue
            messages.append(
                _send(
                    bot, contact.chat_id, notice, recipients=None, language=contact.language or settings.LANGUAGE_CODE
                )
            )
    return {"messages": messages, "unreachable": unreachable}


def _send(bot: Bot, chat_id: uuid.UUID, notice: RecordingNotice, *, recipients: list[str] | None, language: str) -> int:
    with translation.override(language):
        payload: dict[str, Any] = {
            "chat_id": str(chat_id),
            "body": ready_text(notice),
            "bubbles": [[{"label": _("Open the recording"), "link": notice.url}]],
        }
    if recipients:
        payload["recipients"] = recipients
    return message_enqueue(bot=bot, method="notification", payload=payload, created_by="recordings: webhook").pk


def ready_text(notice: RecordingNotice) -> str:
    title = notice.title or _("your call")
    if notice.duration_seconds:
        minutes = max(round(notice.duration_seconds / 60), 1)
        return ngettext(
            "The recording of “%(title)s” is ready (%(count)d minute).",
            "The recording of “%(title)s” is ready (%(count)d minutes).",
            minutes,
        ) % {"title": title, "count": minutes}
    return _("The recording of “%(title)s” is ready.") % {"title": title}


# --- the notice ------------------------------------------------------------------------------------


def notice_parse(body: bytes) -> RecordingNotice:
    """Read a notice; ``_Refused`` 400 with the errors of each field."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused(400, "invalid_json", _("The body is not valid JSON: %(error)s") % {"error": exc}) from None
    if not isinstance(data, dict):
        raise _Refused(400, "invalid_json", _("The body must be a JSON object."))
    errors: dict[str, list[str]] = {}

    def error(name: str, text: str) -> None:
        errors.setdefault(name, []).append(text)

    recording_id = data.get("recording_id")
    if not isinstance(recording_id, str | int) or isinstance(recording_id, bool) or not str(recording_id).strip():
        error("recording_id", _("Required: a non-empty string."))
    elif len(str(recording_id)) > 128:
        error("recording_id", _("At most 128 characters."))
    url = data.get("url")
    if not isinstance(url, str) or not url:
        error("url", _("Required: the recording's http(s) address."))
    elif urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname or len(url) > 2000:
        error("url", _("Must be an http:// or https:// address of at most 2000 characters."))
    title = data.get("title", "")
    if not isinstance(title, str):
        error("title", _("Must be a string."))
        title = ""
    chat_id = None
    if data.get("chat_id") is not None:
        chat_id = opt_uuid(data["chat_id"])
        if chat_id is None:
            error("chat_id", _("Must be a chat ID (a UUID)."))
    participants: list[uuid.UUID] = []
    raw_participants = data.get("participants", [])
    if raw_participants is None:
        raw_participants = []
    if not isinstance(raw_participants, list):
        error("participants", _("Must be a list of user HUIDs."))
    elif len(raw_participants) > MAX_PARTICIPANTS:
        error("participants", _("At most %(count)d participants.") % {"count": MAX_PARTICIPANTS})
    else:
        for index, item in enumerate(raw_participants):
            huid = opt_uuid(item)
            if huid is None:
                error("participants", _("Item %(index)d is not a user HUID (a UUID).") % {"index": index})
            elif huid not in participants:
                participants.append(huid)
    duration = data.get("duration_seconds")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 0):
        error("duration_seconds", _("Must be a whole number of seconds, 0 or more."))
    if errors:
        raise _Refused(400, "invalid_fields", _("Some fields are not valid."), errors)
    return RecordingNotice(
        recording_id=str(recording_id),
        url=str(url),
        title=title.strip()[:255],
        chat_id=chat_id,
        participants=participants,
        duration_seconds=duration,
    )


# --- contacts --------------------------------------------------------------------------------------


def contact_remember(*, bot: Bot, user_huid: uuid.UUID, chat_id: uuid.UUID, locale: str | None) -> bool:
    """Keep a user's personal chat with the bot; True when it was not known before."""
    _contact, created = RecordingContact.objects.update_or_create(
        bot=bot, user_huid=user_huid, defaults={"chat_id": chat_id, "language": language_of(locale)}
    )
    return created


def contact_forget(*, bot: Bot, user_huid: uuid.UUID) -> bool:
    return RecordingContact.objects.filter(bot=bot, user_huid=user_huid).delete()[0] > 0
