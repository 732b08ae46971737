"""Files API (§4.7): multipart upload and download."""

from __future__ import annotations

import json
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.services.files import file_for_download, file_upload, guess_mimetype
from bots.sandbox.views.base import botx_endpoint


@botx_endpoint("POST")
def upload(request: HttpRequest, caller: Caller) -> HttpResponse:
    form = protocol.Body(request.POST)
    group_chat_id = form.uuid("group_chat_id")
    meta: dict[str, object] = {}
    raw_meta = request.POST.get("meta")
    if raw_meta:
        try:
            loaded = json.loads(raw_meta)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            meta = loaded
        else:
            form.problem("meta", "must be a JSON object")
    meta_body = protocol.Body(meta, prefix="meta.")
    meta_body.problems = form.problems
    duration = meta_body.optional_integer("duration")
    caption = meta_body.optional_string("caption") or ""
    content = request.FILES.get("content")
    if content is None:
        form.problem("content", "required")
    form.check()
    assert content is not None  # form.check() raised otherwise
    name = content.name or "file"
    file = protocol.IncomingFile(
        file_name=name,
        mimetype=content.content_type or guess_mimetype(name),
        content=content.read(),
        caption=caption,
        duration=duration,
    )
    stored = file_upload(caller=caller, group_chat_id=group_chat_id, file=file)
    return render.ok(render.async_file(stored, base_url=caller.cts.base_url))


@botx_endpoint("GET")
def download(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    group_chat_id = query.uuid("group_chat_id")
    file_id = query.uuid("file_id")
    is_preview = query.boolean("is_preview", False)
    query.check()
    file = file_for_download(caller=caller, group_chat_id=group_chat_id, file_id=file_id, is_preview=is_preview)
    response = HttpResponse(bytes(file.content), content_type=file.mimetype)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(file.file_name, safe='')}"
    return response
