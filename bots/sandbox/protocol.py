"""Reading BotX API request bodies, as the sandbox's edge: JSON in, checked typed values out.

A body is read through :class:`Body`, which collects every problem and raises one
``400 malformed_request`` listing them (``error_data`` maps each field to what is wrong), so a client
learns all of its mistakes at once. Message pieces shared by several methods (the notification
object, buttons, mentions, a data-URL file) are parsed here into dataclasses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.request import RawPostDataException

from bots.botx.incoming import opt_uuid
from bots.sandbox.errors import SandboxError

# BotX takes up to 512 MB per request; a sandbox that holds files in its database needs far less.
MAX_JSON_BODY_BYTES = 64 * 1024 * 1024
MENTION_TYPES = frozenset({"user", "contact", "chat", "channel", "all"})
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*?;base64,(?P<data>.*)$", re.DOTALL)


def malformed(problems: Mapping[str, str], description: str = "Malformed request") -> SandboxError:
    return SandboxError(
        400,
        "malformed_request",
        description,
        errors=[f"{key}: {problem}" for key, problem in problems.items()],
        **dict(problems),
    )


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says why not."""
    try:
        raw = request.body
    except RequestDataTooBig:
        # Django's in-memory limit is meant for forms; BotX bodies carry whole files as data URLs.
        # It refused before reading, so the stream is still there to read under our own limit.
        raw = request.read(MAX_JSON_BODY_BYTES + 1)
        if len(raw) > MAX_JSON_BODY_BYTES:
            raise SandboxError(
                413, "request_too_large", f"Request body is larger than {MAX_JSON_BODY_BYTES} bytes"
            ) from None
    except RawPostDataException:
        raise malformed({"body": "unreadable"}, "Request body was already read") from None
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise malformed({"body": "invalid JSON"}, "Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise malformed({"body": "not an object"}, "Request body must be a JSON object")
    return data


class Body:
    """Typed access to a JSON object (or a query string) that records what is missing or wrong.

    The getters of required values return a placeholder when the value is unusable; call
    :meth:`check` before using any of them.
    """

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.problems: dict[str, str] = {}

    def has(self, key: str) -> bool:
        return key in self.data

    def problem(self, key: str, text: str) -> None:
        self.problems.setdefault(self.prefix + key, text)

    def check(self) -> None:
        if self.problems:
            raise malformed(self.problems)

    def sub(self, key: str, *, required: bool = True) -> Body | None:
        """A nested object, read with the same problem list."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, "required")
            return None
        if not isinstance(value, dict):
            self.problem(key, "must be an object")
            return None
        nested = Body(value, prefix=f"{self.prefix}{key}.")
        nested.problems = self.problems
        return nested

    # --- scalars ---------------------------------------------------------------------------------------

    def uuid(self, key: str) -> UUID:
        value = self.optional_uuid(key)
        if value is None:
            self.problem(key, "required")
            return UUID(int=0)
        return value

    def optional_uuid(self, key: str) -> UUID | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        parsed = opt_uuid(value)
        if parsed is None:
            self.problem(key, "must be a UUID")
        return parsed

    def uuids(self, key: str, *, required: bool = True) -> list[UUID] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, "required")
            return None
        if not isinstance(value, list):
            self.problem(key, "must be a list of UUIDs")
            return None
        parsed = [opt_uuid(item) for item in value]
        if any(item is None for item in parsed):
            self.problem(key, "must be a list of UUIDs")
            return None
        return [item for item in parsed if item is not None]

    def string(self, key: str, *, default: str | None = None) -> str:
        value = self.optional_string(key)
        if value is None:
            if default is None:
                self.problem(key, "required")
            return default or ""
        return value

    def optional_string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        # Query strings carry booleans as text.
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        self.problem(key, "must be a boolean")
        return default

    def integer(self, key: str, *, minimum: int = 0) -> int:
        value = self.optional_integer(key, minimum=minimum)
        if value is None:
            self.problem(key, "required")
            return minimum
        return value

    def optional_integer(self, key: str, *, minimum: int = 0) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, "must be an integer")
            return None
        if value < minimum:
            self.problem(key, f"must be at least {minimum}")
            return None
        return value

    def obj(self, key: str) -> dict[str, Any]:
        """An object that defaults to ``{}`` when absent or null."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key, "must be an object")
            return {}
        return value

    def choice(self, key: str, choices: frozenset[str] | set[str], *, default: str | None = None) -> str:
        value = self.string(key, default=default)
        if value and value not in choices:
            self.problem(key, f"must be one of {', '.join(sorted(choices))}")
        return value


# --- message pieces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageContent:
    """The message object of a direct notification (``notification``), a reply (``reply``) or an
    edit (``payload``). ``present`` names the keys the body had: an edit changes only those."""

    body: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    opts: dict[str, Any] = field(default_factory=dict)
    bubble: list[list[dict[str, Any]]] = field(default_factory=list)
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    present: frozenset[str] = frozenset()


@dataclass(frozen=True)
class IncomingFile:
    """A file sent inside a JSON body as a data URL."""

    file_name: str
    mimetype: str
    content: bytes
    caption: str = ""
    duration: int | None = None


def message_content(body: Body | None, *, body_required: bool = True) -> MessageContent:
    if body is None:
        return MessageContent()
    present = frozenset(key for key in ("body", "metadata", "opts", "bubble", "keyboard", "mentions") if body.has(key))
    return MessageContent(
        body=body.string("body", default=None if body_required else ""),
        metadata=body.obj("metadata"),
        opts=body.obj("opts"),
        bubble=_buttons(body, "bubble"),
        keyboard=_buttons(body, "keyboard"),
        mentions=_mentions(body),
        present=present,
    )


def _buttons(body: Body, key: str) -> list[list[dict[str, Any]]]:
    rows = body.data.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        body.problem(key, "must be a list of rows of buttons")
        return []
    for row_index, row in enumerate(rows):
        for index, button in enumerate(row):
            where = f"{key}[{row_index}][{index}]"
            if not isinstance(button, dict):
                body.problem(where, "must be an object")
            elif not isinstance(button.get("label"), str):
                body.problem(f"{where}.label", "required")
            elif "command" in button and not isinstance(button["command"], str):
                body.problem(f"{where}.command", "must be a string")
            elif not isinstance(button.get("data", {}), dict) or not isinstance(button.get("opts", {}), dict):
                body.problem(where, "data and opts must be objects")
    return rows


def _mentions(body: Body) -> list[dict[str, Any]]:
    mentions = body.data.get("mentions")
    if mentions is None:
        return []
    if not isinstance(mentions, list):
        body.problem("mentions", "must be a list")
        return []
    for index, mention in enumerate(mentions):
        where = f"mentions[{index}]"
        if not isinstance(mention, dict):
            body.problem(where, "must be an object")
        elif mention.get("mention_type", "user") not in MENTION_TYPES:
            body.problem(f"{where}.mention_type", f"must be one of {', '.join(sorted(MENTION_TYPES))}")
        elif opt_uuid(mention.get("mention_id")) is None:
            body.problem(f"{where}.mention_id", "must be a UUID")
        elif mention.get("mention_data") is not None and not isinstance(mention["mention_data"], dict):
            body.problem(f"{where}.mention_data", "must be an object")
    return mentions


def data_url_file(body: Body, key: str = "file") -> IncomingFile | None:
    """A ``{"file_name", "data": "data:<mime>;base64,..."}`` object, or None when absent or null."""
    file = body.sub(key, required=False)
    if file is None:
        return None
    name = file.string("file_name")
    data = file.string("data")
    caption = file.optional_string("caption") or ""
    duration = file.optional_integer("duration")
    match = _DATA_URL.match(data) if data else None
    if data and match is None:
        file.problem("data", "must be a base64 data URL")
        return None
    if match is None:
        return None
    try:
        content = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        file.problem("data", "invalid base64")
        return None
    return IncomingFile(
        file_name=name,
        mimetype=match["mime"] or "application/octet-stream",
        content=content,
        caption=caption,
        duration=duration,
    )


# --- method bodies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectNotification:
    """``POST /api/v4/botx/notifications/direct`` (and ``/direct/sync``), §4.2.1."""

    group_chat_id: uuid.UUID
    recipients: list[uuid.UUID] | None
    content: MessageContent | None
    file: IncomingFile | None
    stealth_mode: bool


def direct_notification(data: Mapping[str, Any]) -> DirectNotification:
    body = Body(data)
    group_chat_id = body.uuid("group_chat_id")
    recipients = body.uuids("recipients", required=False)
    notification = body.sub("notification", required=False)
    content = message_content(notification) if notification is not None else None
    file = data_url_file(body)
    if content is None and file is None:
        body.problem("notification", "required")
    opts = body.sub("opts", required=False)
    stealth_mode = opts.boolean("stealth_mode", False) if opts is not None else False
    body.check()
    return DirectNotification(group_chat_id, recipients, content, file, stealth_mode)


@dataclass(frozen=True)
class InternalNotification:
    """``POST /api/v4/botx/notifications/internal``, §4.2.3."""

    group_chat_id: uuid.UUID
    data: dict[str, Any]
    opts: dict[str, Any]
    recipients: list[uuid.UUID] | None


def internal_notification(data: Mapping[str, Any]) -> InternalNotification:
    body = Body(data)
    group_chat_id = body.uuid("group_chat_id")
    if not isinstance(data.get("data"), dict):
        body.problem("data", "required" if data.get("data") is None else "must be an object")
    payload = body.obj("data")
    opts = body.obj("opts")
    recipients = body.uuids("recipients", required=False)
    body.check()
    return InternalNotification(group_chat_id, payload, opts, recipients)


@dataclass(frozen=True)
class EventEdit:
    """``POST /api/v3/botx/events/edit_event``, §4.3: only what is present changes."""

    sync_id: uuid.UUID
    content: MessageContent
    file: IncomingFile | None
    file_present: bool


def event_edit(data: Mapping[str, Any]) -> EventEdit:
    body = Body(data)
    sync_id = body.uuid("sync_id")
    content = message_content(body.sub("payload", required=False), body_required=False)
    file = data_url_file(body)
    body.check()
    return EventEdit(sync_id, content, file, "file" in data)


@dataclass(frozen=True)
class EventReply:
    """``POST /api/v3/botx/events/reply_event``, §4.3."""

    source_sync_id: uuid.UUID
    content: MessageContent
    file: IncomingFile | None
    stealth_mode: bool


def event_reply(data: Mapping[str, Any]) -> EventReply:
    body = Body(data)
    source_sync_id = body.uuid("source_sync_id")
    content = message_content(body.sub("reply"))
    file = data_url_file(body)
    opts = body.sub("opts", required=False)
    stealth_mode = opts.boolean("stealth_mode", False) if opts is not None else False
    body.check()
    return EventReply(source_sync_id, content, file, stealth_mode)
