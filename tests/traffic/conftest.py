"""Fixtures for the traffic tests: tokens as BotX makes them, posting to the Bot API, eager Celery."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from bots.botx.auth import jwt_v2_build
from bots.models import Bot, CtsServer
from bots.services import bot_cache


@pytest.fixture(autouse=True)
def _bot_cache_cleared() -> Iterator[None]:
    # Each test's database starts afresh, the per-process copy of the registry must too.
    bot_cache.cache_clear()
    yield
    bot_cache.cache_clear()


def botx_token(bot: Bot, *, secret: str | None = None, **claims: Any) -> str:
    """A token as BotX signs its requests to a bot (the v2 layout: iss = bot ID, aud = CTS host)."""
    return jwt_v2_build(bot_id=bot.bot_id, host=bot.cts.host, secret_key=secret or bot.secret_key, **claims)


@pytest.fixture
def cts(db: Any) -> CtsServer:
    # Nothing listens on port 9 of this machine: a delivery here fails at once, and never leaves it.
    return CtsServer.objects.create(name="main", base_url="http://127.0.0.1:9", auth_mode="v2")


@dataclass
class WsgiResponse:
    """What the tests read of an answer: the status, the body and the headers."""

    status_code: int
    content: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]


def wsgi_environ(
    method: str, path: str, body: bytes | str = b"", *, host: str = "testserver", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A WSGI environ as the web server builds it for a request; ``headers`` by their HTTP names."""
    raw = body.encode() if isinstance(body, str) else body
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _not_for_django(environ: dict[str, Any], start_response: Any) -> Any:
    raise AssertionError(f"the fast path left {environ['REQUEST_METHOD']} {environ['PATH_INFO']} to Django")


def wsgi_post(
    path: str, body: bytes | str, *, headers: dict[str, str] | None = None, application: Any = None
) -> WsgiResponse:
    """POST as the web server calls the deployed application (portal.wsgi), not through Django's test client.

    By default through the Bot API's fast path alone (bots/views/botx_wsgi.py), with Django behind it
    refusing to serve: a request it left to Django fails the test instead of passing by the other way.
    """
    from bots.views.botx_wsgi import FastBotApi

    application = application or FastBotApi(_not_for_django)

    environ = wsgi_environ("POST", path, body, headers=headers)
    started: list[Any] = []
    chunks = application(
        environ, lambda status, response_headers, exc_info=None: started.extend([status, response_headers])
    )
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    status, response_headers = started
    return WsgiResponse(int(status.split()[0]), content, {k.lower(): v for k, v in response_headers})


@pytest.fixture
def botx_path() -> str:
    """How the tests reach the Bot API: Django's test client, or the deployed WSGI application ("wsgi")."""
    return "django"


@pytest.fixture
def post_command(client: Client, botx_path: str) -> Callable[..., Any]:
    def post(
        bot: Bot,
        payload: Any,
        *,
        token: str | None = "auto",  # noqa: S107 (a mode: sign a valid token, not a secret)
        url: str | None = None,
        raw: bytes | None = None,
    ) -> Any:
        headers = {}
        if token == "auto":
            token = botx_token(bot)
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = raw if raw is not None else json.dumps(payload)
        path = url or f"/botx/{bot.bot_id}/command"
        if botx_path == "wsgi":
            return wsgi_post(path, body, headers=headers)
        return client.post(path, body, content_type="application/json", headers=headers)

    return post


def new_sync_id() -> str:
    return str(uuid.uuid4())
