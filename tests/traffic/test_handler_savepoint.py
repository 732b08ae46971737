"""``savepoint_when_used``: a handler's savepoint, taken only before its first statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bots.models import Bot, ChatRule
from bots.services.handler_context import savepoint_when_used

pytestmark = [pytest.mark.django_db]


def savepoints(context: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0] for q in context.captured_queries if "SAVEPOINT" in q["sql"]]


def test_a_block_that_runs_no_statement_takes_no_savepoint() -> None:
    with transaction.atomic(), CaptureQueriesContext(connection) as context, savepoint_when_used():
        pass

    assert savepoints(context) == []


def test_what_a_block_wrote_is_kept_when_it_succeeds(make_bot: Callable[..., Any]) -> None:
    bot: Bot = make_bot(name="Kept")
    with transaction.atomic(), CaptureQueriesContext(connection) as context, savepoint_when_used():
        ChatRule.objects.create(bot=bot, chat_id="0b5f7a3e-5a2a-4f0e-9d57-6b4a8c0e1f11", kind=ChatRule.Kind.DENY)

    assert savepoints(context) == ["SAVEPOINT", "RELEASE"]
    assert ChatRule.objects.filter(bot=bot).count() == 1


def test_what_a_failing_block_wrote_is_undone_and_the_transaction_goes_on(make_bot: Callable[..., Any]) -> None:
    bot: Bot = make_bot(name="Undone")
    with transaction.atomic():
        with pytest.raises(RuntimeError), savepoint_when_used():
            ChatRule.objects.create(bot=bot, chat_id="0b5f7a3e-5a2a-4f0e-9d57-6b4a8c0e1f12", kind=ChatRule.Kind.DENY)
            raise RuntimeError("the handler failed after writing")
        ChatRule.objects.create(bot=bot, chat_id="0b5f7a3e-5a2a-4f0e-9d57-6b4a8c0e1f13", kind=ChatRule.Kind.ALLOW)

    assert [str(rule.chat_id)[-2:] for rule in ChatRule.objects.filter(bot=bot)] == ["13"]


def test_a_savepoint_the_block_opens_itself_nests_inside_the_handlers(make_bot: Callable[..., Any]) -> None:
    bot: Bot = make_bot(name="Nested")
    with transaction.atomic(), pytest.raises(RuntimeError), savepoint_when_used():
        with transaction.atomic():  # the block's first statement is this SAVEPOINT
            ChatRule.objects.create(bot=bot, chat_id="0b5f7a3e-5a2a-4f0e-9d57-6b4a8c0e1f14", kind=ChatRule.Kind.DENY)
        raise RuntimeError("failed after its inner block was released")

    assert not ChatRule.objects.filter(bot=bot).exists()
