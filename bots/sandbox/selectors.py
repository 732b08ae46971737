"""Reads of the sandbox: its CTS servers and bots, chats as a bot sees them, users."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from bots.models import Bot, CtsServer
from bots.sandbox.errors import SandboxError, bot_not_member, chat_not_found
from bots.sandbox.models import SandboxChat, SandboxFaults, SandboxMember, SandboxMessage, SandboxUser

SANDBOX_PATH = "/sandbox"


def sandbox_cts_list() -> QuerySet[CtsServer]:
    """CTS servers served by this portal's sandbox: their base URL ends with ``/sandbox``."""
    return CtsServer.objects.filter(base_url__endswith=SANDBOX_PATH)


def sandbox_bot_list(bot_id: uuid.UUID | None = None) -> QuerySet[Bot]:
    bots = Bot.objects.select_related("cts").filter(cts__base_url__endswith=SANDBOX_PATH)
    return bots if bot_id is None else bots.filter(bot_id=bot_id)


def sandbox_bot_for(*, bot_id: uuid.UUID, prefer_cts: CtsServer | None = None) -> Bot | None:
    """The registered sandbox bot with this id, on ``prefer_cts`` when it is there."""
    bots = list(sandbox_bot_list(bot_id))
    for bot in bots:
        if prefer_cts is not None and bot.cts_id == prefer_cts.pk:
            return bot
    return bots[0] if bots else None


def faults_for(cts: CtsServer) -> SandboxFaults:
    """The CTS's settings; an unsaved default row (no faults) when it has none."""
    return SandboxFaults.objects.filter(cts=cts).first() or SandboxFaults(cts=cts)


def chat_get(group_chat_id: uuid.UUID) -> SandboxChat:
    chat = SandboxChat.objects.filter(group_chat_id=group_chat_id).first()
    if chat is None:
        raise chat_not_found(group_chat_id)
    return chat


def membership(chat: SandboxChat, huid: uuid.UUID) -> SandboxMember | None:
    return chat.members.filter(huid=huid).first()


def chat_of_bot(*, bot_id: uuid.UUID, group_chat_id: uuid.UUID) -> tuple[SandboxChat, SandboxMember]:
    """A chat the bot is in, and the bot's place in it; ``chat_not_found`` / ``bot_is_not_a_chat_member``."""
    chat = chat_get(group_chat_id)
    member = membership(chat, bot_id)
    if member is None:
        raise bot_not_member(group_chat_id, bot_id)
    return chat, member


def chat_visible_to_bot(*, bot_id: uuid.UUID, group_chat_id: uuid.UUID) -> SandboxChat:
    """A chat for the read and admin methods: one the bot is not in is as unknown to it as a missing one."""
    chat = SandboxChat.objects.filter(group_chat_id=group_chat_id, members__huid=bot_id).first()
    if chat is None:
        raise chat_not_found(group_chat_id)
    return chat


def chat_list_for_bot(bot_id: uuid.UUID) -> QuerySet[SandboxChat]:
    return SandboxChat.objects.filter(members__huid=bot_id).prefetch_related("members").order_by("created_at", "pk")


def personal_chat(*, bot_id: uuid.UUID, user_huid: uuid.UUID) -> SandboxChat | None:
    candidates = SandboxChat.objects.filter(chat_type=SandboxChat.Type.CHAT, members__huid=bot_id).filter(
        members__huid=user_huid
    )
    return candidates.order_by("created_at", "pk").first()


def members_of(chat: SandboxChat) -> list[SandboxMember]:
    return list(chat.members.all())


def message_of_bot(*, bot_id: uuid.UUID, sync_id: uuid.UUID) -> SandboxMessage | None:
    """A message this bot sent (only those may be edited, deleted or asked about)."""
    return (
        SandboxMessage.objects.select_related("chat")
        .filter(sync_id=sync_id, sender_huid=bot_id, sender_kind=SandboxMessage.SenderKind.BOT)
        .first()
    )


def user_not_found(**query: object) -> SandboxError:
    error = SandboxError(404, "user_not_found", "User not found")
    error.error_data.update({key: str(value) for key, value in query.items()})
    return error


def user_by_huid(huid: uuid.UUID) -> SandboxUser:
    person = SandboxUser.objects.filter(huid=huid).first()
    if person is None:
        raise user_not_found(user_huid=huid)
    return person


def user_by_login(*, ad_login: str, ad_domain: str) -> SandboxUser:
    person = SandboxUser.objects.filter(ad_login__iexact=ad_login, ad_domain__iexact=ad_domain).first()
    if person is None:
        raise user_not_found(ad_login=ad_login, ad_domain=ad_domain)
    return person


def user_by_other_id(other_id: str) -> SandboxUser:
    person = SandboxUser.objects.filter(other_id=other_id).exclude(other_id="").first()
    if person is None:
        raise user_not_found(other_id=other_id)
    return person


def user_list_by_emails(emails: list[str]) -> list[SandboxUser]:
    # JSON containment is not portable to SQLite, and the sandbox holds demo-sized user lists.
    wanted = {email.strip().lower() for email in emails}
    return [
        person
        for person in SandboxUser.objects.order_by("name", "pk")
        if wanted & {str(email).lower() for email in person.emails}
    ]


def user_list_by_kinds(kinds: set[str]) -> QuerySet[SandboxUser]:
    return SandboxUser.objects.filter(user_kind__in=kinds).order_by("name", "pk")
