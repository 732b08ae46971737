"""Parsing what BotX sends to a bot: commands and system events, ``/status`` queries, callbacks of
async BotX calls, and synchronous Smart App requests.

The parser is lenient on purpose. BotX servers are updated on the customer's schedule, not ours, so
a chat type, attachment type, entity type or system event we have never seen, an extra key, or a
wrong-typed optional field is kept (flagged ``known=False`` or read as ``None``) and never fails the
request. ``PayloadError`` is raised only when a body cannot be routed or understood at all: no
message id, no bot id, no command text, no sender context. The raw dict is stored by the caller
before parsing, and every parsed object keeps it in ``raw`` as well.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

COMMAND_TYPE_USER = "user"
COMMAND_TYPE_SYSTEM = "system"
SYSTEM_PREFIX = "system:"
BOT_API_VERSION = 4  # the only Bot API version BotX still speaks to bots; pybotx refuses others

CHAT_TYPES = frozenset({"chat", "group_chat", "channel", "thread", "notes", "voex_call"})
ATTACHMENT_TYPES = frozenset({"image", "video", "document", "voice", "location", "contact", "link", "sticker"})
ASYNC_FILE_TYPES = frozenset({"image", "video", "document", "voice"})
ENTITY_TYPES = frozenset({"mention", "forward", "reply"})
MENTION_TYPES = frozenset({"user", "contact", "chat", "channel", "all"})
# The system events pybotx models. The docs also describe call_started and call_ended, which pybotx
# does not know; they arrive as unknown events until someone needs them.
SYSTEM_EVENTS = frozenset(
    {
        "smartapp_event",
        "internal_bot_notification",
        "event_edit",
        "event_deleted",
        "conference_created",
        "conference_changed",
        "conference_deleted",
        "cts_login",
        "cts_logout",
        "chat_created",
        "added_to_chat",
        "user_joined_to_chat",
        "deleted_from_chat",
        "left_from_chat",
        "chat_deleted_by_user",
    }
)

# pybotx's convention, kept so that bots moved between the two route the same way.
_COMMAND_NAME_RE = re.compile(r"^/[^\s/]+$")
TEXT_PREVIEW_LENGTH = 200


class PayloadError(ValueError):
    """A body BotX sent that cannot be routed or understood; the message names the field."""


# --- shapes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """Who sent a command and from what device. System events fill few of these or none."""

    user_huid: uuid.UUID | None
    user_udid: uuid.UUID | None
    ad_login: str | None
    ad_domain: str | None
    username: str | None
    is_admin: bool  # of the chat
    is_creator: bool  # of the chat
    manufacturer: str | None
    device: str | None
    device_software: str | None
    device_meta: dict[str, Any]
    platform: str | None
    platform_package_id: str | None
    app_version: str | None
    locale: str | None
    host: str | None  # the CTS the command came from

    @property
    def upn(self) -> str | None:
        """``login@domain`` when both are known."""
        if self.ad_login and self.ad_domain:
            return f"{self.ad_login}@{self.ad_domain}"
        return None


@dataclass(frozen=True)
class Attachment:
    """An item of ``attachments``: a file inlined as a data URL, a location, contact, link or sticker."""

    type: str
    data: dict[str, Any]
    known: bool

    @property
    def file_name(self) -> str | None:
        return opt_str(self.data.get("file_name"))

    @property
    def mimetype(self) -> str | None:
        """The media type of an inlined file, from its ``data:<type>;base64,`` prefix."""
        content = self.data.get("content")
        if not isinstance(content, str) or not content.startswith("data:"):
            return None
        media_type = content[len("data:") :].split(",", 1)[0].split(";", 1)[0]
        return media_type or None

    def content(self) -> bytes | None:
        """The inlined file's bytes; ``b""`` for BotX's empty content, None when there is none or it is
        not a base64 data URL."""
        content = self.data.get("content")
        if content == "":
            return b""
        if not isinstance(content, str) or not content.startswith("data:") or "," not in content:
            return None
        header, encoded = content.split(",", 1)
        if not header.endswith(";base64"):
            return None
        try:
            return base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            return None


@dataclass(frozen=True)
class AsyncFile:
    """A file kept on the CTS, described for a later download through the Files API."""

    type: str
    file_id: uuid.UUID | None
    file_name: str | None
    file_mimetype: str | None
    file_size: int | None
    file_url: str | None
    file_hash: str | None
    caption: str | None
    raw: dict[str, Any]  # the BotX object as sent; it can be handed back to BotX unchanged

    @property
    def known(self) -> bool:
        return self.type in ASYNC_FILE_TYPES

    @property
    def duration(self) -> int | None:
        return opt_int(self.raw.get("duration"))


@dataclass(frozen=True)
class Mention:
    """A mention of a user, contact, chat or channel, or of everyone in the chat (``all``)."""

    mention_type: str
    mention_id: uuid.UUID | None
    entity_id: uuid.UUID | None  # the user's HUID or the chat's id; None for ``all``
    name: str | None
    known: bool


@dataclass(frozen=True)
class Entity:
    """An item of ``entities``: a mention, the forward header, or the quoted message of a reply."""

    type: str
    data: dict[str, Any]
    known: bool

    @property
    def mention(self) -> Mention | None:
        if self.type != "mention":
            return None
        return _mention(self.data)


@dataclass(frozen=True)
class IncomingCommand:
    """A ``POST /command`` body: a user's message, a button press, or a ``system:*`` event."""

    sync_id: uuid.UUID
    source_sync_id: uuid.UUID | None  # the bot message whose button was pressed
    bot_id: uuid.UUID
    proto_version: int | None
    command_type: str  # "user", "system", or whatever a newer BotX sends
    body: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    sender: Sender
    chat_id: uuid.UUID | None
    chat_type: str | None
    attachments: list[Attachment]
    async_files: list[AsyncFile]
    entities: list[Entity]
    raw: dict[str, Any] = field(repr=False)

    @property
    def is_system(self) -> bool:
        return self.command_type == COMMAND_TYPE_SYSTEM

    @property
    def event(self) -> str | None:
        """The name of a system event (``chat_created`` for ``system:chat_created``); None for users."""
        if not self.is_system:
            return None
        return self.body.removeprefix(SYSTEM_PREFIX)

    @property
    def event_known(self) -> bool:
        return self.is_system and self.body.startswith(SYSTEM_PREFIX) and self.event in SYSTEM_EVENTS

    @property
    def command_name(self) -> str | None:
        """``/name`` when the first word of a user's text is a command, else None."""
        if self.is_system:
            return None
        words = self.body.split(maxsplit=1)
        if words and _COMMAND_NAME_RE.match(words[0]):
            return words[0]
        return None

    @property
    def argument(self) -> str:
        """The text after the first word, stripped (pybotx's ``argument``)."""
        words = self.body.split(maxsplit=1)
        return words[1].strip() if len(words) > 1 else ""

    @property
    def is_button_press(self) -> bool:
        return not self.is_system and self.source_sync_id is not None

    @property
    def kind(self) -> str:
        """``event``, ``button``, ``command`` or ``message``: how the ledger labels it."""
        if self.is_system:
            return "event"
        if self.is_button_press:
            return "button"
        if self.command_name is not None:
            return "command"
        return "message"

    @property
    def mentions(self) -> list[Mention]:
        """The mentions in the message itself (those inside a quoted reply are not included)."""
        return [mention for entity in self.entities if (mention := entity.mention) is not None]

    def unrecognized(self) -> list[str]:
        """What in this payload the portal does not know, as ``what:value`` labels (empty = nothing)."""
        labels: list[str] = []
        if self.command_type not in (COMMAND_TYPE_USER, COMMAND_TYPE_SYSTEM):
            labels.append(f"command_type:{self.command_type}")
        if self.is_system and not self.event_known:
            labels.append(f"event:{self.event}")
        if self.proto_version is not None and self.proto_version != BOT_API_VERSION:
            labels.append(f"proto_version:{self.proto_version}")
        if self.chat_type is not None and self.chat_type not in CHAT_TYPES:
            labels.append(f"chat_type:{self.chat_type}")
        labels.extend(f"attachment:{item.type}" for item in self.attachments if not item.known)
        labels.extend(f"async_file:{item.type}" for item in self.async_files if not item.known)
        labels.extend(f"entity:{item.type}" for item in self.entities if not item.known)
        labels.extend(f"mention:{item.mention_type}" for item in self.mentions if not item.known)
        return labels

    def summary(self) -> dict[str, Any]:
        """A short JSON-able description for the ledger; the raw payload is stored separately."""
        return {
            "sync_id": str(self.sync_id),
            "kind": self.kind,
            "command": self.command_name,
            "event": self.event,
            "chat_id": _str_or_none(self.chat_id),
            "chat_type": self.chat_type,
            "user_huid": _str_or_none(self.sender.user_huid),
            "ad_login": self.sender.ad_login,
            "text": None if self.is_system else _preview(self.body),
            "attachments": [item.type for item in self.attachments],
            "entities": [item.type for item in self.entities],
            "unrecognized": self.unrecognized(),
        }


@dataclass(frozen=True)
class StatusQuery:
    """The query string of ``GET /status``: who is opening the bot's chat, and which chat."""

    bot_id: uuid.UUID
    user_huid: uuid.UUID | None
    ad_login: str | None
    ad_domain: str | None
    is_admin: bool | None
    chat_type: str | None


@dataclass(frozen=True)
class CallbackResult:
    """The outcome of an async BotX call, delivered to ``/notification/callback``."""

    sync_id: uuid.UUID
    ok: bool
    result: Any
    reason: str | None
    errors: list[Any]
    error_data: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SmartAppRequest:
    """A synchronous Smart App request (``POST /smartapps/request``); the front-end waits for the answer."""

    bot_id: uuid.UUID
    chat_id: uuid.UUID | None
    method: str
    data: Any  # the front-end's params, passed through untouched
    files: list[AsyncFile]
    user_huid: uuid.UUID | None
    udid: uuid.UUID | None
    platform: str | None
    client_network_contour: str | None
    raw: dict[str, Any] = field(repr=False)


# --- parsers ---------------------------------------------------------------------------------------


def parse_command(raw: Any) -> IncomingCommand:
    """Read a ``/command`` body. Raises ``PayloadError`` only when it cannot be routed or understood."""
    if not isinstance(raw, dict):
        raise PayloadError(f"The command body must be a JSON object, got {_type_name(raw)}.")
    sync_id = _required_uuid(raw, "sync_id")
    bot_id = _required_uuid(raw, "bot_id")

    proto_version = raw.get("proto_version")
    if proto_version is not None and (isinstance(proto_version, bool) or not isinstance(proto_version, int)):
        raise PayloadError(f'"proto_version" must be an integer, got {_type_name(proto_version)}.')

    command = raw.get("command")
    if not isinstance(command, dict):
        raise PayloadError(f'"command" must be an object, got {_type_name(command)}.')
    body = command.get("body")
    if not isinstance(body, str):
        raise PayloadError(f'"command.body" must be a string, got {_type_name(body)}.')
    command_type = command.get("command_type")
    if not isinstance(command_type, str) or not command_type:
        # Only ever absent in hand-made payloads; the body tells which of the two it was meant to be.
        command_type = COMMAND_TYPE_SYSTEM if body.startswith(SYSTEM_PREFIX) else COMMAND_TYPE_USER

    context = raw.get("from")
    if not isinstance(context, dict):
        raise PayloadError(f'"from" must be an object, got {_type_name(context)}.')

    data = as_dict(command.get("data"))
    chat_id = opt_uuid(context.get("group_chat_id"))
    chat_type = opt_str(context.get("chat_type"))
    if command_type == COMMAND_TYPE_SYSTEM:
        # Some events (event_deleted, chat_created) name the chat only in their data.
        chat_id = chat_id or opt_uuid(data.get("group_chat_id"))
        chat_type = chat_type or opt_str(data.get("chat_type"))

    return IncomingCommand(
        sync_id=sync_id,
        source_sync_id=opt_uuid(raw.get("source_sync_id")),
        bot_id=bot_id,
        proto_version=proto_version,
        command_type=command_type,
        body=body,
        data=data,
        metadata=as_dict(command.get("metadata")),
        sender=_sender(context),
        chat_id=chat_id,
        chat_type=chat_type,
        attachments=[_attachment(item) for item in as_list(raw.get("attachments"))],
        async_files=[_async_file(item) for item in as_list(raw.get("async_files"))],
        entities=[_entity(item) for item in as_list(raw.get("entities"))],
        raw=raw,
    )


def parse_status_query(params: Mapping[str, str]) -> StatusQuery:
    """Read the ``/status`` query (a Django ``request.GET`` works). Empty values count as absent."""

    def value(name: str) -> str | None:
        found = params.get(name)
        return found if isinstance(found, str) and found.strip() else None

    raw_bot_id = value("bot_id")
    if raw_bot_id is None:
        raise PayloadError('Query parameter "bot_id" is missing.')
    bot_id = opt_uuid(raw_bot_id.strip())
    if bot_id is None:
        raise PayloadError(f'Query parameter "bot_id" must be a UUID, got {_short(raw_bot_id)}.')
    raw_huid = value("user_huid")
    user_huid = opt_uuid(raw_huid.strip()) if raw_huid is not None else None
    if raw_huid is not None and user_huid is None:
        raise PayloadError(f'Query parameter "user_huid" must be a UUID, got {_short(raw_huid)}.')

    return StatusQuery(
        bot_id=bot_id,
        user_huid=user_huid,
        ad_login=value("ad_login"),
        ad_domain=value("ad_domain"),
        is_admin=_query_bool(value("is_admin")),
        chat_type=value("chat_type"),
    )


def parse_callback(raw: Any) -> CallbackResult:
    """Read a ``/notification/callback`` body."""
    if not isinstance(raw, dict):
        raise PayloadError(f"The callback body must be a JSON object, got {_type_name(raw)}.")
    sync_id = _required_uuid(raw, "sync_id")
    status = raw.get("status")
    if status not in ("ok", "error"):
        raise PayloadError(f'"status" must be "ok" or "error", got {_short(status)}.')
    ok = status == "ok"
    return CallbackResult(
        sync_id=sync_id,
        ok=ok,
        result=raw.get("result"),
        reason=None if ok else (opt_str(raw.get("reason")) or "unknown_error"),
        errors=as_list(raw.get("errors")),
        error_data=as_dict(raw.get("error_data")),
        raw=raw,
    )


def parse_smartapp_request(raw: Any) -> SmartAppRequest:
    """Read a ``/smartapps/request`` body."""
    if not isinstance(raw, dict):
        raise PayloadError(f"The Smart App request body must be a JSON object, got {_type_name(raw)}.")
    bot_id = _required_uuid(raw, "bot_id")
    method = raw.get("method")
    if not isinstance(method, str) or not method:
        raise PayloadError(f'"method" must be a non-empty string, got {_short(method)}.')
    payload = as_dict(raw.get("payload"))
    sender = as_dict(raw.get("sender_info"))
    return SmartAppRequest(
        bot_id=bot_id,
        chat_id=opt_uuid(raw.get("group_chat_id")),
        method=method,
        data=payload.get("data", {}),
        files=[_async_file(item) for item in as_list(payload.get("files"))],
        user_huid=opt_uuid(sender.get("user_huid")),
        udid=opt_uuid(sender.get("udid")),
        platform=opt_str(sender.get("platform")),
        client_network_contour=opt_str(sender.get("client_network_contour")),
        raw=raw,
    )


# --- pybotx as a second opinion --------------------------------------------------------------------


def pybotx_parse(raw: Any) -> tuple[object | None, str | None]:
    """What pybotx makes of a ``/command`` body: ``(domain object, None)`` or ``(None, error text)``.

    Used to compare against our parser and to show why pybotx-based bots would refuse a payload (an
    unknown event, another protocol version). It never raises; the portal does not rely on it.
    """
    try:
        return _pybotx_parse(raw), None
    except Exception as exc:  # pybotx raises many kinds, including ones from inside pydantic validators
        return None, _describe_pybotx_error(exc)


def _pybotx_parse(raw: Any) -> object:
    if not isinstance(raw, dict):
        raise TypeError(f"The command body must be a JSON object, got {_type_name(raw)}.")
    incoming_message, system_event = _pybotx_models()
    command = raw.get("command")
    if isinstance(command, dict) and command.get("command_type") == COMMAND_TYPE_USER:
        return incoming_message.model_validate(raw).to_domain(raw)
    return system_event.validate_python(raw).to_domain(raw)


@cache
def _pybotx_models() -> tuple[Any, Any]:
    # pybotx takes about half a second to import and, unless told otherwise, reconfigures logging for
    # the whole process; only the few callers of pybotx_parse pay for it.
    os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
    from pybotx.models.commands import BotAPISystemEvent
    from pybotx.models.message.incoming_message import BotAPIIncomingMessage
    from pydantic import TypeAdapter

    return BotAPIIncomingMessage, TypeAdapter(BotAPISystemEvent)


def _describe_pybotx_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        # pybotx itself says only "Bot command validation error"; the first problem makes it useful.
        try:
            first = errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            return f"Bot command validation error: {where}: {first.get('msg', '')}"
        except Exception:  # a describing helper must not fail on an odd error object
            return "Bot command validation error"
    return str(exc) or type(exc).__name__


# --- pieces ----------------------------------------------------------------------------------------


def _sender(context: dict[str, Any]) -> Sender:
    return Sender(
        user_huid=opt_uuid(context.get("user_huid")),
        user_udid=opt_uuid(context.get("user_udid")),
        ad_login=opt_str(context.get("ad_login")),
        ad_domain=opt_str(context.get("ad_domain")),
        username=opt_str(context.get("username")),
        is_admin=context.get("is_admin") is True,
        is_creator=context.get("is_creator") is True,
        manufacturer=opt_str(context.get("manufacturer")),
        device=opt_str(context.get("device")),
        device_software=opt_str(context.get("device_software")),
        device_meta=as_dict(context.get("device_meta")),
        platform=opt_str(context.get("platform")),
        platform_package_id=opt_str(context.get("platform_package_id")),
        app_version=opt_str(context.get("app_version")),
        locale=opt_str(context.get("locale")),
        host=opt_str(context.get("host")),
    )


def _attachment(item: Any) -> Attachment:
    if not isinstance(item, dict):
        return Attachment(type="", data={}, known=False)
    kind = item.get("type")
    kind = kind if isinstance(kind, str) else ""
    return Attachment(type=kind, data=as_dict(item.get("data")), known=kind in ATTACHMENT_TYPES)


def _async_file(item: Any) -> AsyncFile:
    item = as_dict(item)
    kind = item.get("type")
    return AsyncFile(
        type=kind if isinstance(kind, str) else "",
        file_id=opt_uuid(item.get("file_id")),
        file_name=opt_str(item.get("file_name")),
        file_mimetype=opt_str(item.get("file_mime_type")),
        file_size=opt_int(item.get("file_size")),
        file_url=opt_str(item.get("file")),
        file_hash=opt_str(item.get("file_hash")),
        caption=opt_str(item.get("caption")),
        raw=item,
    )


def _entity(item: Any) -> Entity:
    if not isinstance(item, dict):
        return Entity(type="", data={}, known=False)
    kind = item.get("type")
    kind = kind if isinstance(kind, str) else ""
    return Entity(type=kind, data=as_dict(item.get("data")), known=kind in ENTITY_TYPES)


def _mention(data: dict[str, Any]) -> Mention:
    mention_type = data.get("mention_type")
    mention_type = mention_type if isinstance(mention_type, str) else ""
    details = as_dict(data.get("mention_data"))
    # Users and contacts are named by HUID, chats and channels by chat id; "all" names nobody.
    entity_id = opt_uuid(details.get("user_huid")) or opt_uuid(details.get("group_chat_id"))
    return Mention(
        mention_type=mention_type,
        mention_id=opt_uuid(data.get("mention_id")),
        entity_id=entity_id,
        name=opt_str(details.get("name")),
        known=mention_type in MENTION_TYPES,
    )


def _required_uuid(raw: dict[str, Any], key: str) -> uuid.UUID:
    if key not in raw or raw[key] is None:
        raise PayloadError(f'"{key}" is missing.')
    value = opt_uuid(raw[key])
    if value is None:
        raise PayloadError(f'"{key}" must be a UUID string, got {_short(raw[key])}.')
    return value


def opt_uuid(value: Any) -> uuid.UUID | None:
    """A UUID given as such or as its text; None for anything else (never an exception)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def opt_str(value: Any) -> str | None:
    # BotX sends "" as well as null for "not known"; both read as None.
    return value if isinstance(value, str) and value else None


def opt_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time; None for anything else. BotX writes UTC: a time without an offset is UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _query_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def _preview(text: str) -> str:
    if len(text) <= TEXT_PREVIEW_LENGTH:
        return text
    return text[: TEXT_PREVIEW_LENGTH - 1] + "…"


def _str_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _short(value: Any) -> str:
    # Error messages end up in logs and in BotX's: enough of the value to recognise it, no more.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
