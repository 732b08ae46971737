"""The Bot API endpoints BotX calls: plain Django views that translate HTTP to and from the services.

Per bot: ``/botx/<bot_id>/command`` and siblings (the URL an administrator enters on the CTS). Shared:
``/botx/command`` and siblings, routed by the bot ID in the body, the query or the token.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bots.services import ingress, smartapps


def _request(request: HttpRequest, endpoint: str, bot_id: uuid.UUID | None) -> ingress.BotxHttpRequest:
    limit = settings.BOTX_MAX_BODY_BYTES
    # Read at most one byte past the limit: a body far too large is refused without being held whole.
    body = request.read(limit + 1) if request.method == "POST" else b""
    return ingress.BotxHttpRequest(
        endpoint=endpoint,
        body=body[:limit],
        headers={name.lower(): value for name, value in request.headers.items()},
        url_bot_id=bot_id,
        params={key: request.GET.get(key, "") for key in request.GET},
        remote_addr=request.META.get("REMOTE_ADDR"),
        too_large=len(body) > limit,
    )


def _json(answer: ingress.Answer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status, json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@require_POST
def command(request: HttpRequest, bot_id: uuid.UUID | None = None) -> JsonResponse:
    return _json(ingress.command_receive(_request(request, "command", bot_id)))


@require_GET
def status(request: HttpRequest, bot_id: uuid.UUID | None = None) -> JsonResponse:
    return _json(ingress.status_answer(_request(request, "status", bot_id)))


@csrf_exempt
@require_POST
def notification_callback(request: HttpRequest, bot_id: uuid.UUID | None = None) -> JsonResponse:
    return _json(ingress.callback_receive(_request(request, "callback", bot_id)))


@csrf_exempt
@require_POST
def smartapp_request(request: HttpRequest, bot_id: uuid.UUID | None = None) -> JsonResponse:
    return _json(smartapps.smartapp_answer(_request(request, "smartapp", bot_id)))


@require_GET
def smartapp_static(request: HttpRequest, bot_id: uuid.UUID, path: str) -> HttpResponse:
    found = smartapps.smartapp_static_file(bot_id=bot_id, path=path)
    if found is None:
        raise Http404(path)
    return HttpResponse(found.content, content_type=found.content_type)
