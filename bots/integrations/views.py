"""The webhook a call-recording system posts to: a plain Django view that hands the request over."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bots.integrations import signing
from bots.integrations.services.recordings import WebhookHttpRequest, webhook_receive


@csrf_exempt
@require_POST
def recordings_webhook(request: HttpRequest, integration: str) -> JsonResponse:
    limit = settings.RECORDINGS_WEBHOOK_MAX_BYTES
    # At most one byte past the limit is read: a body far too large is refused without being held.
    body = request.read(limit + 1)
    answer = webhook_receive(
        WebhookHttpRequest(
            integration_ref=integration,
            body=body[:limit],
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            signature=request.headers.get(signing.SIGNATURE_HEADER),
            remote_addr=request.META.get("REMOTE_ADDR"),
            too_large=len(body) > limit,
        )
    )
    return JsonResponse(answer.body, status=answer.status, json_dumps_params={"ensure_ascii": False})
