"""Fixtures for the REST API: tokens for the fixed cast, and a client that sends them.

These tests use the CTS of tests/conftest.py (nothing listens there) and the non-transactional
database: the outbox rows the API makes are checked as rows, and never leave (no commit, no task).
The tests that deliver through the sandbox live in tests/api/live/.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from bots.api.services.tokens import token_create
from bots.models import Bot

ALL_SCOPES = (
    "bots:read",
    "messages:send",
    "messages:read",
    "broadcasts:write",
    "broadcasts:read",
    "ledger:read",
)


@pytest.fixture(autouse=True)
def fresh_throttle_counters() -> None:
    caches["api"].clear()


@pytest.fixture
def make_token(db: Any) -> Callable[..., str]:
    def make(
        user: User, scopes: Iterable[str] = ALL_SCOPES, *, bots: Iterable[Bot] = (), all_bots: bool = False, **kw: Any
    ) -> str:
        bots = list(bots)
        issued = token_create(owner=user, name="tests", scopes=scopes, bots=bots, all_bots=all_bots or not bots, **kw)
        return issued.plaintext

    return make


class Api:
    """The test client with a token: ``api.get(path)``, ``api.post(path, {...})``, paths under /api/v1/."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, token: str | None = None) -> dict[str, str]:
        token = token or self.token
        return {"authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict[str, Any] | None = None, token: str | None = None) -> Any:
        return self.client.get(f"/api/v1/{path}", params or {}, headers=self.headers(token))

    def post(self, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(f"/api/v1/{path}", data, content_type="application/json", headers=self.headers(token))

    def delete(self, path: str, token: str | None = None) -> Any:
        return self.client.delete(f"/api/v1/{path}", headers=self.headers(token))


@pytest.fixture
def api(client: Client, cast: Any, bot: Bot, make_token: Callable[..., str]) -> Api:
    """The operator's token with every scope, on every bot they hold a role on (the cast's bot)."""
    return Api(client, make_token(cast.operator))
