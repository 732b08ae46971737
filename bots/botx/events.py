"""The data of system events (``command.data`` of ``system:*`` commands) as typed objects.

Lenient like the rest of the parser: a missing or wrong-typed field reads as None (or an empty list),
an unknown key is ignored, and an event we do not model gives None rather than an error, so a newer
BotX never breaks a bot that did not ask for the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from bots.botx.incoming import AsyncFile, IncomingCommand, as_dict, as_list, opt_int, opt_str, opt_time, opt_uuid


@dataclass(frozen=True)
class ChatMember:
    huid: uuid.UUID | None
    name: str | None
    user_kind: str | None  # "user", "cts_user", "botx", ...
    admin: bool


@dataclass(frozen=True)
class ChatCreated:
    chat_id: uuid.UUID | None
    chat_type: str | None
    name: str | None
    creator: uuid.UUID | None
    members: list[ChatMember]


@dataclass(frozen=True)
class MembersChanged:
    """``added_to_chat``, ``user_joined_to_chat``, ``deleted_from_chat`` and ``left_from_chat``."""

    huids: list[uuid.UUID]


@dataclass(frozen=True)
class ChatDeletedByUser:
    chat_id: uuid.UUID | None
    user_huid: uuid.UUID | None


@dataclass(frozen=True)
class CtsSession:
    """``cts_login`` and ``cts_logout``."""

    user_huid: uuid.UUID | None
    cts_id: uuid.UUID | None


@dataclass(frozen=True)
class InternalBotNotification:
    data: dict[str, Any]
    opts: dict[str, Any]
    sender_bot_huid: uuid.UUID | None


@dataclass(frozen=True)
class EventEdit:
    """A user edited a message: ``sync_id`` is the edited message; ``body`` its new text, if sent."""

    sync_id: uuid.UUID
    body: str | None


@dataclass(frozen=True)
class EventDeleted:
    chat_id: uuid.UUID | None
    sync_ids: list[uuid.UUID]
    deleted_at: dt.datetime | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Conference:
    """``conference_created`` and ``conference_deleted``."""

    call_id: uuid.UUID | None


@dataclass(frozen=True)
class ConferenceChanged:
    call_id: uuid.UUID | None
    name: str | None
    operation: str | None
    actor: uuid.UUID | None
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    link: str | None
    link_id: uuid.UUID | None
    link_type: str | None
    access_code: str | None
    sip_number: int | None
    members: list[uuid.UUID]
    admins: list[uuid.UUID]
    added_users: list[uuid.UUID]
    deleted_users: list[uuid.UUID]


@dataclass(frozen=True)
class SmartappEvent:
    ref: uuid.UUID | None
    smartapp_id: uuid.UUID | None
    data: dict[str, Any]
    opts: dict[str, Any]
    smartapp_api_version: int | None
    files: list[AsyncFile] = field(default_factory=list)


EventData = (
    ChatCreated
    | MembersChanged
    | ChatDeletedByUser
    | CtsSession
    | InternalBotNotification
    | EventEdit
    | EventDeleted
    | Conference
    | ConferenceChanged
    | SmartappEvent
)


def event_data(command: IncomingCommand) -> EventData | None:
    """The typed data of a system event; None for a user's message or an event not modelled here."""
    if not command.is_system:
        return None
    data = command.data
    name = command.event
    if name == "chat_created":
        return ChatCreated(
            chat_id=opt_uuid(data.get("group_chat_id")) or command.chat_id,
            chat_type=opt_str(data.get("chat_type")) or command.chat_type,
            name=opt_str(data.get("name")),
            creator=opt_uuid(data.get("creator")),
            members=[_member(item) for item in as_list(data.get("members")) if isinstance(item, dict)],
        )
    if name in _MEMBER_KEYS:
        return MembersChanged(huids=_uuids(data.get(_MEMBER_KEYS[name])))
    if name == "chat_deleted_by_user":
        return ChatDeletedByUser(
            chat_id=opt_uuid(data.get("group_chat_id")) or command.chat_id, user_huid=opt_uuid(data.get("user_huid"))
        )
    if name in ("cts_login", "cts_logout"):
        return CtsSession(user_huid=opt_uuid(data.get("user_huid")), cts_id=opt_uuid(data.get("cts_id")))
    if name == "internal_bot_notification":
        return InternalBotNotification(
            data=as_dict(data.get("data")), opts=as_dict(data.get("opts")), sender_bot_huid=command.sender.user_huid
        )
    if name == "event_edit":
        return EventEdit(sync_id=command.sync_id, body=data.get("body") if isinstance(data.get("body"), str) else None)
    if name == "event_deleted":
        return EventDeleted(
            chat_id=opt_uuid(data.get("group_chat_id")) or command.chat_id,
            sync_ids=_uuids(data.get("sync_ids")),
            deleted_at=opt_time(data.get("deleted_at")),
            meta=as_dict(data.get("meta")),
        )
    if name in ("conference_created", "conference_deleted"):
        return Conference(call_id=opt_uuid(data.get("call_id")))
    if name == "conference_changed":
        return ConferenceChanged(
            call_id=opt_uuid(data.get("call_id")),
            name=opt_str(data.get("name")),
            operation=opt_str(data.get("operation")),
            actor=opt_uuid(data.get("actor")),
            start_at=opt_time(data.get("start_at")),
            end_at=opt_time(data.get("end_at")),
            link=opt_str(data.get("link")),
            link_id=opt_uuid(data.get("link_id")),
            link_type=opt_str(data.get("link_type")),
            access_code=opt_str(data.get("access_code")),
            sip_number=opt_int(data.get("sip_number")),
            members=_uuids(data.get("members")),
            admins=_uuids(data.get("admins")),
            added_users=_uuids(data.get("added_users")),
            deleted_users=_uuids(data.get("deleted_users")),
        )
    if name == "smartapp_event":
        return SmartappEvent(
            ref=opt_uuid(data.get("ref")),
            smartapp_id=opt_uuid(data.get("smartapp_id")),
            data=as_dict(data.get("data")),
            opts=as_dict(data.get("opts")),
            smartapp_api_version=opt_int(data.get("smartapp_api_version")),
            files=list(command.async_files),
        )
    return None


_MEMBER_KEYS = {
    "added_to_chat": "added_members",
    "user_joined_to_chat": "added_members",
    "deleted_from_chat": "deleted_members",
    "left_from_chat": "left_members",
}


def _member(item: dict[str, Any]) -> ChatMember:
    return ChatMember(
        huid=opt_uuid(item.get("huid")),
        name=opt_str(item.get("name")),
        user_kind=opt_str(item.get("user_kind")),
        admin=item.get("admin") is True,
    )


def _uuids(value: Any) -> list[uuid.UUID]:
    return [found for item in as_list(value) if (found := opt_uuid(item)) is not None]
