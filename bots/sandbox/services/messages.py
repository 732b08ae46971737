"""Bots' messages in the sandbox: direct and internal notifications, edits, replies, deletes, statuses.

Async methods answer a sync_id at once and report the outcome in a callback (§3.7); their failures
are the callback's error, never the HTTP answer's.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from bots.sandbox import bot_api, render
from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxMember, SandboxMessage
from bots.sandbox.protocol import (
    DirectNotification,
    EventEdit,
    EventReply,
    IncomingFile,
    InternalNotification,
    MessageContent,
)
from bots.sandbox.selectors import chat_of_bot, message_of_bot
from bots.sandbox.services.deliveries import callback_schedule
from bots.sandbox.services.events import bot_ids_in, chat_event_broadcast
from bots.sandbox.services.files import file_store

logger = logging.getLogger(__name__)


def _recipients_empty(group_chat_id: uuid.UUID, bot_id: uuid.UUID, given: list[uuid.UUID]) -> SandboxError:
    return SandboxError(
        400,
        "event_recipients_list_is_empty",
        "Event recipients list is empty",
        group_chat_id=str(group_chat_id),
        bot_id=str(bot_id),
        recipients_param=[str(huid) for huid in given],
    )


def _message_post(
    *,
    caller: Caller,
    sync_id: uuid.UUID,
    group_chat_id: uuid.UUID,
    recipients: list[uuid.UUID] | None,
    content: MessageContent | None,
    file: IncomingFile | None,
    stealth_mode: bool,
    source_sync_id: uuid.UUID | None = None,
) -> SandboxMessage:
    chat, _member = chat_of_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    if stealth_mode and not chat.stealth:
        raise SandboxError(
            400,
            "stealth_mode_disabled",
            "Stealth mode disabled in specified chat",
            group_chat_id=str(group_chat_id),
            bot_id=str(caller.bot_id),
        )
    users = list(chat.members.filter(kind=SandboxMember.Kind.USER).values_list("huid", flat=True))
    if recipients is None:
        sent_to = users
    else:
        sent_to = [huid for huid in dict.fromkeys(recipients) if huid in users]
        if not sent_to:
            raise _recipients_empty(group_chat_id, caller.bot_id, recipients)
    content = content or MessageContent()
    # A savepoint: a message that fails half-way leaves no file behind.
    with transaction.atomic():
        return SandboxMessage.objects.create(
            sync_id=sync_id,
            chat=chat,
            sender_huid=caller.bot_id,
            sender_kind=SandboxMessage.SenderKind.BOT,
            body=content.body,
            metadata=content.metadata,
            opts=content.opts,
            bubble=content.bubble,
            keyboard=content.keyboard,
            mentions=content.mentions,
            file=file_store(chat=chat, file=file) if file is not None else None,
            source_sync_id=source_sync_id,
            recipients=None if recipients is None else [str(huid) for huid in recipients],
            sent_to=[str(huid) for huid in sent_to],
        )


def _direct_post(*, caller: Caller, sync_id: uuid.UUID, notice: DirectNotification) -> None:
    _message_post(
        caller=caller,
        sync_id=sync_id,
        group_chat_id=notice.group_chat_id,
        recipients=notice.recipients,
        content=notice.content,
        file=notice.file,
        stealth_mode=notice.stealth_mode,
    )


def notification_direct_send(*, caller: Caller, notice: DirectNotification) -> uuid.UUID:
    """Post the message (or fail) and queue the callback that says which; the new sync_id now."""
    sync_id = uuid.uuid4()
    with transaction.atomic():
        failure: SandboxError | None = None
        try:
            _direct_post(caller=caller, sync_id=sync_id, notice=notice)
        except SandboxError as exc:
            failure = exc
        callback_schedule(bot=caller.bot, faults=caller.faults, origin=caller.origin, sync_id=sync_id, failure=failure)
    return sync_id


def notification_direct_send_sync(*, caller: Caller, notice: DirectNotification) -> uuid.UUID:
    """The sync variant: the outcome is the answer, no callback."""
    sync_id = uuid.uuid4()
    _direct_post(caller=caller, sync_id=sync_id, notice=notice)
    return sync_id


def notification_internal_send(*, caller: Caller, notice: InternalNotification) -> uuid.UUID:
    """Hand ``data`` to the other bots of the chat as ``system:internal_bot_notification``."""
    sync_id = uuid.uuid4()
    with transaction.atomic():
        failure: SandboxError | None = None
        try:
            chat, member = chat_of_bot(bot_id=caller.bot_id, group_chat_id=notice.group_chat_id)
            others = [huid for huid in bot_ids_in(chat) if huid != caller.bot_id]
            targets = others if notice.recipients is None else [h for h in notice.recipients if h in others]
            if notice.recipients is not None and not targets:
                raise _recipients_empty(notice.group_chat_id, caller.bot_id, notice.recipients)
            chat_event_broadcast(
                chat=chat,
                event=bot_api.internal_bot_notification(data=notice.data, opts=notice.opts),
                origin=caller.origin,
                bot_ids=targets,
                prefer_cts=caller.cts,
                sender=bot_api.Sender(
                    user_huid=caller.bot_id, is_admin=member.admin, is_creator=chat.creator_huid == caller.bot_id
                ),
            )
        except SandboxError as exc:
            failure = exc
        callback_schedule(bot=caller.bot, faults=caller.faults, origin=caller.origin, sync_id=sync_id, failure=failure)
    return sync_id


def message_edit(*, caller: Caller, edit: EventEdit) -> None:
    """Change what the edit names. Edits are async without a callback: one of a message that is not
    this bot's, or is gone, is dropped silently, as BotX does."""
    message = message_of_bot(bot_id=caller.bot_id, sync_id=edit.sync_id)
    if message is None or message.is_deleted:
        logger.info("sandbox: bot %s edited unknown message %s; ignored", caller.bot_id, edit.sync_id)
        return
    content = edit.content
    for key in content.present:
        setattr(message, key, getattr(content, key))
    with transaction.atomic():
        if edit.file_present:
            message.file = file_store(chat=message.chat, file=edit.file) if edit.file is not None else None
        message.edited_at = timezone.now()
        message.save()


def message_reply(*, caller: Caller, reply: EventReply) -> None:
    """Post a reply in the chat of the source message. Async without a callback, like edits."""
    source = SandboxMessage.objects.select_related("chat").filter(sync_id=reply.source_sync_id).first()
    if source is None:
        logger.info("sandbox: bot %s replied to unknown message %s; ignored", caller.bot_id, reply.source_sync_id)
        return
    try:
        _message_post(
            caller=caller,
            sync_id=uuid.uuid4(),
            group_chat_id=source.chat.group_chat_id,
            recipients=None,
            content=reply.content,
            file=reply.file,
            stealth_mode=reply.stealth_mode,
            source_sync_id=source.sync_id,
        )
    except SandboxError as exc:
        logger.info("sandbox: reply of bot %s to %s dropped: %s", caller.bot_id, reply.source_sync_id, exc)


def message_delete(*, caller: Caller, sync_id: uuid.UUID) -> None:
    message = message_of_bot(bot_id=caller.bot_id, sync_id=sync_id)
    if message is None or message.is_deleted:
        raise SandboxError(404, "sync_id_not_found", "Sync id not found", sync_id=str(sync_id))
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])


def message_status(*, caller: Caller, sync_id: uuid.UUID) -> SandboxMessage:
    message = message_of_bot(bot_id=caller.bot_id, sync_id=sync_id)
    if message is None:
        raise SandboxError(404, "event_not_found", "Event not found", sync_id=str(sync_id))
    return message


def message_seen(*, sync_id: uuid.UUID, user_huid: uuid.UUID, read: bool = True) -> None:
    """A sandbox user's client received (and, with ``read``, read) a message: what its status reports."""
    with transaction.atomic():
        message = SandboxMessage.objects.select_for_update().get(sync_id=sync_id)
        at = render.timestamp(timezone.now())
        huid = str(user_huid)
        if not any(entry.get("user_huid") == huid for entry in message.received_by):
            message.received_by = [*message.received_by, {"user_huid": huid, "received_at": at}]
        if read and not any(entry.get("user_huid") == huid for entry in message.read_by):
            message.read_by = [*message.read_by, {"user_huid": huid, "read_at": at}]
        message.save(update_fields=["received_by", "read_by"])
