"""Bot secret keys at rest: encrypted with the portal's keys, shown by their last four characters only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from bots import crypto
from bots.models import Bot
from bots.services.registry import bot_secret_rotate
from tests.conftest import ECHO_SECRET


def raw_bot_row(bot: Bot) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM bots_bot WHERE id = %s", [bot.pk])
        columns = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(columns, row, strict=True))


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_secret_key_is_not_stored_in_clear(bot: Bot) -> None:
    row = raw_bot_row(bot)

    assert all(ECHO_SECRET not in str(value) for value in row.values())
    assert row["secret_key_ciphertext"]


def test_stored_ciphertext_decrypts_with_the_portal_key(bot: Bot) -> None:
    row = raw_bot_row(bot)

    plaintext = Fernet(settings.ENCRYPTION_KEYS[0].encode()).decrypt(row["secret_key_ciphertext"].encode())

    assert plaintext.decode() == ECHO_SECRET


def test_previous_secret_is_not_stored_in_clear_either(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret="cafe0002cafe0002cafe0002")

    row = raw_bot_row(bot)
    assert all(ECHO_SECRET not in str(v) and "cafe0002cafe0002" not in str(v) for v in row.values())
    key = Fernet(settings.ENCRYPTION_KEYS[0].encode())
    assert key.decrypt(row["previous_secret_ciphertext"].encode()).decode() == ECHO_SECRET


def test_secret_round_trips_through_the_database(bot: Bot) -> None:
    assert Bot.objects.get(pk=bot.pk).secret_key == ECHO_SECRET


def test_same_secret_encrypts_differently_each_time() -> None:
    first, second = crypto.encrypt(ECHO_SECRET), crypto.encrypt(ECHO_SECRET)

    assert first != second
    assert crypto.decrypt(first) == crypto.decrypt(second) == ECHO_SECRET


def test_old_ciphertext_still_decrypts_after_a_new_portal_key_is_put_first(bot: Bot) -> None:
    old_key, fresh = settings.ENCRYPTION_KEYS[0], new_key()

    with override_settings(ENCRYPTION_KEYS=[fresh, old_key]):
        assert Bot.objects.get(pk=bot.pk).secret_key == ECHO_SECRET


def test_reencrypt_puts_the_secret_under_the_newest_portal_key(bot: Bot) -> None:
    old_key, fresh = settings.ENCRYPTION_KEYS[0], new_key()

    with override_settings(ENCRYPTION_KEYS=[fresh, old_key]):
        rotated = crypto.reencrypt(bot.secret_key_ciphertext)

    assert Fernet(fresh.encode()).decrypt(rotated.encode()).decode() == ECHO_SECRET
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(rotated.encode())
    with override_settings(ENCRYPTION_KEYS=[fresh]):
        assert crypto.decrypt(rotated) == ECHO_SECRET


def test_new_secrets_are_encrypted_with_the_first_portal_key(make_bot: Callable[..., Bot]) -> None:
    old_key, fresh = settings.ENCRYPTION_KEYS[0], new_key()

    with override_settings(ENCRYPTION_KEYS=[fresh, old_key]):
        bot = make_bot(secret_key="fresh-secret-0001")

    ciphertext = raw_bot_row(bot)["secret_key_ciphertext"]
    assert Fernet(fresh.encode()).decrypt(ciphertext.encode()).decode() == "fresh-secret-0001"


def test_wrong_portal_key_gives_a_readable_configuration_error(bot: Bot) -> None:
    stored = Bot.objects.get(pk=bot.pk)

    with override_settings(ENCRYPTION_KEYS=[new_key()]), pytest.raises(ImproperlyConfigured) as exc:
        stored.secret_key  # noqa: B018 (reading the property is the act under test)

    assert "cannot be decrypted with PORTAL_ENCRYPTION_KEY" in str(exc.value)
    assert ECHO_SECRET not in str(exc.value)


@pytest.mark.parametrize("keys", [["not-a-fernet-key"], [""], ["c2hvcnQ="]])
def test_malformed_portal_key_gives_a_readable_configuration_error(keys: list[str]) -> None:
    with override_settings(ENCRYPTION_KEYS=keys), pytest.raises(ImproperlyConfigured) as exc:
        crypto.encrypt(ECHO_SECRET)

    assert "PORTAL_ENCRYPTION_KEY must be one or more comma-separated Fernet keys" in str(exc.value)


@pytest.mark.parametrize(
    ("secret", "last4"),
    [
        ("12345678", "5678"),
        (ECHO_SECRET, "e001"),
        ("1234567", ""),
        ("abc", ""),
        ("", ""),
    ],
)
def test_last_four_shows_nothing_of_a_secret_under_8_characters(secret: str, last4: str) -> None:
    assert crypto.last_four(secret) == last4


@pytest.mark.parametrize(("last4", "shown"), [("e001", "••••e001"), ("", "••••")])
def test_masked_shows_only_the_last_four(last4: str, shown: str) -> None:
    assert crypto.masked(last4) == shown


def test_bot_shows_its_secret_masked(bot: Bot) -> None:
    assert bot.secret_key_last4 == "e001"
    assert bot.secret_masked == "••••e001"
    assert ECHO_SECRET not in str(bot)


def test_a_decrypted_secret_is_kept_per_portal_key_list(bot: Bot) -> None:
    ciphertext = bot.secret_key_ciphertext
    assert crypto.decrypt(ciphertext) == ECHO_SECRET

    # Decrypted once under the old keys, it still fails once the keys no longer open it.
    with override_settings(ENCRYPTION_KEYS=[new_key()]), pytest.raises(ImproperlyConfigured):
        crypto.decrypt(ciphertext)
    assert crypto.decrypt(ciphertext) == ECHO_SECRET
