"""Events API (§4.3): edit, reply, delete, typing, message status."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.services.messages import message_delete, message_edit, message_reply, message_status
from bots.sandbox.views.base import botx_endpoint


@botx_endpoint("POST")
def edit_event(request: HttpRequest, caller: Caller) -> HttpResponse:
    message_edit(caller=caller, edit=protocol.event_edit(protocol.json_body(request)))
    return render.ok("bot_command_result_pushed", status=202)


@botx_endpoint("POST")
def reply_event(request: HttpRequest, caller: Caller) -> HttpResponse:
    message_reply(caller=caller, reply=protocol.event_reply(protocol.json_body(request)))
    return render.ok("bot_reply_pushed", status=202)


@botx_endpoint("POST")
def delete_event(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    sync_id = body.uuid("sync_id")
    body.check()
    message_delete(caller=caller, sync_id=sync_id)
    return render.ok("event_deleted", status=202)


def _typing_body(request: HttpRequest) -> None:
    # Nothing is kept: the simulator shows typing from the ledger of bots hosted here. The body is still
    # checked as BotX checks it.
    body = protocol.Body(protocol.json_body(request))
    body.uuid("group_chat_id")
    body.check()


@botx_endpoint("POST")
def typing(request: HttpRequest, caller: Caller) -> HttpResponse:
    _typing_body(request)
    return render.ok("typing_event_pushed", status=202)


@botx_endpoint("POST")
def stop_typing(request: HttpRequest, caller: Caller) -> HttpResponse:
    _typing_body(request)
    return render.ok("stop_typing_event_pushed", status=202)


@botx_endpoint("GET")
def status(request: HttpRequest, caller: Caller, sync_id: str) -> HttpResponse:
    try:
        parsed = uuid.UUID(sync_id)
    except ValueError:
        raise SandboxError(404, "event_not_found", "Event not found", sync_id=sync_id) from None
    return render.ok(render.message_status(message_status(caller=caller, sync_id=parsed)))
