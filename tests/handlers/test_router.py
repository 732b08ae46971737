"""The router: commands with aliases and menu rules, buttons, system events by name, the default."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bots.botx.incoming import SYSTEM_EVENTS, parse_command
from bots.handlers.api import (
    ChatCreated,
    ChatDeletedByUser,
    Conference,
    ConferenceChanged,
    CtsSession,
    EventDeleted,
    EventEdit,
    InternalBotNotification,
    MembersChanged,
    SmartappEvent,
)
from bots.handlers.framework import BotRef, Context, MenuRecipient, Router
from tests.botx import payloads


def ctx_for(raw: dict[str, object]) -> Context:
    return Context(bot=BotRef(payloads.BOT_ID, "Echo", "echo"), message=parse_command(raw))


def noop(ctx: Context) -> None:
    return None


def other(ctx: Context) -> None:
    return None


def test_a_command_is_found_by_its_name_or_alias_and_anything_else_goes_to_the_default() -> None:
    router = Router()
    router.command("/report", description="Report", aliases=["/r"])(noop)
    router.default_message(other)

    assert router.resolve(parse_command(payloads.command(body="/report monthly"))) is noop
    assert router.resolve(parse_command(payloads.command(body="/r"))) is noop
    assert router.resolve(parse_command(payloads.command(body="report"))) is other
    assert router.resolve(parse_command(payloads.command(body="/unknown"))) is other
    assert [command.name for command in router.menu()] == ["/report"]


def test_a_button_is_found_by_its_command_and_gives_its_data_metadata_and_message() -> None:
    router = Router()
    router.button("/vote")(noop)
    raw = payloads.load("button_press")

    assert router.resolve(parse_command(raw)) is noop
    press = ctx_for(raw).button
    assert press is not None
    assert press.command == "/vote"
    assert press.data == raw["command"]["data"]
    assert press.metadata == raw["command"]["metadata"]
    assert press.source_sync_id == uuid.UUID(raw["source_sync_id"])
    assert router.menu() == []


def test_typed_text_is_no_button_press() -> None:
    assert ctx_for(payloads.command(body="/vote")).button is None


def test_events_register_by_name_or_attribute_and_unknown_names_are_refused() -> None:
    router = Router()
    router.on.chat_created(noop)
    router.event("system:added_to_chat")(other)

    assert router.resolve(parse_command(payloads.load("system_chat_created"))) is noop
    assert router.resolve(parse_command(payloads.load("system_added_to_chat"))) is other
    assert router.resolve(parse_command(payloads.load("system_cts_login"))) is None
    with pytest.raises(ValueError, match="Unknown system event 'chat_created_typo'"):
        router.on.chat_created_typo(noop)
    with pytest.raises(ValueError, match="has a handler already"):
        router.event("chat_created")(other)
    assert set(dir(router.on)) == SYSTEM_EVENTS


@pytest.mark.parametrize(
    ("register", "message"),
    [
        (lambda r: r.command("/x", description="X")(noop), "registered twice"),
        (lambda r: r.button("/x")(noop), "registered twice"),
        (lambda r: r.command("/y", description="Y", aliases=["/x"])(noop), "registered twice"),
        (lambda r: r.command("x", description="X")(noop), "a slash and a word"),
        (lambda r: r.command("/z")(noop), "needs a description"),
        (lambda r: r.default_message(noop) and r.default_message(noop), "Only one default"),
    ],
    ids=["command twice", "button over command", "alias over command", "no slash", "no description", "two defaults"],
)
def test_clashes_and_malformed_names_are_refused_at_import(register: object, message: str) -> None:
    router = Router()
    router.command("/x", description="X")(noop)

    with pytest.raises(ValueError, match=message):
        register(router)  # type: ignore[operator]


def test_a_command_hidden_from_the_menu_needs_no_description_and_a_rule_decides_per_user() -> None:
    router = Router()
    router.command("/secret", visible=False)(noop)
    router.command("/admin", description="Admins", visible=lambda who: bool(who.is_admin))(other)
    admin = MenuRecipient(user_huid=None, ad_login=None, ad_domain=None, is_admin=True, chat_type="group_chat")
    member = MenuRecipient(user_huid=None, ad_login=None, ad_domain=None, is_admin=False, chat_type="group_chat")

    assert [c.name for c in router.menu() if c.shown_to(admin)] == ["/admin"]
    assert [c.name for c in router.menu() if c.shown_to(member)] == []


def test_include_takes_in_another_routers_handlers_and_refuses_a_clash() -> None:
    part = Router()
    part.command("/a", description="A")(noop)
    part.button("/press")(noop)
    part.on.cts_login(noop)
    part.smartapp("items.list")(lambda call: [])
    whole = Router()
    whole.include(part)

    assert set(whole.commands) == {"/a"}
    assert set(whole.buttons) == {"/press"}
    assert set(whole.events) == {"cts_login"}
    assert set(whole.smartapp_methods) == {"items.list"}
    with pytest.raises(ValueError, match="registered twice"):
        whole.include(part)


# --- typed event data --------------------------------------------------------------------------------


def test_chat_created_gives_the_chat_and_its_members() -> None:
    event = ctx_for(payloads.load("system_chat_created")).event

    assert isinstance(event, ChatCreated)
    assert event.chat_id == payloads.GROUP_CHAT_ID
    assert (event.chat_type, event.name, event.creator) == ("group_chat", "Release team", payloads.USER_HUID)
    assert [(m.name, m.user_kind, m.admin) for m in event.members] == [
        ("Ivan Petrov", "user", True),
        ("Anna Smirnova", "cts_user", False),
        ("Echo", "botx", False),
    ]


@pytest.mark.parametrize("name", ["added_to_chat", "user_joined_to_chat", "deleted_from_chat", "left_from_chat"])
def test_membership_events_give_the_members(name: str) -> None:
    raw = payloads.load(f"system_{name}")
    event = ctx_for(raw).event

    assert isinstance(event, MembersChanged)
    assert event.huids and all(isinstance(huid, uuid.UUID) for huid in event.huids)
    assert [str(h) for h in event.huids] == next(v for v in raw["command"]["data"].values() if isinstance(v, list))


def test_the_other_events_give_their_fields() -> None:
    def event(name: str) -> object:
        return ctx_for(payloads.load(f"system_{name}")).event

    deleted_by_user = event("chat_deleted_by_user")
    assert isinstance(deleted_by_user, ChatDeletedByUser) and deleted_by_user.user_huid is not None
    login = event("cts_login")
    assert isinstance(login, CtsSession) and login.user_huid is not None and login.cts_id is not None
    assert isinstance(event("cts_logout"), CtsSession)
    internal = event("internal_bot_notification")
    assert isinstance(internal, InternalBotNotification)
    assert internal.data == {"kind": "deploy_finished", "build": 1842}
    assert internal.opts == {"internal_token": "build-bot"}
    edit = event("event_edit")
    assert isinstance(edit, EventEdit) and edit.body == "Meeting moved to 15:00"
    removed = event("event_deleted")
    assert isinstance(removed, EventDeleted)
    assert removed.chat_id == payloads.GROUP_CHAT_ID
    assert len(removed.sync_ids) == 2
    assert removed.deleted_at == dt.datetime(2026, 5, 14, 10, 2, 44, 120553, tzinfo=dt.UTC)
    assert removed.meta["deleted_by_admin"] is True
    created = event("conference_created")
    assert isinstance(created, Conference) and created.call_id is not None
    assert isinstance(event("conference_deleted"), Conference)
    changed = event("conference_changed")
    assert isinstance(changed, ConferenceChanged)
    assert (changed.name, changed.link_type, changed.sip_number) == ("Weekly sync", "corporate", 40117)
    assert changed.start_at == dt.datetime(2026, 5, 15, 7, 0, tzinfo=dt.UTC)
    assert changed.end_at is None
    assert len(changed.members) == 2
    smartapp = event("smartapp_event")
    assert isinstance(smartapp, SmartappEvent)
    assert smartapp.data["method"] == "documents.upload"
    assert smartapp.smartapp_api_version == 1
    assert len(smartapp.files) == 1


def test_a_user_message_and_an_event_we_do_not_model_have_no_event_data() -> None:
    assert ctx_for(payloads.command(body="hi")).event is None
    assert ctx_for(payloads.load("unknown_system_event")).event is None


def test_wrong_typed_event_fields_read_as_absent() -> None:
    raw = payloads.system_event("conference_changed", {"call_id": 5, "sip_number": "x", "members": ["nope", None]})

    event = ctx_for(raw).event
    assert isinstance(event, ConferenceChanged)
    assert (event.call_id, event.sip_number, event.members, event.start_at) == (None, None, [], None)
