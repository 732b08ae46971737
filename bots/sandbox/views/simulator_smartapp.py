"""The simulator's Smart App tab: the front end's files, and the bridge's calls to its bot.

The front end runs in a sandboxed iframe (an opaque origin: it cannot touch the portal's pages or
cookies) and talks to the page by ``postMessage``; the page's script calls ``call`` for each request
and polls ``events`` for what the bot sent towards the front end.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from bots.models import SmartApp
from bots.sandbox.auth import origin_of
from bots.sandbox.selectors import sandbox_bot_list
from bots.sandbox.services.simulator import SimulatorError
from bots.sandbox.services.simulator_smartapp import (
    smartapp_event_send,
    smartapp_events_since,
    smartapp_request_send,
    smartapp_static_fetch,
)
from bots.sandbox.views.simulator import json_body, json_error, scope_ready

# The front end may run scripts and forms, nothing that reaches the portal's own origin.
FRAME_POLICY = "sandbox allow-scripts allow-forms allow-modals allow-popups"


@require_GET
@xframe_options_sameorigin
def static(request: HttpRequest, bot_pk: int, path: str) -> HttpResponse:
    """A file of a sandbox bot's Smart App front end, as the CTS proxies it from the bot.

    Open like the bot's own ``/smartapp_files/static/`` (which anyone may fetch through a CTS): the
    sandboxed frame sends no cookies, so its files cannot be behind the login.
    """
    bot = sandbox_bot_list().filter(pk=bot_pk).select_related("cts").first()
    if bot is None or not SmartApp.objects.filter(bot=bot).exists():
        raise Http404(path)
    found = smartapp_static_fetch(bot=bot, path=path, origin=origin_of(request))
    response = HttpResponse(found.content, status=found.status, content_type=found.content_type)
    response["Content-Security-Policy"] = FRAME_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    # The frame's origin is opaque ("null"): its module scripts and fetches of its own files are CORS.
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _params(data: dict[str, Any]) -> Any:
    params = data.get("params", data.get("payload", {}))
    return {} if params is None else params


@require_POST
@staff_member_required
def call(request: HttpRequest) -> JsonResponse:
    """One ``sendBotEvent`` of the front end: synchronous (the answer is returned) or an event."""
    try:
        data = json_body(request)
        scope = scope_ready(request, data)
        assert scope.bot is not None and scope.chat is not None and scope.user is not None
        method = data.get("method")
        if not isinstance(method, str):
            raise SimulatorError(_("A Smart App request needs a method name."))
        origin = origin_of(request)
        if data.get("sync_request"):
            result = smartapp_request_send(
                bot=scope.bot, chat=scope.chat, user=scope.user, method=method, params=_params(data), origin=origin
            )
            answer: Any
            try:
                answer = json.loads(result.answer.text) if result.answer.text else None
            except ValueError:
                answer = result.answer.text
            return JsonResponse(
                {
                    "mode": "sync",
                    "request": result.payload,
                    "status_code": result.answer.status_code,
                    "error": result.answer.error,
                    "answer": answer,
                },
                json_dumps_params={"ensure_ascii": False},
            )
        try:
            ref = uuid.UUID(str(data.get("ref"))) if data.get("ref") else uuid.uuid4()
        except ValueError:
            raise SimulatorError(_("The ref of a Smart App request must be a UUID.")) from None
        sent = smartapp_event_send(
            bot=scope.bot, chat=scope.chat, user=scope.user, ref=ref, method=method, params=_params(data), origin=origin
        )
    except SimulatorError as exc:
        return json_error(str(exc))
    return JsonResponse(
        {
            "mode": "event",
            "ref": str(ref),
            "request": sent.payload,
            "status_code": sent.status_code,
            "error": sent.error,
            "answer": sent.json if sent.json is not None else sent.body,
        },
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
@staff_member_required
def events(request: HttpRequest) -> JsonResponse:
    """What the bot sent towards its front end in this chat after the event ``after``."""
    try:
        scope = scope_ready(request, request.GET)
        after = int(request.GET.get("after") or 0)
    except SimulatorError as exc:
        return json_error(str(exc))
    except ValueError:
        return json_error(_("after must be a number."))
    assert scope.bot is not None and scope.chat is not None
    rows = smartapp_events_since(bot=scope.bot, chat=scope.chat, after=after)
    return JsonResponse(
        {"events": [{"id": row.pk, "kind": row.kind, "payload": row.payload} for row in rows]},
        json_dumps_params={"ensure_ascii": False},
    )
