"""Bot API payloads the sandbox sends to bots (protocol §3.2 to §3.5): the ``/command`` envelope, its
``from`` block, attachments, entities and the system events of §3.3.

Pure builders over plain values: the services decide what to send and read the rows.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

PROTO_VERSION = 4

UserContext = Literal["none", "huid", "full"]


@dataclass(frozen=True)
class Sender:
    """The user (or, for internal notifications, the bot) a command comes from."""

    user_huid: uuid.UUID
    username: str | None = None
    ad_login: str | None = None
    ad_domain: str | None = None
    is_admin: bool = False
    is_creator: bool = False
    locale: str = "ru"
    platform: str = "web"
    device: str | None = "Sandbox"
    timezone: str = "Europe/Moscow"


@dataclass(frozen=True)
class ChatRef:
    group_chat_id: uuid.UUID
    chat_type: str


def from_block(*, host: str, chat: ChatRef | None, sender: Sender | None, context: UserContext) -> dict[str, Any]:
    """``from`` with only the fields this kind of command carries (the rest null, as BotX sends them)."""
    block: dict[str, Any] = {
        "user_huid": None,
        "user_udid": None,
        "group_chat_id": str(chat.group_chat_id) if chat else None,
        "chat_type": chat.chat_type if chat else None,
        "ad_login": None,
        "ad_domain": None,
        "username": None,
        "is_admin": None,
        "is_creator": None,
        "manufacturer": None,
        "device": None,
        "device_software": None,
        "device_meta": None,
        "platform": None,
        "platform_package_id": None,
        "app_version": None,
        "locale": None,
        "host": host,
    }
    if sender is None or context == "none":
        return block
    block["user_huid"] = str(sender.user_huid)
    block["is_admin"] = sender.is_admin
    block["is_creator"] = sender.is_creator
    if context == "full":
        block |= {
            "ad_login": sender.ad_login,
            "ad_domain": sender.ad_domain,
            "username": sender.username,
            "manufacturer": "eXpress Bot Portal",
            "device": sender.device,
            "device_software": "Sandbox",
            "device_meta": {"pushes": False, "timezone": sender.timezone, "permissions": {}},
            "platform": sender.platform,
            "app_version": "sandbox",
            "locale": sender.locale,
        }
    return block


def command(
    *,
    bot_id: uuid.UUID,
    host: str,
    sync_id: uuid.UUID,
    body: str,
    command_type: Literal["user", "system"],
    data: dict[str, Any],
    metadata: dict[str, Any],
    chat: ChatRef | None,
    sender: Sender | None,
    context: UserContext,
    source_sync_id: uuid.UUID | None = None,
    attachments: list[dict[str, Any]] | None = None,
    async_files: list[dict[str, Any]] | None = None,
    entities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``POST /command`` body (§3.2)."""
    return {
        "sync_id": str(sync_id),
        "source_sync_id": str(source_sync_id) if source_sync_id else None,
        "bot_id": str(bot_id),
        "proto_version": PROTO_VERSION,
        "command": {"body": body, "command_type": command_type, "data": data, "metadata": metadata},
        "attachments": attachments or [],
        "async_files": async_files or [],
        "entities": entities or [],
        "from": from_block(host=host, chat=chat, sender=sender, context=context),
    }


# --- attachments (§3.4.1) -----------------------------------------------------------------------------


def data_url(mimetype: str, content: bytes) -> str:
    return f"data:{mimetype};base64,{base64.b64encode(content).decode('ascii')}"


def file_attachment(
    *, attachment_type: str, file_name: str, mimetype: str, content: bytes, duration: int | None
) -> dict[str, Any]:
    data: dict[str, Any] = {"content": data_url(mimetype, content)}
    if attachment_type != "voice":  # a voice message has no file name; its type is in the data URL
        data["file_name"] = file_name
    if attachment_type in {"video", "voice"}:
        data["duration"] = duration or 0
    return {"type": attachment_type, "data": data}


@dataclass(frozen=True)
class Location:
    name: str
    address: str
    lat: float
    lng: float

    def wire(self) -> dict[str, Any]:
        return {
            "type": "location",
            "data": {
                "location_name": self.name,
                "location_address": self.address,
                "location_lat": self.lat,
                "location_lng": self.lng,
            },
        }


@dataclass(frozen=True)
class Link:
    url: str
    title: str = ""
    preview: str = ""
    text: str = ""

    def wire(self) -> dict[str, Any]:
        return {
            "type": "link",
            "data": {"url": self.url, "url_title": self.title, "url_preview": self.preview, "url_text": self.text},
        }


@dataclass(frozen=True)
class Contact:
    name: str
    vcard: str

    def wire(self) -> dict[str, Any]:
        return {
            "type": "contact",
            "data": {
                "contact_name": self.name,
                "file_name": f"{self.name}.vcf",
                "content": data_url("text/vcard", self.vcard.encode("utf-8")),
            },
        }


@dataclass(frozen=True)
class Sticker:
    sticker_id: uuid.UUID
    pack_id: uuid.UUID
    link: str
    version: int = 1

    def wire(self) -> dict[str, Any]:
        return {
            "type": "sticker",
            "data": {"id": str(self.sticker_id), "link": self.link, "pack": str(self.pack_id), "version": self.version},
        }


Attachment = Location | Link | Contact | Sticker


# --- entities (§3.5) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A mention in a user's message; put ``placeholder`` into the text where it belongs."""

    mention_type: Literal["user", "contact", "chat", "channel", "all"] = "user"
    target: uuid.UUID | None = None  # user HUID, or chat id for chat/channel mentions
    name: str | None = None
    mention_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def placeholder(self) -> str:
        prefix = {"contact": "@@", "chat": "##", "channel": "##"}.get(self.mention_type, "@")
        return f"{prefix}{{mention:{self.mention_id}}}"

    def mention_data(self) -> dict[str, Any] | None:
        if self.mention_type == "all":
            return None
        if self.mention_type in {"chat", "channel"}:
            return {"group_chat_id": str(self.target), "name": self.name}
        return {"user_huid": str(self.target), "name": self.name, "conn_type": "cts"}

    def entity(self) -> dict[str, Any]:
        return {
            "type": "mention",
            "data": {
                "mention_type": self.mention_type,
                "mention_id": str(self.mention_id),
                "mention_data": self.mention_data(),
            },
        }


def reply_entity(
    *,
    source_sync_id: uuid.UUID,
    sender: uuid.UUID,
    body: str,
    mentions: list[dict[str, Any]],
    chat: ChatRef,
    chat_name: str,
) -> dict[str, Any]:
    return {
        "type": "reply",
        "data": {
            "source_sync_id": str(source_sync_id),
            "sender": str(sender),
            "body": body,
            "mentions": mentions,
            "attachment": None,
            "reply_type": chat.chat_type,
            "source_group_chat_id": str(chat.group_chat_id),
            "source_chat_name": chat_name,
        },
    }


def forward_entity(
    *, chat: ChatRef, chat_name: str, sender: uuid.UUID, source_sync_id: uuid.UUID, inserted_at: str
) -> dict[str, Any]:
    return {
        "type": "forward",
        "data": {
            "group_chat_id": str(chat.group_chat_id),
            "sender_huid": str(sender),
            "forward_type": chat.chat_type,
            "source_chat_name": chat_name,
            "source_sync_id": str(source_sync_id),
            "source_inserted_at": inserted_at,
        },
    }


# --- system events (§3.3) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemEvent:
    """A ``system:*`` command. ``context`` says which user fields its ``from`` carries; ``sync_id``
    is the envelope's (the edited message for ``system:event_edit``; a new id when None)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    context: UserContext = "none"
    metadata: dict[str, Any] = field(default_factory=dict)
    async_files: list[dict[str, Any]] = field(default_factory=list)
    sync_id: uuid.UUID | None = None


@dataclass(frozen=True)
class MemberInfo:
    huid: uuid.UUID
    name: str | None
    user_kind: str
    admin: bool


def chat_created(*, chat: ChatRef, name: str, creator: uuid.UUID | None, members: list[MemberInfo]) -> SystemEvent:
    return SystemEvent(
        "system:chat_created",
        {
            "group_chat_id": str(chat.group_chat_id),
            "chat_type": chat.chat_type,
            "name": name,
            "creator": str(creator) if creator else None,
            "members": [
                {"huid": str(m.huid), "name": m.name, "user_kind": m.user_kind, "admin": m.admin} for m in members
            ],
        },
    )


def _huids(values: list[uuid.UUID]) -> list[str]:
    return [str(value) for value in values]


def added_to_chat(added: list[uuid.UUID]) -> SystemEvent:
    return SystemEvent("system:added_to_chat", {"added_members": _huids(added)})


def user_joined_to_chat(added: list[uuid.UUID]) -> SystemEvent:
    return SystemEvent("system:user_joined_to_chat", {"added_members": _huids(added)})


def deleted_from_chat(deleted: list[uuid.UUID]) -> SystemEvent:
    return SystemEvent("system:deleted_from_chat", {"deleted_members": _huids(deleted)})


def left_from_chat(left: list[uuid.UUID]) -> SystemEvent:
    return SystemEvent("system:left_from_chat", {"left_members": _huids(left)})


def chat_deleted_by_user(*, group_chat_id: uuid.UUID, user_huid: uuid.UUID) -> SystemEvent:
    return SystemEvent(
        "system:chat_deleted_by_user", {"group_chat_id": str(group_chat_id), "user_huid": str(user_huid)}
    )


def cts_login(*, user_huid: uuid.UUID, cts_id: uuid.UUID) -> SystemEvent:
    return SystemEvent("system:cts_login", {"user_huid": str(user_huid), "cts_id": str(cts_id)})


def cts_logout(*, user_huid: uuid.UUID, cts_id: uuid.UUID) -> SystemEvent:
    return SystemEvent("system:cts_logout", {"user_huid": str(user_huid), "cts_id": str(cts_id)})


def internal_bot_notification(*, data: dict[str, Any], opts: dict[str, Any]) -> SystemEvent:
    return SystemEvent("system:internal_bot_notification", {"data": data, "opts": opts}, context="huid")


def smartapp_event(
    *,
    smartapp_id: uuid.UUID,
    data: dict[str, Any],
    ref: uuid.UUID | None = None,
    opts: dict[str, Any] | None = None,
    async_files: list[dict[str, Any]] | None = None,
) -> SystemEvent:
    return SystemEvent(
        "system:smartapp_event",
        {
            "ref": str(ref or uuid.uuid4()),
            "smartapp_id": str(smartapp_id),
            "data": data,
            "opts": opts or {},
            "smartapp_api_version": 1,
        },
        context="full",
        async_files=async_files or [],
    )


def event_edit(*, sync_id: uuid.UUID, body: str | None) -> SystemEvent:
    return SystemEvent("system:event_edit", {"body": body}, context="huid", sync_id=sync_id)


def event_deleted(
    *, group_chat_id: uuid.UUID, sync_ids: list[uuid.UUID], deleted_at: str, meta: dict[str, Any] | None = None
) -> SystemEvent:
    return SystemEvent(
        "system:event_deleted",
        {"deleted_at": deleted_at, "group_chat_id": str(group_chat_id), "sync_ids": _huids(sync_ids), "meta": meta},
    )


def conference_created(call_id: uuid.UUID) -> SystemEvent:
    return SystemEvent("system:conference_created", {"call_id": str(call_id)})


def conference_deleted(call_id: uuid.UUID) -> SystemEvent:
    return SystemEvent("system:conference_deleted", {"call_id": str(call_id)})


def conference_changed(data: dict[str, Any]) -> SystemEvent:
    return SystemEvent("system:conference_changed", data)


def call_started(*, call_id: uuid.UUID, call_type: str = "voex_call") -> SystemEvent:
    return SystemEvent("system:call_started", {"call_id": str(call_id), "call_type": call_type})


def call_ended(*, call_id: uuid.UUID, call_type: str = "voex_call") -> SystemEvent:
    return SystemEvent("system:call_ended", {"call_id": str(call_id), "call_type": call_type})
