"""Waking a draining task after commit: at most one of it waiting in the queue, not one task per row.

A drain task claims whatever rows are pending when it runs, so a row committed before the task's
claim needs no task of its own. The gate is one Redis key per task: ``wake`` publishes only when it
sets the key (``SET NX``); the task takes the key *before* it claims (``Lingerer.start``). Either the
key was absent (this call publishes) or a published task has not taken it yet (that task's claim, or
the claim of whichever task took it first, comes after this row's commit and sees the row), or a task
holds it and is signalled (below), so no committed row is left without a task on its way.

The key expires after ``WAKE_GATE_SECONDS``: a task lost between the two (a publish that failed
after the key was set, a process killed there) costs a delay that long, and the sweeper remains the
safety net for everything else. Without Redis as the broker, or when Celery runs tasks eagerly,
every call publishes.

A task that has found nothing left to claim may wait for the next row instead of ending
(``Lingerer``): a task per row costs a worker more CPU than the row's own work when rows come one at
a time. It holds the gate with a value of its own (``linger:<token>``), taken when it starts (or, if
another task held it then, when it first waits) and waits on a signal list; ``wake`` finding such a
value pushes a signal instead of publishing (one round trip, a script); a wait that finds signals
there already takes them all in the script that renews the gate, without a blocking read (under load,
the usual case: one round trip, not three). The task keeps the gate while
it works, so the rows that come meanwhile signal it rather than publish a task each: were the gate
opened as a task starts, every row committed before it next waited would publish one more task
(bench/traffic.py at 80 commands/s: about 200 tasks for a run of 1,200 commands against 40 to 70,
each costing the web and the worker several times a wake). It opens the gate when a wait times
out, when it ends, when its time is spent, and when the caller finds rows coming faster than one
task answers them (the drain: a claim of several; the wakes after that publish tasks to help, and it
waits no more). After opening it, the caller claims once more, so a row whose wake signalled just
before is not left behind. Only the task holding the gate waits: at most one at a time, none while a
published task is on its way.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
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


def _signals(task: Task) -> str:
    return f"portal:wake:{task.name}:signals"


# KEYS: the gate, the signal list; ARGV: the gate's lifetime in ms. 1: the gate was open and is now
# taken (publish); 0: a task is on its way, or one lingers and has been signalled (nothing to do).
_WAKE_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
    return 1
end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 7) == 'linger:' then
    redis.call('RPUSH', KEYS[2], '1')
    redis.call('LTRIM', KEYS[2], 0, 7)
    redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 0
"""
# The same keys; ARGV[2]: the lingering task's value. 2: the gate is still this task's (its lifetime
# renewed) and rows have signalled it since its last claim (the signals taken: no blocking read needed);
# 1: the gate is this task's (taken now, the signals left from before dropped; or still its own, renewed),
# with no signal; 0: it is not.
_LINGER_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    if redis.call('DEL', KEYS[2]) == 1 then
        return 2
    end
    return 1
end
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) then
    redis.call('DEL', KEYS[2])
    return 1
end
return 0
"""
# The same keys; ARGV[2]: as above. 1: the gate was open, or held for a published task that has not
# started (this one, or one whose rows this task's first claim sees), and is now this task's (the
# signals left from before dropped); 0: another task holds it.
_START_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held and held ~= '1' then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""
# The same keys; ARGV[2]: as above. Opens the gate if it is still this task's.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[2] then
    redis.call('DEL', KEYS[1])
end
return 0
"""


def _eager() -> bool:
    from portal.celery import app

    return bool(app.conf.task_always_eager)


def wake(task: Task) -> bool:
    """Make sure a ``task`` (no arguments) will run after this point. False if it could not be enqueued."""
    from bots import tasks

    client = None if _eager() else _redis()
    if client is not None:
        try:
            if not _run(client, _WAKE_SCRIPT, task):
                return True  # one is on its way and has not claimed yet, or one lingers and is signalled
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


_scripts: dict[tuple[int, str], Any] = {}  # each script registered on each client (by id) that runs it


def _run(client: Any, source: str, task: Task, *args: str) -> int:
    script = _scripts.get((id(client), source))
    if script is None:
        script = _scripts[id(client), source] = client.register_script(source)
    return int(script(keys=[_key(task), _signals(task)], args=[_gate_ms(), *args]))


def _gate_ms() -> int:
    return int(settings.WAKE_GATE_SECONDS * 1000)


# One wait is shorter than the client's socket timeout (a blocking read counts against it).
LINGER_WAIT_SECONDS = 0.5


class Linger(enum.Enum):
    """What a ``Lingerer``'s wait ended with."""

    NOT = "not"  # did not wait: a task is on its way, another lingers, or there is no Redis gate
    SIGNALLED = "signalled"  # a row was committed: the gate is still this task's
    TIMED_OUT = "timed out"  # the gate is open again


class Lingerer:
    """One run of ``task`` that waits for its next rows while it holds the gate (see the module's text)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.value = f"linger:{uuid.uuid4().hex}"
        self.client = None if _eager() else _redis()
        self.held = False  # whether this run may hold the gate (it may have expired since)

    def start(self) -> None:
        """Take the gate as the task starts, before its first claim, unless another task holds it:
        the rows committed from now on signal this task instead of publishing one more."""
        if self.client is None:
            return
        try:
            self.held = bool(_run(self.client, _START_SCRIPT, self.task, self.value))
        except Exception:
            # The key expires by itself; until then a wake finds it set and relies on this run's claims.
            logger.warning("could not take the wake gate of %s", self.task.name, exc_info=True)

    def wait(self, seconds: float) -> Linger:
        """Wait up to ``seconds`` (at most ``LINGER_WAIT_SECONDS``) for a row; the caller claims
        after any outcome but ``Linger.NOT``."""
        client, task = self.client, self.task
        seconds = min(seconds, LINGER_WAIT_SECONDS)
        if client is None:
            return Linger.NOT
        if seconds <= 0:
            if not self.held:
                return Linger.NOT
            # No time left to wait: open the gate, and the caller claims once more for the rows that
            # signalled this task since its last claim.
            self.release()
            return Linger.TIMED_OUT
        try:
            held = _run(client, _LINGER_SCRIPT, task, self.value)
            if not held:
                return Linger.NOT
            self.held = True
            if held == 2:
                # Rows came while this task worked (usual under load): one round trip, not three.
                return Linger.SIGNALLED
            # Redis counts BLPOP's timeout in seconds, fractions allowed.
            if client.blpop([_signals(task)], timeout=seconds):
                # One claim answers every signal given so far: their rows were committed before it.
                client.delete(_signals(task))
                return Linger.SIGNALLED
        except Exception:
            logger.warning("waiting for a wake of %s failed", task.name, exc_info=True)
        self.release()
        return Linger.TIMED_OUT

    def release(self) -> None:
        """Open the gate if this task holds it: from now on a wake publishes."""
        if self.client is None or not self.held:
            return
        self.held = False
        try:
            _run(self.client, _RELEASE_SCRIPT, self.task, self.value)
        except Exception:
            # The key expires by itself; until then a wake signals a task that no longer waits.
            logger.warning("could not open the wake gate of %s", self.task.name, exc_info=True)


def gates_reset() -> None:
    """Open every gate (tests; after purging the queue, the tasks the keys stand for are gone)."""
    client = _redis()
    if client is None:
        return
    for key in client.scan_iter(match="portal:wake:*"):
        client.delete(key)
