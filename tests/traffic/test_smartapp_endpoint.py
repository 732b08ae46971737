"""Smart Apps: synchronous requests answered within the HTTP request, and the front end's static files."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from bots.botx import responses
from bots.handlers.framework import Router, SmartAppCall, SmartAppError
from bots.handlers.registry import HandlerInfo, handlers
from bots.models import Bot, InboundEvent, SmartApp
from tests.botx import payloads
from tests.traffic.conftest import botx_token

pytestmark = pytest.mark.django_db

TEST_HANDLER = "traffic_smartapp_test"
SIGNED = "signed"  # the default: a valid token for the bot


@pytest.fixture
def smartapp_bot(bot: Bot, settings: Any) -> Iterator[Bot]:
    """The Echo bot served by a handler whose Smart App methods sum, refuse, break and dawdle."""
    settings.SMARTAPP_TIME_LIMIT_SECONDS = 1
    router = Router()

    @router.smartapp("sum")
    def add(call: SmartAppCall) -> Any:
        return call.params["a"] + call.params["b"]

    @router.smartapp("pay")
    def pay(call: SmartAppCall) -> Any:
        raise SmartAppError("Not enough money", error_id="NO_MONEY", meta={"missing": 5})

    @router.smartapp("broken")
    def broken(call: SmartAppCall) -> Any:
        raise ValueError("internal detail the front end must not see")

    @router.smartapp("slow")
    def slow(call: SmartAppCall) -> Any:
        time.sleep(1.5)
        return "too late"

    registry = handlers()
    registry[TEST_HANDLER] = HandlerInfo(key=TEST_HANDLER, name="Smart App tests", router=router)
    Bot.objects.filter(pk=bot.pk).update(handler=TEST_HANDLER)
    bot.refresh_from_db()
    yield bot
    registry.pop(TEST_HANDLER, None)


@pytest.fixture
def call(client: Client) -> Callable[..., Any]:
    def post(bot: Bot, method: str, data: Any = None, *, token: str | None = SIGNED) -> Any:
        payload = payloads.load("smartapp_request")
        payload["bot_id"] = str(bot.bot_id)
        payload["method"] = method
        payload["payload"]["data"] = data if data is not None else {}
        if token == SIGNED:
            token = botx_token(bot)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return client.post(
            f"/botx/{bot.bot_id}/smartapps/request",
            json.dumps(payload),
            content_type="application/json",
            headers=headers,
        )

    return post


def only_event() -> InboundEvent:
    return InboundEvent.objects.get(endpoint=InboundEvent.Endpoint.SMARTAPP)


# --- synchronous requests --------------------------------------------------------------------------


def test_a_smartapp_method_answers_with_its_result(smartapp_bot: Bot, call: Callable[..., Any]) -> None:
    response = call(smartapp_bot, "sum", {"a": 1, "b": 2})

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "result": {"data": 3, "files": []}}
    event = only_event()
    assert event.status == InboundEvent.Status.ANSWERED
    assert event.verification == InboundEvent.Verification.VERIFIED
    assert event.text == "sum"
    assert event.user_huid == payloads.USER_HUID
    assert event.chat_id == payloads.PERSONAL_CHAT_ID


def test_an_unknown_method_is_answered_method_not_found(smartapp_bot: Bot, call: Callable[..., Any]) -> None:
    response = call(smartapp_bot, "documents.list")

    assert response.status_code == 200
    assert response.json() == responses.smartapp_error(
        [{"reason": "Method not found", "id": "METHOD_NOT_FOUND", "meta": {"method": "documents.list"}}]
    )
    assert only_event().status == InboundEvent.Status.FAILED


def test_an_application_error_reaches_the_front_end_as_its_error_items(
    smartapp_bot: Bot, call: Callable[..., Any]
) -> None:
    response = call(smartapp_bot, "pay")

    assert response.json() == {
        "status": "error",
        "reason": "smartapp_error",
        "errors": [{"reason": "Not enough money", "id": "NO_MONEY", "meta": {"missing": 5}}],
        "error_data": {},
    }
    event = only_event()
    assert event.status == InboundEvent.Status.FAILED
    assert "NO_MONEY" in event.error


def test_a_method_that_breaks_is_answered_internal_error_without_its_details(
    smartapp_bot: Bot, call: Callable[..., Any]
) -> None:
    response = call(smartapp_bot, "broken")

    body = response.json()
    assert body["status"] == "error"
    assert body["reason"] == "smartapp_error"
    (error,) = body["errors"]
    assert error["reason"] == "Internal error"
    assert "internal detail" not in response.content.decode()
    assert only_event().status == InboundEvent.Status.FAILED


def test_a_method_past_the_time_limit_is_answered_timeout(smartapp_bot: Bot, call: Callable[..., Any]) -> None:
    started = time.monotonic()
    response = call(smartapp_bot, "slow")
    elapsed = time.monotonic() - started

    assert response.json() == responses.smartapp_error(
        [{"reason": "The Smart App method took too long.", "id": "TIMEOUT", "meta": {"method": "slow"}}]
    )
    assert elapsed < 1.5
    assert only_event().status == InboundEvent.Status.FAILED


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "The authorization token was not provided."), ("not-a-jwt", "Not enough segments")],
    ids=["missing", "garbage"],
)
def test_a_smartapp_request_without_a_valid_token_is_refused_401(
    token: str | None, message: str, smartapp_bot: Bot, call: Callable[..., Any]
) -> None:
    response = call(smartapp_bot, "sum", {"a": 1, "b": 2}, token=token)

    assert response.status_code == 401
    assert response.json() == responses.unverified_request(message)
    event = only_event()
    assert event.status == InboundEvent.Status.REJECTED
    assert event.verification == InboundEvent.Verification.FAILED


def test_a_forged_smartapp_request_is_refused_401(smartapp_bot: Bot, call: Callable[..., Any]) -> None:
    forged = botx_token(smartapp_bot, secret="f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0")

    response = call(smartapp_bot, "sum", {"a": 1, "b": 2}, token=forged)

    assert response.status_code == 401
    assert response.json() == responses.unverified_request("Signature verification failed")


def test_a_smartapp_request_for_a_disabled_bot_is_answered_503(smartapp_bot: Bot, call: Callable[..., Any]) -> None:
    Bot.objects.filter(pk=smartapp_bot.pk).update(enabled=False, status_message="Shop closed")

    response = call(smartapp_bot, "sum", {"a": 1, "b": 2})

    assert response.status_code == 503
    assert response.json() == responses.bot_disabled("Shop closed")


# --- static files ----------------------------------------------------------------------------------

INDEX_HTML = b"<!doctype html><title>Shop</title><script src='app.js'></script>"
APP_JS = b"console.log('shop');"


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", INDEX_HTML)
        archive.writestr("app.js", APP_JS)
    return buffer.getvalue()


@pytest.fixture
def shop(make_bot: Callable[..., Bot], settings: Any, tmp_path: Path) -> tuple[Bot, bytes]:
    """A Smart App bot with version 2.0.1 of its front end uploaded."""
    settings.MEDIA_ROOT = tmp_path
    bot = make_bot(kind=Bot.Kind.SMARTAPP, name="Shop")
    smartapp = SmartApp.objects.create(bot=bot, app_version="2.0.1", changelog="Faster checkout")
    data = _bundle()
    smartapp.bundle.save("shop.zip", ContentFile(data))
    return bot, data


def static(client: Client, bot: Bot, path: str) -> Any:
    return client.get(f"/botx/{bot.bot_id}/smartapp_files/static/{path.lstrip('/')}")


def test_a_file_of_the_bundle_is_served_with_its_type(shop: tuple[Bot, bytes], client: Client) -> None:
    bot, _data = shop

    page = static(client, bot, "index.html")
    script = static(client, bot, "app.js")

    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert page.content == INDEX_HTML
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert script.content == APP_JS


def test_the_manifest_names_the_version_and_the_bundle_which_is_served_too(
    shop: tuple[Bot, bytes], client: Client
) -> None:
    bot, data = shop

    response = static(client, bot, "smartapp-manifest.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    manifest = response.json()
    assert manifest == {
        "manifestVersion": "1.0.0",
        "smartAppVersion": "2.0.1",
        "bundlePath": "/bundle-2.0.1.zip",
        "changeLog": "Faster checkout",
    }
    bundle = static(client, bot, manifest["bundlePath"])
    assert bundle.status_code == 200
    assert bundle["Content-Type"] == "application/zip"
    assert bundle.content == data


@pytest.mark.parametrize("path", ["missing.html", "bundle-1.0.0.zip", "../index.html"])
def test_a_path_outside_the_bundle_is_not_found(path: str, shop: tuple[Bot, bytes], client: Client) -> None:
    bot, _data = shop

    assert static(client, bot, path).status_code == 404


def test_the_files_of_a_disabled_smartapp_are_not_found(shop: tuple[Bot, bytes], client: Client) -> None:
    bot, _data = shop
    Bot.objects.filter(pk=bot.pk).update(enabled=False)

    assert static(client, bot, "index.html").status_code == 404
    assert static(client, bot, "smartapp-manifest.json").status_code == 404


def test_a_bot_without_a_smartapp_has_no_files(bot: Bot, client: Client) -> None:
    assert static(client, bot, "index.html").status_code == 404
