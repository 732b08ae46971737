"""Waking a draining task after commit: at most one of it waiting in the queue, not one task per row.

A drain task claims whatever rows are pending when it runs, so a row committed before the task's
claim needs no task of its own. The gate is one Redis key per task: ``wake`` publishes only when it
sets the key (``SET NX``); the task deletes the key *before* it claims. Either the key was absent
(this call publishes) or a published task has not deleted it yet (that task's claim comes after this
row's commit and sees the row), so no committed row is left without a task on its way.

The key expires after ``WAKE_GATE_SECONDS``: a task lost between the two (a publish that failed
after the key was set, a process killed there) costs a delay that long, and the sweeper remains the
safety net for everything else. Without Redis as the broker, or when Celery runs tasks eagerly,
every call publishes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_client: Any = None
_client_url: str | None = None


def _redis() -> Any:
    """A Redis client on the broker's server, or None when the broker is not Redis."""
    global _client, _client_url
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://")):
        return None
    with _lock:
        if _client is None or _client_url != url:
            import redis  # the broker's own client library; only needed with a Redis broker

            # Short timeouts: a Redis that does not answer must not hold an HTTP request; the call
            # falls back to publishing (which then fails the same way and leaves it to the sweeper).
            _client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
            _client_url = url
        return _client


def _key(task: Task) -> str:
    return f"portal:wake:{task.name}"


def _eager() -> bool:
    from portal.celery import app

    return bool(app.conf.task_always_eager)


def wake(task: Task) -> bool:
    """Make sure a ``task`` (no arguments) will run after this point. False if it could not be enqueued."""
    from bots import tasks

    client = None if _eager() else _redis()
    if client is not None:
        try:
            if not client.set(_key(task), "1", nx=True, px=int(settings.WAKE_GATE_SECONDS * 1000)):
                return True  # one is on its way and has not claimed yet
        except Exception:
            logger.warning("the wake gate of %s is unavailable; publishing", task.name, exc_info=True)
            client = None
    if tasks.enqueue_safely(task):
        return True
    if client is not None:
        try:
            client.delete(_key(task))  # nothing is on its way after all: the next call must publish
        except Exception:
            logger.warning("could not reopen the wake gate of %s", task.name, exc_info=True)
    return False


def woken(task: Task) -> None:
    """Called by ``task`` before it claims: rows committed from now on need a new task."""
    client = None if _eager() else _redis()
    if client is None:
        return
    try:
        client.delete(_key(task))
    except Exception:
        # The key expires by itself; until then a wake finds it set and relies on this run's claim.
        logger.warning("could not open the wake gate of %s", task.name, exc_info=True)


def gates_reset() -> None:
    """Open every gate (tests; after purging the queue, the tasks the keys stand for are gone)."""
    client = _redis()
    if client is None:
        return
    for key in client.scan_iter(match="portal:wake:*"):
        client.delete(key)
