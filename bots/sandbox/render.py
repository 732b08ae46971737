"""The sandbox's answers on the wire: envelopes and the JSON shapes of users, chats, files, statuses.

Shapes follow docs/botx-protocol.md §1.3 and §4; nothing here reads the database beyond the rows
it is given.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable
from typing import Any

from django.http import JsonResponse

from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxChat, SandboxFile, SandboxMember, SandboxMessage, SandboxUser

CSV_COLUMNS = (
    "HUID",
    "AD Login",
    "Domain",
    "AD E-mail",
    "Name",
    "Sync source",
    "Active",
    "Kind",
    "Company",
    "Department",
    "Position",
    "Manager",
    "Manager HUID",
    "Personnel number",
    "Description",
    "IP phone",
    "Other IP phone",
    "Phone",
    "Other phone",
    "Avatar",
    "Office",
    "Avatar preview",
)


def timestamp(value: dt.datetime) -> str:
    """BotX's DateTime: UTC, microseconds, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ok(result: Any, status: int = 200) -> JsonResponse:
    return JsonResponse({"status": "ok", "result": result}, status=status, json_dumps_params={"ensure_ascii": False})


def error_body(error: SandboxError) -> dict[str, Any]:
    return {"status": "error", "reason": error.reason, "errors": error.errors, "error_data": error.error_data}


def error(error: SandboxError, status: int | None = None) -> JsonResponse:
    return JsonResponse(
        error_body(error),
        status=error.status if status is None else status,
        json_dumps_params={"ensure_ascii": False},
    )


def callback_body(sync_id: uuid.UUID, failure: SandboxError | None) -> dict[str, Any]:
    """The body posted to the bot's ``/notification/callback`` (§3.7)."""
    if failure is None:
        return {"sync_id": str(sync_id), "status": "ok", "result": {}}
    return {"sync_id": str(sync_id), **error_body(failure)}


# --- users -------------------------------------------------------------------------------------------


def _or_none(value: str) -> str | None:
    return value or None


def user(person: SandboxUser, *, cts_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "user_huid": str(person.huid),
        "ad_login": _or_none(person.ad_login),
        "ad_domain": _or_none(person.ad_domain),
        "name": person.name,
        "company": _or_none(person.company),
        "company_position": _or_none(person.company_position),
        "department": _or_none(person.department),
        "emails": list(person.emails),
        "other_id": _or_none(person.other_id),
        "user_kind": person.user_kind,
        "active": person.active,
        "created_at": timestamp(person.created_at),
        "updated_at": timestamp(person.updated_at),
        "cts_id": str(cts_id) if cts_id else None,
        "rts_id": None,
        "description": _or_none(person.description),
        "ip_phone": _or_none(person.ip_phone),
        "manager": _or_none(person.manager),
        "office": _or_none(person.office),
        "other_ip_phone": _or_none(person.other_ip_phone),
        "other_phone": _or_none(person.other_phone),
        "public_name": _or_none(person.public_name),
    }


def users_csv(people: Iterable[SandboxUser], bots: Iterable[tuple[uuid.UUID, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    empty = dict.fromkeys(CSV_COLUMNS, "")
    for person in people:
        row = empty | {
            "HUID": str(person.huid),
            "AD Login": person.ad_login,
            "Domain": person.ad_domain,
            "AD E-mail": person.emails[0] if person.emails else "",
            "Name": person.name,
            "Sync source": "ad" if person.ad_login else "admin",
            "Active": "true" if person.active else "false",
            "Kind": person.user_kind,
            "Company": person.company,
            "Department": person.department,
            "Position": person.company_position,
            "Manager": person.manager,
            "Description": person.description,
            "IP phone": person.ip_phone,
            "Other IP phone": person.other_ip_phone,
            "Phone": person.phone,
            "Other phone": person.other_phone,
            "Office": person.office,
        }
        writer.writerow(row.values())
    for bot_id, name in bots:
        bot_row = {"HUID": str(bot_id), "Name": name, "Sync source": "botx", "Active": "true", "Kind": "botx"}
        writer.writerow((empty | bot_row).values())
    return buffer.getvalue()


# --- chats -------------------------------------------------------------------------------------------


def chat_list_item(chat: SandboxChat, members: list[SandboxMember]) -> dict[str, Any]:
    return {
        "group_chat_id": str(chat.group_chat_id),
        "chat_type": chat.chat_type,
        "name": chat.name,
        "description": _or_none(chat.description),
        "members": [str(member.huid) for member in members],
        "inserted_at": timestamp(chat.created_at),
        "updated_at": timestamp(chat.updated_at),
        "shared_history": chat.shared_history,
    }


def chat_info(chat: SandboxChat, members: list[SandboxMember]) -> dict[str, Any]:
    return {
        "chat_type": chat.chat_type,
        "creator": str(chat.creator_huid) if chat.creator_huid else None,
        "description": _or_none(chat.description),
        "group_chat_id": str(chat.group_chat_id),
        "inserted_at": timestamp(chat.created_at),
        "updated_at": timestamp(chat.updated_at),
        "members": [
            {"admin": member.admin, "user_huid": str(member.huid), "user_kind": _member_kind(member)}
            for member in members
        ],
        "name": chat.name,
        "shared_history": chat.shared_history,
    }


def _member_kind(member: SandboxMember) -> str:
    return "botx" if member.kind == SandboxMember.Kind.BOT else "user"


# --- files and messages ------------------------------------------------------------------------------


def file_type(mimetype: str) -> str:
    """The async-file type BotX gives a file of this MIME type."""
    major = mimetype.split("/", 1)[0]
    if major == "image":
        return "image"
    if major == "video":
        return "video"
    if major == "audio":
        return "voice"
    return "document"


def async_file(file: SandboxFile, *, base_url: str) -> dict[str, Any]:
    return {
        "type": file_type(file.mimetype),
        "file": f"{base_url}/uploads/files/{file.chat.group_chat_id}/{file.file_id}",
        "file_mime_type": file.mimetype,
        "file_id": str(file.file_id),
        "file_name": file.file_name,
        "file_size": file.size,
        "file_hash": file.file_hash,
        "file_preview": None,
        "file_preview_height": None,
        "file_preview_width": None,
        "file_encryption_algo": "stream",
        "chunk_size": 2_097_152,
        "caption": file.caption or None,
        "duration": file.duration,
    }


def message_status(message: SandboxMessage) -> dict[str, Any]:
    return {
        "group_chat_id": str(message.chat.group_chat_id),
        "sent_to": list(message.sent_to),
        "read_by": list(message.read_by),
        "received_by": list(message.received_by),
    }


# --- stickers ------------------------------------------------------------------------------------------

# The sandbox keeps no sticker store; one fixed public pack lets clients parse a real-shaped answer.
_DEMO_PACK_ID = "0b7ac4c2-6a26-5e3f-9d8c-2c6e1f7b3a10"


def sticker_packs() -> dict[str, Any]:
    at = "2024-01-01T00:00:00.000000Z"
    return {
        "packs": [
            {
                "id": _DEMO_PACK_ID,
                "name": "Sandbox",
                "preview": None,
                "public": True,
                "stickers_count": 0,
                "stickers_order": [],
                "inserted_at": at,
                "updated_at": at,
                "deleted_at": None,
            }
        ],
        "pagination": {"after": None},
    }
