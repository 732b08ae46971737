"""Synchronous BotX reads a bot makes while it runs: chat info, users, and file downloads.

These are reads, not messages, so they do not go through the outbox: the caller sends the request
this module describes through the one client (``BotxClient.request``, or ``download`` for bytes) and
reads the result with the parser here. Results are lenient: unknown keys are ignored, missing optional
fields read as None.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from bots.botx.incoming import opt_str, opt_time, opt_uuid

NOT_FOUND_REASONS = frozenset({"chat_not_found", "user_not_found", "file_metadata_not_found"})


@dataclass(frozen=True)
class LookupRequest:
    http_method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatInfoMember:
    user_huid: uuid.UUID | None
    user_kind: str | None
    admin: bool


@dataclass(frozen=True)
class ChatInfo:
    chat_id: uuid.UUID
    chat_type: str | None
    name: str | None
    description: str | None
    creator: uuid.UUID | None
    shared_history: bool
    inserted_at: dt.datetime | None
    members: list[ChatInfoMember]

    @property
    def admins(self) -> list[uuid.UUID]:
        return [member.user_huid for member in self.members if member.admin and member.user_huid]


@dataclass(frozen=True)
class UserInfo:
    huid: uuid.UUID
    name: str | None
    ad_login: str | None
    ad_domain: str | None
    emails: list[str]
    company: str | None
    department: str | None
    position: str | None
    user_kind: str | None
    active: bool | None
    other_id: str | None
    raw: dict[str, Any]

    @property
    def upn(self) -> str | None:
        if self.ad_login and self.ad_domain:
            return f"{self.ad_login}@{self.ad_domain}"
        return None


class UnexpectedLookupResult(ValueError):
    """BotX answered ok, but not with the shape this read returns."""


# --- requests --------------------------------------------------------------------------------------


def chat_info_request(chat_id: uuid.UUID) -> LookupRequest:
    return LookupRequest("GET", "/api/v3/botx/chats/info", params={"group_chat_id": str(chat_id)})


def personal_chat_request(user_huid: uuid.UUID) -> LookupRequest:
    return LookupRequest("GET", "/api/v1/botx/chats/personal", params={"user_huid": str(user_huid)})


def user_by_huid_request(huid: uuid.UUID) -> LookupRequest:
    return LookupRequest("GET", "/api/v3/botx/users/by_huid", params={"user_huid": str(huid)})


def users_by_email_request(emails: list[str]) -> LookupRequest:
    return LookupRequest("POST", "/api/v3/botx/users/by_email", json={"emails": list(emails)})


def user_by_login_request(ad_login: str, ad_domain: str) -> LookupRequest:
    return LookupRequest("GET", "/api/v3/botx/users/by_login", params={"ad_login": ad_login, "ad_domain": ad_domain})


def file_download_request(chat_id: uuid.UUID, file_id: uuid.UUID) -> LookupRequest:
    params = {"group_chat_id": str(chat_id), "file_id": str(file_id), "is_preview": "false"}
    return LookupRequest("GET", "/api/v3/botx/files/download", params=params)


# --- results ---------------------------------------------------------------------------------------


def parse_chat_info(result: Any) -> ChatInfo:
    if not isinstance(result, dict):
        raise UnexpectedLookupResult("chat info: the result is not an object")
    chat_id = opt_uuid(result.get("group_chat_id"))
    if chat_id is None:
        raise UnexpectedLookupResult("chat info: group_chat_id is missing")
    members: list[ChatInfoMember] = []
    for item in result.get("members") or []:
        if isinstance(item, dict):
            members.append(
                ChatInfoMember(
                    user_huid=opt_uuid(item.get("user_huid")),
                    user_kind=opt_str(item.get("user_kind")),
                    admin=item.get("admin") is True,
                )
            )
        elif (huid := opt_uuid(item)) is not None:  # some servers list members as bare HUIDs
            members.append(ChatInfoMember(user_huid=huid, user_kind=None, admin=False))
    return ChatInfo(
        chat_id=chat_id,
        chat_type=opt_str(result.get("chat_type")),
        name=opt_str(result.get("name")),
        description=opt_str(result.get("description")),
        creator=opt_uuid(result.get("creator")),
        shared_history=result.get("shared_history") is True,
        inserted_at=opt_time(result.get("inserted_at")),
        members=members,
    )


def parse_user(result: Any) -> UserInfo:
    if not isinstance(result, dict):
        raise UnexpectedLookupResult("user: the result is not an object")
    huid = opt_uuid(result.get("user_huid"))
    if huid is None:
        raise UnexpectedLookupResult("user: user_huid is missing")
    emails = result.get("emails")
    active = result.get("active")
    return UserInfo(
        huid=huid,
        name=opt_str(result.get("name")),
        ad_login=opt_str(result.get("ad_login")),
        ad_domain=opt_str(result.get("ad_domain")),
        emails=[item for item in emails if isinstance(item, str)] if isinstance(emails, list) else [],
        company=opt_str(result.get("company")),
        department=opt_str(result.get("department")),
        position=opt_str(result.get("company_position")),
        user_kind=opt_str(result.get("user_kind")),
        active=active if isinstance(active, bool) else None,
        other_id=opt_str(result.get("other_id")),
        raw=dict(result),
    )


def parse_users(result: Any) -> list[UserInfo]:
    if not isinstance(result, list):
        raise UnexpectedLookupResult("users: the result is not a list")
    return [parse_user(item) for item in result]
