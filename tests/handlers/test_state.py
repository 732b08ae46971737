"""Handler state: per chat and per bot, kept across requests, and undone with a handler that fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bots.handlers.api import StateError
from bots.handlers.framework import Context, Router
from bots.models import Bot, BotState, InboundEvent
from bots.services.handler_state import DatabaseState
from tests.botx import payloads
from tests.handlers.conftest import bodies

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status


@pytest.fixture
def counter(serve: Callable[[Router], None]) -> Router:
    router = Router()

    @router.command("/count", description="Counts in this chat and in the bot")
    def count(ctx: Context) -> None:
        here = ctx.state.get("count", 0) + 1
        everywhere = ctx.bot_state.get("count", 0) + 1
        ctx.state.set("count", here)
        ctx.bot_state.set("count", everywhere)
        if ctx.argument == "fail":
            raise RuntimeError("failed after writing state")
        ctx.reply(f"{here} here, {everywhere} in all")

    @router.command("/forget", description="Forgets this chat's count")
    def forget(ctx: Context) -> None:
        ctx.reply(f"forgotten: {ctx.state.delete('count')}; keys left: {ctx.state.keys()}")

    serve(router)
    return router


def in_group(body: str) -> dict[str, object]:
    return payloads.command(body=body, group_chat_id=payloads.GROUP_CHAT_ID, chat_type="group_chat")


def test_state_is_kept_per_chat_and_per_bot_across_requests(counter: Router, send: Callable[..., InboundEvent]) -> None:
    assert bodies(send(payloads.command(body="/count"))) == ["1 here, 1 in all"]
    assert bodies(send(payloads.command(body="/count"))) == ["2 here, 2 in all"]
    assert bodies(send(in_group("/count"))) == ["1 here, 3 in all"]
    assert bodies(send(payloads.command(body="/forget"))) == ["forgotten: True; keys left: []"]
    assert bodies(send(payloads.command(body="/count"))) == ["1 here, 4 in all"]
    rows = {(row.chat_id, row.key): row.value for row in BotState.objects.all()}
    assert rows == {
        (payloads.PERSONAL_CHAT_ID, "count"): 1,
        (payloads.GROUP_CHAT_ID, "count"): 1,
        (None, "count"): 4,
    }


def test_a_handler_that_fails_leaves_no_state_change(counter: Router, send: Callable[..., InboundEvent]) -> None:
    send(payloads.command(body="/count"))

    failed = send(payloads.command(body="/count fail"))

    assert failed.status == Status.FAILED
    assert "failed after writing state" in failed.error
    assert bodies(send(payloads.command(body="/count"))) == ["2 here, 2 in all"]


def test_the_state_of_one_bot_is_not_anothers(bot: Bot, make_bot: Callable[..., Bot]) -> None:
    other = make_bot(name="Other")
    DatabaseState(bot=bot, chat_id=None).set("k", {"a": [1, 2]})
    DatabaseState(bot=bot, chat_id=payloads.GROUP_CHAT_ID).set("k", "chat")

    assert DatabaseState(bot=other, chat_id=None).get("k") is None
    assert DatabaseState(bot=bot, chat_id=None).get("k") == {"a": [1, 2]}
    assert DatabaseState(bot=bot, chat_id=payloads.GROUP_CHAT_ID).get("k") == "chat"
    assert DatabaseState(bot=bot, chat_id=payloads.PERSONAL_CHAT_ID).keys() == []


def test_a_value_that_is_not_json_is_refused_before_it_reaches_the_database(bot: Bot) -> None:
    state = DatabaseState(bot=bot, chat_id=None)

    with pytest.raises(StateError, match="plain JSON"):
        state.set("x", {1, 2})
    with pytest.raises(StateError, match="plain JSON"):
        state.set("x", float("nan"))
    with pytest.raises(StateError, match="at most 200"):
        state.set("k" * 201, 1)
    assert not BotState.objects.exists()


def test_setting_a_key_again_replaces_its_value(bot: Bot) -> None:
    state = DatabaseState(bot=bot, chat_id=None)
    state.set("x", 1)
    state.set("x", None)

    assert BotState.objects.count() == 1
    assert state.get("x", "default") is None
    assert state.keys() == ["x"]
