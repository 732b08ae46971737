"""What every sandbox endpoint does around its handler: methods, auth, fault injection, error envelopes."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from bots.sandbox import render
from bots.sandbox.auth import Caller, bot_by_bearer, caller_for
from bots.sandbox.errors import SandboxError
from bots.sandbox.faults import Answer, fault_plan
from bots.sandbox.models import SandboxFaults

Handler = Callable[..., HttpResponse]
View = Callable[..., HttpResponse]


def method_not_allowed(request: HttpRequest) -> HttpResponse:
    return render.error(SandboxError(405, "method_not_allowed", f"Method {request.method} is not allowed here"))


def with_faults(faults: SandboxFaults, bot_id: object, handle: Callable[[], HttpResponse]) -> HttpResponse:
    """Run ``handle`` the way the CTS's fault settings say: late, refused, or answered too late."""
    plan = fault_plan(faults)
    if plan.latency:
        time.sleep(plan.latency)
    if plan.answer is Answer.SERVER_ERROR:
        return render.error(SandboxError(500, "unexpected_error", "Injected by the sandbox"))
    if plan.answer is Answer.THROTTLED:
        throttled = render.error(SandboxError(429, "too_many_requests", "Too many requests", bot_id=str(bot_id)))
        throttled["Retry-After"] = str(plan.retry_after)
        return throttled
    response: HttpResponse
    try:
        response = handle()
    except SandboxError as exc:
        response = render.error(exc)
    if plan.hold:
        # Done and committed; the client gives up before it hears so.
        time.sleep(plan.hold)
    return response


def botx_endpoint(*methods: str) -> Callable[[Handler], View]:
    """A BotX API method that takes a bearer (an issued token or a v2 JWT) and answers envelopes.

    The handler is called as ``handler(request, caller, **url_kwargs)``.
    """

    def decorate(handler: Handler) -> View:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return method_not_allowed(request)
            try:
                caller: Caller = caller_for(bot_by_bearer(request), request)
            except SandboxError as exc:
                return render.error(exc)
            return with_faults(caller.faults, caller.bot_id, lambda: handler(request, caller, **kwargs))

        return view

    return decorate
