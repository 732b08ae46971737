"""The context: what a handler sends is collected as outbox payloads, checked where the handler asks."""

from __future__ import annotations

import time
import uuid

import pytest

from bots.botx.incoming import parse_command
from bots.handlers.api import LookupFailed, Markup, MemoryState, StateError, file_from_bytes, mention_user
from bots.handlers.api.ports import NoChatState
from bots.handlers.framework import BotRef, ChatRef, Context, HandlerTimeout
from tests.botx import payloads

ANN = uuid.UUID("b9197d3a-d855-5d34-ba8a-eff3a975ab20")
OTHER_CHAT = uuid.UUID("2a8c0d1e-c4d1-4308-b024-6e1a9f4a4b6f")


def make(**overrides: object) -> Context:
    return Context(bot=BotRef(payloads.BOT_ID, "Echo", "echo"), message=parse_command(payloads.command(**overrides)))


def test_the_context_shows_the_typed_message_sender_chat_and_bot() -> None:
    ctx = make(body="/remind 10 tea", ad_login="anna", ad_domain="corp", chat_type="chat")

    assert ctx.bot.bot_id == payloads.BOT_ID
    assert ctx.chat == ChatRef(payloads.PERSONAL_CHAT_ID, "chat")
    assert ctx.chat_id == payloads.PERSONAL_CHAT_ID
    assert ctx.sender.user_huid == payloads.USER_HUID
    assert ctx.sender.upn == "anna@corp"
    assert ctx.message.command_name == "/remind"
    assert ctx.argument == "10 tea"


def test_reply_send_and_recipients_become_notifications() -> None:
    ctx = make()

    ctx.reply("**hi**")
    ctx.send(chat_id=OTHER_CHAT, body="elsewhere", recipients=[ANN])
    ctx.reply("to Ann only", recipients=[str(ANN)])

    assert ctx.outgoing == [
        ("notification", {"chat_id": str(payloads.PERSONAL_CHAT_ID), "body": "**hi**"}),
        ("notification", {"chat_id": str(OTHER_CHAT), "body": "elsewhere", "recipients": [str(ANN)]}),
        ("notification", {"chat_id": str(payloads.PERSONAL_CHAT_ID), "body": "to Ann only", "recipients": [str(ANN)]}),
    ]


def test_builders_mentions_files_metadata_and_delivery_options_become_payload_fields() -> None:
    ctx = make()
    ann = mention_user(ANN)
    attachment = file_from_bytes("a.txt", b"a")

    ctx.reply(
        f"Hi {ann}",
        bubbles=Markup().button("Go", "/go", data={"n": 1}),
        keyboard=Markup().button("/help", "/help"),
        mentions=[ann],
        file=attachment,
        metadata={"widget": "counter"},
        stealth=True,
        push=False,
        force_dnd=True,
    )

    ((method, payload),) = ctx.outgoing
    assert method == "notification"
    assert payload == {
        "chat_id": str(payloads.PERSONAL_CHAT_ID),
        "body": f"Hi {{mention:{ann.id}}}",
        "bubbles": [[{"label": "Go", "command": "/go", "data": {"n": 1}, "silent": True}]],
        "keyboard": [[{"label": "/help", "command": "/help", "data": {}, "silent": True}]],
        "mentions": [ann.payload()],
        "file": attachment,
        "metadata": {"widget": "counter"},
        "stealth_mode": True,
        "push": False,
        "force_dnd": True,
    }


def test_edit_delete_quote_and_typing_become_their_methods() -> None:
    ctx = make()
    sync_id = uuid.uuid4()

    ctx.edit(sync_id, body="changed", bubbles=Markup(), file=None)
    ctx.delete(str(sync_id))
    ctx.quote("quoted")
    ctx.typing()
    ctx.stop_typing()

    assert ctx.outgoing == [
        ("edit", {"sync_id": str(sync_id), "body": "changed", "bubbles": [], "file": None}),
        ("delete", {"sync_id": str(sync_id)}),
        ("reply", {"source_sync_id": str(ctx.message.sync_id), "body": "quoted"}),
        ("typing", {"chat_id": str(payloads.PERSONAL_CHAT_ID)}),
        ("stop_typing", {"chat_id": str(payloads.PERSONAL_CHAT_ID)}),
    ]


@pytest.mark.parametrize(
    ("send", "message"),
    [
        (lambda ctx: ctx.send(chat_id="not-a-chat", body="x"), "invalid notification: notification: chat_id"),
        (lambda ctx: ctx.reply("x", colour="red"), "colour: is not a known field"),
        (lambda ctx: ctx.reply("x" * 5000), "the limit is 4096"),
        (lambda ctx: ctx.reply("x", recipients=[]), "recipients: must not be empty"),
        (lambda ctx: ctx.edit("nope", body="x"), "invalid edit"),
    ],
    ids=["bad chat", "unknown field", "too long", "nobody", "bad sync id"],
)
def test_an_invalid_message_fails_in_the_handler_and_is_not_collected(send: object, message: str) -> None:
    ctx = make()

    with pytest.raises(ValueError, match=message):
        send(ctx)  # type: ignore[operator]
    assert ctx.outgoing == []


def test_an_event_without_a_chat_cannot_reply_and_has_no_chat_state() -> None:
    ctx = Context(bot=BotRef(payloads.BOT_ID, "Echo", "echo"), message=parse_command(payloads.load("system_cts_login")))
    ctx.state = NoChatState()

    assert ctx.chat is None
    with pytest.raises(ValueError, match="came from no chat"):
        ctx.reply("x")
    with pytest.raises(StateError, match=r"use ctx\.bot_state"):
        ctx.state.get("x")
    ctx.typing()  # nowhere to type: nothing
    assert ctx.outgoing == []


def test_a_context_made_by_hand_keeps_state_in_memory_and_cannot_look_up() -> None:
    ctx = make()

    ctx.state.set("count", 1)
    ctx.bot_state.set("seen", ["a"])
    assert isinstance(ctx.state, MemoryState)
    assert (ctx.state.get("count"), ctx.bot_state.get("seen"), ctx.state.get("nothing", 0)) == (1, ["a"], 0)
    assert ctx.state.delete("count") is True
    assert ctx.state.delete("count") is False
    with pytest.raises(StateError, match="plain JSON"):
        ctx.state.set("when", object())
    with pytest.raises(StateError, match="non-empty string"):
        ctx.state.set("", 1)
    with pytest.raises(LookupFailed, match="without a BotX connection"):
        ctx.chat_info()
    assert ctx.commands() == []


def test_a_value_read_back_from_memory_state_is_a_copy() -> None:
    state = MemoryState()
    state.set("list", [1])

    state.get("list").append(2)

    assert state.get("list") == [1]


def test_past_its_deadline_a_handler_is_stopped_at_its_next_send_or_look_up() -> None:
    ctx = make()
    ctx.deadline = time.monotonic() - 1

    with pytest.raises(HandlerTimeout):
        ctx.reply("too late")
    with pytest.raises(HandlerTimeout):
        ctx.user_by_huid(ANN)
