"""Parsing what BotX sends: every saved payload, the unknown things we tolerate, the bodies we refuse,
and pybotx's reading of the same payloads as a second opinion."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.botx.incoming import (
    ATTACHMENT_TYPES,
    MENTION_TYPES,
    SYSTEM_EVENTS,
    TEXT_PREVIEW_LENGTH,
    CallbackResult,
    IncomingCommand,
    PayloadError,
    StatusQuery,
    parse_callback,
    parse_command,
    parse_smartapp_request,
    parse_status_query,
    pybotx_parse,
)
from tests.botx import payloads
from tests.botx.payloads import BOT_ID, GROUP_CHAT_ID, HOST, OTHER_USER_HUID, PERSONAL_CHAT_ID, USER_HUID

# Read when pybotx is imported: keeps it from reconfiguring logging for the whole test run.
os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
from pybotx.models.method_callbacks import BotXMethodCallback
from pybotx.models.status import BotAPIStatusRecipient
from pybotx.models.sync_smartapp_event import BotAPISyncSmartAppEvent
from pydantic import TypeAdapter

COMMAND_FIXTURES = [name for name in payloads.names() if not name.startswith(("callback_", "smartapp_request"))]
KNOWN_COMMAND_FIXTURES = [name for name in COMMAND_FIXTURES if name != "unknown_system_event"]
ORDINARY_FIXTURES = [name for name in COMMAND_FIXTURES if "unknown" not in name]
SYSTEM_FIXTURES = payloads.names("system_")


def parse(name: str) -> IncomingCommand:
    return parse_command(payloads.load(name))


# --- every saved payload ---------------------------------------------------------------------------


def test_there_is_a_fixture_for_every_known_system_event():
    assert {name.removeprefix("system_") for name in SYSTEM_FIXTURES} == SYSTEM_EVENTS
    assert len(SYSTEM_EVENTS) == 15


def test_there_is_a_fixture_for_every_attachment_and_mention_type():
    attachments = {name.removeprefix("attachment_") for name in payloads.names("attachment_")}
    assert attachments == ATTACHMENT_TYPES | {"unknown"}
    assert {name.removeprefix("mention_") for name in payloads.names("mention_")} == MENTION_TYPES


@pytest.mark.parametrize("name", COMMAND_FIXTURES)
def test_every_saved_command_parses(name):
    raw = payloads.load(name)

    command = parse_command(raw)

    assert command.sync_id == uuid.UUID(raw["sync_id"])
    assert command.bot_id == BOT_ID
    assert command.proto_version == 4
    assert command.body == raw["command"]["body"]
    assert command.sender.host == HOST
    assert command.raw is raw
    json.dumps(command.summary())


@pytest.mark.parametrize("name", ORDINARY_FIXTURES)
def test_nothing_in_the_ordinary_fixtures_is_unrecognized(name):
    assert parse(name).unrecognized() == []


# --- user messages ---------------------------------------------------------------------------------


def test_a_minimal_message():
    command = parse("message_minimal")

    assert command.command_type == "user"
    assert not command.is_system
    assert command.event is None
    assert not command.event_known
    assert command.source_sync_id is None
    assert (command.command_name, command.argument, command.kind) == ("/hello", "world", "command")
    assert (command.chat_id, command.chat_type) == (PERSONAL_CHAT_ID, "chat")
    assert (command.data, command.metadata) == ({}, {})
    assert (command.attachments, command.async_files, command.entities, command.mentions) == ([], [], [], [])
    sender = command.sender
    assert sender.user_huid == USER_HUID
    assert (sender.user_udid, sender.ad_login, sender.ad_domain, sender.username, sender.upn) == (None,) * 5
    assert (sender.is_admin, sender.is_creator) == (True, True)
    assert (sender.platform, sender.device_meta, sender.locale) == (None, {}, "en")


def test_a_maximal_message():
    command = parse("message_maximal")

    sender = command.sender
    assert sender.upn == "ivan.petrov@corp.example.com"
    assert sender.username == "Ivan Petrov"
    assert (sender.is_admin, sender.is_creator) == (False, False)
    assert sender.user_udid == uuid.UUID("49eac56a-a0dc-4ab4-9a66-43d8bae5c33c")
    assert (sender.manufacturer, sender.device, sender.device_software) == ("Mozilla", "Firefox 128.0", "Linux x86_64")
    assert sender.device_meta == {
        "pushes": False,
        "timezone": "Europe/Moscow",
        "permissions": {"microphone": True, "notifications": False},
    }
    assert (sender.platform, sender.platform_package_id, sender.app_version, sender.locale) == (
        "web",
        "ru.unlimitedtech.express",
        "3.41.12",
        "ru",
    )

    (image,) = command.attachments
    assert (image.type, image.known, image.file_name, image.mimetype) == ("image", True, "chart.png", "image/png")
    content = image.content()
    assert content is not None
    assert content.startswith(b"\x89PNG\r\n\x1a\n")

    (async_file,) = command.async_files
    assert async_file.known
    assert (async_file.type, async_file.file_name, async_file.file_mimetype) == ("image", "chart.png", "image/png")
    assert async_file.file_size == len(content)
    assert async_file.file_id == uuid.UUID(command.raw["async_files"][0]["file_id"])
    assert async_file.file_url is not None
    assert async_file.file_url.startswith(f"https://{HOST}/uploads/")
    assert (async_file.caption, async_file.duration) == ("Q3 chart", None)

    assert [entity.type for entity in command.entities] == ["reply", "forward", "mention"]
    assert all(entity.known for entity in command.entities)
    # The mention inside the quoted reply belongs to the quoted message, not to this one.
    (mention,) = command.mentions
    assert (mention.mention_type, mention.entity_id, mention.name) == ("user", OTHER_USER_HUID, "Anna Smirnova")
    assert command.summary()["entities"] == ["reply", "forward", "mention"]


def test_a_button_press():
    command = parse("button_press")

    assert command.is_button_press
    assert command.kind == "button"
    assert command.source_sync_id == uuid.UUID(command.raw["source_sync_id"])
    assert command.command_name == "/vote"
    assert command.data == {"poll_id": 17, "choice": "yes"}
    assert command.metadata == {"poll": "lunch", "round": 2}


@pytest.mark.parametrize(
    ("body", "name", "argument", "kind"),
    [
        ("/help", "/help", "", "command"),
        ("/help me please", "/help", "me please", "command"),
        ("  /help \n  me  ", "/help", "me", "command"),
        ("/Привет мир", "/Привет", "мир", "command"),
        ("help me", None, "me", "message"),
        ("/a/b c", None, "c", "message"),
        ("/", None, "", "message"),
        ("", None, "", "message"),
        ("   ", None, "", "message"),
    ],
)
def test_command_names_and_arguments_follow_pybotx(body, name, argument, kind):
    command = parse_command(payloads.command(body=body))

    assert (command.command_name, command.argument, command.kind) == (name, argument, kind)


def test_the_text_preview_is_cut_at_200_characters():
    long = parse_command(payloads.command(body="x" * 1000)).summary()["text"]
    short = parse_command(payloads.command(body="x" * 200)).summary()["text"]

    assert len(long) == TEXT_PREVIEW_LENGTH
    assert long.endswith("…")
    assert short == "x" * 200


def test_the_summary_of_a_message():
    assert parse("message_maximal").summary() == {
        "sync_id": payloads.load("message_maximal")["sync_id"],
        "kind": "command",
        "command": "/report",
        "event": None,
        "chat_id": str(PERSONAL_CHAT_ID),
        "chat_type": "chat",
        "user_huid": str(USER_HUID),
        "ad_login": "ivan.petrov",
        "text": "/report quarterly @Anna Smirnova",
        "attachments": ["image"],
        "entities": ["reply", "forward", "mention"],
        "unrecognized": [],
    }


# --- system events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SYSTEM_FIXTURES)
def test_every_known_system_event_is_recognised(name):
    command = parse(name)

    assert command.is_system
    assert command.event == name.removeprefix("system_")
    assert command.event_known
    assert command.command_name is None
    assert command.kind == "event"
    summary = command.summary()
    assert (summary["event"], summary["command"], summary["text"]) == (command.event, None, None)


def test_system_events_without_a_user_have_no_sender():
    command = parse("system_cts_login")

    assert command.sender.user_huid is None
    assert (command.chat_id, command.chat_type) == (None, None)
    assert command.data["user_huid"] == str(USER_HUID)


def test_a_system_event_naming_its_chat_only_in_data_still_has_a_chat():
    command = parse("system_event_deleted")

    assert command.raw["from"]["group_chat_id"] is None
    assert command.chat_id == GROUP_CHAT_ID


def test_chat_created_lists_its_members():
    command = parse("system_chat_created")

    assert (command.chat_id, command.chat_type) == (GROUP_CHAT_ID, "group_chat")
    assert [member["user_kind"] for member in command.data["members"]] == ["user", "cts_user", "botx"]


def test_an_event_without_metadata_reads_as_empty_metadata():
    command = parse("system_deleted_from_chat")

    assert "metadata" not in command.raw["command"]
    assert command.metadata == {}


def test_a_smartapp_event_carries_its_files():
    command = parse("system_smartapp_event")

    assert command.data["data"]["type"] == "smartapp_rpc"
    (document,) = command.async_files
    assert (document.type, document.file_name, document.file_size) == ("document", "invoice.pdf", 48213)
    assert document.file_id == uuid.UUID(command.raw["async_files"][0]["file_id"])


def test_an_unknown_system_event_is_tolerated_and_flagged():
    command = parse("unknown_system_event")

    assert command.is_system
    assert command.event == "call_started"
    assert not command.event_known
    assert command.unrecognized() == ["event:call_started"]
    assert command.summary()["event"] == "call_started"


def test_a_missing_command_type_is_inferred_from_the_body():
    raw = payloads.load("system_added_to_chat")
    del raw["command"]["command_type"]
    assert parse_command(raw).event == "added_to_chat"

    raw = payloads.command(body="/help")
    del raw["command"]["command_type"]
    assert parse_command(raw).command_name == "/help"


def test_a_user_typing_a_system_event_name_stays_a_user():
    command = parse_command(payloads.command(body="system:chat_created"))

    assert not command.is_system
    assert command.event is None
    assert command.kind == "message"


def test_an_unknown_command_type_is_kept_and_flagged():
    command = parse_command(payloads.command(command_type="reaction"))

    assert command.command_type == "reaction"
    assert not command.is_system
    assert "command_type:reaction" in command.unrecognized()


# --- attachments, entities, chat types -------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ATTACHMENT_TYPES))
def test_every_attachment_type_is_recognised(kind):
    (attachment,) = parse(f"attachment_{kind}").attachments

    assert (attachment.type, attachment.known) == (kind, True)
    assert attachment.data == payloads.load(f"attachment_{kind}")["attachments"][0]["data"]


@pytest.mark.parametrize(
    ("kind", "mimetype", "starts_with"),
    [
        ("image", "image/png", b"\x89PNG"),
        ("video", "video/mp4", b"\x00\x00\x00\x18ftyp"),
        ("document", "text/plain", b"Quarterly report"),
        ("voice", "audio/mp3", b"ID3"),
        ("contact", "text/vcard", b"BEGIN:VCARD"),
    ],
)
def test_inlined_files_can_be_decoded(kind, mimetype, starts_with):
    (attachment,) = parse(f"attachment_{kind}").attachments

    assert attachment.mimetype == mimetype
    content = attachment.content()
    assert content is not None
    assert content.startswith(starts_with)


@pytest.mark.parametrize("kind", ["location", "link", "sticker"])
def test_attachments_without_a_file_have_no_content(kind):
    (attachment,) = parse(f"attachment_{kind}").attachments

    assert (attachment.content(), attachment.mimetype) == (None, None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("", b""), ("data:text/plain;base64,aGk=", b"hi"), ("data:text/plain,hi", None), ("aGk=", None), (None, None)],
)
def test_attachment_content_is_read_leniently(content, expected):
    command = parse_command(payloads.command(attachments=[{"type": "document", "data": {"content": content}}]))

    assert command.attachments[0].content() == expected


def test_a_sticker_carries_its_emoji_in_the_body():
    command = parse("attachment_sticker")

    assert command.body == "\N{THUMBS UP SIGN}"
    assert command.attachments[0].data["link"].startswith("/uploads/sticker_pack/")


def test_an_unknown_attachment_type_is_tolerated_and_flagged():
    command = parse("attachment_unknown")

    (attachment,) = command.attachments
    assert (attachment.type, attachment.known) == ("poll", False)
    assert attachment.data["question"] == "Lunch?"
    assert command.unrecognized() == ["attachment:poll"]


@pytest.mark.parametrize(
    ("kind", "entity_id", "name"),
    [
        ("user", OTHER_USER_HUID, "Anna Smirnova"),
        ("contact", OTHER_USER_HUID, "Anna Smirnova"),
        ("chat", GROUP_CHAT_ID, "Release team"),
        ("channel", GROUP_CHAT_ID, "Company news"),
        ("all", None, None),
    ],
)
def test_every_mention_type_is_recognised(kind, entity_id, name):
    command = parse(f"mention_{kind}")

    (entity,) = command.entities
    assert (entity.type, entity.known) == ("mention", True)
    (mention,) = command.mentions
    assert (mention.mention_type, mention.known, mention.entity_id, mention.name) == (kind, True, entity_id, name)
    assert mention.mention_id == uuid.UUID(entity.data["mention_id"])


def test_an_unknown_mention_type_is_tolerated_and_flagged():
    raw = payloads.load("mention_user")
    raw["entities"][0]["data"]["mention_type"] = "role"

    command = parse_command(raw)

    assert command.mentions[0].known is False
    assert command.unrecognized() == ["mention:role"]


def test_an_unknown_entity_type_is_tolerated_and_flagged():
    command = parse("entity_unknown")

    (entity,) = command.entities
    assert (entity.type, entity.known, entity.mention) == ("hashtag", False, None)
    assert command.mentions == []
    assert command.unrecognized() == ["entity:hashtag"]


def test_an_unknown_chat_type_is_tolerated_and_flagged():
    command = parse("chat_type_unknown")

    assert (command.chat_id, command.chat_type) == (GROUP_CHAT_ID, "community")
    assert command.unrecognized() == ["chat_type:community"]


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"attachments": "nope"}, lambda c: c.attachments == []),
        ({"entities": None}, lambda c: c.entities == []),
        ({"async_files": [1, "x"]}, lambda c: [f.type for f in c.async_files] == ["", ""]),
        ({"attachments": [42]}, lambda c: (c.attachments[0].type, c.attachments[0].known) == ("", False)),
        ({"entities": [{"type": 7, "data": []}]}, lambda c: (c.entities[0].type, c.entities[0].data) == ("", {})),
        ({"source_sync_id": "not-a-uuid"}, lambda c: c.source_sync_id is None),
        ({"proto_version": None}, lambda c: c.proto_version is None),
        ({"data": ["not", "an", "object"]}, lambda c: c.data == {}),
        ({"metadata": None}, lambda c: c.metadata == {}),
        ({"user_huid": "not-a-uuid"}, lambda c: c.sender.user_huid is None),
        ({"group_chat_id": 17}, lambda c: c.chat_id is None),
        ({"is_admin": "yes"}, lambda c: c.sender.is_admin is False),
        ({"device_meta": ["x"]}, lambda c: c.sender.device_meta == {}),
        ({"ad_login": ""}, lambda c: c.sender.ad_login is None),
        ({"chat_type": None}, lambda c: c.chat_type is None),
        ({"host": None}, lambda c: c.sender.host is None),
    ],
)
def test_wrong_optional_fields_are_read_as_absent(overrides, check):
    assert check(parse_command(payloads.command(**overrides)))


def test_extra_keys_are_ignored_and_kept_in_raw():
    raw = payloads.command()
    raw["new_field"] = {"from": "a newer BotX"}
    raw["from"]["open_id_access_token"] = "token"

    command = parse_command(raw)

    assert command.raw["new_field"] == {"from": "a newer BotX"}
    assert command.unrecognized() == []


def test_another_protocol_version_is_parsed_and_flagged():
    command = parse_command(payloads.command(proto_version=3))

    assert command.proto_version == 3
    assert command.unrecognized() == ["proto_version:3"]


# --- bodies that cannot be understood --------------------------------------------------------------


def _without(path: str) -> dict[str, Any]:
    raw = payloads.command()
    *parents, last = path.split(".")
    target = raw
    for key in parents:
        target = target[key]
    del target[last]
    return raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "The command body must be a JSON object, got an array."),
        ("text", "The command body must be a JSON object, got a string."),
        (None, "The command body must be a JSON object, got null."),
        (4, "The command body must be a JSON object, got a number."),
        (_without("sync_id"), '"sync_id" is missing.'),
        (payloads.command(sync_id=None), '"sync_id" is missing.'),
        (payloads.command(sync_id="12345"), "\"sync_id\" must be a UUID string, got '12345'."),
        (payloads.command(sync_id=12345), '"sync_id" must be a UUID string, got 12345.'),
        (_without("bot_id"), '"bot_id" is missing.'),
        (payloads.command(bot_id="bot"), "\"bot_id\" must be a UUID string, got 'bot'."),
        (_without("command"), '"command" must be an object, got null.'),
        (payloads.command(proto_version="4"), '"proto_version" must be an integer, got a string.'),
        (payloads.command(proto_version=True), '"proto_version" must be an integer, got a boolean.'),
        (payloads.command(proto_version=4.0), '"proto_version" must be an integer, got a number.'),
        (_without("command.body"), '"command.body" must be a string, got null.'),
        (payloads.command(body=["/help"]), '"command.body" must be a string, got an array.'),
        (_without("from"), '"from" must be an object, got null.'),
    ],
)
def test_bodies_that_cannot_be_routed_are_refused_with_a_readable_message(raw, message):
    with pytest.raises(PayloadError) as caught:
        parse_command(raw)
    assert str(caught.value) == message


def test_a_payload_error_is_a_value_error():
    assert issubclass(PayloadError, ValueError)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(PayloadError) as caught:
        parse_command(payloads.command(sync_id="x" * 500))
    assert len(str(caught.value)) < 120


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
COMMAND_KEYS = ("sync_id", "bot_id", "source_sync_id", "proto_version", "command", "from")
LIST_KEYS = ("attachments", "async_files", "entities")
command_keys = st.sampled_from(COMMAND_KEYS + LIST_KEYS)


def _shaped_like_a_command(changes: dict[str, Any]) -> dict[str, Any]:
    raw = payloads.command()
    raw.update(changes)
    return raw


def _with_changed_parts(parts: dict[str, Any]) -> dict[str, Any]:
    raw = payloads.load("message_maximal")
    for key, value in parts.items():
        section, _, field = key.partition(".")
        raw[section][field] = value
    return raw


part_keys = st.sampled_from(
    [
        "command.body",
        "command.command_type",
        "command.data",
        "from.user_huid",
        "from.chat_type",
        "from.device_meta",
        "from.is_admin",
        "from.group_chat_id",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    json_values
    | st.dictionaries(command_keys, json_values, max_size=9)
    | st.dictionaries(command_keys, json_values, max_size=3).map(_shaped_like_a_command)
    | st.dictionaries(part_keys, json_values, max_size=4).map(_with_changed_parts)
    | st.lists(st.dictionaries(st.sampled_from(["type", "data"]), json_values)).map(
        lambda items: _shaped_like_a_command({"attachments": items, "entities": items, "async_files": items})
    )
)
def test_any_json_is_parsed_or_refused_with_a_payload_error(raw):
    try:
        command = parse_command(raw)
    except PayloadError:
        return
    json.dumps(command.summary())
    assert isinstance(command.mentions, list)
    assert isinstance(command.argument, str)


# --- pybotx as a second opinion --------------------------------------------------------------------


def _pybotx_view(obj: Any) -> dict[str, Any]:
    """The fields of a pybotx domain object that both parsers must agree on, where it has them."""
    view: dict[str, Any] = {"bot_id": obj.bot.id, "host": obj.bot.host}
    raw = obj.raw_command
    view["sync_id"] = uuid.UUID(raw["sync_id"])
    if hasattr(obj, "chat"):
        view["chat_id"] = obj.chat.id
    sender = getattr(obj, "sender", None)
    if sender is not None and hasattr(sender, "huid"):
        view["user_huid"] = sender.huid
    if hasattr(obj, "body") and type(obj).__name__ == "IncomingMessage":
        view["body"] = obj.body
        view["argument"] = obj.argument
        view["source_sync_id"] = obj.source_sync_id
        view["mentions"] = len(obj.mentions)
        view["data"] = obj.data
        view["metadata"] = obj.metadata
    return view


def _our_view(command: IncomingCommand, keys: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "bot_id": command.bot_id,
        "host": command.sender.host,
        "sync_id": command.sync_id,
        "chat_id": command.chat_id,
        "user_huid": command.sender.user_huid,
        "body": command.body,
        "argument": command.argument,
        "source_sync_id": command.source_sync_id,
        "mentions": len(command.mentions),
        "data": command.data,
        "metadata": command.metadata,
    }
    return {key: values[key] for key in keys}


@pytest.mark.parametrize("name", KNOWN_COMMAND_FIXTURES)
def test_pybotx_reads_the_known_fixtures_as_we_do(name):
    raw = payloads.load(name)

    obj, error = pybotx_parse(raw)

    assert error is None
    theirs = _pybotx_view(obj)
    assert _our_view(parse_command(raw), set(theirs)) == theirs


def test_pybotx_agrees_on_the_unknown_chat_type():
    obj, _error = pybotx_parse(payloads.load("chat_type_unknown"))
    assert obj.chat.type == "UNSUPPORTED"


def test_pybotx_refuses_an_unknown_system_event():
    assert pybotx_parse(payloads.load("unknown_system_event")) == (
        None,
        "Unknown system event: `system:call_started`",
    )


def test_pybotx_refuses_another_protocol_version():
    obj, error = pybotx_parse(payloads.command(proto_version=3))
    assert obj is None
    assert error == "Unsupported Bot API version: `3`, expected `4`"


@pytest.mark.parametrize("raw", [None, [], "text", {}, payloads.command(sync_id="x")])
def test_pybotx_parse_reports_instead_of_raising(raw):
    obj, error = pybotx_parse(raw)
    assert obj is None
    assert error


def test_pybotx_validation_errors_name_the_field():
    _obj, error = pybotx_parse(payloads.command(sync_id="x"))
    assert error is not None
    assert error.startswith("Bot command validation error: sync_id")


# --- /status ---------------------------------------------------------------------------------------

STATUS_PARAMS = {
    "bot_id": str(BOT_ID),
    "user_huid": str(USER_HUID),
    "ad_login": "ivan.petrov",
    "ad_domain": "corp.example.com",
    "is_admin": "true",
    "chat_type": "chat",
}


def test_a_full_status_query():
    assert parse_status_query(STATUS_PARAMS) == StatusQuery(
        bot_id=BOT_ID,
        user_huid=USER_HUID,
        ad_login="ivan.petrov",
        ad_domain="corp.example.com",
        is_admin=True,
        chat_type="chat",
    )


def test_empty_status_params_count_as_absent():
    params = STATUS_PARAMS | {"user_huid": "", "ad_login": "", "ad_domain": "", "is_admin": "", "chat_type": ""}

    assert parse_status_query(params) == StatusQuery(
        bot_id=BOT_ID, user_huid=None, ad_login=None, ad_domain=None, is_admin=None, chat_type=None
    )


def test_a_status_query_needs_only_the_bot_id():
    assert parse_status_query({"bot_id": str(BOT_ID)}).user_huid is None


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("False", False), ("maybe", None)])
def test_is_admin_is_read_as_a_boolean(value, expected):
    assert parse_status_query(STATUS_PARAMS | {"is_admin": value}).is_admin is expected


def test_a_django_query_dict_can_be_parsed():
    query = QueryDict(f"bot_id={BOT_ID}&user_huid={USER_HUID}&ad_login=&ad_domain=&is_admin=false&chat_type=group_chat")
    assert parse_status_query(query) == StatusQuery(
        bot_id=BOT_ID, user_huid=USER_HUID, ad_login=None, ad_domain=None, is_admin=False, chat_type="group_chat"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, 'Query parameter "bot_id" is missing.'),
        ({"bot_id": ""}, 'Query parameter "bot_id" is missing.'),
        ({"bot_id": "bot"}, "Query parameter \"bot_id\" must be a UUID, got 'bot'."),
        ({"bot_id": str(BOT_ID), "user_huid": "me"}, "Query parameter \"user_huid\" must be a UUID, got 'me'."),
    ],
)
def test_a_status_query_without_a_valid_bot_or_user_is_refused(params, message):
    with pytest.raises(PayloadError) as caught:
        parse_status_query(params)
    assert str(caught.value) == message


def test_pybotx_reads_the_status_query_as_we_do():
    params = STATUS_PARAMS | {"ad_domain": "", "is_admin": "false"}

    theirs = BotAPIStatusRecipient.model_validate(params).to_domain()
    ours = parse_status_query(params)

    assert (ours.bot_id, ours.user_huid, ours.ad_login, ours.ad_domain, ours.is_admin) == (
        theirs.bot_id,
        theirs.huid,
        theirs.ad_login,
        theirs.ad_domain,
        theirs.is_admin,
    )


# --- /notification/callback ------------------------------------------------------------------------


def test_a_successful_callback():
    raw = payloads.load("callback_ok")

    assert parse_callback(raw) == CallbackResult(
        sync_id=uuid.UUID(raw["sync_id"]), ok=True, result={}, reason=None, errors=[], error_data={}, raw=raw
    )


def test_a_failed_callback():
    raw = payloads.load("callback_error")

    result = parse_callback(raw)

    assert not result.ok
    assert result.reason == "chat_not_found"
    assert result.errors == []
    assert result.error_data == {
        "group_chat_id": str(GROUP_CHAT_ID),
        "error_description": "Chat with specified id not found",
    }


def test_a_failed_callback_without_a_reason_still_has_one():
    raw = {"sync_id": str(uuid.uuid4()), "status": "error", "errors": "boom", "error_data": None}

    result = parse_callback(raw)

    assert (result.reason, result.errors, result.error_data) == ("unknown_error", [], {})


@pytest.mark.parametrize("name", ["callback_ok", "callback_error"])
def test_pybotx_reads_callbacks_as_we_do(name):
    raw = payloads.load(name)

    theirs = TypeAdapter(BotXMethodCallback).validate_python(raw)
    ours = parse_callback(raw)

    assert (ours.sync_id, ours.ok) == (theirs.sync_id, theirs.status == "ok")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "The callback body must be a JSON object, got an array."),
        ({"status": "ok"}, '"sync_id" is missing.'),
        ({"sync_id": "x", "status": "ok"}, "\"sync_id\" must be a UUID string, got 'x'."),
        ({"sync_id": str(uuid.uuid4())}, '"status" must be "ok" or "error", got None.'),
        ({"sync_id": str(uuid.uuid4()), "status": "pending"}, '"status" must be "ok" or "error", got \'pending\'.'),
    ],
)
def test_callbacks_that_cannot_be_matched_are_refused(raw, message):
    with pytest.raises(PayloadError) as caught:
        parse_callback(raw)
    assert str(caught.value) == message


# --- /smartapps/request ----------------------------------------------------------------------------


def test_a_sync_smartapp_request():
    raw = payloads.load("smartapp_request")

    request = parse_smartapp_request(raw)

    assert (request.bot_id, request.chat_id, request.method) == (BOT_ID, PERSONAL_CHAT_ID, "documents.list")
    assert request.data == {"folder": "invoices", "page": 1}
    assert (request.user_huid, request.platform, request.client_network_contour) == (USER_HUID, "web", "internal")
    assert request.udid == uuid.UUID("49eac56a-a0dc-4ab4-9a66-43d8bae5c33c")
    (document,) = request.files
    assert (document.type, document.file_name, document.raw) == ("document", "invoice.pdf", raw["payload"]["files"][0])
    assert request.raw is raw


def test_a_smartapp_request_with_little_in_it():
    request = parse_smartapp_request({"bot_id": str(BOT_ID), "method": "ping"})

    assert (request.chat_id, request.data, request.files, request.user_huid, request.platform) == (
        None,
        {},
        [],
        None,
        None,
    )


def test_pybotx_reads_the_smartapp_request_as_we_do():
    raw = payloads.load("smartapp_request")

    theirs = BotAPISyncSmartAppEvent.model_validate(raw).to_domain(raw)
    ours = parse_smartapp_request(raw)

    assert (ours.bot_id, ours.chat_id, ours.user_huid, ours.udid) == (
        theirs.bot.id,
        theirs.chat.id,
        theirs.sender.huid,
        theirs.sender.udid,
    )
    assert theirs.data == {"method": ours.method, "type": "smartapp_rpc", "params": ours.data}
    assert [file.filename for file in theirs.files] == [file.file_name for file in ours.files]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x", "The Smart App request body must be a JSON object, got a string."),
        ({"method": "ping"}, '"bot_id" is missing.'),
        ({"bot_id": str(BOT_ID)}, '"method" must be a non-empty string, got None.'),
        ({"bot_id": str(BOT_ID), "method": ""}, "\"method\" must be a non-empty string, got ''."),
    ],
)
def test_smartapp_requests_that_cannot_be_routed_are_refused(raw, message):
    with pytest.raises(PayloadError) as caught:
        parse_smartapp_request(raw)
    assert str(caught.value) == message


# --- the payload builders other tests use ----------------------------------------------------------


def test_the_command_builder_puts_each_override_where_it_belongs():
    chat = uuid.uuid4()

    raw = payloads.command(body="/echo hi", data={"a": 1}, group_chat_id=chat, chat_type="group_chat", bot_id=BOT_ID)

    assert raw["command"]["body"] == "/echo hi"
    assert raw["command"]["data"] == {"a": 1}
    assert raw["from"]["group_chat_id"] == str(chat)
    assert raw["from"]["chat_type"] == "group_chat"
    assert raw["bot_id"] == str(BOT_ID)


def test_the_command_builder_makes_a_new_sync_id_each_time():
    assert payloads.command()["sync_id"] != payloads.command()["sync_id"]


def test_the_command_builder_refuses_unknown_fields():
    with pytest.raises(TypeError):
        payloads.command(bodyy="/help")


def test_the_system_event_builder():
    known = parse_command(payloads.system_event("added_to_chat", {"added_members": [str(USER_HUID)]}))
    unknown = parse_command(payloads.system_event("call_ended", {"call_id": str(uuid.uuid4())}))

    assert (known.event, known.event_known, known.data) == ("added_to_chat", True, {"added_members": [str(USER_HUID)]})
    assert (unknown.event, unknown.event_known) == ("call_ended", False)


def test_loaded_fixtures_are_copies():
    payloads.load("message_minimal")["command"]["body"] = "changed"
    assert payloads.load("message_minimal")["command"]["body"] == "/hello world"
