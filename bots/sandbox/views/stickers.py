"""Stickers API (§4.9): the pack list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.views.base import botx_endpoint


@botx_endpoint("GET")
def packs(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    query.optional_uuid("user_huid")
    query.optional_integer("limit", minimum=1)
    query.check()
    return render.ok(render.sticker_packs())
