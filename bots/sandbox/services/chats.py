"""The Chats API of the sandbox: creating chats and changing their members, admins, stealth and pins.

Rules follow protocol §4.4: personal chats keep their members; changing members, admins or stealth
takes a chat admin; creating chats takes the CTS's ``allow_chat_creating``.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from bots.sandbox import bot_api
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError, no_permission
from bots.sandbox.models import SandboxChat, SandboxMember, SandboxMessage, SandboxUser
from bots.sandbox.selectors import (
    chat_visible_to_bot,
    membership,
    personal_chat,
    sandbox_bot_list,
)
from bots.sandbox.services.events import bot_ids_in, chat_event_broadcast, chat_ref


def _admin_of(caller: Caller, chat: SandboxChat) -> SandboxMember:
    member = membership(chat, caller.bot_id)
    if member is None or not member.admin:
        raise no_permission(chat.group_chat_id, caller.bot_id)
    return member


def _not_personal(chat: SandboxChat, status: int) -> None:
    if chat.chat_type == SandboxChat.Type.CHAT:
        raise SandboxError(
            status,
            "chat_members_not_modifiable",
            "Personal chat members can't be modified",
            group_chat_id=str(chat.group_chat_id),
        )


def _bot_names(huids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {bot.bot_id: bot.name for bot in sandbox_bot_list().filter(bot_id__in=huids)}


def chat_create(
    *,
    caller: Caller,
    name: str,
    description: str,
    chat_type: str,
    members: list[uuid.UUID],
    shared_history: bool,
) -> SandboxChat:
    if not caller.faults.allow_chat_creating:
        raise SandboxError(
            403, "chat_creation_is_prohibited", "Bot doesn't have permission to create chats", bot_id=str(caller.bot_id)
        )
    others = [huid for huid in dict.fromkeys(members) if huid != caller.bot_id]
    bots = _bot_names(others)
    users = {person.huid: person.name for person in SandboxUser.objects.filter(huid__in=others)}
    unknown = [str(huid) for huid in others if huid not in bots and huid not in users]
    if unknown:
        raise SandboxError(422, "chat_creation_error", "Some members are not known to the CTS", unknown_members=unknown)
    if chat_type == SandboxChat.Type.CHAT:
        if len(others) != 1:
            raise SandboxError(422, "chat_creation_error", "A personal chat has exactly one other member")
        existing = personal_chat(bot_id=caller.bot_id, user_huid=others[0])
        if existing is not None:
            return existing  # as BotX: creating an existing personal chat answers its id
        shared_history = False

    with transaction.atomic():
        chat = SandboxChat.objects.create(
            chat_type=chat_type,
            name=name,
            description=description,
            shared_history=shared_history,
            creator_huid=caller.bot_id,
        )
        SandboxMember.objects.create(chat=chat, huid=caller.bot_id, kind=SandboxMember.Kind.BOT, admin=True)
        SandboxMember.objects.bulk_create(
            SandboxMember(
                chat=chat, huid=huid, kind=SandboxMember.Kind.BOT if huid in bots else SandboxMember.Kind.USER
            )
            for huid in others
        )
        names = {caller.bot_id: caller.bot.name, **bots, **users}
        event = bot_api.chat_created(
            chat=chat_ref(chat),
            name=chat.name,
            creator=caller.bot_id,
            members=[
                bot_api.MemberInfo(
                    huid=member.huid,
                    name=names.get(member.huid),
                    user_kind="botx" if member.kind == SandboxMember.Kind.BOT else "user",
                    admin=member.admin,
                )
                for member in chat.members.all()
            ],
        )
        chat_event_broadcast(
            chat=chat, event=event, origin=caller.origin, bot_ids=bot_ids_in(chat), prefer_cts=caller.cts
        )
    return chat


def chat_users_add(*, caller: Caller, group_chat_id: uuid.UUID, huids: list[uuid.UUID]) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _not_personal(chat, 403)
    _admin_of(caller, chat)
    present = set(chat.members.values_list("huid", flat=True))
    added = [huid for huid in dict.fromkeys(huids) if huid not in present]
    bots = _bot_names(added)
    with transaction.atomic():
        SandboxMember.objects.bulk_create(
            SandboxMember(
                chat=chat, huid=huid, kind=SandboxMember.Kind.BOT if huid in bots else SandboxMember.Kind.USER
            )
            for huid in added
        )
        if added:
            chat.save(update_fields=["updated_at"])
            chat_event_broadcast(
                chat=chat,
                event=bot_api.added_to_chat(added),
                origin=caller.origin,
                bot_ids=bot_ids_in(chat),
                prefer_cts=caller.cts,
            )


def chat_users_remove(*, caller: Caller, group_chat_id: uuid.UUID, huids: list[uuid.UUID]) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _not_personal(chat, 403)
    _admin_of(caller, chat)
    with transaction.atomic():
        removed = list(chat.members.filter(huid__in=huids))
        if not removed:
            return
        # Removed bots hear of it too, before they are gone from the member list.
        told = bot_ids_in(chat)
        chat.members.filter(pk__in=[member.pk for member in removed]).delete()
        chat.save(update_fields=["updated_at"])
        chat_event_broadcast(
            chat=chat,
            event=bot_api.deleted_from_chat([member.huid for member in removed]),
            origin=caller.origin,
            bot_ids=told,
            prefer_cts=caller.cts,
        )


def chat_admins_add(*, caller: Caller, group_chat_id: uuid.UUID, huids: list[uuid.UUID]) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _admin_of(caller, chat)
    _not_personal(chat, 400)
    changed = chat.members.filter(huid__in=huids, admin=False).update(admin=True)
    if not changed:
        raise SandboxError(
            400,
            "admins_not_changed",
            "Admins not changed: the users are already admins or not members",
            group_chat_id=str(chat.group_chat_id),
        )


def chat_stealth_set(
    *,
    caller: Caller,
    group_chat_id: uuid.UUID,
    disable_web: bool,
    burn_in: int | None,
    expire_in: int | None,
) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _admin_of(caller, chat)
    chat.stealth = True
    chat.stealth_disable_web = disable_web
    chat.stealth_burn_in = burn_in
    chat.stealth_expire_in = expire_in
    chat.save()


def chat_stealth_disable(*, caller: Caller, group_chat_id: uuid.UUID) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _admin_of(caller, chat)
    chat.stealth = False
    chat.stealth_disable_web = False
    chat.stealth_burn_in = None
    chat.stealth_expire_in = None
    chat.save()


def chat_message_pin(*, caller: Caller, group_chat_id: uuid.UUID, sync_id: uuid.UUID) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    member = membership(chat, caller.bot_id)
    is_admin = member is not None and member.admin
    pinned_by_other = chat.pinned_sync_id is not None and chat.pinned_by_huid != caller.bot_id
    if not is_admin and (chat.chat_type == SandboxChat.Type.CHANNEL or pinned_by_other):
        raise no_permission(chat.group_chat_id, caller.bot_id)
    if not SandboxMessage.objects.filter(chat=chat, sync_id=sync_id, deleted_at__isnull=True).exists():
        raise SandboxError(404, "event_not_found", "Event not found", sync_id=str(sync_id))
    chat.pinned_sync_id = sync_id
    chat.pinned_by_huid = caller.bot_id
    chat.save(update_fields=["pinned_sync_id", "pinned_by_huid", "updated_at"])


def chat_message_unpin(*, caller: Caller, group_chat_id: uuid.UUID) -> None:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    _admin_of(caller, chat)
    chat.pinned_sync_id = None
    chat.pinned_by_huid = None
    chat.save(update_fields=["pinned_sync_id", "pinned_by_huid", "updated_at"])
