"""``manage.py bots``: apply, list, export, rotate-secret and reencrypt, run as an operator would."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import translation

from bots.models import Bot, ChangeRecord, CtsServer
from bots.services.registry import bot_secret_rotate
from tests.conftest import ECHO_BOT_ID, ECHO_SECRET

NEW_BOT_ID = "8dada2c8-67a6-5434-9dec-570d244e78ee"
SECRET = "echo0001echo0001echo0001"
NEW_SECRET = "cafe0002cafe0002cafe0002"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def bots(*args: str) -> str:
    out = io.StringIO()
    call_command("bots", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def counted(count: int, verb: str) -> re.Pattern[str]:
    """The closing line of ``bots apply``: "2 records changed." (or "2 record(s) changed.")."""
    return re.compile(rf"{count} record(?:s|\(s\))? {verb}\.")


def stored(bot: Bot) -> Bot:
    return Bot.objects.get(pk=bot.pk)


def spec_file(directory: Path, *bots: dict[str, Any], cts: list[dict[str, Any]] | None = None) -> Path:
    path = directory / "bots.yaml"
    data = {
        "cts": [{"name": "sandbox", "url": "https://cts.example.com", "auth": "v2"}] if cts is None else cts,
        "bots": list(bots),
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def echo(**fields: Any) -> dict[str, Any]:
    return {
        "bot_id": NEW_BOT_ID,
        "cts": "sandbox",
        "name": "Echo",
        "secret_key": "${ECHO_BOT_SECRET}",
        "protocol_version": 4,
        "handler": "echo",
        "enabled": True,
    } | fields


@pytest.fixture
def environment(db: Any, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ECHO_BOT_SECRET", SECRET)
    monkeypatch.setenv("NEW_ECHO_SECRET", NEW_SECRET)
    return monkeypatch


# --- bots apply -----------------------------------------------------------------------------------


def test_apply_prints_a_plus_line_for_every_created_record(environment: Any, tmp_path: Path) -> None:
    output = bots("apply", str(spec_file(tmp_path, echo())))

    lines = output.splitlines()
    assert "+ ctsserver sandbox" in lines
    assert f"+ bot Echo ({NEW_BOT_ID})" in lines
    assert "    secret_key: changed" in lines
    assert counted(2, "changed").fullmatch(last_line(output))
    assert Bot.objects.get().secret_key == SECRET


def test_apply_prints_a_tilde_line_with_old_and_new_value_for_an_update(environment: Any, tmp_path: Path) -> None:
    bots("apply", str(spec_file(tmp_path, echo())))

    output = bots("apply", str(spec_file(tmp_path, echo(name="Echo 2"))))

    assert output.splitlines()[:2] == [f"~ bot Echo 2 ({NEW_BOT_ID})", "    name: 'Echo' -> 'Echo 2'"]
    assert counted(1, "changed").fullmatch(last_line(output))


def test_apply_of_an_unchanged_file_prints_zero_records(environment: Any, tmp_path: Path) -> None:
    path = spec_file(tmp_path, echo())
    bots("apply", str(path))

    output = bots("apply", str(path))

    assert counted(0, "changed").fullmatch(output.strip())


def test_apply_never_prints_a_secret(environment: Any, tmp_path: Path) -> None:
    created = bots("apply", str(spec_file(tmp_path, echo())))
    rotated = bots("apply", str(spec_file(tmp_path, echo(secret_key="${NEW_ECHO_SECRET}"))))

    assert SECRET not in created + rotated
    assert NEW_SECRET not in created + rotated
    assert "    secret_key: changed" in rotated.splitlines()


def test_apply_dry_run_prints_would_change_and_changes_nothing(environment: Any, tmp_path: Path) -> None:
    output = bots("apply", str(spec_file(tmp_path, echo())), "--dry-run")

    assert f"+ bot Echo ({NEW_BOT_ID})" in output.splitlines()
    assert counted(2, "would change").fullmatch(last_line(output))
    assert not CtsServer.objects.exists()
    assert not Bot.objects.exists()
    assert not ChangeRecord.objects.exists()


def test_apply_of_a_bad_file_says_nothing_changed_and_names_the_problem(environment: Any, tmp_path: Path) -> None:
    path = spec_file(tmp_path, echo(), echo(bot_id="not-a-uuid"))

    with pytest.raises(CommandError) as error:
        bots("apply", str(path))

    assert "nothing changed" in str(error.value)
    assert "bots[1].bot_id: " in str(error.value)
    assert not Bot.objects.exists()
    assert not ChangeRecord.objects.exists()


def test_apply_of_a_missing_file_says_nothing_changed(db: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError) as error:
        bots("apply", str(tmp_path / "missing.yaml"))

    assert "nothing changed" in str(error.value)
    assert f"{tmp_path / 'missing.yaml'}: " in str(error.value)


def test_changes_of_apply_are_attributed_to_manage_py_bots_apply(environment: Any, tmp_path: Path) -> None:
    bots("apply", str(spec_file(tmp_path, echo())))

    assert set(ChangeRecord.objects.values_list("actor_label", flat=True)) == {"manage.py bots apply"}


# --- bots list ------------------------------------------------------------------------------------


def test_list_shows_the_secret_only_as_its_last_four_characters(bot: Bot) -> None:
    output = bots("list")

    header, row = output.strip().splitlines()
    assert header.split() == ["BOT_ID", "CTS", "NAME", "KIND", "HANDLER", "PROTOCOL", "ENABLED", "SECRET"]
    assert row.split() == [str(ECHO_BOT_ID), "main", "Echo", "chatbot", "echo", "4", "True", "••••e001"]
    assert ECHO_SECRET not in output


def test_list_json_parses_and_masks_the_secret(bot: Bot) -> None:
    output = bots("list", "--json")

    assert json.loads(output) == [
        {
            "bot_id": str(ECHO_BOT_ID),
            "cts": "main",
            "name": "Echo",
            "kind": "chatbot",
            "handler": "echo",
            "protocol": 4,
            "enabled": True,
            "secret": "••••e001",
        }
    ]
    assert ECHO_SECRET not in output


def test_list_of_an_empty_registry_says_so(db: Any) -> None:
    assert bots("list").strip() == "No bots registered."
    assert json.loads(bots("list", "--json")) == []


# --- bots export ----------------------------------------------------------------------------------


def test_export_prints_the_bot_as_json_without_its_secret(bot: Bot) -> None:
    output = bots("export", str(ECHO_BOT_ID))

    record = json.loads(output)
    assert (record["bot_id"], record["cts"], record["name"], record["app_id"]) == (
        str(ECHO_BOT_ID),
        "main",
        "Echo",
        "echo-bot",
    )
    assert record["secret_key_last4"] == "e001"
    assert "secret_key" not in record
    assert ECHO_SECRET not in output


def test_export_of_a_rotated_bot_shows_neither_key(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET)

    output = bots("export", str(ECHO_BOT_ID))

    assert ECHO_SECRET not in output
    assert NEW_SECRET not in output


@pytest.mark.parametrize(
    ("bot_id", "message"),
    [
        pytest.param("0b7e5c0a-3f5c-4f2e-9c57-3c1d2a9e8f10", "0b7e5c0a-3f5c-4f2e-9c57-3c1d2a9e8f10", id="unknown"),
        pytest.param("not-a-uuid", "'not-a-uuid'", id="malformed"),
    ],
)
def test_export_of_an_unknown_or_malformed_bot_id_is_an_error(bot: Bot, bot_id: str, message: str) -> None:
    with pytest.raises(CommandError) as error:
        bots("export", bot_id)

    assert message in str(error.value)


def test_bot_id_on_two_cts_servers_needs_cts(bot: Bot, make_bot: Callable[..., Bot]) -> None:
    second = CtsServer.objects.create(name="second", base_url="https://cts2.example.com")
    make_bot(bot_id=ECHO_BOT_ID, cts=second, name="Echo on second")

    with pytest.raises(CommandError) as error:
        bots("export", str(ECHO_BOT_ID))
    assert "--cts" in str(error.value)

    assert json.loads(bots("export", str(ECHO_BOT_ID), "--cts", "second"))["name"] == "Echo on second"
    assert json.loads(bots("export", str(ECHO_BOT_ID), "--cts", "main"))["name"] == "Echo"


def test_bot_id_on_another_cts_than_the_one_named_is_not_found(bot: Bot) -> None:
    with pytest.raises(CommandError) as error:
        bots("export", str(ECHO_BOT_ID), "--cts", "second")

    assert "second" in str(error.value)


# --- bots rotate-secret ---------------------------------------------------------------------------


def test_rotate_secret_from_env_keeps_the_previous_key_valid_during_the_grace(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEW_ECHO_SECRET", NEW_SECRET)

    output = bots("rotate-secret", str(ECHO_BOT_ID), "--from-env", "NEW_ECHO_SECRET")

    rotated = stored(bot)
    assert rotated.secret_key == NEW_SECRET
    assert rotated.valid_secrets() == [NEW_SECRET, ECHO_SECRET]
    assert "••••0002" in output
    assert "••••e001" in output
    assert NEW_SECRET not in output
    assert ECHO_SECRET not in output


def test_rotate_secret_with_zero_grace_leaves_only_the_new_key_valid(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_ECHO_SECRET", NEW_SECRET)

    output = bots("rotate-secret", str(ECHO_BOT_ID), "--from-env", "NEW_ECHO_SECRET", "--grace-hours", "0")

    assert stored(bot).valid_secrets() == [NEW_SECRET]
    assert "no longer valid" in output
    assert NEW_SECRET not in output
    assert ECHO_SECRET not in output


def test_rotate_secret_from_an_unset_variable_is_an_error_and_changes_nothing(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORTAL_TEST_NEVER_SET_SECRET", raising=False)
    records = ChangeRecord.objects.count()

    with pytest.raises(CommandError) as error:
        bots("rotate-secret", str(ECHO_BOT_ID), "--from-env", "PORTAL_TEST_NEVER_SET_SECRET")

    assert "PORTAL_TEST_NEVER_SET_SECRET" in str(error.value)
    assert stored(bot).valid_secrets() == [ECHO_SECRET]
    assert ChangeRecord.objects.count() == records


def test_rotate_secret_to_the_same_key_is_an_error(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAME_SECRET", ECHO_SECRET)

    with pytest.raises(CommandError):
        bots("rotate-secret", str(ECHO_BOT_ID), "--from-env", "SAME_SECRET")

    assert stored(bot).previous_secret_ciphertext == ""


def test_rotate_secret_generate_prints_the_new_secret_once_and_it_works(bot: Bot) -> None:
    output = bots("rotate-secret", str(ECHO_BOT_ID), "--generate")

    match = re.search(r": (\S{8,})$", output.splitlines()[0])
    assert match is not None
    secret = match.group(1)
    rotated = stored(bot)
    assert rotated.secret_key == secret
    assert rotated.valid_secrets() == [secret, ECHO_SECRET]
    assert output.count(secret) == 1
    assert ECHO_SECRET not in output


def test_rotate_secret_is_attributed_to_the_command(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_ECHO_SECRET", NEW_SECRET)
    records = ChangeRecord.objects.count()

    bots("rotate-secret", str(ECHO_BOT_ID), "--from-env", "NEW_ECHO_SECRET")

    [record] = ChangeRecord.objects.order_by("id")[records:]
    assert record.actor_label == "manage.py bots rotate-secret"
    assert record.actor is None
    assert record.changes["secret_key"] == "changed"
    assert NEW_SECRET not in json.dumps(record.changes)


# --- bots reencrypt -------------------------------------------------------------------------------


def test_reencrypt_moves_every_secret_to_the_newest_key_and_records_no_change(bot: Bot) -> None:
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET)
    old_keys = list(settings.ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    records = ChangeRecord.objects.count()

    with override_settings(ENCRYPTION_KEYS=[new_key, *old_keys]):
        output = bots("reencrypt")

    assert output.strip().startswith("1 ")
    assert ChangeRecord.objects.count() == records
    with override_settings(ENCRYPTION_KEYS=[new_key]):
        reencrypted = stored(bot)
        assert reencrypted.valid_secrets() == [NEW_SECRET, ECHO_SECRET]
    with override_settings(ENCRYPTION_KEYS=old_keys), pytest.raises(ImproperlyConfigured):
        _ = stored(bot).secret_key
