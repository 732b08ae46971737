"""``GET /api/v2/botx/bots/<bot_id>/token?signature=``: the v1 token endpoint (§2.1)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from bots.sandbox import render
from bots.sandbox.auth import bot_by_signature
from bots.sandbox.errors import SandboxError
from bots.sandbox.selectors import faults_for
from bots.sandbox.services.tokens import token_issue
from bots.sandbox.views.base import method_not_allowed, with_faults


@csrf_exempt
def token(request: HttpRequest, bot_id: uuid.UUID) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed(request)
    host = urlsplit(f"//{request.get_host()}").hostname or ""
    try:
        bot = bot_by_signature(bot_id=bot_id, signature=request.GET.get("signature", ""), host=host)
    except SandboxError as exc:
        return render.error(exc)
    faults = faults_for(bot.cts)
    return with_faults(
        faults, bot.bot_id, lambda: render.ok(token_issue(bot=bot, lifetime_seconds=faults.token_lifetime_seconds))
    )
