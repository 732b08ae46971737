"""Services that change the registry: enabling and disabling bots, rotating their secret keys."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bots import crypto
from bots.models import Bot
from bots.models.registry import validate_secret

logger = logging.getLogger(__name__)


def bot_set_enabled(*, bot: Bot, enabled: bool, status_message: str | None = None) -> Bot:
    """Turn a bot on or off. ``status_message`` is what users see while it is off."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        bot.enabled = enabled
        if status_message is not None:
            # Only this field is validated: a bot whose handler code is gone must still be switchable.
            bot.status_message = Bot._meta.get_field("status_message").clean(status_message.strip(), bot)
        bot.save(update_fields=["enabled", "status_message", "updated_at"])
        transaction.on_commit(lambda: logger.info("bot %s %s", bot.bot_id, "enabled" if enabled else "disabled"))
    return bot


def secret_generate() -> str:
    return secrets.token_hex(16)


def bot_secret_rotate(*, bot: Bot, new_secret: str, grace: dt.timedelta | None = None) -> Bot:
    """Give a bot a new secret key; the old one stays valid until the grace period ends.

    BotX signs requests with whatever key its admin panel holds, and the two are not changed in the
    same instant: during the grace period a request signed with either key is accepted.
    """
    validate_secret(new_secret)
    if grace is None:
        grace = dt.timedelta(hours=settings.BOT_SECRET_ROTATION_GRACE_HOURS)
    if grace < dt.timedelta(0):
        raise ValidationError(_("The grace period cannot be negative."))
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        if new_secret == bot.secret_key:
            raise ValidationError(_("The new secret key is the same as the current one."))
        if grace:
            bot.previous_secret_ciphertext = bot.secret_key_ciphertext
            bot.previous_secret_last4 = bot.secret_key_last4
            bot.previous_secret_expires_at = timezone.now() + grace
        else:
            bot.previous_secret_ciphertext = ""
            bot.previous_secret_last4 = ""
            bot.previous_secret_expires_at = None
        bot.secret_key = new_secret
        bot.save()
        message = (
            "bot %s secret rotated to %s, previous %s valid until %s",
            bot.bot_id,
            bot.secret_masked,
            crypto.masked(bot.previous_secret_last4),
            bot.previous_secret_expires_at,
        )
        # Logged only if it sticks: a dry run of ``bots apply`` rolls the rotation back.
        transaction.on_commit(lambda: logger.info(*message))
    return bot
