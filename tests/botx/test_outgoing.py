"""Outgoing BotX requests: the bodies we build, and proof that pybotx sends the same for the same message.

Conformance tests drive pybotx 0.77.1's public ``Bot`` methods against an ``httpx.MockTransport`` and
compare the request it actually sends (path and JSON) with ``build_request``'s. pybotx is imported here
only as an oracle; the portal never imports it at runtime.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pickle
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyHttpUrl

from bots.botx.outgoing import (
    MAX_BODY_LENGTH,
    METHODS,
    BotxRequest,
    Method,
    OutgoingPayloadError,
    UnexpectedResultError,
    build_request,
    chat_of,
    mention_marker,
    mimetype_for,
    parse_message_status,
    sync_id_from_result,
    validate_payload,
)

os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
import pybotx  # after the logger switch, which pybotx reads at import
import pybotx.models.message.mentions as pybotx_mentions

BOT_ID = "24348246-6791-4ac0-9d86-b948cd6a0e46"
CHAT = "dbc8934f-d0d7-4a9e-89df-d45c137a851c"
OTHER_CHAT = "2a8c0d1e-c4d1-4308-b024-6e1a9f4a4b6f"
CHANNEL = "a465f0f3-1354-491c-8f11-f400164295cb"
SYNC = "6fafda2c-6505-57a5-a088-25ea5d1d0364"
ANN = "b9197d3a-d855-5d34-ba8a-eff3a975ab20"
BOB = "7e1f1b2e-9c4d-4f1a-8e8b-2a6c3d4e5f60"
FILE_ID = "8dada2c8-67a6-4434-9dec-570d244e78ee"
MENTION_IDS = [str(uuid.UUID(int=n)) for n in range(1, 6)]
CTS_URL = "https://cts.example.com"
DATA = b"Hello, file!\n"
DATA_B64 = base64.b64encode(DATA).decode()
AVATAR = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def request_of(method: str, payload: dict[str, Any]) -> BotxRequest:
    return build_request(method, payload, bot_id=BOT_ID)


# --- the pybotx oracle ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    http_method: str
    path: str
    json: Any


_SYNC_ID_PATHS = (
    "/api/v4/botx/notifications/direct",
    "/api/v4/botx/notifications/internal",
    "/api/v4/botx/smartapps/notification",
    "/api/v4/botx/smartapps/unread_counter",
)


def _answer(request: httpx.Request) -> httpx.Response:
    # Just enough of each ok answer for pybotx's response models to accept it.
    path = request.url.path
    if path in _SYNC_ID_PATHS:
        return httpx.Response(202, json={"status": "ok", "result": {"sync_id": SYNC}})
    if path == "/api/v3/botx/chats/create":
        return httpx.Response(200, json={"status": "ok", "result": {"chat_id": OTHER_CHAT}})
    if path.endswith("/status"):
        result = {"group_chat_id": CHAT, "sent_to": [ANN], "read_by": [], "received_by": []}
        return httpx.Response(200, json={"status": "ok", "result": result})
    return httpx.Response(202, json={"status": "ok", "result": "accepted"})


def pybotx_sends(call: Callable[[Any], Awaitable[Any]]) -> Sent:
    """What pybotx puts on the wire for one call of a ``Bot`` method (``call(bot)``)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _answer(request)

    async def run() -> None:
        bot = pybotx.Bot(
            collectors=[pybotx.HandlerCollector()],
            bot_accounts=[
                pybotx.BotAccountWithSecret(id=uuid.UUID(BOT_ID), cts_url=AnyHttpUrl(CTS_URL), secret_key="s3cr3t-" * 6)
            ],
            httpx_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        )
        try:
            await call(bot)
        finally:
            await bot.shutdown()

    asyncio.run(run())
    assert len(seen) == 1, [str(request.url) for request in seen]
    request = seen[0]
    return Sent(request.method, request.url.path, json.loads(request.content) if request.content else None)


def we_send(method: str, payload: dict[str, Any]) -> Sent:
    request = request_of(method, payload)
    return Sent(request.http_method, request.path, request.json)


@pytest.fixture
def pybotx_mention_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # pybotx gives every <embed_mention> a fresh uuid4. Handing it our ids, in the order its mentions
    # appear in the body, makes both sides comparable without normalising anything afterwards.
    ids = iter(uuid.UUID(mention_id) for mention_id in MENTION_IDS)
    monkeypatch.setattr(pybotx_mentions, "uuid4", lambda: next(ids))
    yield


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


# --- one message, written both ways -------------------------------------------------------------------------

# Markdown, and one mention of every type, in body order (pybotx numbers its mentions in that order).
OUR_BODY = (
    "**Build #42** is _green_: `main` @ 1f2e3d\n"
    f"owner {mention_marker(MENTION_IDS[0])}, see {mention_marker(MENTION_IDS[1])}, "
    f"in {mention_marker(MENTION_IDS[2])} and {mention_marker(MENTION_IDS[3])}, cc {mention_marker(MENTION_IDS[4])}"
)
OUR_MENTIONS: list[dict[str, Any]] = [
    {"type": "user", "id": MENTION_IDS[0], "user_huid": ANN, "name": "Ann"},
    {"type": "contact", "id": MENTION_IDS[1], "user_huid": BOB},
    {"type": "chat", "id": MENTION_IDS[2], "chat_id": OTHER_CHAT, "name": "Ops"},
    {"type": "channel", "id": MENTION_IDS[3], "chat_id": CHANNEL},
    {"type": "all", "id": MENTION_IDS[4]},
]


def pybotx_body() -> str:
    mention = pybotx.MentionBuilder
    return (
        "**Build #42** is _green_: `main` @ 1f2e3d\n"
        f"owner {mention.user(uid(ANN), 'Ann')}, see {mention.contact(uid(BOB))}, "
        f"in {mention.chat(uid(OTHER_CHAT), 'Ops')} and {mention.channel(uid(CHANNEL))}, cc {mention.all()}"
    )


OUR_BUBBLES: list[list[dict[str, Any]]] = [
    [
        {"command": "/approve", "label": "Approve", "data": {"build": 42}, "width": 2, "font_color": "#25B43D"},
        {"command": "/reject", "label": "Reject", "silent": False, "alert": "Sure?", "align": "left"},
    ],
    [
        {"label": "Open CI", "link": "https://ci.example.com/42", "background_color": "#FFFFFF", "align": "right"},
        {"command": "/local", "label": "Local", "process_on_client": True},
    ],
]
OUR_KEYBOARD: list[list[dict[str, Any]]] = [[{"command": "/help", "label": "Help"}]]


def pybotx_bubbles() -> Any:
    markup = pybotx.BubbleMarkup()
    align = pybotx.models.message.markup.ButtonTextAlign
    markup.add_button(command="/approve", label="Approve", data={"build": 42}, width_ratio=2, text_color="#25B43D")
    markup.add_button(command="/reject", label="Reject", silent=False, alert="Sure?", align=align.LEFT, new_row=False)
    markup.add_button(label="Open CI", link="https://ci.example.com/42", background_color="#FFFFFF", align=align.RIGHT)
    markup.add_button(command="/local", label="Local", process_on_client=True, new_row=False)
    return markup


def pybotx_keyboard() -> Any:
    markup = pybotx.KeyboardMarkup()
    markup.add_button(command="/help", label="Help")
    return markup


FULL_MESSAGE: dict[str, Any] = {
    "body": OUR_BODY,
    "metadata": {"build": 42, "nested": {"k": [1, "two"]}},
    "bubbles": OUR_BUBBLES,
    "keyboard": OUR_KEYBOARD,
    "mentions": OUR_MENTIONS,
    "file": {"file_name": "Report.PDF", "data_base64": DATA_B64},
    "silent_response": True,
    "buttons_auto_adjust": True,
    "stealth_mode": True,
    "push": False,
    "force_dnd": True,
}


def pybotx_message_kwargs() -> dict[str, Any]:
    return {
        "body": pybotx_body(),
        "metadata": {"build": 42, "nested": {"k": [1, "two"]}},
        "bubbles": pybotx_bubbles(),
        "keyboard": pybotx_keyboard(),
        "file": pybotx.OutgoingAttachment(content=DATA, filename="Report.PDF"),
        "silent_response": True,
        "markup_auto_adjust": True,
        "stealth_mode": True,
        "send_push": False,
        "ignore_mute": True,
    }


# --- the bodies we build, by hand from the protocol reference -----------------------------------------------


def test_a_full_notification_has_every_part_where_the_protocol_puts_it() -> None:
    request = request_of("notification", {"chat_id": CHAT, "recipients": [ANN, BOB], **FULL_MESSAGE})

    assert (request.http_method, request.path) == ("POST", "/api/v4/botx/notifications/direct")
    assert request.expects_callback and request.returns_sync_id
    assert request.params is None
    m = MENTION_IDS
    assert request.json == {
        "group_chat_id": CHAT,
        "notification": {
            "status": "ok",
            "body": (
                "**Build #42** is _green_: `main` @ 1f2e3d\n"
                f"owner @{{mention:{m[0]}}}, see @@{{mention:{m[1]}}}, "
                f"in ##{{mention:{m[2]}}} and ##{{mention:{m[3]}}}, cc @{{mention:{m[4]}}}"
            ),
            "metadata": {"build": 42, "nested": {"k": [1, "two"]}},
            "opts": {"silent_response": True, "buttons_auto_adjust": True},
            "bubble": [
                [
                    {
                        "command": "/approve",
                        "label": "Approve",
                        "data": {"build": 42},
                        "opts": {"silent": True, "align": "center", "h_size": 2, "font_color": "#25B43D"},
                    },
                    {
                        "command": "/reject",
                        "label": "Reject",
                        "data": {},
                        "opts": {"silent": False, "align": "left", "show_alert": True, "alert_text": "Sure?"},
                    },
                ],
                [
                    {
                        "label": "Open CI",
                        "data": {},
                        "opts": {
                            "silent": True,
                            "align": "right",
                            "background_color": "#FFFFFF",
                            "handler": "client",
                            "link": "https://ci.example.com/42",
                        },
                    },
                    {
                        "command": "/local",
                        "label": "Local",
                        "data": {},
                        "opts": {"silent": True, "align": "center", "handler": "client"},
                    },
                ],
            ],
            "keyboard": [
                [{"command": "/help", "label": "Help", "data": {}, "opts": {"silent": True, "align": "center"}}]
            ],
            "mentions": [
                {"mention_type": "user", "mention_id": m[0], "mention_data": {"user_huid": ANN, "name": "Ann"}},
                {"mention_type": "contact", "mention_id": m[1], "mention_data": {"user_huid": BOB}},
                {
                    "mention_type": "chat",
                    "mention_id": m[2],
                    "mention_data": {"group_chat_id": OTHER_CHAT, "name": "Ops"},
                },
                {"mention_type": "channel", "mention_id": m[3], "mention_data": {"group_chat_id": CHANNEL}},
                {"mention_type": "all", "mention_id": m[4], "mention_data": None},
            ],
        },
        "file": {"file_name": "Report.PDF", "data": f"data:application/pdf;base64,{DATA_B64}"},
        "recipients": [ANN, BOB],
        "opts": {"stealth_mode": True, "notification_opts": {"send": False, "force_dnd": True}},
    }


SIMPLE_CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any] | None, bool]] = [
    # method, payload, http method, path, body, callback (and sync_id in the result)
    (
        "notification",
        {"chat_id": CHAT, "body": "hi"},
        "POST",
        "/api/v4/botx/notifications/direct",
        {"group_chat_id": CHAT, "notification": {"status": "ok", "body": "hi"}},
        True,
    ),
    (
        "reply",
        {"source_sync_id": SYNC, "body": "hi", "push": False},
        "POST",
        "/api/v3/botx/events/reply_event",
        {
            "source_sync_id": SYNC,
            "reply": {"status": "ok", "body": "hi"},
            "opts": {"raw_mentions": True, "notification_opts": {"send": False}},
        },
        False,
    ),
    (
        "edit",
        {"sync_id": SYNC, "body": "new text", "buttons_auto_adjust": True},
        "POST",
        "/api/v3/botx/events/edit_event",
        {"sync_id": SYNC, "payload": {"body": "new text", "opts": {"buttons_auto_adjust": True}}},
        False,
    ),
    ("edit", {"sync_id": SYNC}, "POST", "/api/v3/botx/events/edit_event", {"sync_id": SYNC}, False),
    ("delete", {"sync_id": SYNC}, "POST", "/api/v3/botx/events/delete_event", {"sync_id": SYNC}, False),
    ("typing", {"chat_id": CHAT}, "POST", "/api/v3/botx/events/typing", {"group_chat_id": CHAT}, False),
    ("stop_typing", {"chat_id": CHAT}, "POST", "/api/v3/botx/events/stop_typing", {"group_chat_id": CHAT}, False),
    (
        "internal_notification",
        {"chat_id": CHAT, "data": {"ping": 1}, "opts": {"urgent": True}, "recipients": [ANN]},
        "POST",
        "/api/v4/botx/notifications/internal",
        {"group_chat_id": CHAT, "data": {"ping": 1}, "opts": {"urgent": True}, "recipients": [ANN]},
        True,
    ),
    (
        "smartapp_event",
        {"chat_id": CHAT, "data": {"type": "smartapp_rpc", "status": "ok", "result": 3}, "ref": SYNC},
        "POST",
        "/api/v3/botx/smartapps/event",
        {
            "ref": SYNC,
            "smartapp_id": BOT_ID,
            "group_chat_id": CHAT,
            "data": {"type": "smartapp_rpc", "status": "ok", "result": 3},
            "opts": {},
            "smartapp_api_version": 1,
            "encrypted": True,
        },
        False,
    ),
    (
        "smartapp_notification",
        {"chat_id": CHAT, "title": "Leave", "body": "Approved", "meta": {"id": 7}},
        "POST",
        "/api/v4/botx/smartapps/notification",
        {"group_chat_id": CHAT, "payload": {"title": "Leave", "body": "Approved"}, "meta": {"id": 7}},
        True,
    ),
    (
        "smartapp_unread_counter",
        {"chat_id": CHAT, "counter": 3},
        "POST",
        "/api/v4/botx/smartapps/unread_counter",
        {"group_chat_id": CHAT, "counter": 3},
        True,
    ),
    (
        "chat_create",
        {"name": "Ops", "chat_type": "group_chat", "members": [ANN, BOB]},
        "POST",
        "/api/v3/botx/chats/create",
        {"name": "Ops", "description": None, "chat_type": "group_chat", "members": [ANN, BOB], "avatar": None},
        False,
    ),
    (
        "chat_create",
        {"name": "Ann", "chat_type": "personal_chat", "members": [ANN], "shared_history": False, "avatar": AVATAR},
        "POST",
        "/api/v3/botx/chats/create",
        {
            "name": "Ann",
            "description": None,
            "chat_type": "chat",
            "members": [ANN],
            "avatar": AVATAR,
            "shared_history": False,
        },
        False,
    ),
    (
        "chat_add_user",
        {"chat_id": CHAT, "user_huids": [ANN]},
        "POST",
        "/api/v3/botx/chats/add_user",
        {"group_chat_id": CHAT, "user_huids": [ANN]},
        False,
    ),
    (
        "chat_remove_user",
        {"chat_id": CHAT, "user_huids": [ANN, BOB]},
        "POST",
        "/api/v3/botx/chats/remove_user",
        {"group_chat_id": CHAT, "user_huids": [ANN, BOB]},
        False,
    ),
    (
        "chat_add_admin",
        {"chat_id": CHAT, "user_huids": [BOB]},
        "POST",
        "/api/v3/botx/chats/add_admin",
        {"group_chat_id": CHAT, "user_huids": [BOB]},
        False,
    ),
    (
        "chat_stealth_set",
        {"chat_id": CHAT, "disable_web": True, "burn_in": 60, "expire_in": None},
        "POST",
        "/api/v3/botx/chats/stealth_set",
        {"group_chat_id": CHAT, "disable_web": True, "burn_in": 60},
        False,
    ),
    (
        "chat_stealth_disable",
        {"chat_id": CHAT},
        "POST",
        "/api/v3/botx/chats/stealth_disable",
        {"group_chat_id": CHAT},
        False,
    ),
    (
        "chat_pin",
        {"chat_id": CHAT, "sync_id": SYNC},
        "POST",
        "/api/v3/botx/chats/pin_message",
        {"chat_id": CHAT, "sync_id": SYNC},
        False,
    ),
    ("chat_unpin", {"chat_id": CHAT}, "POST", "/api/v3/botx/chats/unpin_message", {"chat_id": CHAT}, False),
    ("message_status", {"sync_id": SYNC}, "GET", f"/api/v3/botx/events/{SYNC}/status", None, False),
]


@pytest.mark.parametrize(
    ("method", "payload", "http_method", "path", "body", "callback"),
    SIMPLE_CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(SIMPLE_CASES)],
)
def test_each_method_builds_the_documented_call(
    method: str, payload: dict[str, Any], http_method: str, path: str, body: dict[str, Any] | None, callback: bool
) -> None:
    assert request_of(method, payload) == BotxRequest(
        http_method, path, body, None, expects_callback=callback, returns_sync_id=callback
    )


def test_every_method_has_a_hand_written_case() -> None:
    assert {case[0] for case in SIMPLE_CASES} == set(METHODS) == {method.value for method in Method}


def test_ids_are_written_in_canonical_form() -> None:
    request = request_of("typing", {"chat_id": CHAT.upper().replace("-", "")})
    assert request.json == {"group_chat_id": CHAT}


def test_an_edit_sends_empty_values_so_they_clear_and_null_to_remove_the_file() -> None:
    request = request_of(
        "edit",
        {"sync_id": SYNC, "body": "", "metadata": {}, "bubbles": [], "keyboard": [], "mentions": [], "file": None},
    )
    assert request.json == {
        "sync_id": SYNC,
        "payload": {"body": "", "metadata": {}, "bubble": [], "keyboard": [], "mentions": []},
        "file": None,
    }


def test_an_edit_with_mentions_asks_botx_to_use_the_placeholders() -> None:
    mention = {"type": "user", "id": MENTION_IDS[0], "user_huid": ANN}
    request = request_of(
        "edit", {"sync_id": SYNC, "body": f"to {mention_marker(MENTION_IDS[0])}", "mentions": [mention]}
    )
    assert request.json is not None
    assert request.json["payload"]["body"] == f"to @{{mention:{MENTION_IDS[0]}}}"
    assert request.json["opts"] == {"raw_mentions": True}


def test_an_edit_of_silent_response_goes_with_the_message_options() -> None:
    # pybotx cannot send this one; the docs list it among the message's opts.
    request = request_of("edit", {"sync_id": SYNC, "silent_response": False})
    assert request.json == {"sync_id": SYNC, "payload": {"opts": {"silent_response": False}}}


def test_a_text_only_edit_leaves_the_mentions_alone() -> None:
    # §4.3: BotX keeps a message's mentions when only its text changes. pybotx would send mentions: [].
    request = request_of("edit", {"sync_id": SYNC, "body": "typo fixed"})
    assert request.json == {"sync_id": SYNC, "payload": {"body": "typo fixed"}}


def test_markers_for_unknown_mentions_and_botx_placeholders_are_left_as_written() -> None:
    stranger = str(uuid.uuid4())
    body = f"{mention_marker(stranger)} @{{mention:{MENTION_IDS[0]}}} {mention_marker(MENTION_IDS[0]).upper()}"
    mention = {"type": "contact", "id": MENTION_IDS[0], "user_huid": ANN}
    request = request_of("notification", {"chat_id": CHAT, "body": body, "mentions": [mention]})
    assert request.json is not None
    assert request.json["notification"]["body"] == (
        f"{{mention:{stranger}}} @{{mention:{MENTION_IDS[0]}}} {mention_marker(MENTION_IDS[0]).upper()}"
    )


def test_an_empty_mention_name_is_left_out_like_no_name() -> None:
    mention = {"type": "user", "id": MENTION_IDS[0], "user_huid": ANN, "name": ""}
    request = request_of("notification", {"chat_id": CHAT, "mentions": [mention]})
    assert request.json is not None
    assert request.json["notification"]["mentions"][0]["mention_data"] == {"user_huid": ANN}
    assert request.json["notification"]["body"] == ""


def test_a_file_mimetype_given_by_the_caller_wins_over_the_extension() -> None:
    payload = {"chat_id": CHAT, "file": {"file_name": "x.bin", "data_base64": DATA_B64, "mimetype": "text/plain"}}
    request = request_of("notification", payload)
    assert request.json is not None
    assert request.json["file"]["data"] == f"data:text/plain;base64,{DATA_B64}"


@pytest.mark.parametrize(
    ("file_name", "mimetype"),
    [
        ("a.PNG", "image/png"),
        ("archive.tar.gz", "application/gzip"),
        ("app.js", "text/javascript"),
        ("feed.xml", "text/xml"),
        ("clip.3gp", "video/3gpp"),
        ("notes.unknown", "application/octet-stream"),
        ("pdf", "application/octet-stream"),
        ("trailing.", "application/octet-stream"),
    ],
)
def test_mimetypes_follow_the_extension_table(file_name: str, mimetype: str) -> None:
    assert mimetype_for(file_name) == mimetype


def test_a_smartapp_event_can_carry_uploaded_files_by_reference() -> None:
    files = [
        {
            "type": "document",
            "file_id": FILE_ID,
            "file_name": "a.pdf",
            "url": "https://cts.example.com/files/a.pdf",
            "mimetype": "application/pdf",
            "size": 1024,
            "hash": "h4sh",
            "caption": None,
        },
        {
            "type": "voice",
            "file_id": FILE_ID,
            "file_name": "v.mp3",
            "url": "https://cts.example.com/files/v.mp3",
            "mimetype": "audio/mpeg",
            "size": 10,
            "hash": "h",
            "duration": 5,
            "chunk_size": 2097152,
            "encryption_algo": "stream",
        },
    ]
    request = request_of("smartapp_event", {"chat_id": CHAT, "data": {}, "files": files, "encrypted": False})
    assert request.json is not None
    assert request.json["ref"] is None
    assert request.json["encrypted"] is False
    assert request.json["async_files"] == [
        {
            "type": "document",
            "file": "https://cts.example.com/files/a.pdf",
            "file_mime_type": "application/pdf",
            "file_id": FILE_ID,
            "file_name": "a.pdf",
            "file_size": 1024,
            "file_hash": "h4sh",
        },
        {
            "type": "voice",
            "file": "https://cts.example.com/files/v.mp3",
            "file_mime_type": "audio/mpeg",
            "file_id": FILE_ID,
            "file_name": "v.mp3",
            "file_size": 10,
            "file_hash": "h",
            "file_encryption_algo": "stream",
            "chunk_size": 2097152,
            "duration": 5,
        },
    ]


def test_a_smartapp_event_needs_the_sending_bot() -> None:
    with pytest.raises(TypeError, match="bot_id"):
        build_request("smartapp_event", {"chat_id": CHAT, "data": {}})
    validate_payload("smartapp_event", {"chat_id": CHAT, "data": {}})  # the row itself is fine


# --- conformance: pybotx sends the same -------------------------------------------------------------------------


@pytest.mark.usefixtures("pybotx_mention_ids")
def test_a_full_notification_is_what_pybotx_sends() -> None:
    ours = we_send("notification", {"chat_id": CHAT, "recipients": [ANN, BOB], **FULL_MESSAGE})
    theirs = pybotx_sends(
        lambda bot: bot.send_message(
            bot_id=uid(BOT_ID),
            chat_id=uid(CHAT),
            recipients=[uid(ANN), uid(BOB)],
            wait_callback=False,
            **pybotx_message_kwargs(),
        )
    )
    assert ours == theirs


def test_a_bare_notification_is_what_pybotx_sends() -> None:
    ours = we_send("notification", {"chat_id": CHAT, "body": "plain"})
    theirs = pybotx_sends(
        lambda bot: bot.send_message(bot_id=uid(BOT_ID), chat_id=uid(CHAT), body="plain", wait_callback=False)
    )
    assert ours == theirs


def test_a_file_only_notification_is_what_pybotx_sends() -> None:
    ours = we_send("notification", {"chat_id": CHAT, "file": {"file_name": "data.csv", "data_base64": DATA_B64}})
    theirs = pybotx_sends(
        lambda bot: bot.send_message(
            bot_id=uid(BOT_ID),
            chat_id=uid(CHAT),
            body="",
            file=pybotx.OutgoingAttachment(content=DATA, filename="data.csv"),
            wait_callback=False,
        )
    )
    assert ours == theirs


@pytest.mark.usefixtures("pybotx_mention_ids")
def test_a_full_reply_is_what_pybotx_sends() -> None:
    ours = we_send("reply", {"source_sync_id": SYNC, **FULL_MESSAGE})
    theirs = pybotx_sends(
        lambda bot: bot.reply_message(bot_id=uid(BOT_ID), sync_id=uid(SYNC), **pybotx_message_kwargs())
    )
    assert ours == theirs


def test_a_bare_reply_is_what_pybotx_sends() -> None:
    ours = we_send("reply", {"source_sync_id": SYNC, "body": "ok"})
    theirs = pybotx_sends(lambda bot: bot.reply_message(bot_id=uid(BOT_ID), sync_id=uid(SYNC), body="ok"))
    assert ours == theirs


@pytest.mark.usefixtures("pybotx_mention_ids")
def test_an_edit_with_new_content_is_what_pybotx_sends() -> None:
    message = {key: FULL_MESSAGE[key] for key in ("body", "metadata", "bubbles", "keyboard", "mentions", "file")}
    ours = we_send("edit", {"sync_id": SYNC, "buttons_auto_adjust": True, **message})
    kwargs = pybotx_message_kwargs()
    theirs = pybotx_sends(
        lambda bot: bot.edit_message(
            bot_id=uid(BOT_ID),
            sync_id=uid(SYNC),
            body=kwargs["body"],
            metadata=kwargs["metadata"],
            bubbles=kwargs["bubbles"],
            keyboard=kwargs["keyboard"],
            file=kwargs["file"],
            markup_auto_adjust=True,
        )
    )
    assert ours == theirs


def test_an_edit_that_clears_everything_is_what_pybotx_sends() -> None:
    # mentions: [] spelt out: pybotx sends it with every new body (see the text-only edit test above).
    ours = we_send(
        "edit",
        {"sync_id": SYNC, "body": "", "metadata": {}, "bubbles": [], "keyboard": [], "mentions": [], "file": None},
    )
    theirs = pybotx_sends(
        lambda bot: bot.edit_message(
            bot_id=uid(BOT_ID),
            sync_id=uid(SYNC),
            body="",
            metadata={},
            bubbles=pybotx.BubbleMarkup(),
            keyboard=pybotx.KeyboardMarkup(),
            file=None,
        )
    )
    assert ours == theirs


def test_an_empty_edit_is_what_pybotx_sends() -> None:
    assert we_send("edit", {"sync_id": SYNC}) == pybotx_sends(
        lambda bot: bot.edit_message(bot_id=uid(BOT_ID), sync_id=uid(SYNC))
    )


def test_a_text_only_edit_differs_from_pybotx_only_by_keeping_the_mentions() -> None:
    ours = we_send("edit", {"sync_id": SYNC, "body": "typo fixed"})
    theirs = pybotx_sends(lambda bot: bot.edit_message(bot_id=uid(BOT_ID), sync_id=uid(SYNC), body="typo fixed"))
    assert theirs.json["payload"].pop("mentions") == []
    assert ours == theirs


@pytest.mark.parametrize(
    ("method", "payload", "call"),
    [
        ("delete", {"sync_id": SYNC}, lambda bot: bot.delete_message(bot_id=uid(BOT_ID), sync_id=uid(SYNC))),
        ("typing", {"chat_id": CHAT}, lambda bot: bot.start_typing(bot_id=uid(BOT_ID), chat_id=uid(CHAT))),
        ("stop_typing", {"chat_id": CHAT}, lambda bot: bot.stop_typing(bot_id=uid(BOT_ID), chat_id=uid(CHAT))),
        (
            "message_status",
            {"sync_id": SYNC},
            lambda bot: bot.get_message_status(bot_id=uid(BOT_ID), sync_id=uid(SYNC)),
        ),
        (
            "internal_notification",
            {"chat_id": CHAT, "data": {"ping": [1, 2]}, "opts": {"urgent": True}, "recipients": [ANN]},
            lambda bot: bot.send_internal_bot_notification(
                bot_id=uid(BOT_ID),
                chat_id=uid(CHAT),
                data={"ping": [1, 2]},
                opts={"urgent": True},
                recipients=[uid(ANN)],
                wait_callback=False,
            ),
        ),
        (
            "internal_notification",
            {"chat_id": CHAT, "data": {}, "opts": {}, "recipients": None},
            lambda bot: bot.send_internal_bot_notification(
                bot_id=uid(BOT_ID), chat_id=uid(CHAT), data={}, opts={}, wait_callback=False
            ),
        ),
        (
            "smartapp_event",
            {"chat_id": CHAT, "data": {"status": "ok", "type": "smartapp_rpc", "result": 3}, "ref": SYNC},
            lambda bot: bot.send_smartapp_event(
                bot_id=uid(BOT_ID),
                chat_id=uid(CHAT),
                data={"status": "ok", "type": "smartapp_rpc", "result": 3},
                ref=uid(SYNC),
            ),
        ),
        (
            "smartapp_event",
            {
                "chat_id": CHAT,
                "data": {"push": True},
                "ref": None,
                "opts": {"o": 1},
                "encrypted": False,
                "files": [
                    {
                        "type": "image",
                        "file_id": FILE_ID,
                        "file_name": "p.png",
                        "url": "https://cts.example.com/p.png",
                        "mimetype": "image/png",
                        "size": 99,
                        "hash": "hh",
                        "preview": "https://cts.example.com/p-small.png",
                        "preview_height": 10,
                        "preview_width": 20,
                        "caption": "a picture",
                    },
                    {
                        "type": "video",
                        "file_id": FILE_ID,
                        "file_name": "v.mp4",
                        "url": "https://cts.example.com/v.mp4",
                        "mimetype": "video/mp4",
                        "size": 1,
                        "hash": "h",
                        "duration": 12,
                    },
                ],
            },
            lambda bot: bot.send_smartapp_event(
                bot_id=uid(BOT_ID),
                chat_id=uid(CHAT),
                data={"push": True},
                ref=None,
                opts={"o": 1},
                encrypted=False,
                files=[
                    pybotx.Image(
                        type=pybotx.AttachmentTypes.IMAGE,
                        filename="p.png",
                        size=99,
                        is_async_file=True,
                        _file_id=uid(FILE_ID),
                        _file_url="https://cts.example.com/p.png",
                        _file_mimetype="image/png",
                        _file_hash="hh",
                        file_preview="https://cts.example.com/p-small.png",
                        file_preview_height=10,
                        file_preview_width=20,
                        caption="a picture",
                    ),
                    pybotx.Video(
                        type=pybotx.AttachmentTypes.VIDEO,
                        filename="v.mp4",
                        size=1,
                        is_async_file=True,
                        _file_id=uid(FILE_ID),
                        _file_url="https://cts.example.com/v.mp4",
                        _file_mimetype="video/mp4",
                        _file_hash="h",
                        duration=12,
                    ),
                ],
            ),
        ),
        (
            "smartapp_notification",
            {"chat_id": CHAT, "title": "Leave", "body": "Approved", "meta": {"id": 7}},
            lambda bot: bot.send_smartapp_custom_notification(
                bot_id=uid(BOT_ID),
                group_chat_id=uid(CHAT),
                title="Leave",
                body="Approved",
                meta={"id": 7},
                wait_callback=False,
            ),
        ),
        (
            "smartapp_unread_counter",
            {"chat_id": CHAT, "counter": 0},
            lambda bot: bot.send_smartapp_unread_counter(
                bot_id=uid(BOT_ID), group_chat_id=uid(CHAT), counter=0, wait_callback=False
            ),
        ),
        (
            "chat_create",
            {
                "name": "Ops",
                "chat_type": "group_chat",
                "members": [ANN, BOB],
                "description": "On call",
                "shared_history": True,
                "avatar": AVATAR,
            },
            lambda bot: bot.create_chat(
                bot_id=uid(BOT_ID),
                name="Ops",
                chat_type=pybotx.ChatTypes.GROUP_CHAT,
                huids=[uid(ANN), uid(BOB)],
                description="On call",
                shared_history=True,
                avatar=AVATAR,
            ),
        ),
        (
            "chat_create",
            {"name": "Ann", "chat_type": "personal_chat", "members": [ANN]},
            lambda bot: bot.create_chat(
                bot_id=uid(BOT_ID), name="Ann", chat_type=pybotx.ChatTypes.PERSONAL_CHAT, huids=[uid(ANN)]
            ),
        ),
        (
            "chat_create",
            {"name": "News", "chat_type": "channel", "members": []},
            lambda bot: bot.create_chat(bot_id=uid(BOT_ID), name="News", chat_type=pybotx.ChatTypes.CHANNEL, huids=[]),
        ),
        (
            "chat_add_user",
            {"chat_id": CHAT, "user_huids": [ANN, BOB]},
            lambda bot: bot.add_users_to_chat(bot_id=uid(BOT_ID), chat_id=uid(CHAT), huids=[uid(ANN), uid(BOB)]),
        ),
        (
            "chat_remove_user",
            {"chat_id": CHAT, "user_huids": [ANN]},
            lambda bot: bot.remove_users_from_chat(bot_id=uid(BOT_ID), chat_id=uid(CHAT), huids=[uid(ANN)]),
        ),
        (
            "chat_add_admin",
            {"chat_id": CHAT, "user_huids": [BOB]},
            lambda bot: bot.promote_to_chat_admins(bot_id=uid(BOT_ID), chat_id=uid(CHAT), huids=[uid(BOB)]),
        ),
        (
            "chat_stealth_set",
            {"chat_id": CHAT, "disable_web": True, "burn_in": 30, "expire_in": 86400},
            lambda bot: bot.enable_stealth(
                bot_id=uid(BOT_ID), chat_id=uid(CHAT), disable_web_client=True, ttl_after_read=30, total_ttl=86400
            ),
        ),
        (
            "chat_stealth_set",
            {"chat_id": CHAT},
            lambda bot: bot.enable_stealth(bot_id=uid(BOT_ID), chat_id=uid(CHAT)),
        ),
        (
            "chat_stealth_disable",
            {"chat_id": CHAT},
            lambda bot: bot.disable_stealth(bot_id=uid(BOT_ID), chat_id=uid(CHAT)),
        ),
        (
            "chat_pin",
            {"chat_id": CHAT, "sync_id": SYNC},
            lambda bot: bot.pin_message(bot_id=uid(BOT_ID), chat_id=uid(CHAT), sync_id=uid(SYNC)),
        ),
        ("chat_unpin", {"chat_id": CHAT}, lambda bot: bot.unpin_message(bot_id=uid(BOT_ID), chat_id=uid(CHAT))),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_other_methods_are_what_pybotx_sends(
    method: str, payload: dict[str, Any], call: Callable[[Any], Awaitable[Any]]
) -> None:
    assert we_send(method, payload) == pybotx_sends(call)


def test_every_method_is_checked_against_pybotx() -> None:
    # Keep this list honest when a method is added: each one needs a conformance case above.
    conformance_tested = {
        "notification",
        "reply",
        "edit",
        "delete",
        "typing",
        "stop_typing",
        "message_status",
        "internal_notification",
        "smartapp_event",
        "smartapp_notification",
        "smartapp_unread_counter",
        "chat_create",
        "chat_add_user",
        "chat_remove_user",
        "chat_add_admin",
        "chat_stealth_set",
        "chat_stealth_disable",
        "chat_pin",
        "chat_unpin",
    }
    assert conformance_tested == set(METHODS)


def test_our_mimetype_table_agrees_with_pybotx() -> None:
    from pybotx.models.attachments import EXTENSIONS_TO_MIMETYPES

    assert {extension: mimetype_for(f"f.{extension}") for extension in EXTENSIONS_TO_MIMETYPES} == dict(
        EXTENSIONS_TO_MIMETYPES
    )


# --- validation ---------------------------------------------------------------------------------------------------


def button_payload(**button: Any) -> dict[str, Any]:
    return {"chat_id": CHAT, "bubbles": [[{"command": "/x", "label": "X", **button}]]}


INVALID: list[tuple[str, Any, str]] = [
    ("shout", {"chat_id": CHAT}, "shout: unknown method; expected one of notification, reply"),
    ("notification", [CHAT], "notification: payload: must be an object, not list"),
    ("notification", {"body": "hi"}, "notification: chat_id: is required"),
    ("notification", {"chat_id": "not-a-uuid"}, "notification: chat_id: is not a valid UUID: 'not-a-uuid'"),
    ("notification", {"chat_id": 42}, "notification: chat_id: must be a UUID string, not int"),
    ("notification", {"chat_id": CHAT, "text": "hi"}, "notification: text: is not a known field"),
    (
        "notification",
        {"chat_id": CHAT, "body": "x" * (MAX_BODY_LENGTH + 1)},
        "notification: body: is 4097 characters long; the limit is 4096",
    ),
    ("notification", {"chat_id": CHAT, "body": None}, "notification: body: must be a string, not null"),
    ("notification", {"chat_id": CHAT, "recipients": []}, "notification: recipients: must not be empty"),
    ("notification", {"chat_id": CHAT, "recipients": [ANN, "x"]}, "notification: recipients[1]: is not a valid UUID"),
    ("notification", {"chat_id": CHAT, "push": "no"}, "notification: push: must be true or false, not str"),
    ("notification", {"chat_id": CHAT, "metadata": []}, "notification: metadata: must be an object, not list"),
    ("notification", {"chat_id": CHAT, "metadata": {"x": float("nan")}}, "notification: metadata: is not plain JSON"),
    ("notification", {"chat_id": CHAT, "bubbles": {}}, "notification: bubbles: must be a list, not dict"),
    ("notification", {"chat_id": CHAT, "bubbles": [[]]}, "notification: bubbles[0]: a row needs at least one button"),
    (
        "notification",
        {"chat_id": CHAT, "keyboard": [["/x"]]},
        "notification: keyboard[0][0]: must be an object, not str",
    ),
    ("notification", button_payload(label=None), "notification: bubbles[0][0].label: must be a string, not null"),
    (
        "notification",
        {"chat_id": CHAT, "bubbles": [[{"label": "X"}]]},
        "notification: bubbles[0][0].command: is required unless the button has a link",
    ),
    (
        "notification",
        button_payload(align="middle"),
        "notification: bubbles[0][0].align: must be one of left, center, right, not 'middle'",
    ),
    ("notification", button_payload(width=0), "notification: bubbles[0][0].width: must be at least 1, not 0"),
    ("notification", button_payload(width=True), "notification: bubbles[0][0].width: must be an integer, not bool"),
    ("notification", button_payload(link=""), "notification: bubbles[0][0].link: must not be empty"),
    ("notification", button_payload(colour="red"), "notification: bubbles[0][0].colour: is not a known field"),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "robot", "id": MENTION_IDS[0]}]},
        "notification: mentions[0].type: must be one of user, contact, chat, channel, all, not 'robot'",
    ),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "user", "user_huid": ANN}]},
        "notification: mentions[0].id: is required",
    ),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "user", "id": MENTION_IDS[0]}]},
        "notification: mentions[0].user_huid: is required",
    ),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "chat", "id": MENTION_IDS[0], "user_huid": ANN}]},
        "notification: mentions[0].user_huid: does not apply to a mention of type 'chat'",
    ),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "all", "id": MENTION_IDS[0], "name": "everyone"}]},
        "notification: mentions[0].name: does not apply to a mention of type 'all'",
    ),
    (
        "notification",
        {"chat_id": CHAT, "mentions": [{"type": "all", "id": MENTION_IDS[0]}, {"type": "all", "id": MENTION_IDS[0]}]},
        "notification: mentions[1].id: is used by another mention",
    ),
    (
        "notification",
        {"chat_id": CHAT, "file": {"file_name": "a.txt", "data_base64": "not base64!"}},
        "notification: file.data_base64: is not standard padded base64",
    ),
    (
        "notification",
        {"chat_id": CHAT, "file": {"file_name": "a.txt", "data_base64": "", "mimetype": "text/plain;x,y"}},
        "notification: file.mimetype: is not a type/subtype media type",
    ),
    (
        "notification",
        {"chat_id": CHAT, "file": {"file_name": "", "data_base64": ""}},
        "notification: file.file_name: must not be empty",
    ),
    ("notification", {"chat_id": CHAT, "file": None}, "notification: file: must be an object, not null"),
    (
        "notification",
        {"chat_id": CHAT, "metadata": {"blob": "x" * (1024 * 1024)}},
        "notification: the request is 1048705 bytes of JSON; BotX takes at most 1048576",
    ),
    ("reply", {"source_sync_id": SYNC, "recipients": [ANN]}, "reply: recipients: is not a known field"),
    ("reply", {"body": "hi"}, "reply: source_sync_id: is required"),
    ("edit", {"sync_id": SYNC, "stealth_mode": True}, "edit: stealth_mode: is not a known field"),
    ("edit", {"sync_id": "x"}, "edit: sync_id: is not a valid UUID: 'x'"),
    ("delete", {}, "delete: sync_id: is required"),
    ("typing", {"chat_id": CHAT, "body": "..."}, "typing: body: is not a known field"),
    ("internal_notification", {"chat_id": CHAT}, "internal_notification: data: is required"),
    (
        "internal_notification",
        {"chat_id": CHAT, "data": {}, "opts": 1},
        "internal_notification: opts: must be an object",
    ),
    ("smartapp_event", {"chat_id": CHAT, "data": {}, "ref": "r"}, "smartapp_event: ref: is not a valid UUID: 'r'"),
    (
        "smartapp_event",
        {"chat_id": CHAT, "data": {}, "smartapp_api_version": 0},
        "smartapp_event: smartapp_api_version: must be at least 1, not 0",
    ),
    (
        "smartapp_event",
        {"chat_id": CHAT, "data": {}, "files": [{"type": "sticker"}]},
        "smartapp_event: files[0].type: must be one of image, video, document, voice, not 'sticker'",
    ),
    (
        "smartapp_event",
        {
            "chat_id": CHAT,
            "data": {},
            "files": [
                {
                    "type": "image",
                    "file_id": FILE_ID,
                    "file_name": "p.png",
                    "url": "u",
                    "mimetype": "image/png",
                    "size": 1,
                    "hash": "h",
                    "duration": 3,
                }
            ],
        },
        "smartapp_event: files[0].duration: does not apply to a file of type 'image'",
    ),
    ("smartapp_notification", {"chat_id": CHAT, "title": "T"}, "smartapp_notification: body: is required"),
    (
        "smartapp_unread_counter",
        {"chat_id": CHAT, "counter": -1},
        "smartapp_unread_counter: counter: must be at least 0, not -1",
    ),
    ("chat_create", {"name": " ", "chat_type": "group_chat", "members": []}, "chat_create: name: must not be blank"),
    (
        "chat_create",
        {"name": "X", "chat_type": "chat", "members": []},
        "chat_create: chat_type: must be one of personal_chat, group_chat, channel, not 'chat'",
    ),
    (
        "chat_create",
        {"name": "X", "chat_type": "personal_chat", "members": [ANN, BOB]},
        "chat_create: members: a personal chat has exactly one member besides the bot",
    ),
    (
        "chat_create",
        {"name": "X", "chat_type": "group_chat", "members": [], "avatar": "https://x/a.png"},
        "chat_create: avatar: must be a data URL",
    ),
    ("chat_add_user", {"chat_id": CHAT, "user_huids": []}, "chat_add_user: user_huids: must not be empty"),
    ("chat_stealth_set", {"chat_id": CHAT, "burn_in": 0}, "chat_stealth_set: burn_in: must be at least 1, not 0"),
    ("chat_pin", {"chat_id": CHAT}, "chat_pin: sync_id: is required"),
    ("message_status", {"sync_id": SYNC, "chat_id": CHAT}, "message_status: chat_id: is not a known field"),
]


@pytest.mark.parametrize(("method", "payload", "message"), INVALID, ids=[case[2][:60] for case in INVALID])
def test_invalid_payloads_are_refused_with_a_message_naming_the_field(method: str, payload: Any, message: str) -> None:
    with pytest.raises(OutgoingPayloadError) as caught:
        validate_payload(method, payload)
    assert str(caught.value).startswith(message)
    with pytest.raises(OutgoingPayloadError) as again:
        build_request(method, payload, bot_id=BOT_ID)
    assert str(again.value) == str(caught.value)


def test_the_error_says_which_method_and_field() -> None:
    with pytest.raises(OutgoingPayloadError) as caught:
        validate_payload("notification", button_payload(align="middle"))
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.method, error.field) == ("notification", "bubbles[0][0].align")


def test_the_error_survives_pickling() -> None:
    error = OutgoingPayloadError("edit", "sync_id", "is required")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert (str(copy), copy.method, copy.field, copy.problem) == (str(error), "edit", "sync_id", "is required")


def test_a_body_at_the_limit_counts_placeholders_as_botx_will_see_them() -> None:
    mention = {"type": "contact", "id": MENTION_IDS[0], "user_huid": ANN}
    marker = mention_marker(MENTION_IDS[0])
    fits = "x" * (MAX_BODY_LENGTH - len(marker) - 2) + marker  # "@@" makes it exactly the limit
    validate_payload("notification", {"chat_id": CHAT, "body": fits, "mentions": [mention]})
    with pytest.raises(OutgoingPayloadError, match="4097 characters"):
        validate_payload("notification", {"chat_id": CHAT, "body": "x" + fits, "mentions": [mention]})


# --- chat_of, results ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "payload", "chat"),
    [
        ("notification", {"chat_id": CHAT.upper()}, CHAT),
        ("typing", {"chat_id": CHAT}, CHAT),
        ("internal_notification", {"chat_id": CHAT, "data": {}}, CHAT),
        ("smartapp_event", {"chat_id": CHAT, "data": {}}, CHAT),
        ("smartapp_unread_counter", {"chat_id": CHAT, "counter": 1}, CHAT),
        ("chat_pin", {"chat_id": CHAT, "sync_id": SYNC}, CHAT),
        ("chat_stealth_disable", {"chat_id": CHAT}, CHAT),
        ("reply", {"source_sync_id": SYNC, "body": "x"}, None),
        ("edit", {"sync_id": SYNC}, None),
        ("delete", {"sync_id": SYNC}, None),
        ("message_status", {"sync_id": SYNC}, None),
        ("chat_create", {"name": "X", "chat_type": "channel", "members": []}, None),
    ],
)
def test_chat_of_names_the_chat_a_method_writes_to(method: str, payload: dict[str, Any], chat: str | None) -> None:
    assert chat_of(method, payload) == chat


def test_chat_of_refuses_a_payload_without_a_usable_chat() -> None:
    with pytest.raises(OutgoingPayloadError, match="typing: chat_id: is required"):
        chat_of("typing", {})


@pytest.mark.parametrize(
    ("method", "result", "sync_id"),
    [
        ("notification", {"sync_id": SYNC.upper()}, SYNC),
        ("internal_notification", {"sync_id": SYNC}, SYNC),
        ("smartapp_notification", {"sync_id": SYNC}, SYNC),
        ("smartapp_unread_counter", {"sync_id": SYNC}, SYNC),
        ("notification", {"sync_id": "garbage"}, None),
        ("notification", "accepted", None),
        ("notification", None, None),
        ("reply", "bot_reply_pushed", None),
        ("edit", {"sync_id": SYNC}, None),
        ("chat_create", {"chat_id": CHAT}, None),
    ],
)
def test_sync_id_from_result_reads_the_new_message_id(method: str, result: Any, sync_id: str | None) -> None:
    assert sync_id_from_result(method, result) == sync_id


def test_returns_sync_id_matches_sync_id_from_result() -> None:
    for method in METHODS:
        returns = build_request(method, _minimal(method), bot_id=BOT_ID).returns_sync_id
        assert returns == (sync_id_from_result(method, {"sync_id": SYNC}) is not None), method


def _minimal(method: str) -> dict[str, Any]:
    return next(payload for name, payload, *_ in SIMPLE_CASES if name == method)


def test_a_message_status_is_normalised() -> None:
    result = {
        "group_chat_id": CHAT.upper(),
        "sent_to": [ANN, BOB],
        "read_by": [{"user_huid": ANN, "read_at": "2024-03-01T10:00:00.123456Z"}],
        "received_by": [
            {"user_huid": ANN, "received_at": "2024-03-01T12:59:00+03:00"},
            {"user_huid": BOB, "received_at": "2024-03-01T10:00:01"},
        ],
    }
    assert parse_message_status(result) == {
        "chat_id": CHAT,
        "sent_to": [ANN, BOB],
        "read_by": [{"user_huid": ANN, "read_at": "2024-03-01T10:00:00.123456+00:00"}],
        "received_by": [
            {"user_huid": ANN, "received_at": "2024-03-01T09:59:00+00:00"},
            {"user_huid": BOB, "received_at": "2024-03-01T10:00:01+00:00"},
        ],
    }


def test_a_message_status_with_nobody_yet_has_empty_lists() -> None:
    status = parse_message_status({"group_chat_id": CHAT, "sent_to": [], "read_by": [], "received_by": []})
    assert status == {"chat_id": CHAT, "sent_to": [], "read_by": [], "received_by": []}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ("ok", "the result is not an object"),
        ({"sent_to": []}, "group_chat_id: must be a UUID string, not null"),
        ({"group_chat_id": CHAT, "read_by": [{"user_huid": ANN, "read_at": "yesterday"}]}, "read_by[0].read_at"),
        ({"group_chat_id": CHAT, "received_by": ["x"]}, "received_by[0]: must be an object"),
    ],
)
def test_a_message_status_of_the_wrong_shape_is_refused(result: Any, message: str) -> None:
    with pytest.raises(UnexpectedResultError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_message_status(result)


# --- any payload either builds or is refused ---------------------------------------------------------------------

_KNOWN_KEYS = sorted(
    {
        "chat_id", "body", "metadata", "bubbles", "keyboard", "mentions", "file", "recipients", "silent_response",
        "buttons_auto_adjust", "stealth_mode", "push", "force_dnd", "source_sync_id", "sync_id", "data", "opts",
        "ref", "files", "smartapp_api_version", "encrypted", "title", "meta", "counter", "name", "description",
        "chat_type", "members", "shared_history", "avatar", "user_huids", "disable_web", "burn_in", "expire_in",
        "label", "command", "silent", "width", "alert", "align", "link", "process_on_client", "type", "id",
        "user_huid", "file_name", "data_base64", "mimetype", "url", "size", "hash", "duration",
    }
)  # fmt: skip
_ids = st.sampled_from([CHAT, SYNC, ANN, MENTION_IDS[0], CHAT.upper(), "nope", ""])
_scalars = st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20) | _ids
_keys = st.sampled_from(_KNOWN_KEYS) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=30,
)


def _builds_or_is_refused(method: str, payload: dict[str, Any]) -> None:
    try:
        request = build_request(method, payload, bot_id=BOT_ID)
    except OutgoingPayloadError as error:
        assert str(error)
        with pytest.raises(OutgoingPayloadError):
            validate_payload(method, payload)
        return
    validate_payload(method, payload)
    assert request.path.startswith("/api/")
    json.dumps(request.json, allow_nan=False)  # what we send is plain JSON
    if request.json is not None and "notification" in request.json:
        assert len(request.json["notification"]["body"]) <= MAX_BODY_LENGTH


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from([*METHODS, "unknown"]), payload=st.dictionaries(_keys, _json, max_size=8))
def test_any_payload_either_builds_or_is_refused_with_a_payload_error(method: str, payload: dict[str, Any]) -> None:
    _builds_or_is_refused(method, payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from([(case[0], case[1]) for case in SIMPLE_CASES] + [("notification", FULL_MESSAGE)]),
    changes=st.dictionaries(_keys, _json, max_size=3),
    dropped=st.sets(_keys, max_size=2),
)
def test_a_valid_payload_changed_anywhere_either_builds_or_is_refused(
    case: tuple[str, dict[str, Any]], changes: dict[str, Any], dropped: set[str]
) -> None:
    # Random dicts rarely get past the first check; small changes to good payloads reach the deep ones.
    method, base = case
    payload = {key: value for key, value in {**base, "chat_id": CHAT, **changes}.items() if key not in dropped}
    _builds_or_is_refused(method, payload)
