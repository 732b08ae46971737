"""Notifications: a channel through which the company's systems post to chats (via the REST API).

The messages themselves come from outside (``POST /api/v1/messages/``, broadcasts); in the chat the bot
only explains itself, and tells a chat admin the chat's ID, which the sending system needs.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.handlers.framework import Context, MenuRecipient, Router
from bots.handlers.registry import HandlerInfo

router = Router()


def _admins_only(recipient: MenuRecipient) -> bool:
    return bool(recipient.is_admin)


@router.command("/help", description=gettext_lazy("What this bot does"), aliases=("/start",))
def help_command(ctx: Context) -> None:
    ctx.reply(
        _(
            "I am a notification channel: the company's systems post their messages to this chat through me. "
            "I do not read what is written here.\n\n"
            "Commands:\n/help — this text\n/chatid — this chat's ID, for the system that sends here (chat admins)"
        )
    )


@router.command("/chatid", description=gettext_lazy("This chat's ID, to send notifications here"), visible=_admins_only)
def chat_id_command(ctx: Context) -> None:
    if not ctx.sender.is_admin:
        ctx.reply(_("Only an admin of this chat may ask for its ID."))
        return
    ctx.reply(
        _("This chat's ID is `%(chat_id)s`. Give it to the system that should post notifications here.")
        % {"chat_id": ctx.chat_id}
    )


@router.default_message
def anything_else(ctx: Context) -> None:
    ctx.reply(_("I only deliver notifications and do not read messages. Send /help to learn more."))


@router.event("added_to_chat")
def added(ctx: Context) -> None:
    if ctx.chat_id is not None:
        ctx.reply(
            _("Hello! I will post the company's notifications here. A chat admin can get this chat's ID with /chatid.")
        )


HANDLER = HandlerInfo(
    key="notifications",
    name=gettext_lazy("Notifications"),
    description=gettext_lazy(
        "Posts the messages of corporate systems (sent through the REST API) to chats; explains itself in chat."
    ),
    router=router,
)
