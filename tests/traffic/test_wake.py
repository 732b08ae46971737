"""The wake gate with a lingering drain, on the broker's own Redis (bots/services/wake.py).

Publishing is recorded instead of reaching the broker (``enqueue_safely`` noted): what is tested is
which wake publishes and which only signals the task that lingers, not Celery.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from bots import tasks
from bots.models import Bot, InboundEvent
from bots.services import dispatch, wake
from bots.services.wake import Linger
from tests.botx import payloads
from tests.traffic.delivery.conftest import wait_until

pytestmark = pytest.mark.skipif(
    not str(settings.CELERY_BROKER_URL).startswith("redis://"),
    reason="the wake gate lives in the broker's Redis (CELERY_BROKER_URL=redis://...)",
)
TASK = tasks.inbound_drain


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The drain tasks published meanwhile (other tasks, such as a delivery's retry, are let through)."""
    names: list[str] = []
    enqueue = tasks.enqueue_safely

    def noted(task: Any, *args: Any, countdown: float | None = None) -> bool:
        if task is not TASK:
            return enqueue(task, *args, countdown=countdown)
        names.append(task.name)
        return True

    monkeypatch.setattr(tasks, "enqueue_safely", noted)
    wake.gates_reset()
    yield names
    wake.gates_reset()


def lingerer() -> wake.Lingerer:
    return wake.Lingerer(TASK)


def gate() -> bytes | None:
    value: bytes | None = wake._redis().get(wake._key(TASK))
    return value


def until(condition: Callable[[], bool]) -> None:
    wait_until(condition, timeout=3.0, step=0.005)


def waiting() -> bool:
    return (gate() or b"").startswith(b"linger:")


def test_a_lingering_task_is_signalled_and_keeps_the_gate_while_it_works(published: list[str]) -> None:
    run = lingerer()
    with ThreadPoolExecutor(max_workers=1) as other:
        first = other.submit(run.wait, 2.0)
        until(waiting)
        started = time.monotonic()

        assert wake.wake(TASK) is True

        assert first.result() is Linger.SIGNALLED
    assert time.monotonic() - started < wake.LINGER_WAIT_SECONDS, "woken by the signal, not by its timeout"
    # It works on the row now; rows that come meanwhile signal it again rather than publish.
    assert waiting()
    wake.wake(TASK)
    assert run.wait(2.0) is Linger.SIGNALLED, "the signal given while it worked is there at once"
    assert published == []

    run.release()

    assert gate() is None, "open: the next wake publishes"
    wake.wake(TASK)
    assert published == [TASK.name]


def test_a_wait_that_hears_nothing_times_out_and_opens_the_gate(published: list[str]) -> None:
    assert lingerer().wait(0.05) is Linger.TIMED_OUT
    assert gate() is None and published == []


def test_no_task_lingers_while_a_published_one_is_on_its_way(published: list[str]) -> None:
    wake.wake(TASK)
    run = lingerer()

    assert run.wait(0.05) is Linger.NOT
    run.release()
    assert gate() == b"1", "the published task's gate is left to it"
    assert published == [TASK.name]


def test_a_task_that_starts_takes_the_gate_so_that_rows_signal_it_instead_of_publishing(
    published: list[str],
) -> None:
    wake.wake(TASK)
    assert gate() == b"1" and published == [TASK.name]
    run = lingerer()

    run.start()  # the published task: its gate is its own now, before its first claim

    assert waiting()
    started = time.monotonic()
    assert wake.wake(TASK) is True
    assert run.wait(2.0) is Linger.SIGNALLED, "the row committed while it worked signalled it"
    assert time.monotonic() - started < wake.LINGER_WAIT_SECONDS
    assert published == [TASK.name], "no second task for it"
    run.release()
    wake.wake(TASK)
    assert published == [TASK.name, TASK.name], "open again once it ends"


def test_a_task_that_starts_while_another_holds_the_gate_leaves_it_to_that_one(published: list[str]) -> None:
    holder, late = lingerer(), lingerer()
    holder.start()

    late.start()

    assert gate() == holder.value.encode()
    assert late.wait(0.05) is Linger.NOT, "it claims and ends; the holder answers the signals"
    wake.wake(TASK)
    assert holder.wait(0.05) is Linger.SIGNALLED
    assert published == []


def test_a_task_with_no_time_left_to_wait_opens_its_gate_and_claims_once_more(published: list[str]) -> None:
    run = lingerer()
    run.start()
    wake.wake(TASK)  # a row committed after its last claim: a signal

    assert run.wait(0) is Linger.TIMED_OUT, "the caller claims once more, and sees the row"

    assert gate() is None
    wake.wake(TASK)
    assert published == [TASK.name]


def test_signals_given_while_the_task_worked_are_taken_by_one_script_and_all_at_once(
    published: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = lingerer()
    run.start()
    for _ in range(3):
        wake.wake(TASK)  # rows committed while it worked
    client = wake._redis()
    monkeypatch.setattr(client, "blpop", lambda *a, **k: pytest.fail("no blocking read when signals are there"))

    assert run.wait(2.0) is Linger.SIGNALLED

    assert client.llen(wake._signals(TASK)) == 0, "one claim answers them all"
    monkeypatch.undo()
    assert run.wait(0.05) is Linger.TIMED_OUT, "none left to wake it for nothing"
    assert published == []


@pytest.mark.parametrize("taken", ["when it starts", "when it first waits"])
def test_signals_left_from_an_earlier_run_do_not_wake_the_next_one(published: list[str], taken: str) -> None:
    wake._redis().rpush(wake._signals(TASK), "1")
    run = lingerer()
    if taken == "when it starts":
        run.start()

    assert run.wait(0.05) is Linger.TIMED_OUT


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="the drain runs on a connection of its own")
def test_a_drain_waits_for_the_next_commands_and_answers_them_in_the_same_task(
    bot: Bot, post_command: Callable[..., Any], published: list[str]
) -> None:
    def drain() -> dispatch.DrainResult:
        try:
            return dispatch.inbound_drain(linger=True, budget_seconds=1.5)
        finally:
            connection.close()

    def say(text: str) -> InboundEvent:
        payload = payloads.command(body=text, user_huid=str(uuid.uuid4()), group_chat_id=str(uuid.uuid4()))
        assert post_command(bot, payload).status_code == 202  # commits, then wakes: a signal
        return InboundEvent.objects.get(bot=bot, sync_id=payload["sync_id"])

    with ThreadPoolExecutor(max_workers=1) as worker:
        running = worker.submit(drain)
        until(waiting)
        first = say("после паузы")
        until(lambda: InboundEvent.objects.get(pk=first.pk).status == InboundEvent.Status.DONE)
        second = say("и ещё одно")

        result = running.result()
    assert result.statuses == {first.pk: InboundEvent.Status.DONE, second.pk: InboundEvent.Status.DONE}
    assert published == [], "the lingering drain took both: no task was published for either"


@pytest.mark.django_db
def test_a_drain_whose_time_is_spent_while_it_holds_the_gate_hands_the_rest_to_a_new_task(
    bot: Bot, post_command: Callable[..., Any], published: list[str]
) -> None:
    """Its wake for the rest must publish, not signal the drain itself, which is ending."""
    for text in ("первое", "второе"):
        payload = payloads.command(body=text, user_huid=str(uuid.uuid4()), group_chat_id=str(uuid.uuid4()))
        assert post_command(bot, payload).status_code == 202  # in the test's transaction: no wake

    result = dispatch.inbound_drain(batch=1, budget_seconds=0, linger=True)

    assert (len(result.statuses), result.more) == (1, True)
    assert published == [TASK.name]
    assert gate() == b"1", "held for the task on its way"


def test_the_gate_is_one_task_at_a_time_for_threads_racing_to_linger(published: list[str]) -> None:
    barrier = threading.Barrier(4)

    def race() -> Linger:
        barrier.wait()
        return lingerer().wait(0.1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _n: race(), range(4)))

    assert sorted(outcome.value for outcome in outcomes) == ["not", "not", "not", "timed out"]
