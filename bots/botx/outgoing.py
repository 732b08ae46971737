"""Outgoing BotX requests: the portal's neutral outbox payloads turned into BotX API calls.

An outbox row stores a method name (``Method``) and a plain JSON-able payload whose keys are ours, not
BotX's (``chat_id``, ``bubbles``, ``push``, ...). Only this module knows how they become BotX bodies,
paths and options, so the rest of the portal never touches a BotX key. The payload shapes are the
``TypedDict``s below; ``validate_payload`` runs the same checks as ``build_request`` so a bad payload is
refused when a handler creates the row, not later when a worker delivers it.

The bodies are what pybotx 0.77.1 sends for the same message (``tests/botx/test_outgoing.py`` proves it
method by method); where we deliberately differ, the builder says why.

Mentions: a message body refers to an entry of ``mentions`` with ``mention_marker(id)``
(``{mention:<id>}``). The builder writes BotX's placeholder for the mention's type in its place
(``@{...}`` for user/all, ``@@{...}`` for contact, ``##{...}`` for chat/channel). Mention ids are chosen
by the caller and stored with the row, so a row always rebuilds the same body.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Required, TypedDict

# pybotx refuses longer message bodies (MAX_NOTIFICATION_BODY_LENGTH); the server's own limit is not
# documented, so we hold every message body to the one limit we know of.
MAX_BODY_LENGTH = 4096
# BotX limits the JSON part of a request (everything but the file) to 1 MB. Which megabyte is not
# documented; the larger reading is used so that we never refuse what BotX would take.
MAX_JSON_BYTES = 1024 * 1024
SMARTAPP_API_VERSION = 1


class Method(StrEnum):
    NOTIFICATION = "notification"
    REPLY = "reply"
    EDIT = "edit"
    DELETE = "delete"
    TYPING = "typing"
    STOP_TYPING = "stop_typing"
    INTERNAL_NOTIFICATION = "internal_notification"
    SMARTAPP_EVENT = "smartapp_event"
    SMARTAPP_NOTIFICATION = "smartapp_notification"
    SMARTAPP_UNREAD_COUNTER = "smartapp_unread_counter"
    CHAT_CREATE = "chat_create"
    CHAT_ADD_USER = "chat_add_user"
    CHAT_REMOVE_USER = "chat_remove_user"
    CHAT_ADD_ADMIN = "chat_add_admin"
    CHAT_STEALTH_SET = "chat_stealth_set"
    CHAT_STEALTH_DISABLE = "chat_stealth_disable"
    CHAT_PIN = "chat_pin"
    CHAT_UNPIN = "chat_unpin"
    MESSAGE_STATUS = "message_status"


METHODS: tuple[str, ...] = tuple(method.value for method in Method)

MentionType = Literal["user", "contact", "chat", "channel", "all"]
ButtonAlign = Literal["left", "center", "right"]
ChatType = Literal["personal_chat", "group_chat", "channel"]
SmartappFileType = Literal["image", "video", "document", "voice"]


# --- the neutral payload shapes --------------------------------------------------------------------


class Button(TypedDict, total=False):
    """One button of a bubble or keyboard row. ``command`` may be left out only for a link button."""

    label: Required[str]
    command: str
    data: dict[str, Any]  # comes back with the press; default {}
    silent: bool  # default True, as in pybotx: the press does not post the command text into the chat
    width: int  # relative width within the row (>= 1)
    alert: str | None  # a pop-up shown on press; None or absent: no pop-up
    font_color: str
    background_color: str
    align: ButtonAlign  # default "center", as in pybotx
    link: str  # a URL the client opens itself
    process_on_client: bool


class Mention(TypedDict, total=False):
    """``user_huid`` for user/contact, ``chat_id`` for chat/channel, neither for all."""

    type: Required[MentionType]
    id: Required[str]  # chosen by the caller, referred to in the body with mention_marker(id)
    user_huid: str
    chat_id: str
    name: str | None


class FileAttachment(TypedDict, total=False):
    file_name: Required[str]
    data_base64: Required[str]  # standard base64 with padding, no line breaks
    mimetype: str  # default: by the file name's extension


class SmartappFile(TypedDict, total=False):
    """A file already uploaded to BotX (the upload result), passed to a Smart App by reference."""

    type: Required[SmartappFileType]
    file_id: Required[str]
    file_name: Required[str]
    url: Required[str]
    mimetype: Required[str]
    size: Required[int]
    hash: Required[str]
    preview: str | None
    preview_height: int | None
    preview_width: int | None
    encryption_algo: str | None
    chunk_size: int | None
    caption: str | None
    duration: int  # video and voice only; default 0


class _MessageFields(TypedDict, total=False):
    body: str  # default ""
    metadata: dict[str, Any]
    bubbles: list[list[Button]]
    keyboard: list[list[Button]]
    mentions: list[Mention]
    file: FileAttachment
    silent_response: bool
    buttons_auto_adjust: bool
    stealth_mode: bool
    push: bool
    force_dnd: bool


class NotificationPayload(_MessageFields, total=False):
    chat_id: Required[str]
    recipients: list[str] | None  # None or absent: everyone in the chat


class ReplyPayload(_MessageFields, total=False):
    source_sync_id: Required[str]


class EditPayload(TypedDict, total=False):
    """Absent fields stay as they are; ``""``, ``{}`` and ``[]`` clear; ``file: None`` removes the file."""

    sync_id: Required[str]
    body: str
    metadata: dict[str, Any]
    bubbles: list[list[Button]]
    keyboard: list[list[Button]]
    mentions: list[Mention]
    file: FileAttachment | None
    silent_response: bool
    buttons_auto_adjust: bool


class SyncIdPayload(TypedDict):
    """``delete`` and ``message_status``."""

    sync_id: str


class ChatPayload(TypedDict):
    """``typing``, ``stop_typing``, ``chat_stealth_disable`` and ``chat_unpin``."""

    chat_id: str


class InternalNotificationPayload(TypedDict, total=False):
    chat_id: Required[str]
    data: Required[dict[str, Any]]
    opts: dict[str, Any]
    recipients: list[str] | None  # bot ids; None or absent: every bot in the chat


class SmartappEventPayload(TypedDict, total=False):
    chat_id: Required[str]
    data: Required[dict[str, Any]]
    ref: str | None  # the request answered; None for an unsolicited event
    opts: dict[str, Any]
    files: list[SmartappFile]
    smartapp_api_version: int  # default 1
    encrypted: bool  # default True, as in pybotx


class SmartappNotificationPayload(TypedDict, total=False):
    chat_id: Required[str]
    title: Required[str]
    body: Required[str]
    meta: dict[str, Any]


class SmartappUnreadCounterPayload(TypedDict):
    chat_id: str
    counter: int


class ChatCreatePayload(TypedDict, total=False):
    name: Required[str]
    chat_type: Required[ChatType]
    members: Required[list[str]]
    description: str | None
    shared_history: bool
    avatar: str | None  # an RFC 2397 data URL


class ChatMembersPayload(TypedDict):
    """``chat_add_user``, ``chat_remove_user`` and ``chat_add_admin``."""

    chat_id: str
    user_huids: list[str]


class ChatStealthSetPayload(TypedDict, total=False):
    chat_id: Required[str]
    disable_web: bool
    burn_in: int | None  # seconds after reading; None or absent: off
    expire_in: int | None  # seconds after sending; None or absent: off


class ChatPinPayload(TypedDict):
    chat_id: str
    sync_id: str


class ReadReceipt(TypedDict):
    user_huid: str
    read_at: str


class ReceiveReceipt(TypedDict):
    user_huid: str
    received_at: str


class MessageStatus(TypedDict):
    chat_id: str
    sent_to: list[str]
    read_by: list[ReadReceipt]
    received_by: list[ReceiveReceipt]


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotxRequest:
    """One BotX API call, ready for ``BotxClient.request``."""

    http_method: str
    path: str
    json: dict[str, Any] | None
    params: dict[str, str] | None
    # A callback to /notification/callback with the same sync_id will report the outcome.
    expects_callback: bool
    # The ok result carries the sync_id of what was created (see sync_id_from_result).
    returns_sync_id: bool


class OutgoingPayloadError(ValueError):
    """A payload that cannot become a BotX request. The message names the method and the field."""

    def __init__(self, method: str, field: str, problem: str) -> None:
        self.method = method
        self.field = field
        self.problem = problem
        where = f"{method}: {field}" if field else method
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[OutgoingPayloadError], tuple[str, str, str]]:
        # Rebuilt from its parts, so the error survives a trip through a task result or a worker.
        return (type(self), (self.method, self.field, self.problem))


class UnexpectedResultError(ValueError):
    """BotX answered ok, but not with the shape this method returns."""


class _Invalid(Exception):
    # Raised deep inside the builders, which do not know the method; build_request adds it.
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field = field
        self.problem = problem


# --- public API ------------------------------------------------------------------------------------------


def mention_marker(mention_id: str) -> str:
    """The text to put in a body where the mention with this id should appear."""
    return f"{{mention:{mention_id}}}"


def build_request(method: str, payload: Mapping[str, Any], *, bot_id: uuid.UUID | str | None = None) -> BotxRequest:
    """The BotX call for one outbox row; ``OutgoingPayloadError`` if the payload is not valid.

    ``bot_id`` is the sending bot; only ``smartapp_event`` needs it (BotX wants the Smart App's id, which
    is the bot's, in the body, and the stored payload does not repeat it).
    """
    known = _method(method)
    if known is Method.SMARTAPP_EVENT and bot_id is None:
        raise TypeError("build_request() needs bot_id for a smartapp_event")
    return _build(known, payload, None if bot_id is None else str(uuid.UUID(str(bot_id))))


def validate_payload(method: str, payload: Mapping[str, Any]) -> None:
    """Run every check of ``build_request``; raise ``OutgoingPayloadError`` on the first problem."""
    _build(_method(method), payload, str(uuid.UUID(int=0)))


def chat_of(method: str, payload: Mapping[str, Any]) -> str | None:
    """The chat a method writes to, for keeping per-chat order; None when it addresses a message or no
    chat yet (reply, edit, delete, message_status, chat_create)."""
    known = _method(method)
    if known not in _CHAT_SCOPED:
        return None
    try:
        _require_mapping(payload, "")
        return _uuid(_required(payload, "chat_id"), "chat_id")
    except _Invalid as exc:
        raise OutgoingPayloadError(known.value, exc.field, exc.problem) from None


def sync_id_from_result(method: str, result: Any) -> str | None:
    """The sync_id of the message or event BotX created, from the ok result of methods that return one."""
    if _method(method) not in _RETURNS_SYNC_ID:
        return None
    # All known servers put it in result.sync_id; anything else means we cannot tell.
    if not isinstance(result, Mapping):
        return None
    value = result.get("sync_id")
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def parse_message_status(result: Any) -> MessageStatus:
    """The ok result of ``message_status`` in our terms: ids canonical, times ISO 8601 in UTC."""
    if not isinstance(result, Mapping):
        raise UnexpectedResultError("message status: the result is not an object")
    try:
        chat_id = _uuid(result.get("group_chat_id"), "group_chat_id")
        sent_to = _uuid_list(result.get("sent_to", []), "sent_to", allow_empty=True)
        read_by: list[ReadReceipt] = []
        for index, item in enumerate(_list(result.get("read_by", []), "read_by")):
            where = f"read_by[{index}]"
            _require_mapping(item, where)
            read_by.append(
                {
                    "user_huid": _uuid(item.get("user_huid"), f"{where}.user_huid"),
                    "read_at": _timestamp(item.get("read_at"), f"{where}.read_at"),
                }
            )
        received_by: list[ReceiveReceipt] = []
        for index, item in enumerate(_list(result.get("received_by", []), "received_by")):
            where = f"received_by[{index}]"
            _require_mapping(item, where)
            received_by.append(
                {
                    "user_huid": _uuid(item.get("user_huid"), f"{where}.user_huid"),
                    "received_at": _timestamp(item.get("received_at"), f"{where}.received_at"),
                }
            )
    except _Invalid as exc:
        raise UnexpectedResultError(f"message status: {exc.field}: {exc.problem}") from None
    return {"chat_id": chat_id, "sent_to": sent_to, "read_by": read_by, "received_by": received_by}


# --- dispatch ----------------------------------------------------------------------------------------------


_Builder = Callable[[Mapping[str, Any], str | None], BotxRequest]

_CHAT_SCOPED = frozenset(
    {
        Method.NOTIFICATION,
        Method.TYPING,
        Method.STOP_TYPING,
        Method.INTERNAL_NOTIFICATION,
        Method.SMARTAPP_EVENT,
        Method.SMARTAPP_NOTIFICATION,
        Method.SMARTAPP_UNREAD_COUNTER,
        Method.CHAT_ADD_USER,
        Method.CHAT_REMOVE_USER,
        Method.CHAT_ADD_ADMIN,
        Method.CHAT_STEALTH_SET,
        Method.CHAT_STEALTH_DISABLE,
        Method.CHAT_PIN,
        Method.CHAT_UNPIN,
    }
)

# The v4 methods: BotX answers 202 with {"sync_id"} and reports the outcome in a callback later.
_RETURNS_SYNC_ID = frozenset(
    {
        Method.NOTIFICATION,
        Method.INTERNAL_NOTIFICATION,
        Method.SMARTAPP_NOTIFICATION,
        Method.SMARTAPP_UNREAD_COUNTER,
    }
)


def _method(method: str) -> Method:
    try:
        return Method(method)
    except ValueError:
        raise OutgoingPayloadError(str(method), "", f"unknown method; expected one of {', '.join(METHODS)}") from None


def _build(method: Method, payload: Mapping[str, Any], bot_id: str | None) -> BotxRequest:
    try:
        _require_mapping(payload, "")
        request = _BUILDERS[method](payload, bot_id)
        if request.json is not None:
            _check_json_size(request.json)
    except _Invalid as exc:
        raise OutgoingPayloadError(method.value, exc.field, exc.problem) from None
    return request


def _post(method: Method, path: str, body: dict[str, Any]) -> BotxRequest:
    callback = method in _RETURNS_SYNC_ID
    return BotxRequest("POST", path, body, None, expects_callback=callback, returns_sync_id=callback)


# --- per-method builders -------------------------------------------------------------------------------------

_MESSAGE_KEYS = frozenset(_MessageFields.__annotations__)


def _notification(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, _MESSAGE_KEYS | {"chat_id", "recipients"}, "")
    body: dict[str, Any] = {"group_chat_id": _uuid(_required(p, "chat_id"), "chat_id")}
    body["notification"] = _message(p)
    if "file" in p:
        body["file"] = _file(p["file"], "file")
    recipients = p.get("recipients")
    # None and absent both mean "everyone"; pybotx leaves the key out then, and so do we.
    if recipients is not None:
        body["recipients"] = _uuid_list(recipients, "recipients", allow_empty=False)
    opts = _delivery_opts(p)
    if opts:
        body["opts"] = opts
    return _post(Method.NOTIFICATION, "/api/v4/botx/notifications/direct", body)


def _reply(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, _MESSAGE_KEYS | {"source_sync_id"}, "")
    body: dict[str, Any] = {"source_sync_id": _uuid(_required(p, "source_sync_id"), "source_sync_id")}
    body["reply"] = _message(p)
    if "file" in p:
        body["file"] = _file(p["file"], "file")
    # Placeholders in the body are where mentions go; without raw_mentions BotX would also prepend them.
    body["opts"] = {"raw_mentions": True, **_delivery_opts(p)}
    return _post(Method.REPLY, "/api/v3/botx/events/reply_event", body)


_EDIT_KEYS = frozenset(EditPayload.__annotations__)


def _edit(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, _EDIT_KEYS, "")
    body: dict[str, Any] = {"sync_id": _uuid(_required(p, "sync_id"), "sync_id")}
    new: dict[str, Any] = {}
    # Absent means "keep", so only what the caller set is sent. pybotx differs in one case: with a new
    # body it always sends "mentions" ([] when the text has none), which drops the message's mentions;
    # BotX keeps them on a text-only edit, and the caller who wants them gone sends mentions: [].
    mentions = _mentions(p["mentions"], "mentions") if "mentions" in p else None
    if "body" in p:
        new["body"] = _body(p["body"], mentions or [], "body")
    if "metadata" in p:
        new["metadata"] = _json_object(p["metadata"], "metadata")
    opts = _message_opts(p)
    if opts:
        new["opts"] = opts
    if "bubbles" in p:
        new["bubble"] = _markup(p["bubbles"], "bubbles")
    if "keyboard" in p:
        new["keyboard"] = _markup(p["keyboard"], "keyboard")
    if mentions is not None:
        new["mentions"] = mentions
    if new:
        body["payload"] = new
    if "file" in p:
        body["file"] = None if p["file"] is None else _file(p["file"], "file")
    if mentions:
        body["opts"] = {"raw_mentions": True}
    return _post(Method.EDIT, "/api/v3/botx/events/edit_event", body)


def _delete(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, {"sync_id"}, "")
    return _post(
        Method.DELETE, "/api/v3/botx/events/delete_event", {"sync_id": _uuid(_required(p, "sync_id"), "sync_id")}
    )


def _typing(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    return _post(Method.TYPING, "/api/v3/botx/events/typing", {"group_chat_id": _chat_only(p)})


def _stop_typing(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    return _post(Method.STOP_TYPING, "/api/v3/botx/events/stop_typing", {"group_chat_id": _chat_only(p)})


def _message_status(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, {"sync_id"}, "")
    sync_id = _uuid(_required(p, "sync_id"), "sync_id")
    return BotxRequest(
        "GET", f"/api/v3/botx/events/{sync_id}/status", None, None, expects_callback=False, returns_sync_id=False
    )


def _internal_notification(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, InternalNotificationPayload.__annotations__, "")
    body: dict[str, Any] = {
        "group_chat_id": _uuid(_required(p, "chat_id"), "chat_id"),
        "data": _json_object(_required(p, "data"), "data"),
    }
    if "opts" in p:
        body["opts"] = _json_object(p["opts"], "opts")
    # pybotx would send an explicit None as null; both mean "every bot in the chat", so we leave it out.
    if p.get("recipients") is not None:
        body["recipients"] = _uuid_list(p["recipients"], "recipients", allow_empty=False)
    return _post(Method.INTERNAL_NOTIFICATION, "/api/v4/botx/notifications/internal", body)


def _smartapp_event(p: Mapping[str, Any], bot_id: str | None) -> BotxRequest:
    _allow(p, SmartappEventPayload.__annotations__, "")
    ref = p.get("ref")
    body: dict[str, Any] = {
        # Always sent: null marks an event the front end did not ask for.
        "ref": None if ref is None else _uuid(ref, "ref"),
        "smartapp_id": bot_id,
        "group_chat_id": _uuid(_required(p, "chat_id"), "chat_id"),
        "data": _json_object(_required(p, "data"), "data"),
        # pybotx puts {} back in when it is empty: BotX expects the key.
        "opts": _json_object(p["opts"], "opts") if "opts" in p else {},
        "smartapp_api_version": _integer(
            p.get("smartapp_api_version", SMARTAPP_API_VERSION), "smartapp_api_version", minimum=1
        ),
        "encrypted": _flag(p.get("encrypted", True), "encrypted"),
    }
    files = [_smartapp_file(item, f"files[{index}]") for index, item in enumerate(_list(p.get("files", []), "files"))]
    if files:
        body["async_files"] = files
    return _post(Method.SMARTAPP_EVENT, "/api/v3/botx/smartapps/event", body)


def _smartapp_notification(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, SmartappNotificationPayload.__annotations__, "")
    body: dict[str, Any] = {
        "group_chat_id": _uuid(_required(p, "chat_id"), "chat_id"),
        "payload": {"title": _text(_required(p, "title"), "title"), "body": _text(_required(p, "body"), "body")},
    }
    if "meta" in p:
        body["meta"] = _json_object(p["meta"], "meta")
    return _post(Method.SMARTAPP_NOTIFICATION, "/api/v4/botx/smartapps/notification", body)


def _smartapp_unread_counter(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, SmartappUnreadCounterPayload.__annotations__, "")
    body = {
        "group_chat_id": _uuid(_required(p, "chat_id"), "chat_id"),
        "counter": _integer(_required(p, "counter"), "counter", minimum=0),
    }
    return _post(Method.SMARTAPP_UNREAD_COUNTER, "/api/v4/botx/smartapps/unread_counter", body)


# Our chat types are pybotx's domain names; BotX calls a personal chat "chat".
_WIRE_CHAT_TYPES: dict[str, str] = {"personal_chat": "chat", "group_chat": "group_chat", "channel": "channel"}


def _chat_create(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, ChatCreatePayload.__annotations__, "")
    name = _text(_required(p, "name"), "name")
    if not name.strip():
        raise _Invalid("name", "must not be blank")
    chat_type = _choice(_required(p, "chat_type"), "chat_type", tuple(_WIRE_CHAT_TYPES))
    members = _uuid_list(_required(p, "members"), "members", allow_empty=True)
    if chat_type == "personal_chat" and len(members) != 1:
        raise _Invalid("members", "a personal chat has exactly one member besides the bot")
    description = p.get("description")
    avatar = p.get("avatar")
    body: dict[str, Any] = {
        "name": name,
        # pybotx always sends these two, null when unset.
        "description": None if description is None else _text(description, "description"),
        "chat_type": _WIRE_CHAT_TYPES[chat_type],
        "members": members,
        "avatar": None if avatar is None else _data_url(avatar, "avatar"),
    }
    if "shared_history" in p:
        body["shared_history"] = _flag(p["shared_history"], "shared_history")
    return _post(Method.CHAT_CREATE, "/api/v3/botx/chats/create", body)


def _members_builder(method: Method, path: str) -> _Builder:
    def build(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
        _allow(p, ChatMembersPayload.__annotations__, "")
        body = {
            "group_chat_id": _uuid(_required(p, "chat_id"), "chat_id"),
            "user_huids": _uuid_list(_required(p, "user_huids"), "user_huids", allow_empty=False),
        }
        return _post(method, path, body)

    return build


def _chat_stealth_set(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, ChatStealthSetPayload.__annotations__, "")
    body: dict[str, Any] = {"group_chat_id": _uuid(_required(p, "chat_id"), "chat_id")}
    if "disable_web" in p:
        body["disable_web"] = _flag(p["disable_web"], "disable_web")
    # None and absent both mean "off"; pybotx never sends null here, so neither do we.
    for key in ("burn_in", "expire_in"):
        if p.get(key) is not None:
            body[key] = _integer(p[key], key, minimum=1)
    return _post(Method.CHAT_STEALTH_SET, "/api/v3/botx/chats/stealth_set", body)


def _chat_stealth_disable(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    return _post(Method.CHAT_STEALTH_DISABLE, "/api/v3/botx/chats/stealth_disable", {"group_chat_id": _chat_only(p)})


def _chat_pin(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    _allow(p, ChatPinPayload.__annotations__, "")
    # The pin methods are the only ones that call the chat "chat_id" rather than "group_chat_id".
    body = {"chat_id": _uuid(_required(p, "chat_id"), "chat_id"), "sync_id": _uuid(_required(p, "sync_id"), "sync_id")}
    return _post(Method.CHAT_PIN, "/api/v3/botx/chats/pin_message", body)


def _chat_unpin(p: Mapping[str, Any], _bot_id: str | None) -> BotxRequest:
    return _post(Method.CHAT_UNPIN, "/api/v3/botx/chats/unpin_message", {"chat_id": _chat_only(p)})


_BUILDERS: dict[Method, _Builder] = {
    Method.NOTIFICATION: _notification,
    Method.REPLY: _reply,
    Method.EDIT: _edit,
    Method.DELETE: _delete,
    Method.TYPING: _typing,
    Method.STOP_TYPING: _stop_typing,
    Method.INTERNAL_NOTIFICATION: _internal_notification,
    Method.SMARTAPP_EVENT: _smartapp_event,
    Method.SMARTAPP_NOTIFICATION: _smartapp_notification,
    Method.SMARTAPP_UNREAD_COUNTER: _smartapp_unread_counter,
    Method.CHAT_CREATE: _chat_create,
    Method.CHAT_ADD_USER: _members_builder(Method.CHAT_ADD_USER, "/api/v3/botx/chats/add_user"),
    Method.CHAT_REMOVE_USER: _members_builder(Method.CHAT_REMOVE_USER, "/api/v3/botx/chats/remove_user"),
    Method.CHAT_ADD_ADMIN: _members_builder(Method.CHAT_ADD_ADMIN, "/api/v3/botx/chats/add_admin"),
    Method.CHAT_STEALTH_SET: _chat_stealth_set,
    Method.CHAT_STEALTH_DISABLE: _chat_stealth_disable,
    Method.CHAT_PIN: _chat_pin,
    Method.CHAT_UNPIN: _chat_unpin,
    Method.MESSAGE_STATUS: _message_status,
}


# --- message building blocks (§4.1) -------------------------------------------------------------------------


def _message(p: Mapping[str, Any]) -> dict[str, Any]:
    """The message object of a notification or reply."""
    mentions = _mentions(p["mentions"], "mentions") if "mentions" in p else []
    message: dict[str, Any] = {"status": "ok", "body": _body(p.get("body", ""), mentions, "body")}
    if "metadata" in p:
        message["metadata"] = _json_object(p["metadata"], "metadata")
    opts = _message_opts(p)
    if opts:
        message["opts"] = opts
    if "bubbles" in p:
        message["bubble"] = _markup(p["bubbles"], "bubbles")
    if "keyboard" in p:
        message["keyboard"] = _markup(p["keyboard"], "keyboard")
    # A new message has no mentions to clear, so an empty list is left out, as pybotx does.
    if mentions:
        message["mentions"] = mentions
    return message


def _message_opts(p: Mapping[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for key in ("silent_response", "buttons_auto_adjust"):
        if key in p:
            opts[key] = _flag(p[key], key)
    return opts


def _delivery_opts(p: Mapping[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if "stealth_mode" in p:
        opts["stealth_mode"] = _flag(p["stealth_mode"], "stealth_mode")
    push: dict[str, Any] = {}
    if "push" in p:
        push["send"] = _flag(p["push"], "push")
    if "force_dnd" in p:
        push["force_dnd"] = _flag(p["force_dnd"], "force_dnd")
    if push:
        opts["notification_opts"] = push
    return opts


# A marker not preceded by @ or #: those are BotX placeholders already and are left as they are.
_MARKER_RE = re.compile(r"(?<![@#])\{mention:([0-9A-Fa-f-]{32,36})\}")
_PLACEHOLDER_PREFIX: dict[str, str] = {"user": "@", "all": "@", "contact": "@@", "chat": "##", "channel": "##"}


def _body(value: Any, mentions: list[dict[str, Any]], field: str) -> str:
    text = _text(value, field)
    prefixes = {mention["mention_id"]: _PLACEHOLDER_PREFIX[mention["mention_type"]] for mention in mentions}

    def placeholder(match: re.Match[str]) -> str:
        try:
            mention_id = str(uuid.UUID(match.group(1)))
        except ValueError:
            return match.group(0)
        prefix = prefixes.get(mention_id)
        # A marker for an id that is not among the mentions is ordinary text (a user may type one).
        return match.group(0) if prefix is None else f"{prefix}{{mention:{mention_id}}}"

    if prefixes:
        text = _MARKER_RE.sub(placeholder, text)
    # Counted as BotX will receive it.
    if len(text) > MAX_BODY_LENGTH:
        raise _Invalid(field, f"is {len(text)} characters long; the limit is {MAX_BODY_LENGTH}")
    return text


_MENTION_KEYS = frozenset(Mention.__annotations__)
# Who a mention points at: our key and BotX's; @all points at no one in particular.
_MENTION_TARGETS: dict[str, tuple[str, str] | None] = {
    "user": ("user_huid", "user_huid"),
    "contact": ("user_huid", "user_huid"),
    "chat": ("chat_id", "group_chat_id"),
    "channel": ("chat_id", "group_chat_id"),
    "all": None,
}


def _mentions(value: Any, field: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(_list(value, field)):
        where = f"{field}[{index}]"
        _require_mapping(item, where)
        _allow(item, _MENTION_KEYS, where)
        kind = _choice(_required(item, "type", where), f"{where}.type", tuple(_MENTION_TARGETS))
        mention_id = _uuid(_required(item, "id", where), f"{where}.id")
        if mention_id in seen:
            raise _Invalid(f"{where}.id", "is used by another mention")
        seen.add(mention_id)
        target = _MENTION_TARGETS[kind]
        applicable = {"name", target[0]} if target else set()
        for key in ("user_huid", "chat_id", "name"):
            if key in item and key not in applicable:
                raise _Invalid(f"{where}.{key}", f"does not apply to a mention of type {kind!r}")
        data: dict[str, Any] | None = None
        if target:
            ours, theirs = target
            data = {theirs: _uuid(_required(item, ours, where), f"{where}.{ours}")}
            name = item.get("name")
            # An empty name is the same as none: BotX shows the current display name.
            if name is not None and _text(name, f"{where}.name"):
                data["name"] = name
        # pybotx sends "mention_data": null for @all, and so do we.
        result.append({"mention_type": kind, "mention_id": mention_id, "mention_data": data})
    return result


_BUTTON_KEYS = frozenset(Button.__annotations__)
_ALIGNS = ("left", "center", "right")


def _markup(value: Any, field: str) -> list[list[dict[str, Any]]]:
    rows: list[list[dict[str, Any]]] = []
    for row_index, row in enumerate(_list(value, field)):
        where = f"{field}[{row_index}]"
        buttons = _list(row, where)
        if not buttons:
            raise _Invalid(where, "a row needs at least one button")
        rows.append([_button(button, f"{where}[{index}]") for index, button in enumerate(buttons)])
    return rows


def _button(value: Any, where: str) -> dict[str, Any]:
    _require_mapping(value, where)
    _allow(value, _BUTTON_KEYS, where)
    button: dict[str, Any] = {}
    link = value.get("link")
    if "link" in value:
        link = _text(value["link"], f"{where}.link")
        if not link:
            raise _Invalid(f"{where}.link", "must not be empty")
    label = _text(_required(value, "label", where), f"{where}.label")
    if "command" in value:
        button["command"] = _text(value["command"], f"{where}.command")
    elif link is None:
        raise _Invalid(f"{where}.command", "is required unless the button has a link")
    button["label"] = label
    button["data"] = _json_object(value.get("data", {}), f"{where}.data")
    opts: dict[str, Any] = {
        # BotX's default is False; pybotx's is True and it always sends it, and so do we.
        "silent": _flag(value.get("silent", True), f"{where}.silent"),
        "align": _choice(value.get("align", "center"), f"{where}.align", _ALIGNS),
    }
    for key, wire_key in (("font_color", "font_color"), ("background_color", "background_color")):
        if key in value:
            opts[wire_key] = _text(value[key], f"{where}.{key}")
    if "width" in value:
        opts["h_size"] = _integer(value["width"], f"{where}.width", minimum=1)
    if value.get("alert") is not None:
        opts["show_alert"] = True
        opts["alert_text"] = _text(value["alert"], f"{where}.alert")
    process_on_client = _flag(value.get("process_on_client", False), f"{where}.process_on_client")
    if process_on_client or link is not None:
        opts["handler"] = "client"
    if link is not None:
        opts["link"] = link
    button["opts"] = opts
    return button


_FILE_KEYS = frozenset(FileAttachment.__annotations__)
# Standard base64, padded, in one line: what a data URL carries.
_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_MIMETYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


def _file(value: Any, field: str) -> dict[str, Any]:
    _require_mapping(value, field)
    _allow(value, _FILE_KEYS, field)
    file_name = _text(_required(value, "file_name", field), f"{field}.file_name")
    if not file_name:
        raise _Invalid(f"{field}.file_name", "must not be empty")
    data = _text(_required(value, "data_base64", field), f"{field}.data_base64")
    if not _BASE64_RE.fullmatch(data):
        raise _Invalid(f"{field}.data_base64", "is not standard padded base64")
    if "mimetype" in value:
        mimetype = _text(value["mimetype"], f"{field}.mimetype")
        # It goes into the data URL verbatim, where ';' or ',' would change the meaning.
        if not _MIMETYPE_RE.fullmatch(mimetype):
            raise _Invalid(f"{field}.mimetype", "is not a type/subtype media type")
    else:
        mimetype = mimetype_for(file_name)
    return {"file_name": file_name, "data": f"data:{mimetype};base64,{data}"}


_DATA_URL_RE = re.compile(r"data:([^;,]+);base64,(.*)", re.DOTALL)


def _data_url(value: Any, field: str) -> str:
    text = _text(value, field)
    match = _DATA_URL_RE.fullmatch(text)
    if match is None or not _MIMETYPE_RE.fullmatch(match.group(1)) or not _BASE64_RE.fullmatch(match.group(2)):
        raise _Invalid(field, "must be a data URL: data:<type/subtype>;base64,<data>")
    return text


_SMARTAPP_FILE_KEYS = frozenset(SmartappFile.__annotations__)
_TIMED_FILE_TYPES = ("video", "voice")


def _smartapp_file(value: Any, where: str) -> dict[str, Any]:
    _require_mapping(value, where)
    _allow(value, _SMARTAPP_FILE_KEYS, where)
    kind = _choice(_required(value, "type", where), f"{where}.type", ("image", "video", "document", "voice"))
    wire: dict[str, Any] = {
        "type": kind,
        "file": _text(_required(value, "url", where), f"{where}.url"),
        "file_mime_type": _text(_required(value, "mimetype", where), f"{where}.mimetype"),
        "file_id": _uuid(_required(value, "file_id", where), f"{where}.file_id"),
        "file_name": _text(_required(value, "file_name", where), f"{where}.file_name"),
        "file_size": _integer(_required(value, "size", where), f"{where}.size", minimum=0),
        "file_hash": _text(_required(value, "hash", where), f"{where}.hash"),
    }
    # Optional properties are left out when unknown (pybotx does the same with None).
    for key, wire_key in (
        ("preview", "file_preview"),
        ("encryption_algo", "file_encryption_algo"),
        ("caption", "caption"),
    ):
        if value.get(key) is not None:
            wire[wire_key] = _text(value[key], f"{where}.{key}")
    for key, wire_key in (
        ("preview_height", "file_preview_height"),
        ("preview_width", "file_preview_width"),
        ("chunk_size", "chunk_size"),
    ):
        if value.get(key) is not None:
            wire[wire_key] = _integer(value[key], f"{where}.{key}", minimum=0)
    if kind in _TIMED_FILE_TYPES:
        wire["duration"] = _integer(value.get("duration", 0), f"{where}.duration", minimum=0)
    elif "duration" in value:
        raise _Invalid(f"{where}.duration", f"does not apply to a file of type {kind!r}")
    return wire


# --- mime types by extension (§4.0) ----------------------------------------------------------------------------

# As §4.0 lists them: mime type → extensions. Where two types claim an extension (js, xml, 3gp, 3g2)
# the later one wins, which gives the types pybotx and BotX pick.
_EXTENSIONS_BY_MIMETYPE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("application/epub+zip", ("epub",)),
    ("application/gzip", ("gz",)),
    ("application/java-archive", ("jar",)),
    ("application/javascript", ("js",)),
    ("application/json", ("json",)),
    ("application/json-patch+json", ("json-patch",)),
    ("application/ld+json", ("jsonld",)),
    ("application/manifest+json", ("webmanifest",)),
    ("application/msword", ("doc",)),
    ("application/octet-stream", ("bin",)),
    ("application/ogg", ("ogx",)),
    ("application/pdf", ("pdf",)),
    ("application/postscript", ("ps", "eps", "ai")),
    ("application/rtf", ("rtf",)),
    ("application/vnd.amazon.ebook", ("azw",)),
    ("application/vnd.api+json", ("json-api",)),
    ("application/vnd.apple.installer+xml", ("mpkg",)),
    ("application/vnd.mozilla.xul+xml", ("xul",)),
    ("application/vnd.ms-excel", ("xls",)),
    ("application/vnd.ms-fontobject", ("eot",)),
    ("application/vnd.ms-powerpoint", ("ppt",)),
    ("application/vnd.oasis.opendocument.presentation", ("odp",)),
    ("application/vnd.oasis.opendocument.spreadsheet", ("ods",)),
    ("application/vnd.oasis.opendocument.text", ("odt",)),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ("pptx",)),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",)),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",)),
    ("application/vnd.rar", ("rar",)),
    ("application/vnd.visio", ("vsd",)),
    ("application/x-7z-compressed", ("7z",)),
    ("application/x-abiword", ("abw",)),
    ("application/x-bzip", ("bz",)),
    ("application/x-bzip2", ("bz2",)),
    ("application/x-cdf", ("cda",)),
    ("application/x-csh", ("csh",)),
    ("application/x-freearc", ("arc",)),
    ("application/x-httpd-php", ("php",)),
    ("application/x-msaccess", ("mdb",)),
    ("application/x-sh", ("sh",)),
    ("application/x-shockwave-flash", ("swf",)),
    ("application/x-tar", ("tar",)),
    ("application/xhtml+xml", ("xhtml",)),
    ("application/xml", ("xml",)),
    ("application/wasm", ("wasm",)),
    ("application/zip", ("zip",)),
    ("audio/3gpp", ("3gp",)),
    ("audio/3gpp2", ("3g2",)),
    ("audio/aac", ("aac",)),
    ("audio/midi", ("mid", "midi")),
    ("audio/mpeg", ("mp3",)),
    ("audio/ogg", ("oga",)),
    ("audio/opus", ("opus",)),
    ("audio/wav", ("wav",)),
    ("audio/webm", ("weba",)),
    ("font/otf", ("otf",)),
    ("font/ttf", ("ttf",)),
    ("font/woff", ("woff",)),
    ("font/woff2", ("woff2",)),
    ("image/avif", ("avif",)),
    ("image/bmp", ("bmp",)),
    ("image/gif", ("gif",)),
    ("image/jpeg", ("jpg", "jpeg")),
    ("image/png", ("png",)),
    ("image/svg+xml", ("svg", "svgz")),
    ("image/tiff", ("tiff", "tif")),
    ("image/vnd.microsoft.icon", ("ico",)),
    ("image/webp", ("webp",)),
    ("text/calendar", ("ics",)),
    ("text/css", ("css",)),
    ("text/csv", ("csv",)),
    ("text/html", ("html", "htm")),
    ("text/javascript", ("js", "mjs")),
    ("text/plain", ("txt", "text")),
    ("text/xml", ("xml",)),
    ("video/3gpp", ("3gp",)),
    ("video/3gpp2", ("3g2",)),
    ("video/quicktime", ("mov",)),
    ("video/mp2t", ("ts",)),
    ("video/mp4", ("mp4",)),
    ("video/mpeg", ("mpeg", "mpg")),
    ("video/ogg", ("ogv",)),
    ("video/webm", ("webm",)),
    ("video/x-msvideo", ("avi",)),
    ("video/x-ms-wmv", ("wmv",)),
)
MIMETYPES_BY_EXTENSION: dict[str, str] = {
    extension: mimetype for mimetype, extensions in _EXTENSIONS_BY_MIMETYPE for extension in extensions
}
DEFAULT_MIMETYPE = "application/octet-stream"


def mimetype_for(file_name: str) -> str:
    """The media type BotX expects for a file name, by its extension (case-insensitive)."""
    # A name without a dot has no extension. (pybotx looks the whole name up then, so a file called
    # "pdf" would become application/pdf; that is an accident, not a rule worth copying.)
    if "." not in file_name:
        return DEFAULT_MIMETYPE
    return MIMETYPES_BY_EXTENSION.get(file_name.rsplit(".", 1)[1].lower(), DEFAULT_MIMETYPE)


# --- field checks -------------------------------------------------------------------------------------------------


def _require_mapping(value: Any, field: str) -> None:
    if not isinstance(value, Mapping):
        raise _Invalid(field or "payload", f"must be an object, not {_type_name(value)}")


def _allow(value: Mapping[str, Any], allowed: Any, where: str) -> None:
    # A misspelt key would otherwise be dropped without a word, and the message sent without it.
    unknown = sorted(repr(key) if not isinstance(key, str) else key for key in value if key not in allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise _Invalid(f"{prefix}{unknown[0]}", "is not a known field")


def _required(value: Mapping[str, Any], key: str, where: str = "") -> Any:
    if key not in value:
        raise _Invalid(f"{where}.{key}" if where else key, "is required")
    return value[key]


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(field, f"must be a string, not {_type_name(value)}")
    return value


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(field, f"must be true or false, not {_type_name(value)}")
    return value


def _integer(value: Any, field: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(field, f"must be an integer, not {_type_name(value)}")
    if minimum is not None and value < minimum:
        raise _Invalid(field, f"must be at least {minimum}, not {value}")
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _Invalid(field, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _Invalid(field, f"must be a list, not {_type_name(value)}")
    return list(value)


def _uuid(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(field, f"must be a UUID string, not {_type_name(value)}")
    try:
        # Canonical lower-case hyphenated form: what BotX and pybotx write.
        return str(uuid.UUID(value))
    except ValueError:
        raise _Invalid(field, f"is not a valid UUID: {value[:60]!r}") from None


def _uuid_list(value: Any, field: str, *, allow_empty: bool) -> list[str]:
    items = _list(value, field)
    if not items and not allow_empty:
        # An empty recipients list reaches nobody (BotX answers event_recipients_list_is_empty).
        raise _Invalid(field, "must not be empty")
    return [_uuid(item, f"{field}[{index}]") for index, item in enumerate(items)]


def _json_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Invalid(field, f"must be an object, not {_type_name(value)}")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _Invalid(field, f"is not plain JSON: {exc}") from None
    except RecursionError:
        raise _Invalid(field, "is nested too deeply") from None
    # A round trip gives the body exactly what the database will hold (tuples become lists, keys strings).
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def _chat_only(p: Mapping[str, Any]) -> str:
    _allow(p, {"chat_id"}, "")
    return _uuid(_required(p, "chat_id"), "chat_id")


def _check_json_size(body: dict[str, Any]) -> None:
    # The file does not count towards the JSON limit; everything else does.
    without_file = {key: value for key, value in body.items() if key != "file"}
    size = len(json.dumps(without_file, ensure_ascii=False).encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise _Invalid("", f"the request is {size} bytes of JSON; BotX takes at most {MAX_JSON_BYTES}")


def _timestamp(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(field, f"must be a timestamp string, not {_type_name(value)}")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(field, f"is not an ISO 8601 timestamp: {value[:60]!r}") from None
    # BotX writes UTC; a time without an offset is taken as UTC rather than the server's local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()
