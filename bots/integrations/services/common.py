"""What the built-in bots' services share: finding the bot row a handler runs for, languages, times."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.utils import timezone

from bots.models import Bot, InboundEvent


def bot_and_request(*, bot_id: uuid.UUID, sync_id: uuid.UUID | None) -> tuple[Bot, InboundEvent | None]:
    """The bot row a handler serves, and the request it is handling.

    The same bot ID may be registered on two CTS servers; the request row (unique per bot and sync
    ID) says which of them this is.
    """
    if sync_id is not None:
        event = (
            InboundEvent.objects.select_related("bot")
            .filter(bot__bot_id=bot_id, sync_id=sync_id, endpoint=InboundEvent.Endpoint.COMMAND)
            .order_by("-pk")
            .first()
        )
        if event is not None and event.bot is not None:
            return event.bot, event
    bot = Bot.objects.filter(bot_id=bot_id).order_by("pk").first()
    if bot is None:
        raise Bot.DoesNotExist(f"no bot {bot_id}")
    return bot, None


def language_of(locale: str | None) -> str:
    """A user's locale (``ru-RU``) as one of the portal's languages; '' when it is none of them."""
    code = (locale or "").split("-")[0].lower()
    return code if code in dict(settings.LANGUAGES) else ""


def local_time(moment: dt.datetime) -> str:
    """A moment as people of this deployment read it: in ``TIME_ZONE``, with the zone's name."""
    local = timezone.localtime(moment)
    return f"{local:%d.%m.%Y %H:%M} {local.tzname()}"
