"""Processing stored commands: who may, which handler runs, what it leaves in the outbox, in whose language.

Every request goes through the real /command endpoint; eager Celery runs the worker's part when the
request's transaction commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo, handlers
from bots.models import Bot, ChatRule, CommandRule, InboundEvent, OutboundMessage
from bots.services import dispatch
from tests.botx import payloads

pytestmark = [pytest.mark.django_db]

Status = InboundEvent.Status
TEST_HANDLER = "traffic_dispatch_test"
HELP_TEXT = "\n".join(
    [
        "I repeat what you write, and answer a file with its name and size. Commands:",
        "/help — What this bot can do",
        "/buttons — Buttons that edit their own message",
        "/keyboard — A keyboard of this bot's commands",
        "/mention — Mentions you; /mention all mentions everyone",
        "/file — Sends a small text file",
    ]
)
# What echo says about the files of the saved messages (a file described both inlined and on the CTS once).
FILE_ANSWERS = {
    "attachment_document": ["Got report.txt, 29 bytes."],
    "attachment_image": ["Got pixel.png, 70 bytes."],
    "attachment_video": ["Got clip.mp4, 29 bytes."],
    "attachment_voice": ["Got voice.mp3, 23 bytes."],
    "message_maximal": ["Got chart.png, 70 bytes."],
}


def _file_answer() -> str:
    """What echo says about message_maximal's file, in the active language."""
    return ngettext("Got %(name)s, %(size)d byte.", "Got %(name)s, %(size)d bytes.", 70) % {
        "name": "chart.png",
        "size": 70,
    }


APOLOGY = "Sorry, something went wrong. Please try again later."


@pytest.fixture
def send(
    bot: Bot, post_command: Callable[..., Any], eager_celery: None, django_capture_on_commit_callbacks: Any
) -> Callable[[dict[str, Any]], InboundEvent]:
    """Post a /command for the Echo bot, let the worker run, and return the stored event."""

    def post(payload: dict[str, Any]) -> InboundEvent:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_command(bot, payload)
        assert response.status_code == 202, response.content
        return InboundEvent.objects.get(bot=bot, sync_id=payload["sync_id"])

    return post


def answers(event: InboundEvent) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound=event).order_by("id"))


def bodies(event: InboundEvent) -> list[str]:
    return [message.payload.get("body") for message in answers(event)]


@pytest.fixture
def test_router(bot: Bot) -> Iterator[Router]:
    """A handler module of the tests' own, served to the Echo bot for one test."""
    router = Router()

    @router.command("/boom", description="Fails half way")
    def boom(ctx: Context) -> None:
        ctx.reply("half an answer")
        raise RuntimeError("the handler broke")

    @router.command("/invalid", description="Sends one good and one invalid message")
    def invalid(ctx: Context) -> None:
        ctx.reply("the good one")
        ctx.send(chat_id="not-a-chat", body="the invalid one")

    @router.command("/language", description="Answers in the sender's language")
    def language(ctx: Context) -> None:
        ctx.reply(_("BotX protocol version"))

    registry = handlers()
    registry[TEST_HANDLER] = HandlerInfo(key=TEST_HANDLER, name="Dispatch tests", router=router)
    Bot.objects.filter(pk=bot.pk).update(handler=TEST_HANDLER)
    yield router
    registry.pop(TEST_HANDLER, None)


# --- the echo bot ----------------------------------------------------------------------------------


def test_echo_answers_a_message_with_its_own_text(send: Callable[..., InboundEvent]) -> None:
    event = send(payloads.command(body="good morning"))

    assert event.status == Status.DONE
    assert event.error == ""
    assert "handler_ms" in event.summary
    (message,) = answers(event)
    assert message.method == "notification"
    assert message.payload == {"chat_id": str(payloads.PERSONAL_CHAT_ID), "body": "good morning"}
    assert message.created_by == "handler: echo"


def test_help_answers_the_help_text(send: Callable[..., InboundEvent]) -> None:
    event = send(payloads.command(body="/help"))

    assert event.status == Status.DONE
    assert bodies(event) == [HELP_TEXT]


COMMAND_FIXTURES = [name for name in payloads.names() if "command" in payloads.load(name)]
USER_FIXTURES = [name for name in COMMAND_FIXTURES if payloads.load(name)["command"]["command_type"] == "user"]
KNOWN_EVENT_FIXTURES = payloads.names("system_")


@pytest.mark.parametrize("name", USER_FIXTURES)
def test_every_saved_user_message_is_processed_by_echo(name: str, send: Callable[..., InboundEvent]) -> None:
    payload = payloads.load(name)

    event = send(payload)

    assert event.status == Status.DONE, event.error
    text = payload["command"]["body"]
    files = FILE_ANSWERS.get(name, [])
    if name == "message_maximal":
        # Its sender speaks Russian, and echo answers in the sender's language.
        with translation.override(payload["from"]["locale"]):
            files = [_file_answer()]
    assert bodies(event) == ([text] if text else []) + files


@pytest.mark.parametrize("name", KNOWN_EVENT_FIXTURES)
def test_every_saved_system_event_is_stored_as_unhandled_by_echo(name: str, send: Callable[..., InboundEvent]) -> None:
    event = send(payloads.load(name))

    assert event.status == Status.UNHANDLED
    assert event.error == "no handler for it"
    assert event.summary["kind"] == "event"
    assert answers(event) == []


def test_an_unknown_system_event_is_stored_as_unhandled_with_an_error_naming_it(
    send: Callable[..., InboundEvent],
) -> None:
    event = send(payloads.load("unknown_system_event"))

    assert event.status == Status.UNHANDLED
    assert "call_started" in event.error
    assert "event:call_started" in event.summary["unrecognized"]
    assert answers(event) == []


# --- who may ---------------------------------------------------------------------------------------


def test_a_message_from_a_denied_chat_is_refused_with_a_polite_answer(
    bot: Bot, send: Callable[..., InboundEvent]
) -> None:
    ChatRule.objects.create(bot=bot, chat_id=payloads.PERSONAL_CHAT_ID, kind=ChatRule.Kind.DENY)

    event = send(payloads.command(body="hello"))

    assert event.status == Status.REFUSED
    assert event.error == f"chat {payloads.PERSONAL_CHAT_ID} is not served"
    (message,) = answers(event)
    assert message.payload == {
        "chat_id": str(payloads.PERSONAL_CHAT_ID),
        "body": "Sorry, this bot does not work in this chat.",
    }
    assert message.created_by == "portal: refusal"


def test_a_system_event_from_a_denied_chat_is_refused_without_an_answer(
    bot: Bot, send: Callable[..., InboundEvent]
) -> None:
    ChatRule.objects.create(bot=bot, chat_id=payloads.GROUP_CHAT_ID, kind=ChatRule.Kind.DENY)

    event = send(payloads.system_event("added_to_chat"))

    assert event.status == Status.REFUSED
    assert answers(event) == []


def test_an_allow_list_serves_its_chats_and_refuses_every_other(bot: Bot, send: Callable[..., InboundEvent]) -> None:
    ChatRule.objects.create(bot=bot, chat_id=payloads.GROUP_CHAT_ID, kind=ChatRule.Kind.ALLOW)

    allowed = send(payloads.command(body="in the group", group_chat_id=payloads.GROUP_CHAT_ID, chat_type="group_chat"))
    elsewhere = send(payloads.command(body="in private"))

    assert allowed.status == Status.DONE
    assert bodies(allowed) == ["in the group"]
    assert elsewhere.status == Status.REFUSED
    assert elsewhere.error == f"chat {payloads.PERSONAL_CHAT_ID} is not served"
    assert bodies(elsewhere) == ["Sorry, this bot does not work in this chat."]


def _help_rule(bot: Bot, **fields: Any) -> CommandRule:
    rule = CommandRule(bot=bot, command="/help", **fields)
    rule.full_clean()
    rule.save()
    return rule


def test_a_command_rule_refuses_a_user_it_does_not_allow_and_serves_one_it_does(
    bot: Bot, send: Callable[..., InboundEvent]
) -> None:
    _help_rule(bot, ad_domains=["corp.example.com"])

    outsider = send(payloads.command(body="/help", ad_login="eve", ad_domain="elsewhere.example"))
    colleague = send(payloads.command(body="/help", ad_login="anna", ad_domain="CORP.example.com"))

    assert outsider.status == Status.REFUSED
    assert outsider.error == f"/help is not allowed for {payloads.USER_HUID}"
    assert bodies(outsider) == ["Sorry, you may not run /help."]
    assert colleague.status == Status.DONE
    assert bodies(colleague) == [HELP_TEXT]


def test_a_command_rule_leaves_other_commands_and_plain_text_alone(bot: Bot, send: Callable[..., InboundEvent]) -> None:
    _help_rule(bot, ad_domains=["corp.example.com"])

    event = send(payloads.command(body="just text", ad_domain="elsewhere.example"))

    assert event.status == Status.DONE
    assert bodies(event) == ["just text"]


@pytest.mark.parametrize(("is_admin", "status"), [(False, Status.REFUSED), (True, Status.DONE)])
def test_a_chat_admins_only_command_is_run_only_for_chat_admins(
    is_admin: bool, status: str, bot: Bot, send: Callable[..., InboundEvent]
) -> None:
    _help_rule(bot, chat_admins_only=True)

    event = send(payloads.command(body="/help", is_admin=is_admin))

    assert event.status == status
    assert bodies(event) == ([HELP_TEXT] if is_admin else ["Sorry, you may not run /help."])


# --- failing handlers ------------------------------------------------------------------------------


def test_a_handler_that_raises_fails_the_event_keeps_nothing_it_sent_and_apologises(
    test_router: Router, send: Callable[..., InboundEvent]
) -> None:
    event = send(payloads.command(body="/boom"))

    assert event.status == Status.FAILED
    assert event.error.startswith("Traceback")
    assert "RuntimeError: the handler broke" in event.error
    (message,) = answers(event)
    assert message.payload == {"chat_id": str(payloads.PERSONAL_CHAT_ID), "body": APOLOGY}
    assert message.created_by == "portal: apology"
    assert message.correlation_id == event.correlation_id


def test_a_handler_whose_second_message_is_invalid_keeps_neither(
    test_router: Router, send: Callable[..., InboundEvent]
) -> None:
    event = send(payloads.command(body="/invalid"))

    assert event.status == Status.FAILED
    assert "invalid notification" in event.error
    assert bodies(event) == [APOLOGY]
    assert not OutboundMessage.objects.filter(text="the good one").exists()


@pytest.mark.parametrize(("locale", "expected"), [("ru", "версия протокола BotX"), ("en", "BotX protocol version")])
def test_the_handler_speaks_the_senders_language(
    locale: str, expected: str, test_router: Router, send: Callable[..., InboundEvent]
) -> None:
    event = send(payloads.command(body="/language", locale=locale))

    assert event.status == Status.DONE
    assert bodies(event) == [expected]


def test_a_sender_with_an_unknown_locale_gets_the_portals_default_language(
    test_router: Router, send: Callable[..., InboundEvent], settings: Any
) -> None:
    settings.LANGUAGE_CODE = "ru"

    event = send(payloads.command(body="/language", locale="de"))

    assert bodies(event) == ["версия протокола BotX"]


def test_a_russian_speaking_sender_gets_the_apology_in_russian(
    test_router: Router, send: Callable[..., InboundEvent]
) -> None:
    event = send(payloads.command(body="/boom", locale="ru"))

    (apology,) = bodies(event)
    assert re.search("[\u0400-\u04ff]", apology), apology


# --- once only -------------------------------------------------------------------------------------


def test_processing_the_same_event_twice_runs_it_once(bot: Bot, post_command: Callable[..., Any]) -> None:
    payload = payloads.command(body="once")
    assert post_command(bot, payload).status_code == 202  # no worker: the event waits
    event = InboundEvent.objects.get(sync_id=payload["sync_id"])
    assert event.status == Status.RECEIVED

    first = dispatch.inbound_process(event_id=event.pk)
    second = dispatch.inbound_process(event_id=event.pk)

    assert first == Status.DONE
    assert second is None
    event.refresh_from_db()
    assert event.attempts == 1
    assert bodies(event) == ["once"]


def test_processing_an_event_that_is_gone_does_nothing(bot: Bot) -> None:
    assert dispatch.inbound_process(event_id=10**9) is None
