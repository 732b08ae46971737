"""Key-value state of the bots' handler code: per bot, or per bot and chat (``chat_id``).

Written only by handlers, through their context (bots/services/handler_state.py), inside the
transaction of the handler's run: a handler that fails leaves no change behind.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bots.models.registry import Bot


class BotState(models.Model):
    bot = models.ForeignKey(Bot, models.CASCADE, related_name="states", verbose_name=_("bot"))
    chat_id = models.UUIDField(_("chat ID"), null=True, blank=True, help_text=_("Empty: the bot's own state."))
    key = models.CharField(_("key"), max_length=200)
    value = models.JSONField(_("value"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("handler state")
        verbose_name_plural = _("handler state")
        constraints = [
            # Two constraints, because NULLs never collide in a unique index.
            models.UniqueConstraint(
                fields=["bot", "chat_id", "key"], condition=Q(chat_id__isnull=False), name="botstate_unique_chat_key"
            ),
            models.UniqueConstraint(
                fields=["bot", "key"], condition=Q(chat_id__isnull=True), name="botstate_unique_bot_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chat_id or '-'}: {self.key}"
