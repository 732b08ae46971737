"""``manage.py demo``: the administrator and the demo registry that ``make run`` starts with."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from bots.management.commands.demo import DEMO_SECRETS
from bots.models import Bot, ChangeRecord, CommandRule, CtsServer

DEMO_BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def var_dir(db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # The command puts its demo secrets and URL into os.environ; monkeypatch takes them out again.
    for name in (*DEMO_SECRETS, "PORTAL_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def demo(**options: Any) -> str:
    out = io.StringIO()
    call_command("demo", url="http://127.0.0.1:8000/", stdout=out, **options)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"^\s*Password:\s+(\S+)", output, re.MULTILINE)
    assert match is not None, output
    return match.group(1)


def test_demo_creates_a_superuser_admin_with_the_printed_password(var_dir: Path) -> None:
    output = demo()

    password = printed_password(output)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password)
    assert (var_dir / "demo_admin_password").read_text().strip() == password
    assert str(var_dir / "demo_admin_password") in output


def test_demo_keeps_its_files_under_the_var_dir_of_the_moment(var_dir: Path, tmp_path_factory: Any) -> None:
    other = tmp_path_factory.mktemp("other-var")

    demo()
    with override_settings(VAR_DIR=other):
        demo(username="admin2")

    assert sorted(p.name for p in var_dir.iterdir()) == ["demo_admin_password", "demo_secrets.json"]
    assert sorted(p.name for p in other.iterdir()) == ["demo_admin_password", "demo_secrets.json"]


def echo_bot() -> Bot:
    return Bot.objects.get(bot_id=DEMO_BOT_ID)


def test_demo_creates_the_sandbox_cts_and_the_echo_bot(var_dir: Path) -> None:
    demo()

    server = CtsServer.objects.get()
    assert (server.name, server.base_url, server.auth_mode, server.verify_tls) == (
        "sandbox",
        "http://127.0.0.1:8000/sandbox",
        "v2",
        False,
    )
    bot = echo_bot()
    assert (bot.bot_id, bot.cts, bot.name, bot.app_id, bot.handler, bot.enabled) == (
        DEMO_BOT_ID,
        server,
        "Echo",
        "echo-bot",
        "echo",
        True,
    )
    assert bot.is_served
    secrets = json.loads((var_dir / "demo_secrets.json").read_text())
    assert bot.secret_key == secrets["DEMO_ECHO_SECRET"]
    assert list(CommandRule.objects.values_list("command", "chat_admins_only")) == [("/admin-only", True)]
    assert set(ChangeRecord.objects.values_list("actor_label", flat=True)) == {"manage.py demo"}


def test_demo_does_not_print_the_bot_secret(var_dir: Path) -> None:
    output = demo()

    for bot in Bot.objects.all():
        assert bot.secret_key not in output


def test_demo_run_again_prints_the_same_password_and_changes_nothing(var_dir: Path) -> None:
    first = demo()
    records = list(ChangeRecord.objects.values_list("id", flat=True))
    secret = echo_bot().secret_key

    second = demo()

    assert printed_password(second) == printed_password(first)
    assert list(ChangeRecord.objects.values_list("id", flat=True)) == records
    assert User.objects.count() == 1
    assert User.objects.get().check_password(printed_password(second))
    assert (CtsServer.objects.count(), Bot.objects.count()) == (1, len(DEMO_SECRETS))
    assert echo_bot().valid_secrets() == [secret]


def test_demo_registers_every_built_in_bot_with_its_own_secret(var_dir: Path) -> None:
    demo()

    bots = list(Bot.objects.order_by("handler"))
    assert [bot.handler for bot in bots] == ["bridge", "conference", "echo", "notifications", "recordings"]
    assert all(bot.is_served for bot in bots)
    assert len({bot.secret_key for bot in bots}) == len(bots)


def test_demo_adds_the_secrets_of_new_bots_to_an_older_secrets_file(var_dir: Path) -> None:
    (var_dir / "demo_secrets.json").write_text(json.dumps({"DEMO_ECHO_SECRET": "kept-from-before"}))

    demo()

    stored = json.loads((var_dir / "demo_secrets.json").read_text())
    assert stored["DEMO_ECHO_SECRET"] == "kept-from-before"
    assert set(stored) == set(DEMO_SECRETS)
    assert echo_bot().secret_key == "kept-from-before"
