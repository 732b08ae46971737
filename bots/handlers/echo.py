"""Echo and help: the smallest useful bot, and the one the loop is proved with."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import ngettext

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo

router = Router()

PRESS_COMMAND = "/pressed"


@router.command("/help", description=gettext_lazy("What this bot can do"))
def help_command(ctx: Context) -> None:
    ctx.reply(_("I repeat what you write. Commands: /help — this list."))


def _counter_bubbles(count: int) -> list[list[dict[str, Any]]]:
    return [[{"command": PRESS_COMMAND, "label": _("Press me"), "data": {"count": count}}]]


@router.command("/buttons", description=gettext_lazy("Buttons that edit their own message"))
def buttons(ctx: Context) -> None:
    ctx.reply(
        _("Press the button below."),
        bubbles=_counter_bubbles(0),
        keyboard=[[{"command": "/help", "label": "/help"}]],
    )


@router.command(PRESS_COMMAND, visible=False)
def pressed(ctx: Context) -> None:
    """A bubble press: the message the button belongs to is edited in place, with the count raised."""
    raw = ctx.message.data.get("count", 0)
    count = (raw if isinstance(raw, int) and raw >= 0 else 0) + 1
    source = ctx.message.source_sync_id
    body = ngettext("Pressed %(count)d time.", "Pressed %(count)d times.", count) % {"count": count}
    if source is None:  # typed by hand rather than pressed: there is no message to edit
        ctx.reply(body)
        return
    ctx.edit(source, body=body, bubbles=_counter_bubbles(count))


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
