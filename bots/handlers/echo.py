"""Echo and help: the smallest useful bot, and the one the loop is proved with."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bots.handlers.registry import HandlerInfo

HANDLER = HandlerInfo(
    key="echo",
    name=_("Echo and help"),
    description=_("Answers every message with its own text; /help lists the commands."),
)
