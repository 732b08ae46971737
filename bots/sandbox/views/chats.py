"""Chats API (§4.4)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse

from bots.sandbox import protocol, render
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxChat
from bots.sandbox.selectors import chat_list_for_bot, chat_visible_to_bot, members_of, personal_chat
from bots.sandbox.services import chats
from bots.sandbox.views.base import botx_endpoint

CREATABLE_TYPES = frozenset({SandboxChat.Type.CHAT, SandboxChat.Type.GROUP_CHAT, SandboxChat.Type.CHANNEL})


@botx_endpoint("GET")
def chat_list(request: HttpRequest, caller: Caller) -> HttpResponse:
    return render.ok(
        [render.chat_list_item(chat, list(chat.members.all())) for chat in chat_list_for_bot(caller.bot_id)]
    )


@botx_endpoint("GET")
def info(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    group_chat_id = query.uuid("group_chat_id")
    query.check()
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    return render.ok(render.chat_info(chat, members_of(chat)))


@botx_endpoint("GET")
def personal(request: HttpRequest, caller: Caller) -> HttpResponse:
    query = protocol.Body(request.GET)
    user_huid = query.uuid("user_huid")
    query.check()
    chat = personal_chat(bot_id=caller.bot_id, user_huid=user_huid)
    if chat is None:
        raise SandboxError(404, "chat_not_found", "Chat not found", user_huid=str(user_huid))
    return render.ok(render.chat_info(chat, members_of(chat)))


@botx_endpoint("POST")
def create(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    name = body.string("name")
    description = body.optional_string("description") or ""
    chat_type = body.choice("chat_type", CREATABLE_TYPES)
    members = body.uuids("members") or []
    body.optional_string("avatar")  # checked, not kept: the sandbox shows no avatars
    shared_history = body.boolean("shared_history", False)
    body.check()
    chat = chats.chat_create(
        caller=caller,
        name=name,
        description=description,
        chat_type=chat_type,
        members=members,
        shared_history=shared_history,
    )
    return render.ok({"chat_id": str(chat.group_chat_id)})


def _members_body(request: HttpRequest) -> tuple[uuid.UUID, list[uuid.UUID]]:
    body = protocol.Body(protocol.json_body(request))
    group_chat_id = body.uuid("group_chat_id")
    huids = body.uuids("user_huids") or []
    body.check()
    return group_chat_id, huids


@botx_endpoint("POST")
def add_user(request: HttpRequest, caller: Caller) -> HttpResponse:
    group_chat_id, huids = _members_body(request)
    chats.chat_users_add(caller=caller, group_chat_id=group_chat_id, huids=huids)
    return render.ok(True)


@botx_endpoint("POST")
def remove_user(request: HttpRequest, caller: Caller) -> HttpResponse:
    group_chat_id, huids = _members_body(request)
    chats.chat_users_remove(caller=caller, group_chat_id=group_chat_id, huids=huids)
    return render.ok(True)


@botx_endpoint("POST")
def add_admin(request: HttpRequest, caller: Caller) -> HttpResponse:
    group_chat_id, huids = _members_body(request)
    chats.chat_admins_add(caller=caller, group_chat_id=group_chat_id, huids=huids)
    return render.ok(True)


@botx_endpoint("POST")
def stealth_set(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    group_chat_id = body.uuid("group_chat_id")
    disable_web = body.boolean("disable_web", False)
    burn_in = body.optional_integer("burn_in", minimum=1)
    expire_in = body.optional_integer("expire_in", minimum=1)
    body.check()
    chats.chat_stealth_set(
        caller=caller, group_chat_id=group_chat_id, disable_web=disable_web, burn_in=burn_in, expire_in=expire_in
    )
    return render.ok(True)


@botx_endpoint("POST")
def stealth_disable(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    group_chat_id = body.uuid("group_chat_id")
    body.check()
    chats.chat_stealth_disable(caller=caller, group_chat_id=group_chat_id)
    return render.ok(True)


@botx_endpoint("POST")
def pin_message(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    chat_id = body.uuid("chat_id")
    sync_id = body.uuid("sync_id")
    body.check()
    chats.chat_message_pin(caller=caller, group_chat_id=chat_id, sync_id=sync_id)
    return render.ok("message_pinned")


@botx_endpoint("POST")
def unpin_message(request: HttpRequest, caller: Caller) -> HttpResponse:
    body = protocol.Body(protocol.json_body(request))
    chat_id = body.uuid("chat_id")
    body.check()
    chats.chat_message_unpin(caller=caller, group_chat_id=chat_id)
    return render.ok("message_unpinned")
