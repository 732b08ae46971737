"""Reads: which bots each member of the cast may see or act on, and a bot's exported record."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User

from bots.models import Bot, BotRole, Capability, ChatRule, CommandRule, Role, SmartApp
from bots.selectors import bot_capabilities, bot_export, bot_list_for_user, user_can
from bots.services.registry import bot_secret_rotate
from tests.conftest import ECHO_SECRET, Cast

ALLOWED_CHAT = "6fafda2c-6505-57a5-a088-25ea5d1d0364"
DENIED_CHAT = "705df263-6bfd-536a-9d51-13524afaab5c"
HUID = "0a1b2c3d-0000-4000-8000-000000000001"
NEW_SECRET = "cafe0002cafe0002cafe0002"

ALL = frozenset(Capability.values)


@pytest.fixture
def other_bot(make_bot: Callable[..., Bot], cast: Cast) -> Bot:
    """A second bot on which nobody of the cast has a role."""
    return make_bot(name="Other")


@pytest.mark.parametrize(
    ("member", "capability", "sees_bot"),
    [
        ("owner", Capability.MANAGE, True),
        ("operator", Capability.MANAGE, False),
        ("auditor", Capability.MANAGE, False),
        ("outsider", Capability.MANAGE, False),
        ("owner", Capability.OPERATE, True),
        ("operator", Capability.OPERATE, True),
        ("auditor", Capability.OPERATE, False),
        ("outsider", Capability.OPERATE, False),
        ("owner", Capability.READ_HISTORY, True),
        ("operator", Capability.READ_HISTORY, True),
        ("auditor", Capability.READ_HISTORY, True),
        ("outsider", Capability.READ_HISTORY, False),
    ],
)
def test_bot_list_for_user_follows_the_roles(
    cast: Cast, bot: Bot, other_bot: Bot, member: str, capability: str, sees_bot: bool
) -> None:
    visible = list(bot_list_for_user(user=getattr(cast, member), capability=capability))

    assert visible == ([bot] if sees_bot else [])


@pytest.mark.parametrize("capability", list(Capability))
def test_superuser_sees_every_bot_for_every_capability(cast: Cast, bot: Bot, other_bot: Bot, capability: str) -> None:
    assert set(bot_list_for_user(user=cast.admin, capability=capability)) == {bot, other_bot}


def test_bot_list_for_user_defaults_to_reading_history(cast: Cast, bot: Bot) -> None:
    assert list(bot_list_for_user(user=cast.auditor)) == [bot]
    assert list(bot_list_for_user(user=cast.outsider)) == []


def test_auditor_role_comes_through_the_group(cast: Cast, bot: Bot) -> None:
    assert not BotRole.objects.filter(user=cast.auditor).exists()

    cast.auditor.groups.clear()

    assert list(bot_list_for_user(user=cast.auditor)) == []
    assert bot_capabilities(user=cast.auditor, bot=bot) == frozenset()


def test_role_through_a_group_reaches_every_member(cast: Cast, bot: Bot) -> None:
    cast.outsider.groups.add(Group.objects.get(name="auditors"))

    assert list(bot_list_for_user(user=cast.outsider)) == [bot]
    assert list(bot_list_for_user(user=cast.outsider, capability=Capability.OPERATE)) == []


def test_direct_and_group_roles_add_up_without_listing_the_bot_twice(cast: Cast, bot: Bot) -> None:
    cast.operator.groups.add(Group.objects.get(name="auditors"))
    owners = Group.objects.create(name="owners")
    BotRole.objects.create(bot=bot, group=owners, role=Role.OWNER)
    cast.operator.groups.add(owners)

    assert list(bot_list_for_user(user=cast.operator)) == [bot]
    assert list(bot_list_for_user(user=cast.operator, capability=Capability.MANAGE)) == [bot]
    assert bot_capabilities(user=cast.operator, bot=bot) == ALL


def test_role_on_one_bot_gives_nothing_on_another(cast: Cast, bot: Bot, other_bot: Bot) -> None:
    for member in (cast.owner, cast.operator, cast.auditor):
        assert other_bot not in bot_list_for_user(user=member)
        assert bot_capabilities(user=member, bot=other_bot) == frozenset()


@pytest.mark.parametrize("member", ["owner", "operator", "auditor", "admin"])
def test_inactive_user_gets_nothing(cast: Cast, bot: Bot, member: str) -> None:
    user: User = getattr(cast, member)
    user.is_active = False
    user.save()

    for capability in Capability:
        assert list(bot_list_for_user(user=user, capability=capability)) == []
        assert not user_can(user=user, bot=bot, capability=capability)
    assert bot_capabilities(user=user, bot=bot) == frozenset()


def test_anonymous_user_gets_nothing(cast: Cast, bot: Bot) -> None:
    anonymous = AnonymousUser()

    for capability in Capability:
        assert list(bot_list_for_user(user=anonymous, capability=capability)) == []
        assert not user_can(user=anonymous, bot=bot, capability=capability)
    assert bot_capabilities(user=anonymous, bot=bot) == frozenset()


@pytest.mark.parametrize(
    ("member", "capabilities"),
    [
        ("owner", ALL),
        ("operator", frozenset({Capability.OPERATE, Capability.READ_HISTORY})),
        ("auditor", frozenset({Capability.READ_HISTORY})),
        ("outsider", frozenset()),
        ("admin", ALL),
    ],
)
def test_bot_capabilities_of_the_cast(cast: Cast, bot: Bot, member: str, capabilities: frozenset[str]) -> None:
    user = getattr(cast, member)

    assert bot_capabilities(user=user, bot=bot) == capabilities
    for capability in Capability:
        assert user_can(user=user, bot=bot, capability=capability) is (capability in capabilities)


def test_removing_a_role_takes_the_bot_away(cast: Cast, bot: Bot) -> None:
    BotRole.objects.get(bot=bot, user=cast.operator).delete()

    assert list(bot_list_for_user(user=cast.operator)) == []
    assert not user_can(user=cast.operator, bot=bot, capability=Capability.OPERATE)


# --- export ------------------------------------------------------------------------------------------


@pytest.fixture
def furnished_bot(bot: Bot, cast: Cast) -> Bot:
    """The echo bot with chat rules, a command rule and a rotated secret (both keys stored)."""
    ChatRule.objects.create(bot=bot, chat_id=ALLOWED_CHAT, kind=ChatRule.Kind.ALLOW)
    ChatRule.objects.create(bot=bot, chat_id=DENIED_CHAT, kind=ChatRule.Kind.DENY)
    rule = CommandRule(bot=bot, command="/report", user_huids=[HUID], ad_logins=["Alice"], chat_admins_only=True)
    rule.full_clean()
    rule.save()
    CommandRule.objects.create(bot=bot, command="/help")
    bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))
    return Bot.objects.get(pk=bot.pk)


def test_export_contains_no_secret_and_no_ciphertext(furnished_bot: Bot) -> None:
    dump = json.dumps(bot_export(bot=furnished_bot))

    for secret in (
        ECHO_SECRET,
        NEW_SECRET,
        furnished_bot.secret_key_ciphertext,
        furnished_bot.previous_secret_ciphertext,
    ):
        assert secret not in dump


def test_export_shows_the_secrets_last_four(furnished_bot: Bot) -> None:
    assert bot_export(bot=furnished_bot)["secret_key_last4"] == "0002"


def test_export_identifies_the_bot_and_its_declared_fields(furnished_bot: Bot) -> None:
    record = bot_export(bot=furnished_bot)

    assert record["bot_id"] == str(furnished_bot.bot_id)
    assert record["cts"] == "main"
    assert record["name"] == "Echo"
    assert record["app_id"] == "echo-bot"
    assert record["handler"] == "echo"
    assert record["protocol_version"] == 4
    assert set(Bot.DECLARED_FIELDS) <= record.keys()
    assert "smartapp" not in record


def test_export_lists_chat_rules_by_kind(furnished_bot: Bot) -> None:
    assert bot_export(bot=furnished_bot)["chats"] == {"allow": [ALLOWED_CHAT], "deny": [DENIED_CHAT]}


def test_export_lists_command_rules(furnished_bot: Bot) -> None:
    commands = bot_export(bot=furnished_bot)["commands"]

    assert list(commands) == ["/help", "/report"]
    assert commands["/report"] == {
        "user_huids": [HUID],
        "ad_logins": ["alice"],
        "ad_domains": [],
        "chat_admins_only": True,
    }
    assert commands["/help"]["chat_admins_only"] is False


def test_export_lists_roles_by_user_and_group(furnished_bot: Bot) -> None:
    assert bot_export(bot=furnished_bot)["roles"] == [
        {"group": "auditors", "role": "auditor"},
        {"user": "operator", "role": "operator"},
        {"user": "owner", "role": "owner"},
    ]


def test_export_is_plain_json(furnished_bot: Bot) -> None:
    record = bot_export(bot=furnished_bot)

    assert json.loads(json.dumps(record)) == record


def test_export_of_a_smartapp_has_its_settings(make_bot: Callable[..., Bot], db: Any) -> None:
    app_bot = make_bot(kind=Bot.Kind.SMARTAPP, name="Calendar", app_id="calendar")
    SmartApp.objects.create(
        bot=app_bot,
        app_version="2.1.0",
        link_regex=r"^https://calendar\.example\.com/",
        unread_counter_app_ids=["mail"],
        web_default_layout=SmartApp.WebLayout.FULL,
    )

    record = bot_export(bot=app_bot)

    smartapp = record["smartapp"]
    assert record["kind"] == "smartapp"
    assert set(smartapp) == {*SmartApp.DECLARED_FIELDS, "bundle_sha256"}
    assert smartapp["app_version"] == "2.1.0"
    assert smartapp["link_regex"] == r"^https://calendar\.example\.com/"
    assert smartapp["unread_counter_app_ids"] == ["mail"]
    assert smartapp["web_default_layout"] == "full"
    assert smartapp["bundle_sha256"] == ""
    assert ECHO_SECRET not in json.dumps(record)
