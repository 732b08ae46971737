"""Notifications API (§4.2): direct (async and sync) and internal notifications."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.services.messages import (
    notification_direct_send,
    notification_direct_send_sync,
    notification_internal_send,
)
from bots.sandbox.views.base import botx_endpoint

# The sync variant reports these outcomes in a 200 body instead of a callback (§4.2.2).
SYNC_ERROR_REASONS = frozenset(
    {"chat_not_found", "bot_is_not_a_chat_member", "event_recipients_list_is_empty", "stealth_mode_disabled"}
)


@botx_endpoint("POST")
def direct(request: HttpRequest, caller: Caller) -> HttpResponse:
    notice = protocol.direct_notification(protocol.json_body(request))
    sync_id = notification_direct_send(caller=caller, notice=notice)
    return render.ok({"sync_id": str(sync_id)}, status=202)


@botx_endpoint("POST")
def direct_sync(request: HttpRequest, caller: Caller) -> HttpResponse:
    notice = protocol.direct_notification(protocol.json_body(request))
    try:
        sync_id = notification_direct_send_sync(caller=caller, notice=notice)
    except SandboxError as exc:
        if exc.reason in SYNC_ERROR_REASONS:
            return render.error(exc, status=200)
        raise
    return render.ok({"sync_id": str(sync_id)})


@botx_endpoint("POST")
def internal(request: HttpRequest, caller: Caller) -> HttpResponse:
    notice = protocol.internal_notification(protocol.json_body(request))
    sync_id = notification_internal_send(caller=caller, notice=notice)
    return render.ok({"sync_id": str(sync_id)}, status=202)
