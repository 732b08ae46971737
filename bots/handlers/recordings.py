"""Recordings notifier: tells a call's chat or its participants that the call's recording is ready.

The call-recording system posts to the bot's webhook (``/integrations/recordings/<id>/``, see
docs/builtin-bots.md). A participant is told in a personal chat with the bot, which the bot learns
when the user first writes to it there.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo
from bots.integrations.services import recordings
from bots.integrations.services.common import bot_and_request

router = Router()
PERSONAL_CHAT = "chat"


def _remember(ctx: Context) -> bool | None:
    """Keep the user's personal chat; None when this is not one."""
    huid = ctx.message.sender.user_huid
    if huid is None or ctx.chat_id is None or ctx.message.chat_type != PERSONAL_CHAT:
        return None
    bot, _request = bot_and_request(bot_id=ctx.bot.bot_id, sync_id=ctx.message.sync_id)
    return recordings.contact_remember(bot=bot, user_huid=huid, chat_id=ctx.chat_id, locale=ctx.message.sender.locale)


@router.command("/start", description=gettext_lazy("Tell me here when my recordings are ready"))
def start(ctx: Context) -> None:
    if _remember(ctx) is None:
        ctx.reply(_("Write to me in a personal chat, and I will tell you there when your call recordings are ready."))
        return
    ctx.reply(_("Done: I will tell you here when the recordings of your calls are ready. /stop turns it off."))


@router.command("/stop", description=gettext_lazy("Stop telling me of my recordings"))
def stop(ctx: Context) -> None:
    huid = ctx.message.sender.user_huid
    bot, _request = bot_and_request(bot_id=ctx.bot.bot_id, sync_id=ctx.message.sync_id)
    if huid is not None and recordings.contact_forget(bot=bot, user_huid=huid):
        ctx.reply(_("Done: I will not write to you of recordings any more. /start turns it back on."))
    else:
        ctx.reply(_("I was not writing to you of recordings."))


@router.default_message
def hello(ctx: Context) -> None:
    if ctx.chat_id is None:
        return
    if _remember(ctx):
        ctx.reply(_("Hello! I will tell you here when the recordings of your calls are ready. /stop turns it off."))
    else:
        ctx.reply(_("I tell you when call recordings are ready. /start — here, /stop — no more."))


HANDLER = HandlerInfo(
    key="recordings",
    name=gettext_lazy("Call recordings"),
    description=gettext_lazy(
        "Tells a call's chat or its participants that its recording is ready; the call-recording system "
        "posts to the bot's webhook."
    ),
    router=router,
)
