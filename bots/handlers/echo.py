"""Echo and help: the smallest useful bot, and the one the loop is proved with."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo

router = Router()


@router.command("/help", description=gettext_lazy("What this bot can do"))
def help_command(ctx: Context) -> None:
    ctx.reply(_("I repeat what you write. Commands: /help — this list."))


@router.default_message
def echo(ctx: Context) -> None:
    text = ctx.message.body
    if text:
        ctx.reply(text)


HANDLER = HandlerInfo(
    key="echo",
    name=gettext_lazy("Echo and help"),
    description=gettext_lazy("Answers every message with its own text; /help lists the commands."),
    router=router,
)
