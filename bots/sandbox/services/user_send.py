"""Sandbox users talking to bots: ``sandbox_user_send`` builds the Bot API ``/command`` BotX would
post for a user's message, button press or a system event, signs it, posts it to the bot and returns
what the bot answered. A user's message is also recorded in the sandbox chat.

Call it outside a transaction: the message is committed before the bot hears of it, because the bot
may answer at once with a reply or an edit that needs to find it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bots.models import Bot
from bots.sandbox import bot_api, render
from bots.sandbox.models import SandboxChat, SandboxDelivery, SandboxFile, SandboxMessage, SandboxUser
from bots.sandbox.protocol import IncomingFile
from bots.sandbox.selectors import faults_for, membership
from bots.sandbox.services.deliveries import BotAnswer, bot_base_url, delivery_record, post_to_bot
from bots.sandbox.services.events import chat_ref
from bots.sandbox.services.files import file_store, guess_mimetype


@dataclass(frozen=True)
class UserFile:
    """A file the user sends: a base64 attachment by default, or an ``async_files`` entry (a file the
    bot downloads through the Files API), which BotX also does for user files (Appendix B.21)."""

    file_name: str
    content: bytes
    mimetype: str = ""
    duration: int | None = None
    caption: str = ""
    as_async_file: bool = False


@dataclass(frozen=True)
class UserMessage:
    """What a user sends. A button press is a message with the button's ``command`` as ``body``, its
    ``data``, and ``source_sync_id`` = the bot message that carried it (see :func:`button_press`)."""

    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None  # None: the source message's metadata on a button press
    source_sync_id: uuid.UUID | None = None
    silent: bool = False  # a silent button: the bot hears it, the chat does not show it
    files: tuple[UserFile, ...] = ()
    attachments: tuple[bot_api.Attachment, ...] = ()
    mentions: tuple[bot_api.Mention, ...] = ()
    reply_to: uuid.UUID | None = None
    forward_of: uuid.UUID | None = None


def button_press(message: SandboxMessage, *, row: int = 0, column: int = 0, keyboard: bool = False) -> UserMessage:
    """Pressing a button of a bot's message, as the eXpress client reports it."""
    button = (message.keyboard if keyboard else message.bubble)[row][column]
    opts = button.get("opts") or {}
    return UserMessage(
        body=button.get("command") or "",
        data=button.get("data") or {},
        metadata=message.metadata,
        source_sync_id=message.sync_id,
        silent=bool(opts.get("silent", False)),
    )


@dataclass(frozen=True)
class UserSendResult:
    """The bot's answer (``status_code`` None when none came: ``error`` says why) and what was sent."""

    sync_id: uuid.UUID
    status_code: int | None
    body: str
    error: str
    payload: dict[str, Any]
    message: SandboxMessage | None

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def sandbox_user_send(
    *,
    bot: Bot,
    chat: SandboxChat | None,
    user: SandboxUser | None,
    message: UserMessage | bot_api.SystemEvent,
    origin: str = "",
    timeout: float | None = None,
) -> UserSendResult:
    """Post a user's message or a system event to ``bot`` and return its answer.

    ``origin`` is the portal's own address (``http://host:port``), used when the bot's CTS names no
    ``bot_base_url``. A user's message needs ``chat`` and ``user``; a system event takes them when its
    ``from`` carries them.
    """
    faults = faults_for(bot.cts)
    url = bot_base_url(bot=bot, faults=faults, origin=origin) + "/command"
    if isinstance(message, bot_api.SystemEvent):
        payload = _system_payload(bot=bot, chat=chat, user=user, event=message)
        stored = _event_effect(chat=chat, user=user, event=message)
    else:
        if chat is None or user is None:
            raise ValueError("A user's message needs a chat and a user.")
        payload, stored = _user_payload(bot=bot, chat=chat, user=user, message=message)
    answer = post_to_bot(bot=bot, url=url, payload=payload, layout=faults.callback_jwt, timeout=timeout)
    _record(bot=bot, url=url, payload=payload, answer=answer)
    return UserSendResult(
        sync_id=uuid.UUID(payload["sync_id"]),
        status_code=answer.status_code,
        body=answer.text,
        error=answer.error,
        payload=payload,
        message=stored,
    )


def _record(*, bot: Bot, url: str, payload: dict[str, Any], answer: BotAnswer) -> None:
    delivery = SandboxDelivery.objects.create(
        bot=bot,
        kind=SandboxDelivery.Kind.COMMAND,
        sync_id=uuid.UUID(payload["sync_id"]),
        url=url,
        payload=payload,
        status=SandboxDelivery.Status.SENDING,
    )
    delivery_record(delivery=delivery, answer=answer)


def _sender(chat: SandboxChat | None, user: SandboxUser) -> bot_api.Sender:
    member = membership(chat, user.huid) if chat is not None else None
    return bot_api.Sender(
        user_huid=user.huid,
        username=user.name,
        ad_login=user.ad_login or None,
        ad_domain=user.ad_domain or None,
        is_admin=bool(member and member.admin),
        is_creator=chat is not None and chat.creator_huid == user.huid,
        locale=str(settings.LANGUAGE_CODE)[:2],
    )


def _system_payload(
    *, bot: Bot, chat: SandboxChat | None, user: SandboxUser | None, event: bot_api.SystemEvent
) -> dict[str, Any]:
    return bot_api.command(
        bot_id=bot.bot_id,
        host=bot.cts.host,
        sync_id=event.sync_id or uuid.uuid4(),
        body=event.name,
        command_type="system",
        data=event.data,
        metadata=event.metadata,
        chat=chat_ref(chat) if chat is not None else None,
        sender=_sender(chat, user) if user is not None else None,
        context=event.context,
        async_files=event.async_files,
    )


def _event_effect(
    *, chat: SandboxChat | None, user: SandboxUser | None, event: bot_api.SystemEvent
) -> SandboxMessage | None:
    """A user's edit changes the recorded message too; other events leave the chat as it is."""
    if event.name != "system:event_edit" or event.sync_id is None or user is None:
        return None
    message = SandboxMessage.objects.filter(sync_id=event.sync_id, sender_huid=user.huid).first()
    if message is None:
        return None
    body = event.data.get("body")
    if isinstance(body, str):
        message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "edited_at"])
    return message


def _light(attachment: dict[str, Any]) -> dict[str, Any]:
    # The chat keeps the file as a row; the base64 copy is only for the wire.
    return {"type": attachment["type"], "data": {k: v for k, v in attachment["data"].items() if k != "content"}}


def _user_payload(
    *, bot: Bot, chat: SandboxChat, user: SandboxUser, message: UserMessage
) -> tuple[dict[str, Any], SandboxMessage | None]:
    sync_id = uuid.uuid4()
    body = message.body
    metadata = message.metadata
    if metadata is None:
        source = (
            SandboxMessage.objects.filter(sync_id=message.source_sync_id).first() if message.source_sync_id else None
        )
        metadata = source.metadata if source is not None else {}

    entities = [mention.entity() for mention in message.mentions]
    reply_source: SandboxMessage | None = None
    if message.reply_to is not None:
        reply_source = SandboxMessage.objects.select_related("chat").get(sync_id=message.reply_to, chat=chat)
        entities.append(
            bot_api.reply_entity(
                source_sync_id=reply_source.sync_id,
                sender=reply_source.sender_huid,
                body=reply_source.body,
                mentions=[_mention_data(item) for item in reply_source.mentions or _entity_mentions(reply_source)],
                chat=chat_ref(chat),
                chat_name=chat.name,
            )
        )
    if message.forward_of is not None:
        original = SandboxMessage.objects.select_related("chat").get(sync_id=message.forward_of)
        entities.append(
            bot_api.forward_entity(
                chat=chat_ref(original.chat),
                chat_name=original.chat.name,
                sender=original.sender_huid,
                source_sync_id=original.sync_id,
                inserted_at=render.timestamp(original.created_at),
            )
        )
        body = body or original.body

    with transaction.atomic():
        stored_files: list[SandboxFile] = []
        attachments: list[dict[str, Any]] = []
        async_files: list[dict[str, Any]] = []
        for file in message.files:
            mimetype = file.mimetype or guess_mimetype(file.file_name)
            stored = file_store(
                chat=chat,
                file=IncomingFile(file.file_name, mimetype, file.content, file.caption, file.duration),
            )
            stored_files.append(stored)
            if file.as_async_file:
                async_files.append(render.async_file(stored, base_url=bot.cts.base_url))
            else:
                attachments.append(
                    bot_api.file_attachment(
                        attachment_type=render.file_type(mimetype),
                        file_name=file.file_name,
                        mimetype=mimetype,
                        content=file.content,
                        duration=file.duration,
                    )
                )
        attachments += [attachment.wire() for attachment in message.attachments]

        recorded: SandboxMessage | None = None
        if not message.silent:
            recorded = SandboxMessage.objects.create(
                sync_id=sync_id,
                chat=chat,
                sender_huid=user.huid,
                sender_kind=SandboxMessage.SenderKind.USER,
                body=body,
                entities=entities,
                attachments=[_light(item) for item in attachments],
                file=stored_files[0] if stored_files else None,
                source_sync_id=reply_source.sync_id if reply_source is not None else None,
            )

    payload = bot_api.command(
        bot_id=bot.bot_id,
        host=bot.cts.host,
        sync_id=sync_id,
        body=body,
        command_type="user",
        data=message.data,
        metadata=metadata,
        chat=chat_ref(chat),
        sender=_sender(chat, user),
        context="full",
        source_sync_id=message.source_sync_id,
        attachments=attachments,
        async_files=async_files,
        entities=entities,
    )
    return payload, recorded


def _mention_data(mention: dict[str, Any]) -> dict[str, Any]:
    return {key: mention.get(key) for key in ("mention_type", "mention_id", "mention_data")}


def _entity_mentions(message: SandboxMessage) -> list[dict[str, Any]]:
    return [entity["data"] for entity in message.entities if entity.get("type") == "mention"]
