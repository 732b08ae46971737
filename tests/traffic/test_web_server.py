"""The web server README deploys (granian) running portal.wsgi: the Bot API's fast path, Django behind it.

Its own process on the test database, reached over real HTTP, as BotX and a browser reach it in
production. PostgreSQL only: the SQLite test database lives in the test process's memory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings
from django.db import connection

from bots.models import Bot, InboundEvent
from tests.botx import payloads

from .conftest import botx_token

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process needs a shared database"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """granian as README runs it (one process here), on the test database; its base URL."""
    port = _free_port()
    log = (tmp_path / "granian.log").open("wb")
    argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", "1", "--blocking-threads", "2", "portal.wsgi:application"]
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "ALLOWED_HOSTS": "127.0.0.1"}
    process = subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "granian.log").read_text()) from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_granian_serves_the_bot_api_and_django_from_portal_wsgi(served: str, bot: Bot) -> None:
    sync_id = str(uuid.uuid4())
    body = json.dumps(payloads.command(bot_id=str(bot.bot_id), sync_id=sync_id))
    headers = {"Authorization": f"Bearer {botx_token(bot)}", "Content-Type": "application/json"}

    answer = httpx.post(f"{served}/botx/{bot.bot_id}/command", content=body, headers=headers, timeout=10)

    assert (answer.status_code, answer.json()) == (202, {"result": "accepted"})
    event = InboundEvent.objects.get(sync_id=sync_id)
    assert (event.bot_id, event.verification, event.remote_addr) == (bot.pk, "verified", "127.0.0.1")
    assert event.headers["content-type"] == "application/json"

    # A forged token: the protocol's 401 body, from the same process.
    forged = {**headers, "Authorization": f"Bearer {botx_token(bot, secret='f0' * 18)}"}
    refused = httpx.post(f"{served}/botx/{bot.bot_id}/command", content=body, headers=forged, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "unverified_request"

    # Everything else is Django's: the admin's sign-in page.
    page = httpx.get(f"{served}/admin/login/", timeout=10)
    assert page.status_code == 200
    assert 'name="password"' in page.text


def test_a_body_far_over_the_limit_is_refused_413_and_the_server_serves_on(served: str, bot: Bot) -> None:
    # 64 MiB announced and sent: the answer is the protocol's 413, and the server is still serving.
    size = 64 * 1024 * 1024
    headers = {"Authorization": f"Bearer {botx_token(bot)}", "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        block = b" " * (1024 * 1024)
        for _ in range(size // len(block)):
            yield block

    answer = httpx.post(
        f"{served}/botx/{bot.bot_id}/command",
        content=chunks(),
        headers={**headers, "Content-Length": str(size)},
        timeout=30,
    )
    assert answer.status_code == 413
    assert httpx.get(f"{served}/healthz", timeout=5).status_code in {200, 503}
