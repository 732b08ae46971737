"""The per-process copy of the registry behind /command and the callbacks, and the wake-up gate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots import crypto, tasks
from bots.models import Bot, InboundEvent
from bots.services import bot_cache, wake
from bots.services.registry import bot_secret_rotate, bot_set_enabled
from tests.botx import payloads
from tests.traffic.conftest import botx_token

pytestmark = [pytest.mark.django_db]

NEW_SECRET = "c0ffee00c0ffee00c0ffee00c0ffee00"


def test_a_bot_is_read_from_the_database_once_and_then_served_from_the_cache(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    assert post_command(bot, payloads.command()).status_code == 202

    with CaptureQueriesContext(connection) as queries:
        assert post_command(bot, payloads.command()).status_code == 202

    assert not [q for q in queries.captured_queries if '"bots_bot"' in q["sql"].split("FROM", 1)[-1][:40]]
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1, "one row per command"


def test_a_secret_rotated_here_is_accepted_at_once_and_the_old_one_during_its_grace(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    old = bot.secret_key
    assert post_command(bot, payloads.command()).status_code == 202  # cached with the old secret

    bot = bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(hours=1))

    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=NEW_SECRET)).status_code == 202
    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=old)).status_code == 202


def test_a_secret_rotated_in_another_process_is_accepted_at_once(bot: Bot, post_command: Callable[..., Any]) -> None:
    assert post_command(bot, payloads.command()).status_code == 202  # cached with the old secret
    # Another process rotated it: no signal reaches this one's cache.
    Bot.objects.filter(pk=bot.pk).update(secret_key_ciphertext=crypto.encrypt(NEW_SECRET))

    response = post_command(bot, payloads.command(), token=botx_token(bot, secret=NEW_SECRET))

    assert response.status_code == 202, "a token the cached keys refuse is checked against the bot read afresh"


def test_an_old_secret_past_its_grace_is_refused_even_while_cached(bot: Bot, post_command: Callable[..., Any]) -> None:
    old = bot.secret_key
    bot = bot_secret_rotate(bot=bot, new_secret=NEW_SECRET, grace=dt.timedelta(seconds=1))
    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=old)).status_code == 202

    time.sleep(1.1)  # the grace ends while the entry is still fresh: expiry is checked per request

    refused = post_command(bot, payloads.command(), token=botx_token(bot, secret=old))
    assert refused.status_code == 401


def test_a_bot_disabled_here_is_refused_at_once(bot: Bot, post_command: Callable[..., Any]) -> None:
    assert post_command(bot, payloads.command()).status_code == 202

    bot_set_enabled(bot=bot, enabled=False, status_message="Closed for the night")

    refused = post_command(bot, payloads.command())
    assert refused.status_code == 503
    assert "Closed for the night" in refused.content.decode()


def test_a_bot_disabled_in_another_process_is_refused_once_the_entry_is_stale(
    bot: Bot, post_command: Callable[..., Any], settings: Any
) -> None:
    settings.BOTX_BOT_CACHE_SECONDS = 1
    assert post_command(bot, payloads.command()).status_code == 202
    Bot.objects.filter(pk=bot.pk).update(enabled=False, status_message="Off")  # no signal here

    time.sleep(1.05)

    assert post_command(bot, payloads.command()).status_code == 503


def test_a_stale_entry_is_reloaded_by_one_thread_while_the_others_go_on_with_it(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BOTX_BOT_CACHE_SECONDS = 1
    (cached,) = bot_cache.bots_for(bot.bot_id)
    entry = bot_cache._entries[bot.bot_id]
    bot_cache._entries[bot.bot_id] = dataclasses.replace(entry, loaded_at=entry.loaded_at - 5)  # past its time
    others: list[tuple[bot_cache.CachedBot, ...]] = []
    load = bot_cache._load

    def load_meanwhile(row: Bot) -> bot_cache.CachedBot:
        # Another request thread meets the stale entry while this one reloads it. Had it read the registry
        # itself, its own connection would not see this test's uncommitted bot at all.
        other = threading.Thread(target=lambda: others.append(bot_cache.bots_for(bot.bot_id)))
        other.start()
        other.join(10)
        return load(row)

    monkeypatch.setattr(bot_cache, "_load", load_meanwhile)
    Bot.objects.filter(pk=bot.pk).update(status_message="reloaded")  # no signal: seen only by the reload

    (reloaded,) = bot_cache.bots_for(bot.bot_id)

    assert others == [(cached,)], "the other thread went on with the entry under reload"
    assert reloaded.bot.status_message == "reloaded"
    monkeypatch.setattr(bot_cache, "_load", load)
    assert bot_cache.bots_for(bot.bot_id) == (reloaded,), "the reloaded entry is kept"
    assert not bot_cache._reloading


# --- the wake-up gate ------------------------------------------------------------------------------


@pytest.fixture
def redis_gate(settings: Any) -> Any:
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        pytest.skip("the gate needs a Redis broker")
    wake.gates_reset()
    yield
    wake.gates_reset()


def test_the_gate_publishes_one_drain_until_it_has_claimed(redis_gate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[str] = []

    def enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
        published.append(task.name)
        return True

    monkeypatch.setattr(tasks, "enqueue_safely", enqueue)

    assert wake.wake(tasks.inbound_drain)
    assert wake.wake(tasks.inbound_drain)
    assert published == ["bots.inbound_drain"], "the second row is claimed by the drain on its way"

    drain = wake.Lingerer(tasks.inbound_drain)
    drain.start()  # the drain starts: what is committed from now on signals it
    assert wake.wake(tasks.inbound_drain)
    assert published == ["bots.inbound_drain"]

    drain.release()  # it ends (or asks for help): the next row needs another drain
    assert wake.wake(tasks.inbound_drain)
    assert published == ["bots.inbound_drain", "bots.inbound_drain"]


def test_a_failed_publish_reopens_the_gate(redis_gate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = iter([False, True])
    published: list[str] = []

    def enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
        published.append(task.name)
        return next(outcomes)

    monkeypatch.setattr(tasks, "enqueue_safely", enqueue)

    assert wake.wake(tasks.inbound_drain) is False  # the broker was down: left for the sweeper
    assert wake.wake(tasks.inbound_drain) is True
    assert len(published) == 2, "the next row tried again rather than trusting a task that never left"


def test_a_command_wakes_the_drain_after_its_row_is_committed(
    bot: Bot, post_command: Callable[..., Any], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[str] = []

    def wake_noted(task: Any) -> bool:
        woken.append(task.name)
        return True

    monkeypatch.setattr(wake, "wake", wake_noted)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post_command(bot, payloads.command()).status_code == 202
    assert woken == [], "nothing before the commit"
    for callback in callbacks:
        callback()

    assert woken == ["bots.inbound_drain"]
    assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == 1
