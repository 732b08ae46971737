"""A handler's run is bounded: past HANDLER_TIME_LIMIT_SECONDS it is stopped, recorded and apologised for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bots.botx.incoming import parse_command
from bots.handlers.framework import BotRef, Context, HandlerTimeout, Router
from bots.models import InboundEvent
from bots.services.handler_context import handler_run
from tests.botx import payloads
from tests.handlers.conftest import answers

pytestmark = pytest.mark.django_db

APOLOGY = "Sorry, something went wrong. Please try again later."


def test_a_handler_that_runs_too_long_is_interrupted_recorded_and_apologised_for(
    serve: Callable[[Router], None], send: Callable[..., InboundEvent], settings: Any
) -> None:
    settings.HANDLER_TIME_LIMIT_SECONDS = 1
    router = Router()

    @router.command("/slow", description="Takes its time")
    def slow(ctx: Context) -> None:
        ctx.reply("started")
        time.sleep(5)
        ctx.reply("finished")

    serve(router)
    started = time.monotonic()

    event = send(payloads.command(body="/slow"))

    assert time.monotonic() - started < 4
    assert event.status == InboundEvent.Status.FAILED
    assert "HandlerTimeout: the handler ran longer than 1 s" in event.error
    assert [(m.created_by, m.payload["body"]) for m in answers(event)] == [("portal: apology", APOLOGY)]


def test_off_the_main_thread_an_overrunning_handler_is_stopped_at_its_next_step(settings: Any) -> None:
    settings.HANDLER_TIME_LIMIT_SECONDS = 1
    ctx = Context(bot=BotRef(payloads.BOT_ID, "Echo", "echo"), message=parse_command(payloads.command()))
    outcome: list[BaseException | None] = []

    def slow(ctx: Context) -> None:
        time.sleep(1.2)
        ctx.reply("too late")

    def run() -> None:
        try:
            handler_run(slow, ctx)
            outcome.append(None)
        except HandlerTimeout as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)

    assert isinstance(outcome[0], HandlerTimeout)
    assert ctx.outgoing == []


def test_a_handler_within_its_limit_runs_as_usual_and_leaves_no_timer(settings: Any) -> None:
    settings.HANDLER_TIME_LIMIT_SECONDS = 1
    ctx = Context(bot=BotRef(payloads.BOT_ID, "Echo", "echo"), message=parse_command(payloads.command()))

    handler_run(lambda ctx: ctx.reply("quick"), ctx)
    time.sleep(1.1)  # an alarm left behind would go off here

    assert [payload["body"] for _, payload in ctx.outgoing] == ["quick"]
