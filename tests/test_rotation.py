"""Rotating a bot's secret key with a grace period, and turning a bot on and off (bots.services.registry)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone, translation

from bots.models import Bot
from bots.services.registry import bot_secret_rotate, bot_set_enabled, secret_generate
from tests.conftest import ECHO_SECRET

NEW_SECRET = "cafe0002cafe0002cafe0002"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def stored(bot: Bot) -> Bot:
    return Bot.objects.get(pk=bot.pk)


def expiry(bot: Bot) -> dt.datetime:
    assert bot.previous_secret_expires_at is not None
    return bot.previous_secret_expires_at


def test_both_keys_are_valid_before_the_grace_expiry(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    rotated = stored(bot)
    assert rotated.valid_secrets() == [NEW_SECRET, ECHO_SECRET]
    almost = expiry(rotated) - dt.timedelta(seconds=1)
    assert rotated.valid_secrets(now=almost) == [NEW_SECRET, ECHO_SECRET]


def test_only_the_new_key_is_valid_after_the_grace_expiry(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    rotated = stored(bot)
    assert rotated.valid_secrets(now=expiry(rotated)) == [NEW_SECRET]
    later = expiry(rotated) + dt.timedelta(seconds=1)
    assert rotated.valid_secrets(now=later) == [NEW_SECRET]


def test_grace_expiry_is_the_rotation_time_plus_the_grace(bot: Bot) -> None:
    before = timezone.now()
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=3))
    after = timezone.now()

    expires = expiry(stored(bot))
    assert before + dt.timedelta(hours=3) <= expires <= after + dt.timedelta(hours=3)


@override_settings(BOT_SECRET_ROTATION_GRACE_HOURS=2)
def test_default_grace_comes_from_settings(bot: Bot) -> None:
    before = timezone.now()
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET)

    expires = expiry(stored(bot))
    assert before + dt.timedelta(hours=2) <= expires <= timezone.now() + dt.timedelta(hours=2)


def test_zero_grace_drops_the_old_key_at_once(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(0))

    rotated = stored(bot)
    assert rotated.valid_secrets() == [NEW_SECRET]
    assert rotated.previous_secret_ciphertext == ""
    assert rotated.previous_secret_last4 == ""
    assert rotated.previous_secret_expires_at is None


def test_zero_grace_also_ends_the_grace_of_an_earlier_rotation(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))
    bot_secret_rotate(bot=bot, new_secret="third-secret-0003", grace=dt.timedelta(0))

    assert stored(bot).valid_secrets() == ["third-secret-0003"]


def test_previous_keys_last_four_are_kept(bot: Bot) -> None:
    rotated = bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    assert rotated.secret_key_last4 == "0002"
    assert rotated.previous_secret_last4 == "e001"
    assert stored(bot).previous_secret_last4 == "e001"


def test_same_secret_is_refused(bot: Bot) -> None:
    before = stored(bot)

    with pytest.raises(ValidationError, match="same as the current one"):
        bot_secret_rotate(bot=bot, new_secret=ECHO_SECRET)

    after = stored(bot)
    assert after.secret_key_ciphertext == before.secret_key_ciphertext
    assert after.previous_secret_ciphertext == ""
    assert after.previous_secret_expires_at is None


@pytest.mark.parametrize("new_secret", ["short", "has spaces in it", ""])
def test_invalid_new_secret_is_refused_and_nothing_changes(bot: Bot, new_secret: str) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))
    before = stored(bot)

    with pytest.raises(ValidationError):
        bot_secret_rotate(bot=bot, new_secret=new_secret)

    after = stored(bot)
    assert after.secret_key_ciphertext == before.secret_key_ciphertext
    assert after.previous_secret_ciphertext == before.previous_secret_ciphertext
    assert after.previous_secret_expires_at == before.previous_secret_expires_at
    assert after.valid_secrets() == [NEW_SECRET, ECHO_SECRET]


def test_negative_grace_is_refused(bot: Bot) -> None:
    with pytest.raises(ValidationError, match="cannot be negative"):
        bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(seconds=-1))

    assert stored(bot).secret_key == ECHO_SECRET


def test_rotation_works_from_a_stale_copy_of_the_bot(bot: Bot) -> None:
    stale = stored(bot)
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    with pytest.raises(ValidationError, match="same as the current one"):
        bot_secret_rotate(bot=stale, new_secret=NEW_SECRET)


def test_generated_secret_is_accepted_by_rotation(bot: Bot) -> None:
    generated = secret_generate()

    rotated = bot_secret_rotate(bot=bot, new_secret=generated, grace=dt.timedelta(0))

    assert stored(rotated).secret_key == generated
    assert secret_generate() != generated


def test_disabling_a_bot_stops_serving_it_and_keeps_the_status_message(bot: Bot) -> None:
    bot_set_enabled(bot=bot, enabled=False, status_message="  Back on Monday.  ")

    off = stored(bot)
    assert off.enabled is False
    assert off.is_served is False
    assert off.status_message == "Back on Monday."


def test_enabling_without_a_status_message_leaves_it_as_it_was(bot: Bot) -> None:
    bot_set_enabled(bot=bot, enabled=False, status_message="Back on Monday.")

    returned = bot_set_enabled(bot=bot, enabled=True)

    assert returned.enabled is True
    on = stored(bot)
    assert on.is_served is True
    assert on.status_message == "Back on Monday."


def test_enabling_with_an_empty_status_message_clears_it(bot: Bot) -> None:
    bot_set_enabled(bot=bot, enabled=False, status_message="Back on Monday.")

    bot_set_enabled(bot=bot, enabled=True, status_message="")

    assert stored(bot).status_message == ""


def test_too_long_status_message_is_refused(bot: Bot) -> None:
    with pytest.raises(ValidationError):
        bot_set_enabled(bot=bot, enabled=False, status_message="x" * 256)

    assert stored(bot).enabled is True


def test_bot_whose_handler_code_is_gone_can_still_be_disabled(bot: Bot) -> None:
    Bot.objects.filter(pk=bot.pk).update(handler="retired-handler")

    bot_set_enabled(bot=bot, enabled=False, status_message="This bot is retired.")

    assert stored(bot).status_message == "This bot is retired."
