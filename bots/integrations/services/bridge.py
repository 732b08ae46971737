"""The bridge: a bot's users' messages forwarded to an external HTTPS endpoint, its answers posted back.

The handler only records a ``BridgeCall`` (in the dispatch transaction) and asks for a task after
commit; the task makes one attempt (``bridge_call_attempt``): claim the row, POST the signed request,
record the attempt, then put the answer in the outbox, schedule a retry with backoff, or give up and
tell the user. Timeouts, connection errors, 408, 429 and 5xx are retried; any other answer is final.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bots.botx.incoming import IncomingCommand
from bots.integrations import signing
from bots.integrations.models import BridgeAttempt, BridgeCall, BridgeEndpoint, WebhookRequest
from bots.models import Bot, InboundEvent
from bots.services.outbox import OutgoingPayloadError, message_enqueue
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
Status = BridgeCall.Status
EXCERPT = 2_000
REQUEST_ID_HEADER = "X-Request-Id"
RETRIED_STATUSES = frozenset({408, 425, 429})
SWEEP_GRACE = dt.timedelta(seconds=60)
BATCH = 200


# --- forwarding (in the handler's transaction) -----------------------------------------------------


def request_body(call: BridgeCall, bot: Bot, command: IncomingCommand) -> dict[str, Any]:
    """What the endpoint receives: the message in the portal's own words, no BotX keys."""
    sender = command.sender
    return {
        "request_id": str(call.request_id),
        "bot_id": str(bot.bot_id),
        "message_id": str(command.sync_id),
        "text": command.body,
        "command": command.command_name,
        "argument": command.argument,
        "is_button": command.is_button_press,
        "data": command.data,
        "metadata": command.metadata,
        "source_message_id": str(command.source_sync_id) if command.source_sync_id else None,
        "sender": {
            "huid": str(sender.user_huid) if sender.user_huid else None,
            "ad_login": sender.ad_login,
            "ad_domain": sender.ad_domain,
            "username": sender.username,
            "locale": sender.locale,
            "is_chat_admin": sender.is_admin,
        },
        "chat": {"id": str(command.chat_id) if command.chat_id else None, "type": command.chat_type},
    }


def bridge_forward(*, bot: Bot, inbound: InboundEvent | None, command: IncomingCommand, language: str) -> BridgeCall:
    """Record a message to forward and have it sent once this transaction commits.

    Without an enabled endpoint the call is recorded as failed at once (visible in the admin) and
    the caller tells the user.
    """
    endpoint = BridgeEndpoint.objects.filter(bot=bot).first()
    call = BridgeCall(
        bot=bot,
        endpoint=endpoint,
        inbound=inbound,
        correlation_id=inbound.correlation_id if inbound is not None else uuid.uuid4(),
        chat_id=command.chat_id,
        user_huid=command.sender.user_huid,
        language=language,
        text=command.body[:255],
    )
    call.request = scrub(request_body(call, bot, command))
    if endpoint is None or not endpoint.enabled:
        call.status = Status.FAILED
        call.error = "no endpoint is set up for this bot" if endpoint is None else "the endpoint is turned off"
        call.finished_at = timezone.now()
        call.save()
        return call
    call.next_attempt_at = timezone.now()
    call.save()
    _run_after_commit(call.pk)
    return call


def _run_after_commit(call_id: int, countdown: float | None = None) -> None:
    from bots.integrations import tasks  # tasks import services; deferred to keep that one-way at load
    from bots.tasks import enqueue_safely

    transaction.on_commit(lambda: enqueue_safely(tasks.bridge_call, call_id, countdown=countdown))


# --- one attempt (in a worker) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retry: bool
    status_code: int | None
    error: str
    content: bytes


class AnswerError(ValueError):
    """The endpoint answered 2xx with something that is not a valid answer."""


def bridge_call_attempt(*, call_id: int, now: dt.datetime | None = None) -> str | None:
    """One attempt of a due call; the status it ended in, or None if it was not ours to send."""
    now = now or timezone.now()
    won = BridgeCall.objects.filter(pk=call_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not won:
        return None
    call = BridgeCall.objects.select_related("bot", "endpoint", "inbound").get(pk=call_id)
    endpoint = call.endpoint
    if endpoint is None or not endpoint.enabled:
        return _give_up(call, "the endpoint was removed or turned off before the call was sent")
    if call.attempts > endpoint.max_attempts:  # a worker stopped during the last attempt
        return _give_up(call, f"{endpoint.max_attempts} attempts spent")
    outcome = _post(call, endpoint)
    if outcome.ok:
        try:
            return _answered(call, outcome)
        except AnswerError as exc:
            return _give_up(call, f"the endpoint's answer is not valid: {exc}", outcome)
    if outcome.retry and call.attempts < endpoint.max_attempts:
        return _retry_later(call, outcome)
    return _give_up(call, outcome.error, outcome)


def _post(call: BridgeCall, endpoint: BridgeEndpoint) -> Outcome:
    body = json.dumps(call.request, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "eXpress-Bot-Portal-Bridge",
        REQUEST_ID_HEADER: str(call.request_id),
        **signing.signed_headers(endpoint.secret, body),
    }
    started = timezone.now()
    clock = time.monotonic()
    status_code: int | None = None
    content = b""
    try:
        with (
            httpx.Client(timeout=endpoint.timeout_seconds, follow_redirects=False) as client,
            client.stream("POST", endpoint.url, content=body, headers=headers) as response,
        ):
            status_code = response.status_code
            content = _read_limited(response)
        outcome = _judge(status_code, content)
    except httpx.TimeoutException:
        outcome = Outcome(False, True, status_code, f"no answer within {endpoint.timeout_seconds:g} s", b"")
    except httpx.TransportError as exc:
        outcome = Outcome(False, True, status_code, f"could not reach the endpoint: {type(exc).__name__}", b"")
    except AnswerError as exc:
        outcome = Outcome(False, False, status_code, str(exc), content)
    BridgeAttempt.objects.create(
        call=call,
        # Counted from the log: an operator's "send again" starts the attempts afresh.
        number=call.attempt_log.count() + 1,
        started_at=started,
        duration_ms=round((time.monotonic() - clock) * 1000),
        status_code=status_code,
        outcome="ok" if outcome.ok else ("transient" if outcome.retry else "permanent"),
        error=outcome.error,
        response_excerpt=_excerpt(outcome.content),
    )
    return outcome


def _read_limited(response: httpx.Response) -> bytes:
    limit = settings.BRIDGE_MAX_RESPONSE_BYTES
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise AnswerError(f"the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _judge(status_code: int, content: bytes) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome(True, False, status_code, "", content)
    error = f"the endpoint answered {status_code}"
    retry = status_code >= 500 or status_code in RETRIED_STATUSES
    return Outcome(False, retry, status_code, error, content)


def _excerpt(content: bytes) -> str:
    return scrub(content[:EXCERPT].decode("utf-8", errors="replace"))


def answer_parse(content: bytes) -> dict[str, Any]:
    """The endpoint's answer as message fields (``body``, ``bubbles``, ``keyboard``); {} for no message."""
    if not content.strip():
        return {}
    try:
        answer = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AnswerError(f"not JSON ({exc})") from None
    if not isinstance(answer, dict):
        raise AnswerError("not a JSON object")
    fields: dict[str, Any] = {}
    text = answer.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise AnswerError('"text" must be a string')
        if text:
            fields["body"] = text
    for key, target in (("buttons", "bubbles"), ("keyboard", "keyboard")):
        if answer.get(key):
            fields[target] = _rows(answer[key], key)
    return fields


def _rows(value: Any, key: str) -> list[list[dict[str, Any]]]:
    if not isinstance(value, list):
        raise AnswerError(f'"{key}" must be a list of rows')
    rows = []
    for row_index, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise AnswerError(f'"{key}[{row_index}]" must be a non-empty list of buttons')
        rows.append([_button(item, f"{key}[{row_index}][{index}]") for index, item in enumerate(row)])
    return rows


def _button(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnswerError(f'"{where}" must be an object')
    label = value.get("label")
    if not isinstance(label, str) or not label:
        raise AnswerError(f'"{where}.label" must be a non-empty string')
    button: dict[str, Any] = {"label": label}
    link = value.get("link")
    command = value.get("command")
    if link is not None:
        if not isinstance(link, str) or urlsplit(link).scheme.lower() not in ("http", "https"):
            raise AnswerError(f'"{where}.link" must be an http(s) address')
        button["link"] = link
    elif isinstance(command, str) and command.startswith("/") and " " not in command:
        button["command"] = command
        data = value.get("data", {})
        if not isinstance(data, dict):
            raise AnswerError(f'"{where}.data" must be an object')
        button["data"] = data
    else:
        raise AnswerError(f'"{where}" needs a "link" or a "command" (a slash and a word)')
    return button


def _answered(call: BridgeCall, outcome: Outcome) -> str:
    fields = answer_parse(outcome.content)
    with transaction.atomic():
        locked = BridgeCall.objects.select_for_update().get(pk=call.pk)
        if fields and locked.chat_id is not None:
            try:
                with transaction.atomic():
                    locked.reply = message_enqueue(
                        bot=call.bot,
                        method="notification",
                        payload={"chat_id": str(locked.chat_id), **fields},
                        inbound=call.inbound,
                        correlation_id=call.correlation_id,
                        created_by="bridge: answer",
                    )
            except OutgoingPayloadError as exc:
                raise AnswerError(str(exc)) from None
        locked.status = Status.SUCCEEDED
        locked.response_status = outcome.status_code
        locked.response_excerpt = _excerpt(outcome.content)
        locked.error = ""
        locked.finished_at = timezone.now()
        locked.save()
    return Status.SUCCEEDED


def backoff(attempts: int) -> float:
    base = float(settings.BRIDGE_RETRY_BASE_SECONDS)
    delay = min(base * 2 ** max(attempts - 1, 0), float(settings.BRIDGE_RETRY_MAX_DELAY_SECONDS))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not security)


def _retry_later(call: BridgeCall, outcome: Outcome) -> str:
    delay = backoff(call.attempts)
    with transaction.atomic():
        BridgeCall.objects.filter(pk=call.pk, status=Status.SENDING).update(
            status=Status.PENDING,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            response_status=outcome.status_code,
            response_excerpt=_excerpt(outcome.content),
            error=f"attempt {call.attempts}: {outcome.error}; retry in {delay:.1f} s",
        )
        _run_after_commit(call.pk, countdown=delay)
    return Status.PENDING


def _give_up(call: BridgeCall, error: str, outcome: Outcome | None = None) -> str:
    with transaction.atomic():
        locked = BridgeCall.objects.select_for_update().get(pk=call.pk)
        locked.status = Status.FAILED
        locked.error = error[:5000]
        if outcome is not None:
            locked.response_status = outcome.status_code
            locked.response_excerpt = _excerpt(outcome.content)
        locked.finished_at = timezone.now()
        if locked.chat_id is not None and call.bot.is_served:
            with translation.override(locked.language or settings.LANGUAGE_CODE):
                payload: dict[str, Any] = {"chat_id": str(locked.chat_id), "body": failure_text()}
            if locked.user_huid is not None:
                payload["recipients"] = [str(locked.user_huid)]
            locked.reply = message_enqueue(
                bot=call.bot,
                method="notification",
                payload=payload,
                inbound=call.inbound,
                correlation_id=call.correlation_id,
                created_by="bridge: failure",
            )
        locked.save()
    logger.warning("bridge call %s of bot %s failed: %s", call.pk, call.bot.bot_id, error)
    return Status.FAILED


def failure_text() -> str:
    return _("Sorry, the service behind this bot did not answer. Please try again a little later.")


def not_set_up_text() -> str:
    return _("Sorry, this bot is not connected to its service yet. Please try again later.")


def bridge_call_retry(*, call: BridgeCall, actor: str) -> bool:
    """Try a failed call again with a fresh set of attempts, as an operator decided. False when it has
    not failed, or its endpoint is gone or off."""
    with transaction.atomic():
        locked = BridgeCall.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=call.pk)
        if locked.status != Status.FAILED or locked.endpoint is None or not locked.endpoint.enabled:
            return False
        locked.status = Status.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.finished_at = None
        locked.error = f"sent again by {actor}"
        locked.save()
        _run_after_commit(locked.pk)
    return True


# --- housekeeping ----------------------------------------------------------------------------------


def bridge_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Enqueue due calls whose task was lost; retry (or fail) calls whose worker stopped mid-attempt;
    drop integration logs older than ``INTEGRATIONS_LOG_RETENTION_DAYS``."""
    now = now or timezone.now()
    counts = {"enqueued": 0, "interrupted": 0, "purged": 0}
    lost = BridgeCall.objects.filter(status=Status.PENDING, next_attempt_at__lt=now - SWEEP_GRACE)
    for pk in lost.order_by("pk").values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            _run_after_commit(pk)
        counts["enqueued"] += 1
    stuck = BridgeCall.objects.filter(status=Status.SENDING, started_at__lt=now - SWEEP_GRACE).select_related(
        "endpoint"
    )
    for call in stuck.order_by("pk")[:BATCH]:
        limit = dt.timedelta(seconds=(call.endpoint.timeout_seconds if call.endpoint else 60) * 2) + SWEEP_GRACE
        if call.started_at is None or call.started_at > now - limit:
            continue
        with transaction.atomic():
            # The endpoint may have seen the request: it gets the same request ID again and can tell.
            changed = BridgeCall.objects.filter(pk=call.pk, status=Status.SENDING).update(
                status=Status.PENDING, next_attempt_at=now, error="the worker stopped during an attempt"
            )
            if changed:
                _run_after_commit(call.pk)
        counts["interrupted"] += changed
    cutoff = now - dt.timedelta(days=settings.INTEGRATIONS_LOG_RETENTION_DAYS)
    counts["purged"] += WebhookRequest.objects.filter(received_at__lt=cutoff).delete()[0]
    counts["purged"] += BridgeCall.objects.filter(
        status__in=[Status.SUCCEEDED, Status.FAILED], created_at__lt=cutoff
    ).delete()[0]
    if any(counts.values()):
        logger.info("integrations sweep: %s", counts)
    return counts
