"""Posting to bots as BotX does: where a bot lives, how the request is signed, and the delivery rows.

Callbacks and ``/command`` events are rows (``SandboxDelivery``) queued after commit and posted by the
``sandbox.*`` Celery tasks. BotX's own retry behaviour is undocumented (protocol Appendix B.12), so
the sandbox posts once and records the answer; a dropped callback is decided when the row is made.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bots.botx.auth import JWT_ALGORITHM, JWT_LIFETIME_SECONDS, jwt_v2_build
from bots.models import Bot
from bots.sandbox import render, tasks
from bots.sandbox.errors import SandboxError
from bots.sandbox.faults import callback_dropped
from bots.sandbox.models import SandboxDelivery, SandboxFaults
from bots.sandbox.selectors import faults_for

logger = logging.getLogger(__name__)

RESPONSE_TEXT_LIMIT = 10_000
# A delayed delivery whose queue was slower than its delay is sent at once; one that arrives early
# (an eager task, a clock ahead) waits, but never longer than this.
MAX_WAIT_SECONDS = 600


class NoBotAddress(Exception):
    """Neither the CTS's ``bot_base_url`` nor a portal address says where the bot lives."""


def bot_base_url(*, bot: Bot, faults: SandboxFaults, origin: str) -> str:
    """The bot's URL as BotX's admin panel would hold it; BotX appends ``/command`` and the rest."""
    if faults.bot_base_url:
        return faults.bot_base_url.replace("{bot_id}", str(bot.bot_id)).rstrip("/")
    if not origin:
        raise NoBotAddress(f"No bot_base_url for CTS {bot.cts.name} and no portal address to default to.")
    return f"{origin.rstrip('/')}/botx/{bot.bot_id}"


def request_token(*, bot: Bot, layout: str) -> str | None:
    """The bearer BotX puts on a request to the bot, in the claim layout the CTS is set to."""
    if layout == SandboxFaults.CallbackJwt.NONE:
        return None
    if layout == SandboxFaults.CallbackJwt.V1:
        now = int(time.time())
        claims = {
            "iss": bot.cts.host,
            "aud": [str(bot.bot_id)],
            "iat": now,
            "nbf": now,
            "exp": now + JWT_LIFETIME_SECONDS,
            "jti": secrets.token_hex(12),
        }
        return jwt.encode(claims, bot.secret_key, algorithm=JWT_ALGORITHM)
    return jwt_v2_build(bot_id=bot.bot_id, host=bot.cts.host, secret_key=bot.secret_key)


@dataclass(frozen=True)
class BotAnswer:
    """What the bot answered; ``status_code`` is None when no answer came (``error`` says why)."""

    status_code: int | None
    text: str
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_to_bot(*, bot: Bot, url: str, payload: dict[str, Any], layout: str, timeout: float | None = None) -> BotAnswer:
    token = request_token(bot=bot, layout=layout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    seconds = float(settings.BOTX_HTTP_TIMEOUT_SECONDS) if timeout is None else timeout
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)), follow_redirects=False) as http:
            response = http.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return BotAnswer(None, "", error=f"{type(exc).__name__}: {exc}"[:1000], duration_ms=elapsed)
    elapsed = int((time.monotonic() - started) * 1000)
    return BotAnswer(response.status_code, response.text[:RESPONSE_TEXT_LIMIT], duration_ms=elapsed)


# --- scheduling --------------------------------------------------------------------------------------


def callback_schedule(
    *, bot: Bot, faults: SandboxFaults, origin: str, sync_id: uuid.UUID, failure: SandboxError | None
) -> SandboxDelivery:
    """Queue the callback of an async method, delayed or dropped as the CTS's faults say."""
    delay = faults.callback_delay_ms / 1000
    delivery = SandboxDelivery.objects.create(
        bot=bot,
        kind=SandboxDelivery.Kind.CALLBACK,
        sync_id=sync_id,
        url=bot_base_url(bot=bot, faults=faults, origin=origin) + "/notification/callback",
        payload=render.callback_body(sync_id, failure),
        status=SandboxDelivery.Status.DROPPED if callback_dropped(faults) else SandboxDelivery.Status.PENDING,
        deliver_after=timezone.now() + dt.timedelta(seconds=delay),
    )
    if delivery.status == SandboxDelivery.Status.PENDING:
        delivery_id = delivery.pk
        transaction.on_commit(lambda: tasks.deliver_callback.apply_async((delivery_id,), countdown=delay))
    else:
        logger.info("sandbox: dropped the callback %s of bot %s (fault injection)", sync_id, bot.bot_id)
    return delivery


def command_schedule(*, bot: Bot, origin: str, payload: dict[str, Any]) -> SandboxDelivery:
    """Queue a ``/command`` event (a system event or another bot's internal notification) to ``bot``."""
    faults = faults_for(bot.cts)
    delivery = SandboxDelivery.objects.create(
        bot=bot,
        kind=SandboxDelivery.Kind.COMMAND,
        sync_id=uuid.UUID(payload["sync_id"]),
        url=bot_base_url(bot=bot, faults=faults, origin=origin) + "/command",
        payload=payload,
    )
    delivery_id = delivery.pk
    transaction.on_commit(lambda: tasks.deliver_command.delay(delivery_id))
    return delivery


# --- sending -----------------------------------------------------------------------------------------


def delivery_send(*, delivery_id: int) -> None:
    """Post one pending delivery and record the answer. Quietly does nothing for a row that is gone
    or that another worker already claimed."""
    claimed = SandboxDelivery.objects.filter(pk=delivery_id, status=SandboxDelivery.Status.PENDING).update(
        status=SandboxDelivery.Status.SENDING
    )
    if not claimed:
        return
    delivery = SandboxDelivery.objects.select_related("bot__cts").get(pk=delivery_id)
    wait = (delivery.deliver_after - timezone.now()).total_seconds()
    if wait > 0:
        time.sleep(min(wait, MAX_WAIT_SECONDS))
    answer = post_to_bot(
        bot=delivery.bot,
        url=delivery.url,
        payload=delivery.payload,
        layout=faults_for(delivery.bot.cts).callback_jwt,
    )
    delivery_record(delivery=delivery, answer=answer)


def delivery_record(*, delivery: SandboxDelivery, answer: BotAnswer) -> None:
    delivery.status = SandboxDelivery.Status.DELIVERED if answer.ok else SandboxDelivery.Status.FAILED
    delivery.response_status = answer.status_code
    delivery.response_body = answer.text
    delivery.error = answer.error
    delivery.delivered_at = timezone.now()
    delivery.save(update_fields=["status", "response_status", "response_body", "error", "delivered_at"])
    if not answer.ok:
        logger.info(
            "sandbox: %s %s to bot %s failed: %s",
            delivery.kind,
            delivery.sync_id,
            delivery.bot.bot_id,
            answer.status_code or answer.error,
        )
