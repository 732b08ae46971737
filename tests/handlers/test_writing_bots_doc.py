"""docs/writing-bots.md, followed step by step: its module is written and found by the registry, its
bots-as-code file is applied, the sandbox is seeded, and sandbox users talk to the new bot through the
real /command endpoint; its unit test is run as well."""

from __future__ import annotations

import io
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

import bots.handlers
from bots.handlers.framework import Router
from bots.handlers.registry import handler_choices, handler_get, handlers
from bots.models import Bot, BotState, CtsServer, InboundEvent, OutboundMessage
from bots.sandbox import bot_api
from bots.sandbox.models import SandboxChat, SandboxMessage, SandboxUser
from bots.sandbox.services.seed import seed_id
from bots.sandbox.services.user_send import UserMessage, button_press, sandbox_user_send
from tests.sandbox_fixtures import fresh_botx_clients, fresh_token_cache, portal_sandbox_cts

__all__ = ["fresh_botx_clients", "fresh_token_cache"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-bots.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[str]:
    return [text for language, text in FENCE.findall(DOC.read_text(encoding="utf-8")) if language == kind]


@pytest.fixture
def module_from_the_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Step 1: the page's python blocks as bots/handlers/tea.py, in a folder the package also reads."""
    folder = tmp_path / "handlers"
    folder.mkdir()
    path = folder / "tea.py"
    path.write_text("\n\n".join(blocks("python")), encoding="utf-8")
    monkeypatch.setattr(bots.handlers, "__path__", [*bots.handlers.__path__, str(folder)])
    handlers.cache_clear()
    yield path
    sys.modules.pop("bots.handlers.tea", None)
    handlers.cache_clear()


@pytest.fixture
def sandbox_cts(live_server: Any) -> CtsServer:
    """The CTS ``make run`` registers, on this test's live server."""
    return portal_sandbox_cts(live_server.url)


def test_the_page_has_the_parts_it_promises() -> None:
    assert len(blocks("python")) == 5
    assert len(blocks("yaml")) == 1
    assert len(blocks("py")) == 1


def test_a_newcomer_following_the_page_gets_a_working_bot(
    module_from_the_doc: Path, sandbox_cts: CtsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registry finds the module: the console offers it as a handler.
    info = handler_get("tea")
    assert info is not None
    assert isinstance(info.router, Router)
    assert ("tea", "Tea round (tea)") in handler_choices()
    assert set(info.router.commands) == {"/tea"}
    assert set(info.router.buttons) == {"/cup"}
    assert set(info.router.events) == {"added_to_chat"}

    # Step 2: the bot account, as code.
    spec = tmp_path / "tea.yaml"
    spec.write_text(blocks("yaml")[0], encoding="utf-8")
    monkeypatch.setenv("TEA_BOT_SECRET", "7ea7ea7ea7ea7ea7ea7ea7ea7ea7ea7e")
    call_command("bots", "apply", str(spec), stdout=io.StringIO())
    bot = Bot.objects.get(handler="tea")
    assert (bot.cts, bot.name, bot.enabled, bot.is_served) == (sandbox_cts, "Tea", True, True)

    # Step 3: the sandbox's demo chats, with the new bot in them.
    call_command("sandbox_seed", stdout=io.StringIO())
    group = SandboxChat.objects.get(group_chat_id=seed_id("chat", "general"))
    ivan = SandboxUser.objects.get(ad_login="ipetrov")
    maria = SandboxUser.objects.get(ad_login="msmirnova")

    def say(user: SandboxUser, message: UserMessage | bot_api.SystemEvent) -> InboundEvent:
        sent = sandbox_user_send(bot=bot, chat=group, user=user, message=message)
        assert sent.status_code == 202, (sent.body, sent.error)
        event = InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint=InboundEvent.Endpoint.COMMAND)
        assert event.status == InboundEvent.Status.DONE, event.error
        return event

    def from_bot() -> list[SandboxMessage]:
        return list(SandboxMessage.objects.filter(chat=group, sender_huid=bot.bot_id).order_by("created_at", "pk"))

    # The event: the bot is added to the chat and greets it.
    say(ivan, bot_api.SystemEvent(name="system:added_to_chat", data={"added_members": [str(bot.bot_id)]}))
    assert [message.body for message in from_bot()] == ["Hello! Write /tea when you put the kettle on."]

    # The command: a mention of the maker, and the button.
    offer_event = say(ivan, UserMessage(body="/tea"))
    offer = from_bot()[-1]
    (mention,) = offer.mentions
    assert mention["mention_data"]["user_huid"] == str(ivan.huid)
    assert offer.body == f"@{{mention:{mention['mention_id']}}} is making tea. Who wants a cup?"
    assert [[button["label"] for button in row] for row in offer.bubble] == [["A cup for me"]]
    (row,) = OutboundMessage.objects.filter(inbound=offer_event)
    assert (row.method, row.created_by) == ("notification", "handler: tea")

    # The button, pressed by two colleagues: the same message counts the cups.
    say(maria, button_press(offer))
    offer.refresh_from_db()
    assert offer.body == "1 cup ordered."
    press_event = say(ivan, button_press(offer))
    offer.refresh_from_db()
    assert offer.body == "2 cups ordered."
    assert offer.bubble[0][0]["data"] == {"cups": 2}
    (edit,) = OutboundMessage.objects.filter(inbound=press_event)
    assert (edit.method, edit.payload["sync_id"]) == ("edit", str(offer.sync_id))

    # The state it kept: per chat and per bot.
    assert {(row.chat_id, row.key): row.value for row in BotState.objects.filter(bot=bot)} == {
        (group.group_chat_id, "cups"): 2,
        (None, "rounds"): 1,
    }
    assert bot.bot_id == uuid.UUID("0b7c5f8e-2d4a-4c6b-9e1f-3a5d7c9e1b2d")


def test_the_pages_unit_test_passes(module_from_the_doc: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(blocks("py")[0], "docs/writing-bots.md", "exec"), namespace)  # noqa: S102 (our own page)
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]

    assert len(tests) == 1
    tests[0]()
