"""System events the sandbox itself raises towards the bots of a chat (BotX tells bots about chats
they are in being created or changing members)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from bots.models import CtsServer
from bots.sandbox import bot_api
from bots.sandbox.models import SandboxChat, SandboxMember
from bots.sandbox.selectors import sandbox_bot_for
from bots.sandbox.services.deliveries import command_schedule


def chat_ref(chat: SandboxChat) -> bot_api.ChatRef:
    return bot_api.ChatRef(group_chat_id=chat.group_chat_id, chat_type=chat.chat_type)


def bot_ids_in(chat: SandboxChat) -> list[uuid.UUID]:
    return list(chat.members.filter(kind=SandboxMember.Kind.BOT).values_list("huid", flat=True))


def chat_event_broadcast(
    *,
    chat: SandboxChat,
    event: bot_api.SystemEvent,
    origin: str,
    bot_ids: Iterable[uuid.UUID],
    prefer_cts: CtsServer | None = None,
    sender: bot_api.Sender | None = None,
) -> None:
    """Queue ``event`` to each of ``bot_ids`` registered on a sandbox CTS (others cannot be signed for),
    from ``sender`` when the event carries one (an internal notification: the sending bot)."""
    for bot_id in dict.fromkeys(bot_ids):
        bot = sandbox_bot_for(bot_id=bot_id, prefer_cts=prefer_cts)
        if bot is None:
            continue
        payload = bot_api.command(
            bot_id=bot.bot_id,
            host=bot.cts.host,
            sync_id=event.sync_id or uuid.uuid4(),
            body=event.name,
            command_type="system",
            data=event.data,
            metadata=event.metadata,
            chat=chat_ref(chat),
            sender=sender,
            context=event.context if sender is not None else "none",
        )
        command_schedule(bot=bot, origin=origin, payload=payload)
