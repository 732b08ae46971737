"""SmartApps API (§4.8): events to the front-end, v4 pushes and unread counters."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.services.smartapps import (
    smartapp_event_record,
    smartapp_notification_send,
    smartapp_unread_counter_set,
)
from bots.sandbox.views.base import botx_endpoint


@botx_endpoint("POST")
def event(request: HttpRequest, caller: Caller) -> HttpResponse:
    data = protocol.json_body(request)
    body = protocol.Body(data)
    body.optional_uuid("ref")
    body.uuid("smartapp_id")
    group_chat_id = body.uuid("group_chat_id")
    body.obj("data")
    body.obj("opts")
    body.optional_integer("smartapp_api_version")
    if data.get("async_files") is not None and not isinstance(data["async_files"], list):
        body.problem("async_files", "must be a list")
    body.boolean("encrypted", True)
    body.check()
    smartapp_event_record(caller=caller, group_chat_id=group_chat_id, payload=data)
    return render.ok("smartapp_event_pushed", status=202)


@botx_endpoint("POST")
def notification(request: HttpRequest, caller: Caller) -> HttpResponse:
    data = protocol.json_body(request)
    body = protocol.Body(data)
    group_chat_id = body.uuid("group_chat_id")
    payload = body.sub("payload")
    if payload is not None:
        payload.string("title")
        payload.string("body")
    body.obj("meta")
    body.check()
    sync_id = smartapp_notification_send(caller=caller, group_chat_id=group_chat_id, payload=data)
    return render.ok({"sync_id": str(sync_id)}, status=202)


@botx_endpoint("POST")
def unread_counter(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    group_chat_id = body.uuid("group_chat_id")
    counter = body.integer("counter")
    body.check()
    sync_id = smartapp_unread_counter_set(caller=caller, group_chat_id=group_chat_id, counter=counter)
    return render.ok({"sync_id": str(sync_id)}, status=202)
