"""The chat simulator's writes: what a person at the simulator page makes a sandbox user do.

Each action becomes what BotX would post to the bot (through ``sandbox_user_send``, so it is signed,
posted over HTTP and recorded as a ``SandboxDelivery``), after the sandbox world is changed the way
the real event would change it. Refusals are ``SimulatorError`` with a message for the page.

Call these outside a transaction, like ``sandbox_user_send``: the bot may answer before they return.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bots.models import Bot
from bots.sandbox import bot_api
from bots.sandbox.models import SandboxChat, SandboxMember, SandboxMessage, SandboxUser
from bots.sandbox.selectors import membership, personal_chat, sandbox_bot_list
from bots.sandbox.services.deliveries import NoBotAddress
from bots.sandbox.services.events import chat_ref
from bots.sandbox.services.user_send import UserFile, UserMessage, UserSendResult, button_press, sandbox_user_send

# A token the page inserts for a mention: ``@{user:<huid>}``, ``@{chat:<id>}``, ``@{all}``.
MENTION_TOKEN = re.compile(
    r"@\{(?P<kind>user|contact|chat|channel|all)(?::(?P<target>[0-9a-fA-F-]{36}))?\}",
)
# A file goes to the bot as base64 inside the JSON body, which the Bot API caps at BOTX_MAX_BODY_MB.
_BODY_MARGIN = 64 * 1024


class SimulatorError(Exception):
    """Something the simulator refuses to do, with the reason to show on the page."""


def file_size_limit() -> int:
    return max(int(settings.BOTX_MAX_BODY_BYTES) * 3 // 4 - _BODY_MARGIN, 0)


@dataclass(frozen=True)
class Upload:
    file_name: str
    content: bytes
    mimetype: str = ""


def _send(
    *,
    bot: Bot,
    chat: SandboxChat | None,
    user: SandboxUser | None,
    message: UserMessage | bot_api.SystemEvent,
    origin: str,
) -> UserSendResult:
    try:
        return sandbox_user_send(bot=bot, chat=chat, user=user, message=message, origin=origin)
    except NoBotAddress as exc:
        raise SimulatorError(_("The sandbox does not know where this bot lives: %(error)s") % {"error": exc}) from None


def _member_of(chat: SandboxChat, huid: uuid.UUID) -> bool:
    return membership(chat, huid) is not None


def scope_check(*, bot: Bot, chat: SandboxChat, user: SandboxUser) -> None:
    """The bot and the user must both be in the chat for the user to talk to the bot there."""
    if not _member_of(chat, bot.bot_id):
        raise SimulatorError(_("The bot is not a member of the chat “%(chat)s”.") % {"chat": chat.name})
    if not _member_of(chat, user.huid):
        raise SimulatorError(
            _("%(user)s is not a member of the chat “%(chat)s”.") % {"user": user.name, "chat": chat.name}
        )


# --- chats -------------------------------------------------------------------------------------------


def _member_infos(chat: SandboxChat) -> list[bot_api.MemberInfo]:
    members = list(chat.members.all())
    huids = [member.huid for member in members]
    names: dict[uuid.UUID, str] = {
        **{person.huid: person.name for person in SandboxUser.objects.filter(huid__in=huids)},
        **{bot.bot_id: bot.name for bot in sandbox_bot_list().filter(bot_id__in=huids)},
    }
    return [
        bot_api.MemberInfo(
            huid=member.huid,
            name=names.get(member.huid),
            user_kind="botx" if member.kind == SandboxMember.Kind.BOT else "user",
            admin=member.admin,
        )
        for member in members
    ]


def chat_created_event(chat: SandboxChat) -> bot_api.SystemEvent:
    return bot_api.chat_created(
        chat=chat_ref(chat), name=chat.name, creator=chat.creator_huid, members=_member_infos(chat)
    )


@dataclass(frozen=True)
class PersonalChatResult:
    chat: SandboxChat
    created: bool
    sent: UserSendResult | None


def personal_chat_open(*, bot: Bot, user: SandboxUser, origin: str) -> PersonalChatResult:
    """The personal chat of ``user`` and ``bot``; made when there is none, and the bot told of it."""
    existing = personal_chat(bot_id=bot.bot_id, user_huid=user.huid)
    if existing is not None:
        return PersonalChatResult(existing, created=False, sent=None)
    with transaction.atomic():
        chat = SandboxChat.objects.create(chat_type=SandboxChat.Type.CHAT, name=user.name, creator_huid=user.huid)
        SandboxMember.objects.create(chat=chat, huid=user.huid, kind=SandboxMember.Kind.USER, admin=True)
        SandboxMember.objects.create(chat=chat, huid=bot.bot_id, kind=SandboxMember.Kind.BOT, admin=True)
    sent = _send(bot=bot, chat=chat, user=user, message=chat_created_event(chat), origin=origin)
    return PersonalChatResult(chat, created=True, sent=sent)


# --- messages ----------------------------------------------------------------------------------------


def _mention_target(kind: str, target: str | None, chat: SandboxChat) -> tuple[uuid.UUID | None, str | None]:
    if kind == "all":
        return None, None
    if target is None:
        raise SimulatorError(_("A mention of a user or a chat needs its ID."))
    huid = uuid.UUID(target)
    if kind in {"chat", "channel"}:
        mentioned = SandboxChat.objects.filter(group_chat_id=huid).first()
        if mentioned is None:
            raise SimulatorError(_("There is no chat with the ID %(id)s to mention.") % {"id": huid})
        return huid, mentioned.name
    person = SandboxUser.objects.filter(huid=huid).first()
    if person is not None:
        return huid, person.name
    bot = sandbox_bot_list(huid).first()
    if bot is not None:
        return huid, bot.name
    raise SimulatorError(_("There is no user with the HUID %(id)s to mention.") % {"id": huid})


def mentions_parse(text: str, chat: SandboxChat) -> tuple[str, tuple[bot_api.Mention, ...]]:
    """Turn the page's mention tokens into BotX placeholders and the mentions that go with them."""
    mentions: list[bot_api.Mention] = []

    def replace(match: re.Match[str]) -> str:
        kind = match.group("kind")
        target, name = _mention_target(kind, match.group("target"), chat)
        mention = bot_api.Mention(mention_type=kind, target=target, name=name)  # type: ignore[arg-type]
        mentions.append(mention)
        return mention.placeholder

    return MENTION_TOKEN.sub(replace, text), tuple(mentions)


def message_send(
    *,
    bot: Bot,
    chat: SandboxChat,
    user: SandboxUser,
    text: str,
    upload: Upload | None = None,
    reply_to: uuid.UUID | None = None,
    origin: str,
) -> UserSendResult:
    """``user`` writes ``text`` (with mention tokens) and maybe a file in ``chat``; the bot hears it."""
    scope_check(bot=bot, chat=chat, user=user)
    text = text.strip()
    if not text and upload is None:
        raise SimulatorError(_("Write a message or choose a file."))
    files: tuple[UserFile, ...] = ()
    if upload is not None:
        if len(upload.content) > file_size_limit():
            raise SimulatorError(
                _("The file is too large: at most %(size)d KB goes through the Bot API.")
                % {"size": file_size_limit() // 1024}
            )
        files = (UserFile(file_name=upload.file_name, content=upload.content, mimetype=upload.mimetype),)
    if reply_to is not None and not SandboxMessage.objects.filter(chat=chat, sync_id=reply_to).exists():
        raise SimulatorError(_("The message to reply to is not in this chat."))
    body, mentions = mentions_parse(text, chat)
    message = UserMessage(body=body, files=files, mentions=mentions, reply_to=reply_to)
    return _send(bot=bot, chat=chat, user=user, message=message, origin=origin)


@dataclass(frozen=True)
class PressResult:
    sent: UserSendResult
    alert: str  # what the client pops up on press (``opts.show_alert``), empty when nothing


def button_press_send(
    *,
    bot: Bot,
    chat: SandboxChat,
    user: SandboxUser,
    sync_id: uuid.UUID,
    row: int,
    column: int,
    keyboard: bool,
    origin: str,
) -> PressResult:
    """``user`` presses a button of the bot's message ``sync_id``, as the eXpress client reports it."""
    scope_check(bot=bot, chat=chat, user=user)
    message = SandboxMessage.objects.filter(
        chat=chat, sync_id=sync_id, sender_huid=bot.bot_id, sender_kind=SandboxMessage.SenderKind.BOT
    ).first()
    if message is None or message.is_deleted:
        raise SimulatorError(_("That message is gone; its buttons can no longer be pressed."))
    rows = message.keyboard if keyboard else message.bubble
    try:
        button = rows[row][column]
    except (IndexError, TypeError, KeyError):
        raise SimulatorError(_("That button is no longer on the message.")) from None
    if not button.get("command"):
        raise SimulatorError(_("That button only opens a link; the bot hears nothing of it."))
    sent = _send(
        bot=bot,
        chat=chat,
        user=user,
        message=button_press(message, row=row, column=column, keyboard=keyboard),
        origin=origin,
    )
    opts = button.get("opts") or {}
    alert = ""
    if opts.get("show_alert"):
        alert = str(opts.get("alert_text") or button.get("command") or "")
    return PressResult(sent=sent, alert=alert)


# --- system events -----------------------------------------------------------------------------------


def _cts_id(bot: Bot) -> uuid.UUID:
    # The sandbox has no CTS ids of its own; a stable one per CTS address is what a bot can compare.
    return uuid.uuid5(uuid.NAMESPACE_URL, bot.cts.base_url)


def _call_id(chat: SandboxChat) -> uuid.UUID:
    # One conference per chat, so that "changed" and "deleted" name the one "created" announced.
    return uuid.uuid5(chat.group_chat_id, "conference")


def _not_personal(chat: SandboxChat) -> None:
    if chat.chat_type == SandboxChat.Type.CHAT:
        raise SimulatorError(_("The members of a personal chat cannot change."))


def _user_added(bot: Bot, chat: SandboxChat, user: SandboxUser) -> bot_api.SystemEvent:
    _not_personal(chat)
    SandboxMember.objects.get_or_create(chat=chat, huid=user.huid, defaults={"kind": SandboxMember.Kind.USER})
    return bot_api.added_to_chat([user.huid])


def _user_left(bot: Bot, chat: SandboxChat, user: SandboxUser) -> bot_api.SystemEvent:
    _not_personal(chat)
    chat.members.filter(huid=user.huid).delete()
    return bot_api.left_from_chat([user.huid])


def _conference_changed(bot: Bot, chat: SandboxChat, user: SandboxUser) -> bot_api.SystemEvent:
    now = timezone.now()
    members = [str(huid) for huid in chat.members.values_list("huid", flat=True)]
    call_id = _call_id(chat)
    return bot_api.conference_changed(
        {
            "access_code": None,
            "actor": str(user.huid),
            "added_users": [],
            "admins": [str(user.huid)],
            "call_id": str(call_id),
            "deleted_users": [],
            "end_at": None,
            "link": f"https://{bot.cts.host}/conference/{call_id}",
            "link_id": str(uuid.uuid5(call_id, "link")),
            "link_type": "corporate",
            "members": members,
            "name": chat.name,
            "operation": "change_conference_info",
            "sip_number": None,
            "start_at": now.isoformat().replace("+00:00", "Z"),
        }
    )


EventBuilder = Callable[[Bot, SandboxChat, SandboxUser], bot_api.SystemEvent]


@dataclass(frozen=True)
class SystemEventKind:
    label: str
    build: EventBuilder
    in_chat: bool  # whether ``from`` names the chat (the conference and CTS events do not)


def _system_events() -> dict[str, SystemEventKind]:
    return {
        "chat_created": SystemEventKind(_("Chat created"), lambda b, c, u: chat_created_event(c), True),
        "added_to_chat": SystemEventKind(_("User added to the chat"), _user_added, True),
        "left_from_chat": SystemEventKind(_("User left the chat"), _user_left, True),
        "conference_created": SystemEventKind(
            _("Conference created"), lambda b, c, u: bot_api.conference_created(_call_id(c)), False
        ),
        "conference_changed": SystemEventKind(_("Conference changed"), _conference_changed, False),
        "conference_deleted": SystemEventKind(
            _("Conference deleted"), lambda b, c, u: bot_api.conference_deleted(_call_id(c)), False
        ),
        "cts_login": SystemEventKind(
            _("User logged in to the CTS"),
            lambda b, c, u: bot_api.cts_login(user_huid=u.huid, cts_id=_cts_id(b)),
            False,
        ),
        "cts_logout": SystemEventKind(
            _("User logged out of the CTS"),
            lambda b, c, u: bot_api.cts_logout(user_huid=u.huid, cts_id=_cts_id(b)),
            False,
        ),
    }


def system_event_choices() -> list[tuple[str, str]]:
    return [(key, kind.label) for key, kind in _system_events().items()]


def system_event_send(*, bot: Bot, chat: SandboxChat, user: SandboxUser, event: str, origin: str) -> UserSendResult:
    """Fire one of the menu's system events about ``user`` in ``chat`` at the bot."""
    kind = _system_events().get(event)
    if kind is None:
        raise SimulatorError(_("Unknown system event: %(event)s.") % {"event": event})
    if not _member_of(chat, bot.bot_id):
        raise SimulatorError(_("The bot is not a member of the chat “%(chat)s”.") % {"chat": chat.name})
    with transaction.atomic():
        built = kind.build(bot, chat, user)
    return _send(bot=bot, chat=chat if kind.in_chat else None, user=None, message=built, origin=origin)
