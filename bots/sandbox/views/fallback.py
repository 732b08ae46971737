"""Anything under /sandbox/ that is no BotX method: an envelope, as clients parse the body of any answer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from bots.sandbox import render
from bots.sandbox.errors import SandboxError


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    return render.error(SandboxError(404, "not_found", f"No BotX method at /{path}"))
