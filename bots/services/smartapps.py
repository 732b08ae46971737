"""Smart Apps: synchronous requests answered inside the HTTP request, and the front end's static files."""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from bots.botx import responses
from bots.botx.incoming import PayloadError, opt_uuid, parse_smartapp_request
from bots.botx.jwt import token_from_header
from bots.handlers.framework import BotRef, SmartAppCall, SmartAppError
from bots.handlers.registry import handler_get
from bots.models import Bot, InboundEvent, SmartApp
from bots.services.ingress import (
    Answer,
    BotxHttpRequest,
    bot_find,
    disabled,
    event_new,
    event_record,
    handle_recorded,
    json_object,
    not_served_message,
    token_check,
)
from bots.textsafe import scrub

logger = logging.getLogger(__name__)

# Smart App methods run here so that a slow one can be abandoned when its time is up.
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smartapp")
MANIFEST = "smartapp-manifest.json"


def _error(error_id: str, reason: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return responses.smartapp_error([{"reason": reason, "id": error_id, "meta": meta or {}}])


def smartapp_answer(request: BotxHttpRequest) -> Answer:
    event = event_new(request)

    def run() -> Answer:
        data = json_object(request)
        token = token_from_header(request.headers.get("authorization"))
        body_bot = opt_uuid(data.get("bot_id"))
        if request.url_bot_id and body_bot and body_bot != request.url_bot_id:
            raise disabled(400, _("The bot_id in the body does not match the bot in the URL."))
        bot = bot_find(request.url_bot_id or body_bot, token, None)
        event.bot = bot
        event.bot_ref = str(bot.bot_id)
        event.verification = token_check(bot, token, required=bot.jwt_policy == Bot.JwtPolicy.REQUIRED)
        reason = not_served_message(bot)
        if reason is not None:
            raise disabled(503, reason)
        try:
            call = parse_smartapp_request(data)
        except PayloadError as exc:
            raise disabled(400, str(exc)) from None
        event.chat_id = call.chat_id
        event.user_huid = call.user_huid
        event.text = scrub(call.method)[:255]
        body = _run(bot, call)
        status = InboundEvent.Status.ANSWERED if body.get("status") == "ok" else InboundEvent.Status.FAILED
        return event_record(
            event, Answer(200, body), status, error="" if status == "answered" else json.dumps(body)[:5000]
        )

    return handle_recorded(event, run)


def _run(bot: Bot, request: Any) -> dict[str, Any]:
    info = handler_get(bot.handler)
    method = info.router.smartapp_methods.get(request.method) if info else None
    if method is None:
        return _error("METHOD_NOT_FOUND", "Method not found", {"method": request.method})
    call = SmartAppCall(
        bot=BotRef(bot.bot_id, bot.name, bot.handler),
        method=request.method,
        params=request.data,
        user_huid=request.user_huid,
        chat_id=request.chat_id,
        platform=request.platform,
    )
    future = _executor.submit(method, call)
    try:
        result = future.result(timeout=settings.SMARTAPP_TIME_LIMIT_SECONDS)
    except FutureTimeout:
        future.cancel()
        return _error("TIMEOUT", _("The Smart App method took too long."), {"method": request.method})
    except SmartAppError as exc:
        return responses.smartapp_error(exc.items)
    except Exception as exc:
        logger.exception("Smart App method %s of bot %s failed", request.method, bot.bot_id)
        return _error(type(exc).__name__.upper(), "Internal error")
    return responses.smartapp_ok(result)


# --- static files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticFile:
    content: bytes
    content_type: str


def smartapp_static_file(*, bot_id: uuid.UUID, path: str) -> StaticFile | None:
    """A file of the bot's uploaded bundle, the bundle itself, or the manifest of a cached Smart App."""
    smartapp = SmartApp.objects.select_related("bot").filter(bot__bot_id=bot_id, bot__enabled=True).first()
    if smartapp is None or not smartapp.bundle:
        return None
    bundle_name = f"bundle-{smartapp.app_version}.zip"
    with smartapp.bundle.open("rb") as file:
        data = file.read()
    if path == bundle_name:
        return StaticFile(data, "application/zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if path in names and not path.endswith("/"):
            content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            return StaticFile(archive.read(path), content_type)
    if path == MANIFEST:
        manifest = {
            "manifestVersion": "1.0.0",
            "smartAppVersion": smartapp.app_version,
            "bundlePath": f"/{bundle_name}",
            "changeLog": smartapp.changelog,
        }
        return StaticFile(json.dumps(manifest, ensure_ascii=False).encode(), "application/json")
    return None
