"""The OpenAPI schema, its docs pages (served from the portal's own static files), and a bounded
schemathesis run against it: generated requests, valid and invalid, get no 5xx and only answers that
the schema describes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from bots.models import Bot, InboundEvent, OutboundMessage
from portal.wsgi import application
from tests.api.conftest import Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_schema_is_openapi_3_and_lists_every_endpoint(api: Api) -> None:
    answer = api.client.get("/api/v1/schema/", {"format": "json"})

    assert answer.status_code == 200
    schema = answer.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/bots/",
        "/api/v1/messages/",
        "/api/v1/messages/{id}/",
        "/api/v1/scheduled/{id}/",
        "/api/v1/broadcasts/",
        "/api/v1/broadcasts/{id}/",
        "/api/v1/broadcasts/{id}/cancel/",
        "/api/v1/broadcasts/{id}/recipients/",
        "/api/v1/ledger/inbound/",
        "/api/v1/ledger/inbound/export/",
        "/api/v1/ledger/outbound/",
        "/api/v1/ledger/outbound/export/",
    }
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token, shown once when it is made.",
    }


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_docs_pages_load_their_scripts_from_the_portal_not_a_cdn(api: Api, page: str) -> None:
    answer = api.client.get(f"/api/v1/{page}/")

    assert answer.status_code == 200
    html = answer.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    bundle = "swagger-ui-dist/swagger-ui-bundle.js" if page == "docs" else "redoc/bundles/redoc.standalone.js"
    assert finders.find(f"drf_spectacular_sidecar/{bundle}")


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    # The WSGI handler closes "old" connections when a request starts; inside the test's transaction
    # that would close the test's own connection. Django's test client does the same as this.
    request_started.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)


@pytest.fixture
def fuzz_world(cast: Any, bot: Bot, make_token: Any) -> str:
    """Some history to read, and a token with every scope on every bot (the superuser's)."""
    message = OutboundMessage.objects.create(bot=bot, method="notification", payload={}, text="hi", status="sent")
    InboundEvent.objects.create(bot=bot, endpoint="command", text="/help", status="done")
    assert message.pk
    return make_token(cast.admin, all_bots=True)


def _run(
    mode: GenerationMode, token: str, examples: int, bot: Bot, operation: tuple[str, str] | None = None
) -> list[int]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    target = schema if operation is None else schema[operation[0]][operation[1]]
    strategy = target.as_strategy(mode, headers={"Authorization": f"Bearer {token}"})
    statuses: list[int] = []

    @given(case=strategy)
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same cases every run
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict) and "bot" in case.body:
            # A random bot ID is a 403; with the real one the request reaches the services.
            case.body["bot"] = str(bot.bot_id)
            case.body.pop("cts", None)
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    check()
    return statuses


def test_generated_valid_requests_get_no_server_error_and_answers_that_match_the_schema(
    in_process_requests: None, fuzz_world: str, bot: Bot
) -> None:
    statuses = _run(GenerationMode.POSITIVE, fuzz_world, examples=120, bot=bot)

    # How the examples spread over the operations varies between processes; the lists always answer.
    assert 200 in statuses, sorted(set(statuses))


def test_generated_valid_messages_reach_the_outbox(in_process_requests: None, fuzz_world: str, bot: Bot) -> None:
    statuses = _run(GenerationMode.POSITIVE, fuzz_world, examples=40, bot=bot, operation=("/api/v1/messages/", "POST"))

    assert 202 in statuses, sorted(set(statuses))


def test_generated_invalid_requests_are_refused_in_the_schemas_terms(
    in_process_requests: None, fuzz_world: str, bot: Bot
) -> None:
    statuses = _run(GenerationMode.NEGATIVE, fuzz_world, examples=60, bot=bot)

    assert not [status for status in statuses if status >= 500]
