"""The echo/help bot driven as a sandbox user drives it: through the portal's real /command endpoint,
checking the outbox rows its handler wrote and what the sandbox (standing in for BotX) received."""

from __future__ import annotations

import pytest

from bots.models import Bot, CommandRule, InboundEvent, OutboundMessage
from bots.sandbox.services.user_send import UserFile, UserMessage, button_press
from tests.handlers.live.conftest import bot_messages, event_of, outbox_of, say
from tests.sandbox_fixtures import World

pytestmark = pytest.mark.django_db(transaction=True)

Status = InboundEvent.Status


def test_text_is_echoed_into_the_chat(bot: Bot, world: World) -> None:
    sent = say(bot, world.personal, world.ivan, "good morning")

    event = event_of(bot, sent)
    assert event.status == Status.DONE
    (row,) = outbox_of(event)
    assert (row.method, row.payload) == (
        "notification",
        {"chat_id": str(world.personal.group_chat_id), "body": "good morning"},
    )
    assert row.status in (OutboundMessage.Status.SENT, OutboundMessage.Status.DELIVERED)
    (message,) = bot_messages(bot, world.personal)
    assert message.body == "good morning"
    assert str(message.sync_id) == str(OutboundMessage.objects.get(pk=row.pk).sync_id)


def test_help_lists_the_commands_the_asking_user_may_run(bot: Bot, world: World) -> None:
    CommandRule.objects.create(bot=bot, command="/file", ad_logins=["msmirnova"])
    CommandRule.objects.create(bot=bot, command="/keyboard", chat_admins_only=True)

    say(bot, world.group, world.ivan, "/help")  # an admin of the group, not allowed /file
    say(bot, world.group, world.maria, "/help")  # allowed /file, not an admin

    ivan, maria = (message.body.splitlines() for message in bot_messages(bot, world.group))
    assert ivan == [
        "I repeat what you write, and answer a file with its name and size. Commands:",
        "/help — What this bot can do",
        "/buttons — Buttons that edit their own message",
        "/keyboard — A keyboard of this bot's commands",
        "/mention — Mentions you; /mention all mentions everyone",
    ]
    assert maria == [
        "I repeat what you write, and answer a file with its name and size. Commands:",
        "/help — What this bot can do",
        "/buttons — Buttons that edit their own message",
        "/mention — Mentions you; /mention all mentions everyone",
        "/file — Sends a small text file",
    ]


def test_a_bubble_press_edits_the_message_that_carries_it(bot: Bot, world: World) -> None:
    say(bot, world.personal, world.ivan, "/buttons")
    (message,) = bot_messages(bot, world.personal)
    assert message.body == "Press the button below."
    assert [[button["label"] for button in row] for row in message.bubble] == [["Press me"]]
    assert [[button["command"] for button in row] for row in message.keyboard] == [["/help"]]

    first = say(bot, world.personal, world.ivan, button_press(message))
    message.refresh_from_db()
    assert message.body == "Pressed 1 time."
    second = say(bot, world.personal, world.ivan, button_press(message))
    message.refresh_from_db()

    assert message.body == "Pressed 2 times."
    assert message.is_edited
    assert message.bubble[0][0]["data"] == {"count": 2}
    assert bot_messages(bot, world.personal) == [message]  # edited in place, nothing new posted
    (edit,) = outbox_of(event_of(bot, second))
    assert (edit.method, edit.payload["sync_id"]) == ("edit", str(message.sync_id))
    assert event_of(bot, first).summary["kind"] == "button"


def test_the_keyboard_offers_the_users_commands_two_to_a_row(bot: Bot, world: World) -> None:
    say(bot, world.personal, world.ivan, "/keyboard")

    (message,) = bot_messages(bot, world.personal)
    assert message.body == "Choose a command on the keyboard."
    assert [[button["command"] for button in row] for row in message.keyboard] == [
        ["/help", "/buttons"],
        ["/keyboard", "/mention"],
        ["/file"],
    ]


def test_mention_mentions_the_sender(bot: Bot, world: World) -> None:
    say(bot, world.personal, world.ivan, "/mention")

    (message,) = bot_messages(bot, world.personal)
    (mention,) = message.mentions
    assert mention["mention_type"] == "user"
    assert mention["mention_data"]["user_huid"] == str(world.ivan.huid)
    assert message.body == f"Hello, @{{mention:{mention['mention_id']}}}!"


def test_mention_all_mentions_everyone_in_a_group_and_explains_itself_elsewhere(bot: Bot, world: World) -> None:
    say(bot, world.group, world.ivan, "/mention all")
    say(bot, world.personal, world.ivan, "/mention all")

    (group_message,) = bot_messages(bot, world.group)
    (mention,) = group_message.mentions
    assert (mention["mention_type"], mention["mention_data"]) == ("all", None)
    assert group_message.body == f"Attention, @{{mention:{mention['mention_id']}}}!"
    (personal_message,) = bot_messages(bot, world.personal)
    assert personal_message.body == "Everyone can be mentioned only in a group chat or a channel."
    assert personal_message.mentions == []


def test_file_sends_a_small_text_file(bot: Bot, world: World) -> None:
    sent = say(bot, world.personal, world.ivan, "/file")

    (row,) = outbox_of(event_of(bot, sent))
    assert row.payload["file"]["file_name"] == "echo.txt"
    assert row.payload["file"]["mimetype"] == "text/plain"
    (message,) = bot_messages(bot, world.personal)
    assert message.body == "Here is a file."
    assert message.file is not None
    assert (message.file.file_name, message.file.mimetype) == ("echo.txt", "text/plain")
    assert bytes(message.file.content).decode().startswith("A file from the echo bot, made at ")


def test_a_file_is_answered_with_its_name_and_size(bot: Bot, world: World) -> None:
    files = (UserFile("notes.txt", b"twelve bytes"), UserFile("scan.pdf", b"%PDF-1.4 0123", as_async_file=True))

    say(bot, world.personal, world.ivan, UserMessage(body="two files", files=files))

    assert [message.body for message in bot_messages(bot, world.personal)] == [
        "two files",
        "Got notes.txt, 12 bytes.",
        "Got scan.pdf, 13 bytes.",
    ]
