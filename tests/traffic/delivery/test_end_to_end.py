"""The whole loop with a real Celery worker: a sandbox user writes, the echo bot answers in the chat.

The worker runs in a thread of this process and takes its tasks from the broker of the settings (the
filesystem broker locally, in a folder of the test's own so no other worker on the machine takes
them; Redis when CELERY_BROKER_URL says so, as in CI). The sandbox posts the user's command and the
callbacks to the portal's own ``/botx/`` on the live server.

On SQLite the test database lives in memory, and a second connection to it finds a table another one
is writing locked (it fails, it does not wait). So there every thread uses the test's own connection,
as Django's live server does for such a database, and the worker runs one task at a time (``solo``).
On PostgreSQL the worker runs two threads, each with its connection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import setup_logging, task_postrun, task_prerun
from celery.worker import WorkController
from celery.worker import state as worker_state
from django.db import connection, connections
from kombu import pools
from kombu.exceptions import OperationalError

from bots import tasks
from bots.models import Bot, CallbackReceipt, DeliveryAttempt, InboundEvent, OutboundMessage
from bots.sandbox.models import SandboxMessage
from bots.sandbox.services.user_send import UserMessage, UserSendResult, sandbox_user_send
from bots.services import wake
from bots.services.sweeper import sweep
from portal.celery import app as celery_app
from tests.sandbox_fixtures import World
from tests.traffic.delivery.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_CONF = ("broker_url", "broker_transport_options", "worker_enable_remote_control")
# What starting a worker sets in the environment for its child processes (there are none here).
WORKER_ENVIRON = (
    "CELERY_LOG_LEVEL",
    "CELERY_LOG_FILE",
    "_MP_FORK_LOGLEVEL_",
    "_MP_FORK_LOGFILE_",
    "_MP_FORK_LOGFORMAT_",
)


def _broker_pools_reset() -> None:
    # The app and kombu keep the connection and producer pools of the broker first talked to (eager
    # tasks too take a producer); forget them, as a forked worker process does.
    pools.reset()
    celery_app._pool = None  # type: ignore[attr-defined]  # private, not in the stubs
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@contextmanager
def _logging_left_alone() -> Iterator[None]:
    """Keep pytest's and Django's logging as it is: a receiver of ``setup_logging`` tells Celery that
    logging is configured already, and what else it changes is put back."""

    def configured(**kwargs: Any) -> None:
        return None

    environ = {name: os.environ.get(name) for name in WORKER_ENVIRON}
    captured = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    setup_logging.connect(configured, weak=False)
    try:
        yield
    finally:
        setup_logging.disconnect(configured)
        logging.captureWarnings(captured)
        for name, value in environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def celery_worker(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkController]:
    conf = celery_app.conf
    assert not conf.task_always_eager, "a real worker needs tasks to go through the broker"
    saved = {name: conf[name] for name in WORKER_CONF}
    if str(conf.broker_url).startswith("filesystem"):
        folder = tmp_path_factory.mktemp("broker")
        for sub in ("queue", "control"):
            (folder / sub).mkdir(parents=True)
        conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": 0.05,
        }
    conf.worker_enable_remote_control = False  # no broadcast queue: nothing here sends it commands
    _broker_pools_reset()
    celery_app.control.purge()  # left over by an earlier run that was interrupted
    wake.gates_reset()  # the drain tasks those gates stood for were purged with the rest

    sqlite = connection.vendor == "sqlite"
    shared = connections["default"]
    httpd = live_server.thread.httpd
    served_with = httpd.connections_override
    if sqlite:
        shared.inc_thread_sharing()
        httpd.connections_override = {"default": shared}

    def before(**kwargs: Any) -> None:
        if sqlite:
            connections["default"] = shared

    def after(**kwargs: Any) -> None:
        # The worker's threads end with the test; their connections must not outlive it (PostgreSQL
        # would not drop the test database).
        if not sqlite:
            connection.close()

    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)
    try:
        pool, concurrency = ("solo", 1) if sqlite else ("threads", 2)
        with (
            _logging_left_alone(),
            start_worker(
                celery_app,
                pool=pool,
                concurrency=concurrency,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=20,
            ) as worker,
        ):
            yield worker
    finally:
        task_prerun.disconnect(before)
        task_postrun.disconnect(after)
        if sqlite:
            httpd.connections_override = served_with
            shared.dec_thread_sharing()
        for name, value in saved.items():
            conf[name] = value
        _broker_pools_reset()


def say(bot: Bot, world: World, origin: str, text: str) -> UserSendResult:
    return sandbox_user_send(
        bot=bot, chat=world.personal, user=world.ivan, message=UserMessage(body=text), origin=origin
    )


def echo_in_chat(bot: Bot, world: World, text: str) -> SandboxMessage | None:
    return SandboxMessage.objects.filter(chat=world.personal, sender_huid=bot.bot_id, body=text).first()


def test_a_user_writes_to_the_echo_bot_and_its_answer_is_delivered(
    bot: Bot, world: World, live_server: Any, celery_worker: WorkController
) -> None:
    sent = say(bot, world, live_server.url, "hello")

    assert sent.status_code == 202, sent.body
    answer = wait_until(lambda: echo_in_chat(bot, world, "hello"))
    message = wait_until(
        lambda: OutboundMessage.objects.filter(sync_id=answer.sync_id, status=OutboundMessage.Status.DELIVERED).first()
    )
    event = InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint=InboundEvent.Endpoint.COMMAND)
    assert event.status == InboundEvent.Status.DONE
    assert event.attempts == 1
    assert message.inbound == event
    assert message.correlation_id == event.correlation_id
    assert message.payload == {"chat_id": str(world.personal.group_chat_id), "body": "hello"}
    (attempt,) = DeliveryAttempt.objects.filter(message=message)
    assert (attempt.status_code, attempt.outcome) == (202, DeliveryAttempt.Outcome.OK)
    receipt = CallbackReceipt.objects.get(sync_id=answer.sync_id)
    assert receipt.ok
    assert receipt.message == message
    assert receipt.matched_at is not None
    assert OutboundMessage.objects.filter(correlation_id=event.correlation_id).count() == 1


def test_a_command_that_came_while_the_broker_was_down_is_answered_once_the_sweeper_finds_it(
    bot: Bot,
    world: World,
    live_server: Any,
    celery_worker: WorkController,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    # A drain of the test before may still be waiting for commands (wake.linger): it would take this
    # one without the broker. The worker is idle first.
    wait_until(lambda: not worker_state.active_requests)
    with monkeypatch.context() as broken:
        broken.setattr(type(celery_app.tasks[tasks.inbound_drain.name]), "apply_async", broker_down)
        sent = say(bot, world, live_server.url, "are you there?")

    assert sent.status_code == 202, "BotX gets its answer all the same"
    event = InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint=InboundEvent.Endpoint.COMMAND)
    assert event.status == InboundEvent.Status.RECEIVED
    assert event.attempts == 0
    assert not OutboundMessage.objects.exists()

    settings.SWEEP_GRACE_SECONDS = 0
    counts = sweep()

    assert counts["inbound"] == 1
    answer = wait_until(lambda: echo_in_chat(bot, world, "are you there?"))
    wait_until(lambda: OutboundMessage.objects.filter(sync_id=answer.sync_id, status="delivered").exists())
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.DONE
    assert event.queued_at is not None
