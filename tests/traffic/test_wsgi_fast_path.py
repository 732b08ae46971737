"""The deployed WSGI application: the Bot API's fast path in front of Django, and the group commit of commands.

The endpoint tests (test_command_endpoint.py) already run every case through the fast path; these
check what is its own: which requests it leaves to Django, its database connection handling, and
several requests of one process sharing one INSERT.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.utils import translation

from bots.models import Bot, InboundEvent
from bots.services import bot_cache, inbound_writer, ingress
from bots.views import botx_wsgi
from bots.views.botx_wsgi import FastBotApi
from tests.botx import payloads

from .conftest import WsgiResponse, botx_token, wsgi_environ, wsgi_post

Status = InboundEvent.Status


pytestmark = pytest.mark.django_db


def _body(bot: Bot) -> str:
    return json.dumps(payloads.command(bot_id=str(bot.bot_id)))


class DjangoStandIn:
    """What Django would be: records the requests left to it and answers 418."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"django"]


def _signed(bot: Bot) -> dict[str, str]:
    return {"authorization": f"Bearer {botx_token(bot)}"}


def test_the_deployed_application_is_the_fast_path_in_front_of_django() -> None:
    from django.core.handlers.wsgi import WSGIHandler

    from portal.wsgi import application

    assert isinstance(application, FastBotApi)
    assert isinstance(application.django_app, WSGIHandler)


def test_a_command_and_a_callback_are_served_without_django(bot: Bot) -> None:
    django = DjangoStandIn()
    app = FastBotApi(django)

    command = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot), application=app)
    shared = wsgi_post("/botx/command", _body(bot), headers=_signed(bot), application=app)
    callback = wsgi_post(
        f"/botx/{bot.bot_id}/notification/callback",
        f'{{"sync_id": "{uuid.uuid4()}", "status": "ok", "result": {{}}}}',
        headers=_signed(bot),
        application=app,
    )

    assert (command.status_code, shared.status_code, callback.status_code) == (202, 202, 202)
    assert command.json() == {"result": "accepted"}
    assert command["content-type"] == "application/json"
    assert django.seen == []
    assert InboundEvent.objects.filter(endpoint="command", status=Status.RECEIVED).count() == 2
    assert InboundEvent.objects.filter(endpoint="callback").count() == 1


@pytest.mark.parametrize(
    ("method", "path", "host"),
    [
        ("GET", "/botx/{bot_id}/command", "testserver"),
        ("GET", "/botx/{bot_id}/status", "testserver"),
        ("POST", "/botx/{bot_id}/smartapps/request", "testserver"),
        ("POST", "/botx/not-a-uuid-but-thirty-six-chars-long/command", "testserver"),
        ("POST", "/botx/{bot_id}/command/", "testserver"),
        ("POST", "/admin/login/", "testserver"),
        ("POST", "/botx/{bot_id}/command", "evil.example.com"),
    ],
    ids=["GET command", "status", "smartapp", "not a UUID", "trailing slash", "admin", "host not allowed"],
)
def test_every_other_request_is_left_to_django(bot: Bot, method: str, path: str, host: str) -> None:
    django = DjangoStandIn()
    environ = _environ(method, path.format(bot_id=bot.bot_id), host=host)

    status = _call(FastBotApi(django), environ)

    assert status.startswith("418")
    assert django.seen == [(method, environ["PATH_INFO"])]
    assert not InboundEvent.objects.exists()


def test_plain_http_that_django_would_redirect_to_https_is_left_to_django(bot: Bot, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    django = DjangoStandIn()
    app = FastBotApi(django)

    assert _call(app, _environ("POST", f"/botx/{bot.bot_id}/command")).startswith("418")
    behind_proxy = _environ("POST", f"/botx/{bot.bot_id}/command", HTTP_X_FORWARDED_PROTO="https")
    assert _call(app, behind_proxy).startswith("400")  # served here: an empty body is refused
    assert len(django.seen) == 1


def test_answers_are_in_the_portals_language_whatever_the_thread_last_spoke(bot: Bot, settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    bot.enabled, bot.status_message = False, ""
    bot.save()

    with translation.override("ru"):
        response = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))

    assert response.status_code == 503
    assert response.json()["error_data"]["status_message"] == "The bot is turned off."


def test_an_unexpected_failure_is_logged_and_botx_is_asked_to_try_again(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: ingress.BotxHttpRequest) -> ingress.Answer:
        raise RuntimeError("a bug")

    monkeypatch.setitem(botx_wsgi._SERVICES, "command", ("command", broken))

    response = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))

    assert response.status_code == 503
    assert response.json()["reason"] == "bot_disabled"
    assert "the Bot API endpoint command failed" in caplog.text


# --- the database connection -----------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ends a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_is_answered_503_once_and_the_next_request_reconnects(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot(name="Echo")
    connection.close_at = None  # CONN_MAX_AGE aside: only the dropped connection closes it
    first = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))
    assert first.status_code == 202
    backend = connection.connection.info.backend_pid
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")  # the same connection: the server ends it from another one below
    _terminate(backend)

    dropped = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))
    again = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))

    assert dropped.status_code == 503
    assert "try again" in dropped.json()["error_data"]["status_message"]
    assert again.status_code == 202
    assert connection.connection.info.backend_pid != backend
    assert InboundEvent.objects.filter(status=Status.RECEIVED).count() == 2


@pytest.mark.skipif(connection.vendor == "sqlite", reason="Django never closes an in-memory SQLite database")
@pytest.mark.django_db(transaction=True)
def test_a_connection_older_than_conn_max_age_is_closed_after_the_request(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(name="Echo")
    assert wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot)).status_code == 202
    assert connection.connection is not None  # kept between requests while young
    connection.close_at = time.monotonic() - 1

    response = wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot))

    assert response.status_code == 202
    assert connection.connection is None


def _terminate(backend_pid: int) -> None:
    import psycopg

    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"), dbname="postgres", autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


# --- group commit ----------------------------------------------------------------------------------


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Each INSERT takes a little longer, so that requests queue behind it; yields the batch sizes."""
    sizes: list[int] = []
    insert = inbound_writer._insert

    def slow(items: Any) -> None:
        sizes.append(len(items))
        time.sleep(0.05)
        insert(items)

    monkeypatch.setattr(inbound_writer, "_insert", slow)
    yield sizes


def _in_threads(jobs: list[Callable[[], WsgiResponse]]) -> list[WsgiResponse]:
    """Run the jobs at once, each in its own thread with its own database connection, as gthread does."""
    results: list[Any] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = jobs[index]()
        except BaseException as exc:  # the test reports it, not the thread
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _post(bot: Bot, body: str) -> Callable[[], WsgiResponse]:
    return lambda: wsgi_post(f"/botx/{bot.bot_id}/command", body, headers=_signed(bot))


@pytest.mark.django_db(transaction=True)
def test_concurrent_commands_share_inserts_and_each_is_stored_once_with_repeats_counted(
    make_bot: Callable[..., Bot], slow_writes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot(name="Echo")
    wakes: list[bool] = []
    monkeypatch.setattr(ingress._writer, "_after_commit", lambda: wakes.append(True))
    bodies = [_body(bot) for _ in range(20)]
    repeated = bodies[:4]  # sent twice: BotX retrying while the first is still being stored

    responses = _in_threads([_post(bot, body) for body in bodies + repeated])

    assert [response.status_code for response in responses] == [202] * 24
    events = InboundEvent.objects.filter(endpoint="command")
    assert events.count() == 20
    assert sorted(events.values_list("duplicates", flat=True)) == [0] * 16 + [1] * 4
    assert set(events.values_list("status", flat=True)) == {Status.RECEIVED}
    assert sum(slow_writes) == 24
    assert max(slow_writes) > 1, slow_writes
    assert len(wakes) == len(slow_writes)  # one wake-up per commit, not per request


@pytest.mark.django_db(transaction=True)
def test_a_row_that_breaks_its_batch_is_refused_alone_and_the_others_are_stored(
    make_bot: Callable[..., Bot], slow_writes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot(name="Echo")
    gone = make_bot(name="Gone")
    # Another process deleted "Gone"; this one still has it cached, so its row fails the foreign key.
    stale = bot_cache.bots_for(gone.bot_id)
    Bot.objects.filter(pk=gone.pk).delete()
    fresh_lookup = bot_cache.bots_for
    monkeypatch.setattr(
        bot_cache,
        "bots_for",
        lambda bot_id, fresh=False: stale if bot_id == gone.bot_id and not fresh else fresh_lookup(bot_id, fresh=fresh),
    )

    # The first write holds the others back, so the rest queue and go in one batch with the bad row.
    jobs = [_post(bot, _body(bot)) for _ in range(6)] + [_post(gone, _body(gone))]
    responses = _in_threads(jobs)

    assert [response.status_code for response in responses[:6]] == [202] * 6
    assert responses[6].status_code == 503
    assert "No bot" in responses[6].json()["error_data"]["status_message"]
    assert InboundEvent.objects.filter(bot=bot, status=Status.RECEIVED).count() == 6
    assert max(slow_writes) > 1, slow_writes
    assert InboundEvent.objects.filter(bot_ref=str(gone.bot_id), status=Status.REJECTED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_when_a_shared_insert_fails_every_request_in_it_is_answered_503_and_nothing_is_half_stored(
    make_bot: Callable[..., Bot], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot(name="Echo")
    failures: list[int] = []

    def unreachable(items: Any) -> None:
        failures.append(len(items))
        time.sleep(0.05)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(inbound_writer, "_insert", unreachable)
    responses = _in_threads([_post(bot, _body(bot)) for _ in range(6)])

    assert [response.status_code for response in responses] == [503] * 6
    assert sum(failures) == 6 and max(failures) > 1
    assert not InboundEvent.objects.filter(status=Status.RECEIVED).exists()

    monkeypatch.undo()
    assert wsgi_post(f"/botx/{bot.bot_id}/command", _body(bot), headers=_signed(bot)).status_code == 202


# --- helpers ---------------------------------------------------------------------------------------


def _environ(method: str, path: str, *, host: str = "testserver", **extra: str) -> dict[str, Any]:
    return wsgi_environ(method, path, host=host) | extra


def _call(app: FastBotApi, environ: dict[str, Any]) -> str:
    started: list[str] = []
    b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))
    return started[0]


def test_a_callback_on_the_shared_url_settles_the_message_of_the_bot_that_sent_it(bot: Bot) -> None:
    from bots.models import CallbackReceipt, OutboundMessage

    message = OutboundMessage.objects.create(
        bot=bot, method="notification", payload={"body": "x"}, status="sent", sync_id=uuid.uuid4()
    )

    response = wsgi_post(
        "/botx/notification/callback",
        json.dumps({"sync_id": str(message.sync_id), "status": "ok", "result": {}}),
        headers=_signed(bot),
    )

    assert response.status_code == 202
    assert OutboundMessage.objects.get(pk=message.pk).status == "delivered"
    receipt = CallbackReceipt.objects.get()
    assert (receipt.message_id, receipt.bot_id, receipt.inbound.bot_ref) == (message.pk, bot.pk, str(bot.bot_id))
