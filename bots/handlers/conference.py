"""Conference notifier: follows the conferences the bot is in, reminds their members before they start.

BotX tells the bot of its conferences (``conference_created``, ``conference_changed``,
``conference_deleted``); reminders at offsets set per bot in the admin, and recurring reminders of
conferences with no end, are sent by the beat (``bots/integrations/services/conferences.py``). Users
``/subscribe`` to be reminded in the chat they write from.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo
from bots.integrations.services import conferences
from bots.integrations.services.common import bot_and_request, language_of
from bots.models import Bot

router = Router()


def _bot(ctx: Context) -> Bot:
    return bot_and_request(bot_id=ctx.bot.bot_id, sync_id=ctx.message.sync_id)[0]


def _tell_chat(ctx: Context, bot: Bot, body: str, **fields: Any) -> None:
    if ctx.chat_id is not None and conferences.settings_of(bot).tell_conference_chat:
        ctx.reply(body, **fields)


@router.event("conference_created")
def created(ctx: Context) -> None:
    bot = _bot(ctx)
    call_id = conferences.call_id_of(ctx.message.data)
    conference = conferences.conference_created(bot=bot, call_id=call_id, chat_id=ctx.chat_id)
    _tell_chat(ctx, bot, conferences.created_text(conference))


@router.event("conference_changed")
def changed(ctx: Context) -> None:
    bot = _bot(ctx)
    details = conferences.details_parse(ctx.message.data)
    conference, news = conferences.conference_changed(bot=bot, details=details, chat_id=ctx.chat_id)
    # Members come and go without a word; a new name, time or link is news.
    if news and conference.chat_id is not None and conferences.settings_of(bot).tell_conference_chat:
        # The event itself names no chat; the conference's chat is known from its creation.
        fields = conferences.with_join_button({"body": conferences.changed_text(conference)}, conference)
        ctx.send(chat_id=conference.chat_id, **fields)


@router.event("conference_deleted")
def deleted(ctx: Context) -> None:
    bot = _bot(ctx)
    conference = conferences.conference_deleted(bot=bot, call_id=conferences.call_id_of(ctx.message.data))
    chat_id = ctx.chat_id or (conference.chat_id if conference is not None else None)
    if conference is not None and chat_id is not None and conferences.settings_of(bot).tell_conference_chat:
        ctx.send(chat_id=chat_id, body=conferences.deleted_text(conference))


@router.command("/subscribe", description=gettext_lazy("Remind me of my conferences here"))
def subscribe(ctx: Context) -> None:
    huid = ctx.message.sender.user_huid
    if huid is None or ctx.chat_id is None:
        ctx.reply(_("I cannot tell who you are here; write to me from your account."))
        return
    created = conferences.subscription_add(
        bot=_bot(ctx), user_huid=huid, chat_id=ctx.chat_id, language=language_of(ctx.message.sender.locale)
    )
    if created:
        ctx.reply(_("Done: I will remind you here before each conference you are a member of."))
    else:
        ctx.reply(_("You are subscribed here already. /unsubscribe stops the reminders."))


@router.command("/unsubscribe", description=gettext_lazy("Stop reminding me here"))
def unsubscribe(ctx: Context) -> None:
    huid = ctx.message.sender.user_huid
    if huid is None:
        ctx.reply(_("I cannot tell who you are here; write to me from your account."))
        return
    removed = conferences.subscription_remove(bot=_bot(ctx), user_huid=huid, chat_id=ctx.chat_id)
    if removed:
        ctx.reply(_("Done: no more reminders here. /subscribe brings them back."))
    else:
        ctx.reply(_("You were not subscribed here."))


@router.command("/conferences", description=gettext_lazy("My upcoming conferences"))
def upcoming(ctx: Context) -> None:
    items = conferences.conferences_upcoming(bot=_bot(ctx), user_huid=ctx.message.sender.user_huid, chat_id=ctx.chat_id)
    ctx.reply(conferences.upcoming_text(items))


@router.command("/help", description=gettext_lazy("What this bot can do"))
def help_command(ctx: Context) -> None:
    ctx.reply(_help())


def _help() -> str:
    return _(
        "I remind the members of conferences before they start.\n"
        "/subscribe — remind me here of my conferences\n"
        "/unsubscribe — stop reminding me here\n"
        "/conferences — my upcoming conferences"
    )


@router.default_message
def hint(ctx: Context) -> None:
    if ctx.chat_id is not None:
        ctx.reply(_help())


HANDLER = HandlerInfo(
    key="conference",
    name=gettext_lazy("Conference notifier"),
    description=gettext_lazy(
        "Follows the bot's conferences and reminds their members before they start; /subscribe, "
        "/unsubscribe, /conferences."
    ),
    router=router,
)
