"""Bots as code (bots.services.declarative): a YAML or JSON file that the registry is made to match."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import Group, User
from django.utils import translation

from bots import audit
from bots.models import Bot, BotRole, ChangeRecord, ChatRule, CommandRule, CtsServer, Role, SmartApp
from bots.services.declarative import ApplyResult, SpecError, spec_apply, spec_load
from tests.conftest import ECHO_BOT_ID, ECHO_SECRET

BOT_ID = "8dada2c8-67a6-5434-9dec-570d244e78ee"
OTHER_BOT_ID = "0b7e5c0a-3f5c-4f2e-9c57-3c1d2a9e8f10"
SECRET = "echo0001echo0001echo0001"
NEW_SECRET = "cafe0002cafe0002cafe0002"
CHAT_A = "6fafda2c-6505-57a5-a088-25ea5d1d0364"
CHAT_B = "705df263-6bfd-536a-9d51-13524afaab5c"
CHAT_C = "1c0ab0c6-52a8-4f0b-8e32-5e0c4cbd5bd1"
HUID = "D3E1A6F2-7C2B-4B8A-9D8E-2F1C0B9A8E7D"
UNSET_VARIABLE = "PORTAL_TEST_NEVER_SET_SECRET"

# The minimal file of the documentation, and the same in JSON.
MINIMAL_YAML = """\
cts:
  - name: sandbox
    url: https://cts.example.com
    auth: v2
bots:
  - bot_id: 8dada2c8-67a6-5434-9dec-570d244e78ee
    cts: sandbox
    name: Echo
    secret_key: ${ECHO_BOT_SECRET}
    protocol_version: 4
    handler: echo
    enabled: true
"""
MINIMAL_JSON = """\
{
  "cts": [{"name": "sandbox", "url": "https://cts.example.com", "auth": "v2"}],
  "bots": [
    {
      "bot_id": "8dada2c8-67a6-5434-9dec-570d244e78ee",
      "cts": "sandbox",
      "name": "Echo",
      "secret_key": "${ECHO_BOT_SECRET}",
      "protocol_version": 4,
      "handler": "echo",
      "enabled": true
    }
  ]
}
"""

COUNTED_MODELS: tuple[Any, ...] = (
    CtsServer,
    Bot,
    SmartApp,
    BotRole,
    ChatRule,
    CommandRule,
    ChangeRecord,
    User,
    Group,
)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def secrets_in_environment(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_BOT_SECRET", SECRET)
    monkeypatch.setenv("NEW_ECHO_SECRET", NEW_SECRET)
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)


# --- building and applying files ------------------------------------------------------------------


def sandbox(**fields: Any) -> dict[str, Any]:
    return {"name": "sandbox", "url": "https://cts.example.com", "auth": "v2"} | fields


def echo(**fields: Any) -> dict[str, Any]:
    return {
        "bot_id": BOT_ID,
        "cts": "sandbox",
        "name": "Echo",
        "secret_key": "${ECHO_BOT_SECRET}",
        "protocol_version": 4,
        "handler": "echo",
        "enabled": True,
    } | fields


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


def spec(*bots: dict[str, Any], cts: list[Any] | None = None) -> dict[str, Any]:
    return {"cts": [sandbox()] if cts is None else cts, "bots": list(bots)}


def write(directory: Path, data: Any, name: str = "bots.yaml") -> Path:
    path = directory / name
    if path.suffix == ".json":
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def apply(directory: Path, data: Any, *, dry_run: bool = False, name: str = "bots.yaml") -> ApplyResult:
    return spec_apply(spec_load(write(directory, data, name)), dry_run=dry_run)


def the_bot(bot_id: str = BOT_ID) -> Bot:
    return Bot.objects.get(bot_id=bot_id)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED_MODELS}


def summary(result: ApplyResult) -> list[tuple[str, str, str, list[str]]]:
    """What a run changed, without database ids (PostgreSQL does not give back ids of a rollback)."""
    return [(record.action, record.model, record.object_repr, sorted(record.changes)) for record in result.changes]


# --- the minimal file -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text"), [("bots.yaml", MINIMAL_YAML), ("bots.json", MINIMAL_JSON)])
def test_minimal_file_creates_the_cts_and_the_bot_with_the_secret_from_the_environment(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    result = spec_apply(spec_load(path))

    server = CtsServer.objects.get()
    assert (server.name, server.base_url, server.host, server.auth_mode) == (
        "sandbox",
        "https://cts.example.com",
        "cts.example.com",
        "v2",
    )
    bot = Bot.objects.get()
    assert bot.bot_id == uuid.UUID(BOT_ID)
    assert bot.cts == server
    assert (bot.name, bot.protocol_version, bot.handler, bot.enabled) == ("Echo", 4, "echo", True)
    assert bot.secret_key == SECRET
    assert bot.secret_key_last4 == SECRET[-4:]
    assert [(r.action, r.model) for r in result.changes] == [
        ("create", "bots.ctsserver"),
        ("create", "bots.bot"),
    ]
    assert not result.dry_run


def test_yaml_and_json_files_load_to_the_same_data(tmp_path: Path) -> None:
    (tmp_path / "bots.yaml").write_text(MINIMAL_YAML, encoding="utf-8")
    (tmp_path / "bots.json").write_text(MINIMAL_JSON, encoding="utf-8")

    assert spec_load(tmp_path / "bots.yaml") == spec_load(tmp_path / "bots.json")


def test_empty_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")

    assert spec_apply(spec_load(path)).changes == []
    assert row_counts()["CtsServer"] == 0


# --- idempotence ----------------------------------------------------------------------------------


def full_spec() -> dict[str, Any]:
    """A file that uses every section, for checks that must hold for all of them."""
    User.objects.get_or_create(username="alice")
    Group.objects.get_or_create(name="auditors")
    return spec(
        echo(
            app_id="echo-bot",
            description="Echoes messages.",
            chats={"allow": [CHAT_A, CHAT_B], "deny": [CHAT_C]},
            commands={
                "/report": {
                    "user_huids": [HUID],
                    "ad_logins": ["Alice", "bob "],
                    "ad_domains": ["CORP"],
                    "chat_admins_only": True,
                },
                "/help": None,
            },
            roles=[{"user": "alice", "role": "owner"}, {"group": "auditors", "role": "auditor"}],
        ),
        echo(
            bot_id=OTHER_BOT_ID,
            name="Calendar",
            kind="smartapp",
            secret_key="${NEW_ECHO_SECRET}",
            smartapp={
                "app_version": "1.2.0",
                "web_default_layout": "half",
                "unread_counter_chat_ids": [CHAT_A],
            },
        ),
        cts=[sandbox(verify_tls=False, trusted_issuers=["Other.Example.com", "cts2.example.com"])],
    )


@pytest.mark.parametrize("which", ["minimal", "every section"])
def test_applying_the_same_file_twice_changes_nothing_the_second_time(tmp_path: Path, which: str) -> None:
    data = spec(echo()) if which == "minimal" else full_spec()
    first = apply(tmp_path, data)
    records = ChangeRecord.objects.count()

    second = apply(tmp_path, data)

    assert first.changes
    assert second.changes == []
    assert ChangeRecord.objects.count() == records


def test_applying_the_same_file_twice_keeps_the_secret_without_rotating(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo()))
    apply(tmp_path, spec(echo()))

    bot = the_bot()
    assert bot.valid_secrets() == [SECRET]
    assert bot.previous_secret_ciphertext == ""


# --- updates --------------------------------------------------------------------------------------


def test_changed_field_produces_one_update_with_only_that_field(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo()))

    result = apply(tmp_path, spec(echo(name="Echo 2")))

    assert [(r.action, r.model, r.changes) for r in result.changes] == [
        ("update", "bots.bot", {"name": ["Echo", "Echo 2"]})
    ]
    assert the_bot().name == "Echo 2"


def test_fields_left_out_of_the_file_keep_their_values(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(description="Echoes messages.", enabled=False)))

    result = apply(tmp_path, spec(without(echo(), "enabled", "secret_key", "protocol_version")))

    assert result.changes == []
    bot = the_bot()
    assert (bot.description, bot.enabled, bot.secret_key) == ("Echoes messages.", False, SECRET)


def test_empty_text_field_in_yaml_clears_it(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(description="Echoes messages.")))

    result = apply(tmp_path, spec(echo(description=None)))

    assert [r.changes for r in result.changes] == [{"description": ["Echoes messages.", ""]}]


def test_changed_secret_rotates_and_the_previous_key_stays_valid(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo()))

    apply(tmp_path, spec(echo(secret_key="${NEW_ECHO_SECRET}")))

    bot = the_bot()
    assert bot.secret_key == NEW_SECRET
    assert bot.valid_secrets() == [NEW_SECRET, SECRET]
    assert bot.previous_secret_expires_at is not None


def test_changed_secret_is_reported_as_changed_without_its_value(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo()))

    result = apply(tmp_path, spec(echo(secret_key="${NEW_ECHO_SECRET}")))

    [record] = result.changes
    assert (record.action, record.model) == ("update", "bots.bot")
    assert record.changes["secret_key"] == "changed"
    assert record.changes["previous_secret_key"] == "changed"
    assert NEW_SECRET not in json.dumps(record.changes)
    assert SECRET not in json.dumps(record.changes)


def test_secret_may_be_written_in_the_file_itself(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(secret_key=NEW_SECRET)))

    assert the_bot().secret_key == NEW_SECRET


def test_environment_references_work_inside_longer_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTS_HOST", "cts.corp.example")
    monkeypatch.setenv("BOT_NAME", "Echo")

    apply(tmp_path, spec(echo(name="${BOT_NAME} bot"), cts=[sandbox(url="https://${CTS_HOST}/")]))

    assert CtsServer.objects.get().base_url == "https://cts.corp.example"
    assert the_bot().name == "Echo bot"


def test_cts_fields_given_are_updated(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo()))

    result = apply(
        tmp_path,
        spec(echo(), cts=[sandbox(url="https://cts2.example.com/", auth="v1", trusted_issuers=["B.example"])]),
    )

    server = CtsServer.objects.get()
    assert (server.base_url, server.host, server.auth_mode, server.trusted_issuers) == (
        "https://cts2.example.com",
        "cts2.example.com",
        "v1",
        ["b.example"],
    )
    [record] = result.changes
    assert sorted(record.changes) == ["auth_mode", "base_url", "host", "trusted_issuers"]


# --- matching bots and CTS servers ----------------------------------------------------------------


def test_bot_id_already_registered_on_that_cts_is_updated_not_duplicated(bot: Bot, tmp_path: Path) -> None:
    result = apply(tmp_path, spec(echo(bot_id=str(ECHO_BOT_ID), cts="main", name="Echo 2"), cts=[]))

    assert Bot.objects.count() == 1
    updated = Bot.objects.get()
    assert (updated.pk, updated.name, updated.cts.name) == (bot.pk, "Echo 2", "main")
    assert updated.secret_key == SECRET
    assert updated.valid_secrets() == [SECRET, ECHO_SECRET]
    assert [r.action for r in result.changes] == ["update", "update"]


def test_cts_listed_in_the_file_is_matched_by_name(cts: CtsServer, tmp_path: Path) -> None:
    apply(tmp_path, spec(cts=[{"name": "main", "verify_tls": False}]))

    assert list(CtsServer.objects.values_list("pk", "verify_tls", "base_url")) == [
        (cts.pk, False, "https://cts.example.com")
    ]


def test_same_bot_id_on_two_cts_servers_makes_two_bots(tmp_path: Path) -> None:
    data = spec(
        echo(),
        echo(cts="second", name="Echo on second"),
        cts=[sandbox(), sandbox(name="second", url="https://cts2.example.com")],
    )

    apply(tmp_path, data)

    assert sorted(Bot.objects.filter(bot_id=BOT_ID).values_list("cts__name", "name")) == [
        ("sandbox", "Echo"),
        ("second", "Echo on second"),
    ]


# --- chats ----------------------------------------------------------------------------------------


def chat_rules() -> set[tuple[str, str]]:
    return {(str(chat_id), kind) for chat_id, kind in ChatRule.objects.values_list("chat_id", "kind")}


def test_chat_lists_are_created(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(chats={"allow": [CHAT_A, CHAT_B], "deny": [CHAT_C]})))

    assert chat_rules() == {(CHAT_A, "allow"), (CHAT_B, "allow"), (CHAT_C, "deny")}
    assert {rule.bot_id for rule in ChatRule.objects.all()} == {the_bot().pk}


def test_chat_lists_given_replace_the_rules_exactly(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(chats={"allow": [CHAT_A, CHAT_B], "deny": [CHAT_C]})))

    result = apply(tmp_path, spec(echo(chats={"deny": [CHAT_A]})))

    assert chat_rules() == {(CHAT_A, "deny")}
    assert sorted((r.action, r.model) for r in result.changes) == [
        ("delete", "bots.chatrule"),
        ("delete", "bots.chatrule"),
        ("update", "bots.chatrule"),
    ]


def test_empty_chats_section_removes_every_chat_rule(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(chats={"allow": [CHAT_A], "deny": [CHAT_C]})))

    apply(tmp_path, spec(echo(chats={})))

    assert chat_rules() == set()


def test_chat_rules_stay_when_the_chats_key_is_absent(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(chats={"allow": [CHAT_A], "deny": [CHAT_C]})))

    result = apply(tmp_path, spec(echo()))

    assert result.changes == []
    assert chat_rules() == {(CHAT_A, "allow"), (CHAT_C, "deny")}


# --- commands -------------------------------------------------------------------------------------


def command_rules() -> dict[str, tuple[list[str], list[str], list[str], bool]]:
    return {
        rule.command: (rule.user_huids, rule.ad_logins, rule.ad_domains, rule.chat_admins_only)
        for rule in CommandRule.objects.all()
    }


def test_command_rules_are_created_with_their_lists(tmp_path: Path) -> None:
    commands = {
        "/report": {
            "user_huids": [HUID],
            "ad_logins": ["Alice", "bob "],
            "ad_domains": ["CORP"],
            "chat_admins_only": True,
        },
        "/help": None,
    }

    apply(tmp_path, spec(echo(commands=commands)))

    assert command_rules() == {
        "/report": ([HUID.lower()], ["alice", "bob"], ["corp"], True),
        "/help": ([], [], [], False),
    }


def test_command_rules_given_replace_the_rules_exactly(tmp_path: Path) -> None:
    apply(
        tmp_path,
        spec(
            echo(
                commands={
                    "/report": {"ad_logins": ["alice"], "chat_admins_only": True},
                    "/help": {"ad_domains": ["corp"]},
                }
            )
        ),
    )

    apply(tmp_path, spec(echo(commands={"/report": {"ad_domains": ["corp"]}})))

    assert command_rules() == {"/report": ([], [], ["corp"], False)}


def test_command_rules_stay_when_the_commands_key_is_absent(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(commands={"/report": {"ad_logins": ["alice"]}})))

    result = apply(tmp_path, spec(echo()))

    assert result.changes == []
    assert command_rules() == {"/report": ([], ["alice"], [], False)}


# --- roles ----------------------------------------------------------------------------------------


def roles() -> set[tuple[str, str]]:
    return {
        (role.user.username if role.user else f"group:{role.group.name if role.group else ''}", role.role)
        for role in BotRole.objects.select_related("user", "group")
    }


def test_roles_are_given_to_existing_users_and_groups(tmp_path: Path) -> None:
    User.objects.create_user("alice")
    Group.objects.create(name="auditors")

    apply(
        tmp_path,
        spec(echo(roles=[{"user": "alice", "role": "owner"}, {"group": "auditors", "role": "auditor"}])),
    )

    assert roles() == {("alice", Role.OWNER), ("group:auditors", Role.AUDITOR)}


def test_roles_given_replace_the_roles_exactly(tmp_path: Path) -> None:
    User.objects.create_user("alice")
    User.objects.create_user("bob")
    Group.objects.create(name="auditors")
    apply(
        tmp_path,
        spec(
            echo(
                roles=[
                    {"user": "alice", "role": "owner"},
                    {"user": "bob", "role": "operator"},
                    {"group": "auditors", "role": "auditor"},
                ]
            )
        ),
    )

    apply(tmp_path, spec(echo(roles=[{"user": "alice", "role": "operator"}])))

    assert roles() == {("alice", Role.OPERATOR)}


def test_roles_stay_when_the_roles_key_is_absent(tmp_path: Path) -> None:
    User.objects.create_user("alice")
    apply(tmp_path, spec(echo(roles=[{"user": "alice", "role": "owner"}])))

    result = apply(tmp_path, spec(echo()))

    assert result.changes == []
    assert roles() == {("alice", Role.OWNER)}


# --- Smart App settings ---------------------------------------------------------------------------


def calendar(**fields: Any) -> dict[str, Any]:
    return echo(bot_id=OTHER_BOT_ID, name="Calendar", kind="smartapp", **fields)


def test_smartapp_settings_are_created_for_a_smartapp_bot(tmp_path: Path) -> None:
    apply(
        tmp_path,
        spec(
            calendar(
                smartapp={
                    "app_version": "1.2.0",
                    "web_default_layout": "half",
                    "always_pinned": True,
                    "unread_counter_chat_ids": [CHAT_A],
                }
            )
        ),
    )

    smartapp = SmartApp.objects.get()
    assert smartapp.bot == the_bot(OTHER_BOT_ID)
    assert (smartapp.app_version, smartapp.web_default_layout, smartapp.always_pinned) == (
        "1.2.0",
        "half",
        True,
    )
    assert smartapp.unread_counter_chat_ids == [CHAT_A]


def test_smartapp_settings_given_are_updated(tmp_path: Path) -> None:
    apply(tmp_path, spec(calendar(smartapp={"app_version": "1.2.0", "unread_counter_chat_ids": [CHAT_A]})))

    result = apply(tmp_path, spec(calendar(smartapp={"app_version": "1.3.0", "unread_counter_chat_ids": [CHAT_B]})))

    smartapp = SmartApp.objects.get()
    assert (smartapp.app_version, smartapp.unread_counter_chat_ids) == ("1.3.0", [CHAT_B])
    [record] = result.changes
    assert record.changes == {
        "app_version": ["1.2.0", "1.3.0"],
        "unread_counter_chat_ids": [[CHAT_A], [CHAT_B]],
    }


def test_smartapp_settings_stay_when_the_smartapp_key_is_absent(tmp_path: Path) -> None:
    apply(tmp_path, spec(calendar(smartapp={"app_version": "1.2.0"})))

    result = apply(tmp_path, spec(calendar()))

    assert result.changes == []
    assert SmartApp.objects.get().app_version == "1.2.0"


def test_smartapp_settings_for_a_chat_bot_are_refused(tmp_path: Path) -> None:
    before = row_counts()

    with pytest.raises(SpecError) as error:
        apply(tmp_path, spec(echo(smartapp={"app_version": "1.2.0"})))

    assert "bots[0].smartapp.bot:" in str(error.value)
    assert row_counts() == before


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_reports_the_changes_that_a_real_run_makes(tmp_path: Path) -> None:
    data = full_spec()

    dry = apply(tmp_path, data, dry_run=True)
    real = apply(tmp_path, data)

    assert dry.dry_run
    assert dry.changes
    assert summary(dry) == summary(real)


def test_dry_run_changes_nothing_in_the_database(tmp_path: Path) -> None:
    data = full_spec()
    before = row_counts()

    apply(tmp_path, data, dry_run=True)

    assert row_counts() == before
    assert not Bot.objects.exists()
    assert not CtsServer.objects.exists()
    assert not ChangeRecord.objects.exists()


def test_dry_run_of_an_update_reports_it_and_leaves_the_bot_as_it_was(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(chats={"allow": [CHAT_A]})))
    records = ChangeRecord.objects.count()
    changed = spec(echo(name="Echo 2", secret_key="${NEW_ECHO_SECRET}", chats={"deny": [CHAT_B]}))

    dry = apply(tmp_path, changed, dry_run=True)

    bot = the_bot()
    assert (bot.name, bot.valid_secrets()) == ("Echo", [SECRET])
    assert chat_rules() == {(CHAT_A, "allow")}
    assert ChangeRecord.objects.count() == records
    real = apply(tmp_path, changed)
    assert summary(dry) == summary(real)
    assert dry.changes[0].changes == real.changes[0].changes == {"name": ["Echo", "Echo 2"]}


# --- errors: each names its place and changes nothing ---------------------------------------------

# The second bot of a file whose first bot is valid: what is wrong with it, where, and why.
BAD_SECOND_BOTS: list[Any] = [
    pytest.param(echo(bot_id="not-a-uuid"), "bots[1].bot_id", "is not a UUID", id="malformed bot_id"),
    pytest.param(echo(bot_id=OTHER_BOT_ID, cts="nowhere"), "bots[1].cts", "unknown CTS server", id="unknown CTS"),
    pytest.param(echo(name="Echo again"), "bots[1].bot_id", "listed twice", id="duplicate bot_id"),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, protocol_version=5),
        "bots[1].protocol_version",
        "not a valid choice",
        id="protocol version 5",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, handler="no-such-handler"),
        "bots[1].handler",
        "No handler code with the key no-such-handler",
        id="handler without code",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, secret_key="${" + UNSET_VARIABLE + "}"),
        "bots[1].secret_key",
        f"the environment variable {UNSET_VARIABLE} is not set",
        id="missing environment variable",
    ),
    pytest.param(
        without(echo(bot_id=OTHER_BOT_ID), "secret_key"),
        "bots[1].secret_key",
        "required for a new bot",
        id="new bot without a secret",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, secret_key="short"),
        "bots[1].secret_key",
        "8 to 256 characters",
        id="secret too short",
    ),
    pytest.param(echo(bot_id=OTHER_BOT_ID, colour="blue"), "bots[1]", "unknown key(s) colour", id="unknown bot key"),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, commands={"/report": {"ad_login": ["alice"]}}),
        "bots[1].commands./report",
        "unknown key(s) ad_login",
        id="unknown command rule key",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, commands={"report": {}}),
        "bots[1].commands.report.command",
        "slash",
        id="command without a slash",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, chats={"allow": [CHAT_A], "deny": [CHAT_A]}),
        "bots[1].chats.deny[0]",
        "both allowed and denied",
        id="chat allowed and denied",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, chats={"allow": ["chat-a"]}),
        "bots[1].chats.allow[0]",
        "is not a UUID",
        id="malformed chat id",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, roles=[{"user": "ghost", "role": "owner"}]),
        "bots[1].roles[0]",
        "'ghost'",
        id="role for a user that does not exist",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, roles=[{"group": "ghosts", "role": "owner"}]),
        "bots[1].roles[0]",
        "'ghosts'",
        id="role for a group that does not exist",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, roles=[{"user": "alice", "role": "king"}]),
        "bots[1].roles[0].role",
        "one of owner, operator, auditor",
        id="bad role name",
    ),
    pytest.param(
        echo(bot_id=OTHER_BOT_ID, roles=[{"user": "alice", "group": "auditors", "role": "owner"}]),
        "bots[1].roles[0]",
        "either user or group",
        id="role for a user and a group",
    ),
    pytest.param("just a string", "bots[1]", "expected a mapping", id="bot not a mapping"),
]


@pytest.mark.parametrize(("second", "place", "reason"), BAD_SECOND_BOTS)
def test_bad_second_bot_is_named_and_the_valid_first_one_is_not_created(
    tmp_path: Path, second: Any, place: str, reason: str
) -> None:
    User.objects.create_user("alice")
    Group.objects.create(name="auditors")
    before = row_counts()

    with pytest.raises(SpecError) as error:
        apply(tmp_path, spec(echo(), second))

    assert f"{place}: " in str(error.value)
    assert reason in str(error.value)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("data", "place", "reason"),
    [
        pytest.param(spec(echo(), cts=[sandbox(token="x")]), "cts[0]", "unknown key(s) token", id="unknown CTS key"),
        pytest.param(spec(echo(), cts=["sandbox"]), "cts[0]", "expected a mapping", id="CTS not a mapping"),
        pytest.param(spec(echo(), cts=[without(sandbox(), "name")]), "cts[0].name", "required", id="CTS without name"),
        pytest.param(
            spec(echo(), cts=[without(sandbox(), "url")]),
            "cts[0].url",
            "required for a new CTS server",
            id="new CTS without url",
        ),
        pytest.param(
            spec(echo(), cts=[sandbox(), sandbox(url="https://cts2.example.com")]),
            "cts[1].name",
            "listed twice",
            id="CTS listed twice",
        ),
        pytest.param(spec(echo(), cts=[sandbox(auth="v3")]), "cts[0].auth_mode", "not a valid choice", id="bad auth"),
        pytest.param(spec(echo(), cts=[sandbox(url="not a url")]), "cts[0].base_url", "URL", id="bad url"),
        pytest.param({"cts": {"name": "sandbox"}, "bots": [echo()]}, "cts", "expected a list", id="cts not a list"),
        pytest.param({"cts": [sandbox()], "bots": echo()}, "bots", "expected a list", id="bots not a list"),
    ],
)
def test_bad_cts_or_section_is_named_and_nothing_is_created(
    tmp_path: Path, data: dict[str, Any], place: str, reason: str
) -> None:
    before = row_counts()

    with pytest.raises(SpecError) as error:
        apply(tmp_path, data)

    assert f"{place}: " in str(error.value)
    assert reason in str(error.value)
    assert row_counts() == before


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    before = row_counts()

    with pytest.raises(SpecError) as error:
        apply(tmp_path, {**spec(echo()), "servers": []})

    assert "unknown top-level key(s) servers" in str(error.value)
    assert row_counts() == before


def test_every_problem_of_the_file_is_listed(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as error:
        apply(
            tmp_path,
            spec(echo(protocol_version=5), echo(bot_id="nope"), echo(bot_id=OTHER_BOT_ID, handler="gone")),
        )

    assert [problem.split(":")[0] for problem in error.value.problems] == [
        "bots[0].protocol_version",
        "bots[1].bot_id",
        "bots[2].handler",
    ]


def test_error_in_a_later_bot_leaves_an_earlier_update_undone(bot: Bot, tmp_path: Path) -> None:
    data = spec(
        echo(
            bot_id=str(ECHO_BOT_ID),
            cts="main",
            name="Echo 2",
            secret_key="${NEW_ECHO_SECRET}",
            chats={"deny": [CHAT_A]},
        ),
        echo(bot_id=OTHER_BOT_ID, cts="main", protocol_version=5),
        cts=[{"name": "main", "verify_tls": False}, sandbox()],
    )
    before = row_counts()

    with pytest.raises(SpecError):
        apply(tmp_path, data)

    assert row_counts() == before
    unchanged = Bot.objects.get()
    assert (unchanged.name, unchanged.valid_secrets()) == ("Echo", [ECHO_SECRET])
    assert CtsServer.objects.get(name="main").verify_tls is True


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        pytest.param("bots.yaml", "cts:\n  - name: [sandbox\n", "not valid YAML", id="YAML syntax error"),
        pytest.param("bots.json", '{"cts": [}', "not valid JSON", id="JSON syntax error"),
        pytest.param("bots.yaml", "- sandbox\n- echo\n", "must be a mapping", id="top level a list"),
        pytest.param("bots.json", '"sandbox"', "must be a mapping", id="top level a string"),
    ],
)
def test_file_that_cannot_be_parsed_is_refused_with_its_path(tmp_path: Path, name: str, text: str, reason: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(SpecError) as error:
        spec_load(path)

    assert str(error.value).startswith(f"{path}: ")
    assert reason in str(error.value)


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_file_that_cannot_be_read_is_refused_with_its_path(tmp_path: Path, what: str) -> None:
    path = tmp_path / "bots.yaml"
    if what == "directory":
        path.mkdir()

    with pytest.raises(SpecError) as error:
        spec_load(path)

    assert str(error.value).startswith(f"{path}: cannot read the file")


def test_file_that_is_not_utf8_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_bytes(MINIMAL_YAML.replace("name: Echo", "name: Эхо").encode("cp1251"))

    with pytest.raises(SpecError) as error:
        spec_load(path)

    assert str(error.value).startswith(f"{path}: ")


# --- secrets stay out of the history --------------------------------------------------------------


def test_secrets_never_appear_in_the_change_history(tmp_path: Path) -> None:
    apply(tmp_path, spec(echo(), echo(bot_id=OTHER_BOT_ID, secret_key=NEW_SECRET)))
    apply(tmp_path, spec(echo(secret_key="${NEW_ECHO_SECRET}"), echo(bot_id=OTHER_BOT_ID, secret_key=SECRET)))
    apply(tmp_path, spec(echo(secret_key=SECRET + "x"), echo(bot_id=OTHER_BOT_ID, secret_key=SECRET)))

    dump = json.dumps(list(ChangeRecord.objects.values()), default=str)
    assert ChangeRecord.objects.filter(model="bots.bot", action="update").count() == 3
    for secret in (SECRET, NEW_SECRET, SECRET + "x"):
        assert secret not in dump
    for bot in Bot.objects.all():
        assert bot.secret_key_ciphertext not in dump
        assert bot.previous_secret_ciphertext
        assert bot.previous_secret_ciphertext not in dump


def test_bad_secret_is_not_repeated_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as error:
        apply(tmp_path, spec(echo(secret_key="secret with spaces")))

    assert "bots[0].secret_key: " in str(error.value)
    assert "secret with spaces" not in str(error.value)


# --- known bugs -----------------------------------------------------------------------------------


def test_bot_whose_handler_code_is_gone_can_still_be_disabled_by_the_file(bot: Bot, tmp_path: Path) -> None:
    Bot.objects.filter(pk=bot.pk).update(handler="retired")

    apply(tmp_path, spec({"bot_id": str(ECHO_BOT_ID), "cts": "main", "enabled": False}, cts=[]))

    assert Bot.objects.get().enabled is False


def test_chat_listed_twice_in_one_list_is_not_said_to_be_allowed_and_denied(tmp_path: Path) -> None:
    try:
        apply(tmp_path, spec(echo(chats={"allow": [CHAT_A, CHAT_A]})))
    except SpecError as error:
        assert "both allowed and denied" not in str(error)
    else:
        assert chat_rules() == {(CHAT_A, "allow")}


def test_changes_applied_inside_acting_as_a_user_are_attributed_to_that_user(tmp_path: Path) -> None:
    alice = User.objects.create_user("alice")

    with audit.acting_as(alice):
        apply(tmp_path, spec(echo()))

    assert set(ChangeRecord.objects.values_list("actor", flat=True)) == {alice.pk}
