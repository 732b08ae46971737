"""The registry's constraints and validation: what the database refuses and what full_clean refuses."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from bots.models import Bot, BotRole, ChatRule, CommandRule, CtsServer, Role, Sender, SmartApp
from bots.models.registry import validate_handler_key, validate_secret
from tests.conftest import ECHO_SECRET

HUID = "6fafda2c-6505-57a5-a088-25ea5d1d0364"
OTHER_HUID = "705df263-6bfd-536a-9d51-13524afaab5c"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


@contextlib.contextmanager
def refused_by_database() -> Iterator[None]:
    """IntegrityError, in a savepoint so that PostgreSQL can go on with the test's transaction."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# --- CtsServer ---------------------------------------------------------------------------------------


def test_cts_host_is_derived_from_the_base_url_and_lowercased(db: Any) -> None:
    cts = CtsServer(name="upper", base_url="https://CTS.Example.COM:8443/")
    cts.full_clean()
    cts.save()

    cts.refresh_from_db()
    assert cts.host == "cts.example.com"
    assert cts.base_url == "https://CTS.Example.COM:8443"


def test_cts_base_url_trailing_slashes_are_stripped(db: Any) -> None:
    cts = CtsServer.objects.create(name="slashes", base_url="https://cts.example.com/botx//")

    assert cts.base_url == "https://cts.example.com/botx"


def test_cts_host_follows_a_changed_base_url(cts: CtsServer) -> None:
    cts.base_url = "https://other.example.com"
    cts.save()

    cts.refresh_from_db()
    assert cts.host == "other.example.com"


@pytest.mark.parametrize("base_url", ["https:///botx", "cts.example.com", "not a url"])
def test_cts_base_url_without_a_host_is_rejected(db: Any, base_url: str) -> None:
    cts = CtsServer(name="nohost", base_url=base_url)

    with pytest.raises(ValidationError) as exc:
        cts.full_clean()

    assert "The URL has no host name." in exc.value.message_dict["base_url"]


@pytest.mark.parametrize(
    "issuers",
    [
        "cts2.example.com",
        ["cts2.example.com", ""],
        ["   "],
        ["cts2.example.com", 42],
        {"host": "cts2.example.com"},
    ],
)
def test_cts_trusted_issuers_must_be_a_list_of_host_names(db: Any, issuers: object) -> None:
    cts = CtsServer(name="fed", base_url="https://cts.example.com", trusted_issuers=issuers)

    with pytest.raises(ValidationError) as exc:
        cts.full_clean()

    assert error_fields(exc) == {"trusted_issuers"}


def test_cts_trusted_issuers_are_stripped_lowercased_deduplicated_and_sorted(db: Any) -> None:
    cts = CtsServer(
        name="fed",
        base_url="https://cts.example.com",
        trusted_issuers=[" CTS3.example.com", "cts2.example.com", "cts3.example.com "],
    )
    cts.full_clean()
    cts.save()

    cts.refresh_from_db()
    assert cts.trusted_issuers == ["cts2.example.com", "cts3.example.com"]


def test_cts_empty_trusted_issuers_are_valid(db: Any) -> None:
    cts = CtsServer(name="alone", base_url="https://cts.example.com")
    cts.full_clean()
    cts.save()

    assert cts.trusted_issuers == []


def test_cts_name_is_unique(cts: CtsServer) -> None:
    with pytest.raises(ValidationError) as exc:
        CtsServer(name=cts.name, base_url="https://other.example.com").full_clean()
    assert error_fields(exc) == {"name"}

    with refused_by_database():
        CtsServer.objects.create(name=cts.name, base_url="https://other.example.com")


# --- Bot ---------------------------------------------------------------------------------------------


def test_bot_id_is_unique_per_cts_in_the_database(bot: Bot) -> None:
    twin = Bot(bot_id=bot.bot_id, cts=bot.cts, name="Twin", handler="echo")
    twin.secret_key = ECHO_SECRET

    with refused_by_database():
        twin.save()


def test_bot_id_is_unique_per_cts_in_full_clean(bot: Bot, make_bot: Callable[..., Bot]) -> None:
    with pytest.raises(ValidationError) as exc:
        make_bot(bot_id=bot.bot_id, name="Twin")

    assert "__all__" in exc.value.message_dict
    assert Bot.objects.filter(bot_id=bot.bot_id).count() == 1


def test_same_bot_id_is_allowed_on_two_cts_servers(bot: Bot, make_bot: Callable[..., Bot]) -> None:
    other = CtsServer.objects.create(name="second", base_url="https://cts2.example.com")

    twin = make_bot(bot_id=bot.bot_id, cts=other, name="Twin")

    assert set(Bot.objects.filter(bot_id=bot.bot_id).values_list("cts__name", flat=True)) == {
        "main",
        "second",
    }
    assert twin.pk != bot.pk


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("protocol_version", 5),
        ("protocol_version", 2),
        ("kind", "webhook"),
        ("allowed_data", "everything"),
        ("secret_key_ciphertext", ""),
    ],
)
def test_bot_check_constraints_refuse_unknown_values_in_the_database(bot: Bot, field: str, value: object) -> None:
    with refused_by_database():
        Bot.objects.filter(pk=bot.pk).update(**{field: value})


def test_bot_with_protocol_5_is_refused_by_a_plain_save(bot: Bot) -> None:
    bot.protocol_version = 5

    with refused_by_database():
        bot.save()


@pytest.mark.parametrize(
    ("field", "value"),
    [("protocol_version", 5), ("kind", "webhook"), ("allowed_data", "everything"), ("jwt_policy", "never")],
)
def test_bot_full_clean_refuses_unknown_choices(bot: Bot, field: str, value: object) -> None:
    setattr(bot, field, value)

    with pytest.raises(ValidationError) as exc:
        bot.full_clean()

    assert error_fields(exc) == {field}


def test_bot_without_a_secret_is_refused_by_the_database(cts: CtsServer) -> None:
    with refused_by_database():
        Bot.objects.create(bot_id=uuid.uuid4(), cts=cts, name="Keyless", handler="echo")


def test_bot_without_a_secret_is_refused_by_full_clean(cts: CtsServer) -> None:
    keyless = Bot(bot_id=uuid.uuid4(), cts=cts, name="Keyless", handler="echo")

    with pytest.raises(ValidationError) as exc:
        keyless.full_clean()

    assert any("bot_has_secret" in message for message in exc.value.messages)


def test_bot_malformed_uuid_is_rejected_by_full_clean(cts: CtsServer) -> None:
    bot = Bot(bot_id="24348246-not-a-uuid", cts=cts, name="Bad", handler="echo")
    bot.secret_key = ECHO_SECRET

    with pytest.raises(ValidationError) as exc:
        bot.full_clean()

    assert error_fields(exc) == {"bot_id"}


def test_handler_key_with_no_code_is_rejected(make_bot: Callable[..., Bot]) -> None:
    with pytest.raises(ValidationError) as exc:
        make_bot(handler="no-such-handler")

    assert error_fields(exc) == {"handler"}
    assert exc.value.error_dict["handler"][0].code == "no_handler"
    assert not Bot.objects.exists()


def test_handler_key_with_code_is_accepted() -> None:
    validate_handler_key("echo")


@pytest.mark.parametrize(
    "secret",
    ["", "short", "1234567", "has a space in it", "tab\tinside-the-key", "x" * 257, "newline\ninside"],
)
def test_bad_secret_is_refused(bot: Bot, secret: str) -> None:
    before = bot.secret_key_ciphertext

    with pytest.raises(ValidationError) as exc:
        bot.secret_key = secret

    assert exc.value.code == "bad_secret"
    assert bot.secret_key_ciphertext == before


@pytest.mark.parametrize("secret", ["12345678", "x" * 256, "Ab3$%^&*()-_=+[]{}"])
def test_secret_of_8_to_256_visible_characters_is_accepted(bot: Bot, secret: str) -> None:
    bot.secret_key = secret
    bot.full_clean()
    bot.save()

    bot.refresh_from_db()
    assert bot.secret_key == secret
    assert bot.secret_key_last4 == secret[-4:]


def test_secret_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError):
        validate_secret("abcdefgh\n")


def test_bot_kind_cannot_leave_smartapp_while_it_has_smartapp_settings(
    make_bot: Callable[..., Bot],
) -> None:
    app = make_bot(kind=Bot.Kind.SMARTAPP, name="App")
    SmartApp.objects.create(bot=app)
    app = Bot.objects.get(pk=app.pk)

    app.kind = Bot.Kind.CHATBOT
    with pytest.raises(ValidationError) as exc:
        app.full_clean()

    assert error_fields(exc) == {"kind"}


def test_bot_kind_can_change_when_it_has_no_smartapp_settings(make_bot: Callable[..., Bot]) -> None:
    app = make_bot(kind=Bot.Kind.SMARTAPP, name="App")

    app.kind = Bot.Kind.CHATBOT
    app.full_clean()


@pytest.mark.parametrize(
    ("changes", "served"),
    [
        ({}, True),
        ({"enabled": False}, False),
        ({"protocol_version": Bot.ProtocolVersion.V3}, False),
        ({"handler": "retired-handler"}, False),
    ],
)
def test_bot_is_served_only_when_enabled_on_protocol_4_with_known_handler(
    bot: Bot, changes: dict[str, object], served: bool
) -> None:
    Bot.objects.filter(pk=bot.pk).update(**changes)

    assert Bot.objects.get(pk=bot.pk).is_served is served


# --- SmartApp ----------------------------------------------------------------------------------------


@pytest.fixture
def smartbot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot(kind=Bot.Kind.SMARTAPP, name="Calendar", app_id="calendar")


def test_smartapp_with_defaults_is_valid(smartbot: Bot) -> None:
    app = SmartApp(bot=smartbot)
    app.full_clean()
    app.save()

    assert smartbot.smartapp == app


def test_smartapp_settings_only_for_a_smartapp_bot(bot: Bot) -> None:
    app = SmartApp(bot=bot)

    with pytest.raises(ValidationError) as exc:
        app.full_clean()

    assert error_fields(exc) == {"bot"}


def test_smartapp_link_regex_must_compile(smartbot: Bot) -> None:
    app = SmartApp(bot=smartbot, link_regex=r"^https://calendar\.example\.com/(")

    with pytest.raises(ValidationError) as exc:
        app.full_clean()

    assert error_fields(exc) == {"link_regex"}
    assert exc.value.message_dict["link_regex"][0].startswith("Not a valid regular expression")


def test_smartapp_link_regex_that_compiles_is_accepted(smartbot: Bot) -> None:
    SmartApp(bot=smartbot, link_regex=r"^https://calendar\.example\.com/\d+$").full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("unread_counter_user_huids", ["not-a-uuid"]),
        ("unread_counter_user_huids", HUID),
        ("unread_counter_chat_ids", [HUID, "nope"]),
        ("unread_counter_chat_ids", {"chat": HUID}),
        ("unread_counter_app_ids", [""]),
        ("unread_counter_app_ids", [42]),
        ("unread_counter_app_ids", "calendar"),
    ],
)
def test_smartapp_unread_counter_lists_are_validated(smartbot: Bot, field: str, value: object) -> None:
    app = SmartApp(bot=smartbot, **{field: value})

    with pytest.raises(ValidationError) as exc:
        app.full_clean()

    assert error_fields(exc) == {field}


def test_smartapp_valid_unread_counter_lists_are_accepted(smartbot: Bot) -> None:
    SmartApp(
        bot=smartbot,
        unread_counter_user_huids=[HUID],
        unread_counter_chat_ids=[OTHER_HUID.upper()],
        unread_counter_app_ids=["mail", "tasks"],
    ).full_clean()


@pytest.mark.parametrize("version", ["1.2.0", "10.20.30", "1.0.0-beta.1", "2.0.0+build.7"])
def test_smartapp_semantic_version_is_accepted(smartbot: Bot, version: str) -> None:
    SmartApp(bot=smartbot, app_version=version).full_clean()


@pytest.mark.parametrize("version", ["1.2", "v1.2.0", "1.2.0.", "1.2.0-", "", "one.two.three"])
def test_smartapp_version_that_is_not_semantic_is_rejected(smartbot: Bot, version: str) -> None:
    with pytest.raises(ValidationError) as exc:
        SmartApp(bot=smartbot, app_version=version).full_clean()

    assert error_fields(exc) == {"app_version"}


def test_smartapp_version_with_a_trailing_newline_is_rejected(smartbot: Bot) -> None:
    with pytest.raises(ValidationError):
        SmartApp(bot=smartbot, app_version="1.2.0\n").full_clean()


@pytest.mark.parametrize("field", ["web_default_layout", "web_expanded_layout"])
def test_smartapp_unknown_layout_is_refused(smartbot: Bot, field: str) -> None:
    app = SmartApp.objects.create(bot=smartbot)

    with refused_by_database():
        SmartApp.objects.filter(pk=app.pk).update(**{field: "huge"})

    setattr(app, field, "huge")
    with pytest.raises(ValidationError) as exc:
        app.full_clean()
    assert error_fields(exc) == {field}


# --- BotRole -----------------------------------------------------------------------------------------


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user("someone")


@pytest.fixture
def group(db: Any) -> Group:
    return Group.objects.create(name="team")


def test_role_for_both_a_user_and_a_group_is_refused_by_the_database(bot: Bot, user: User, group: Group) -> None:
    with refused_by_database():
        BotRole.objects.create(bot=bot, user=user, group=group, role=Role.OWNER)


def test_role_for_neither_a_user_nor_a_group_is_refused_by_the_database(bot: Bot) -> None:
    with refused_by_database():
        BotRole.objects.create(bot=bot, role=Role.OWNER)


@pytest.mark.parametrize("holders", [("user", "group"), ()])
def test_role_clean_wants_exactly_one_of_user_and_group(
    bot: Bot, user: User, group: Group, holders: tuple[str, ...]
) -> None:
    given = {"user": user, "group": group}
    role = BotRole(bot=bot, role=Role.OWNER, **{name: given[name] for name in holders})

    with pytest.raises(ValidationError) as exc:
        role.full_clean()

    assert error_fields(exc) == {"__all__"}


@pytest.mark.parametrize("holder", ["user", "group"])
def test_role_for_a_user_or_a_group_alone_is_valid(bot: Bot, user: User, group: Group, holder: str) -> None:
    BotRole(bot=bot, role=Role.AUDITOR, **{holder: {"user": user, "group": group}[holder]}).full_clean()


@pytest.mark.parametrize("holder", ["user", "group"])
def test_one_role_per_bot_and_holder(bot: Bot, user: User, group: Group, holder: str) -> None:
    who = {holder: {"user": user, "group": group}[holder]}
    BotRole.objects.create(bot=bot, role=Role.OWNER, **who)

    with pytest.raises(ValidationError) as exc:
        BotRole(bot=bot, role=Role.AUDITOR, **who).full_clean()
    assert "__all__" in exc.value.message_dict

    with refused_by_database():
        BotRole.objects.create(bot=bot, role=Role.AUDITOR, **who)


def test_same_holder_may_have_roles_on_two_bots(
    bot: Bot, make_bot: Callable[..., Bot], user: User, group: Group
) -> None:
    other = make_bot(name="Other")
    for target in (bot, other):
        BotRole.objects.create(bot=target, user=user, role=Role.OWNER)
        BotRole.objects.create(bot=target, group=group, role=Role.OWNER)

    assert BotRole.objects.count() == 4


def test_user_role_and_group_role_on_one_bot_do_not_collide(bot: Bot, user: User, group: Group) -> None:
    BotRole.objects.create(bot=bot, user=user, role=Role.OWNER)
    BotRole.objects.create(bot=bot, group=group, role=Role.OWNER)
    other_group = Group.objects.create(name="other team")
    BotRole.objects.create(bot=bot, group=other_group, role=Role.AUDITOR)

    assert bot.roles.count() == 3


def test_unknown_role_is_refused(bot: Bot, user: User) -> None:
    with pytest.raises(ValidationError) as exc:
        BotRole(bot=bot, user=user, role="god").full_clean()
    assert error_fields(exc) == {"role"}

    with refused_by_database():
        BotRole.objects.create(bot=bot, user=user, role="god")


# --- ChatRule ----------------------------------------------------------------------------------------


def test_one_chat_rule_per_bot_and_chat(bot: Bot) -> None:
    ChatRule.objects.create(bot=bot, chat_id=HUID, kind=ChatRule.Kind.ALLOW)

    with pytest.raises(ValidationError) as exc:
        ChatRule(bot=bot, chat_id=HUID, kind=ChatRule.Kind.DENY).full_clean()
    assert "__all__" in exc.value.message_dict

    with refused_by_database():
        ChatRule.objects.create(bot=bot, chat_id=HUID, kind=ChatRule.Kind.DENY)


def test_same_chat_may_have_rules_on_two_bots(bot: Bot, make_bot: Callable[..., Bot]) -> None:
    other = make_bot(name="Other")
    ChatRule.objects.create(bot=bot, chat_id=HUID, kind=ChatRule.Kind.ALLOW)
    ChatRule.objects.create(bot=other, chat_id=HUID, kind=ChatRule.Kind.DENY)

    assert ChatRule.objects.filter(chat_id=HUID).count() == 2


def test_unknown_chat_rule_kind_is_refused(bot: Bot) -> None:
    with pytest.raises(ValidationError) as exc:
        ChatRule(bot=bot, chat_id=HUID, kind="maybe").full_clean()
    assert error_fields(exc) == {"kind"}

    with refused_by_database():
        ChatRule.objects.create(bot=bot, chat_id=HUID, kind="maybe")


# --- CommandRule -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/report", "/status", "/отчёт", "/a-b_c.1"])
def test_command_name_that_is_a_slash_and_a_word_is_accepted(bot: Bot, command: str) -> None:
    CommandRule(bot=bot, command=command).full_clean()


@pytest.mark.parametrize("command", ["report", "/a b", "/a/b", "/", "", " /report", "/report "])
def test_command_name_that_is_not_a_slash_and_a_word_is_rejected(bot: Bot, command: str) -> None:
    with pytest.raises(ValidationError) as exc:
        CommandRule(bot=bot, command=command).full_clean()

    assert error_fields(exc) == {"command"}


def test_command_name_with_a_trailing_newline_is_rejected(bot: Bot) -> None:
    with pytest.raises(ValidationError):
        CommandRule(bot=bot, command="/report\n").full_clean()


def test_one_rule_per_bot_and_command(bot: Bot) -> None:
    CommandRule.objects.create(bot=bot, command="/report")

    with pytest.raises(ValidationError) as exc:
        CommandRule(bot=bot, command="/report", chat_admins_only=True).full_clean()
    assert "__all__" in exc.value.message_dict

    with refused_by_database():
        CommandRule.objects.create(bot=bot, command="/report")


def test_command_rule_clean_normalises_its_lists(bot: Bot) -> None:
    rule = CommandRule(
        bot=bot,
        command="/report",
        user_huids=[OTHER_HUID.upper(), "{" + HUID + "}", HUID.replace("-", ""), OTHER_HUID],
        ad_logins=[" Alice ", "alice", "BOB"],
        ad_domains=["Corp.Example.COM", "corp.example.com "],
    )

    rule.full_clean()

    assert rule.user_huids == sorted([HUID, OTHER_HUID])
    assert rule.ad_logins == ["alice", "bob"]
    assert rule.ad_domains == ["corp.example.com"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_huids", ["not-a-uuid"]),
        ("user_huids", [None]),
        ("user_huids", 42),
        ("ad_logins", [""]),
        ("ad_logins", ["alice", 7]),
        ("ad_logins", "alice"),
        ("ad_domains", ["   "]),
        ("ad_domains", {"corp.example.com": True}),
    ],
)
def test_command_rule_bad_lists_are_rejected(bot: Bot, field: str, value: object) -> None:
    rule = CommandRule(bot=bot, command="/report", **{field: value})

    with pytest.raises(ValidationError) as exc:
        rule.full_clean()

    assert error_fields(exc) == {field}


ALICE = Sender(user_huid=HUID, ad_login="alice", ad_domain="corp.example.com")


@pytest.mark.parametrize(
    ("rule", "sender", "allowed"),
    [
        pytest.param({}, ALICE, True, id="empty-lists-allow-everyone"),
        pytest.param({}, Sender(user_huid=None), True, id="empty-lists-allow-even-unknown-sender"),
        pytest.param({"user_huids": [HUID]}, ALICE, True, id="huid-match"),
        pytest.param({"user_huids": [HUID]}, Sender(user_huid=HUID.upper()), True, id="huid-any-case"),
        pytest.param({"user_huids": [OTHER_HUID]}, ALICE, False, id="huid-mismatch"),
        pytest.param({"user_huids": [HUID]}, Sender(user_huid=None), False, id="huid-list-no-huid"),
        pytest.param({"ad_logins": ["ALICE"]}, ALICE, True, id="login-match-case-insensitive"),
        pytest.param(
            {"ad_logins": ["alice"]}, Sender(user_huid=OTHER_HUID, ad_login="Alice"), True, id="login-sender-case"
        ),
        pytest.param({"ad_logins": ["bob"]}, ALICE, False, id="login-mismatch"),
        pytest.param({"ad_logins": ["alice"]}, Sender(user_huid=HUID, ad_login=""), False, id="login-empty"),
        pytest.param({"ad_domains": ["Corp.Example.com"]}, ALICE, True, id="domain-match"),
        pytest.param({"ad_domains": ["other.example.com"]}, ALICE, False, id="domain-mismatch"),
        pytest.param(
            {"user_huids": [OTHER_HUID], "ad_logins": ["bob"], "ad_domains": ["corp.example.com"]},
            ALICE,
            True,
            id="any-list-matching-is-enough",
        ),
        pytest.param({"chat_admins_only": True}, ALICE, False, id="admins-only-refuses-member"),
        pytest.param(
            {"chat_admins_only": True},
            Sender(user_huid=HUID, is_admin=True),
            True,
            id="admins-only-allows-admin",
        ),
        pytest.param(
            {"chat_admins_only": True, "ad_logins": ["bob"]},
            Sender(user_huid=HUID, ad_login="alice", is_admin=True),
            False,
            id="admin-must-also-match-lists",
        ),
        pytest.param(
            {"chat_admins_only": True, "ad_logins": ["alice"]},
            Sender(user_huid=HUID, ad_login="alice", is_admin=True),
            True,
            id="admin-matching-lists",
        ),
        pytest.param(
            {"chat_admins_only": True, "ad_logins": ["alice"]},
            ALICE,
            False,
            id="matching-lists-but-not-admin",
        ),
    ],
)
def test_command_rule_allows(bot: Bot, rule: dict[str, Any], sender: Sender, allowed: bool) -> None:
    command_rule = CommandRule(bot=bot, command="/report", **rule)
    command_rule.full_clean()
    command_rule.save()

    assert CommandRule.objects.get(pk=command_rule.pk).allows(sender) is allowed
