"""GET /status: whether the bot is available and the command menu the asking user may see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from bots.botx import responses
from bots.models import Bot, CommandRule, InboundEvent
from tests.botx import payloads
from tests.traffic.conftest import botx_token

pytestmark = pytest.mark.django_db

SIGNED = "signed"  # the default: a valid token for the bot
HELP = {"body": "/help", "name": "/help", "description": "What this bot can do"}
BUTTONS = {"body": "/buttons", "name": "/buttons", "description": "Buttons that edit their own message"}
# The rest of the echo bot's menu, which no test here restricts.
OTHERS = [
    {"body": "/keyboard", "name": "/keyboard", "description": "A keyboard of this bot's commands"},
    {"body": "/mention", "name": "/mention", "description": "Mentions you; /mention all mentions everyone"},
    {"body": "/file", "name": "/file", "description": "Sends a small text file"},
]


@pytest.fixture
def get_status(client: Client) -> Callable[..., Any]:
    def get(bot: Bot, *, token: str | None = SIGNED, url: str | None = None, **params: Any) -> Any:
        query: dict[str, Any] = {
            "bot_id": str(bot.bot_id),
            "user_huid": str(payloads.USER_HUID),
            "ad_login": "",
            "ad_domain": "",
            "is_admin": "",
            "chat_type": "chat",
        }
        query.update({name: str(value) if isinstance(value, uuid.UUID) else value for name, value in params.items()})
        query = {name: value for name, value in query.items() if value is not None}
        if token == SIGNED:
            token = botx_token(bot)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return client.get(url or f"/botx/{bot.bot_id}/status", query, headers=headers)

    return get


def menu(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    commands: list[dict[str, Any]] = response.json()["result"]["commands"]
    return commands


def only_event() -> InboundEvent:
    return InboundEvent.objects.get(endpoint=InboundEvent.Endpoint.STATUS)


def test_status_answers_that_the_bot_works_with_its_menu(bot: Bot, get_status: Callable[..., Any]) -> None:
    response = get_status(bot)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "result": {"enabled": True, "status_message": "The bot is working.", "commands": [HELP, BUTTONS, *OTHERS]},
    }


def test_status_shows_the_bots_own_status_message(make_bot: Callable[..., Bot], get_status: Callable[..., Any]) -> None:
    bot = make_bot(status_message="Ready for orders")

    assert get_status(bot).json()["result"]["status_message"] == "Ready for orders"


def test_each_status_request_is_stored_as_answered(bot: Bot, get_status: Callable[..., Any]) -> None:
    get_status(bot, ad_login="anna")

    event = only_event()
    assert event.bot == bot
    assert event.status == InboundEvent.Status.ANSWERED
    assert event.http_status == 200
    assert event.verification == InboundEvent.Verification.VERIFIED
    assert event.user_huid == payloads.USER_HUID
    assert event.headers["authorization"] == "present"
    assert '"ad_login": "anna"' in event.raw_body


def test_empty_query_values_count_as_absent(bot: Bot, get_status: Callable[..., Any]) -> None:
    CommandRule.objects.create(bot=bot, command="/help", ad_logins=["anna"])

    # An empty login matches no listed login, and an empty is_admin is not an admin.
    assert menu(get_status(bot, ad_login="", ad_domain="", is_admin="")) == [BUTTONS, *OTHERS]
    assert menu(get_status(bot, ad_login="anna", is_admin="")) == [HELP, BUTTONS, *OTHERS]


def test_the_shared_url_answers_status_for_the_bot_in_the_query(
    bot: Bot, make_bot: Callable[..., Bot], get_status: Callable[..., Any]
) -> None:
    other = make_bot(name="Other", status_message="Other is here")

    response = get_status(other, url="/botx/status")

    assert response.json()["result"]["status_message"] == "Other is here"
    assert only_event().bot == other


# --- the menu per user -----------------------------------------------------------------------------


def _rule(bot: Bot, **fields: Any) -> CommandRule:
    rule = CommandRule(bot=bot, command="/help", **fields)
    rule.full_clean()
    rule.save()
    return rule


@pytest.mark.parametrize(
    ("rule", "allowed", "refused"),
    [
        (
            {"user_huids": [str(payloads.USER_HUID)]},
            {"user_huid": payloads.USER_HUID},
            {"user_huid": payloads.OTHER_USER_HUID},
        ),
        ({"ad_logins": ["Anna"]}, {"ad_login": "anna"}, {"ad_login": "bob"}),
        ({"ad_domains": ["corp.example.com"]}, {"ad_domain": "CORP.example.com"}, {"ad_domain": "elsewhere.example"}),
        ({"chat_admins_only": True}, {"is_admin": "true"}, {"is_admin": "false"}),
    ],
    ids=["by huid", "by login", "by domain", "chat admins only"],
)
def test_a_command_rule_hides_the_command_from_users_it_does_not_allow(
    rule: dict[str, Any],
    allowed: dict[str, Any],
    refused: dict[str, Any],
    bot: Bot,
    get_status: Callable[..., Any],
) -> None:
    _rule(bot, **rule)

    assert menu(get_status(bot, **allowed)) == [HELP, BUTTONS, *OTHERS]
    assert menu(get_status(bot, **refused)) == [BUTTONS, *OTHERS]


def test_a_disabled_bot_answers_not_enabled_with_its_status_message(
    make_bot: Callable[..., Bot], get_status: Callable[..., Any]
) -> None:
    bot = make_bot(enabled=False, status_message="Back on Monday")

    response = get_status(bot)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "result": {"enabled": False, "status_message": "Back on Monday", "commands": []},
    }
    assert only_event().status == InboundEvent.Status.ANSWERED


def test_a_bot_without_its_handler_code_answers_not_enabled(bot: Bot, get_status: Callable[..., Any]) -> None:
    Bot.objects.filter(pk=bot.pk).update(handler="removed_long_ago")

    result = get_status(bot).json()["result"]

    assert result["enabled"] is False
    assert result["commands"] == []
    assert "handler" in result["status_message"]


# --- refused ---------------------------------------------------------------------------------------


def _assert_bad_query(response: Any, *message_parts: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"reason", "error_data", "errors"}
    assert body["reason"] == "bot_disabled"
    for part in message_parts:
        assert part in body["error_data"]["status_message"]
    assert only_event().status == InboundEvent.Status.REJECTED


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bot_id": None}, "bot_id"),
        ({"bot_id": ""}, "bot_id"),
        ({"bot_id": "not-a-uuid"}, "bot_id"),
        ({"user_huid": "not-a-uuid"}, "user_huid"),
    ],
    ids=["bot_id missing", "bot_id empty", "bot_id invalid", "user_huid invalid"],
)
def test_a_missing_or_invalid_id_is_refused_400(
    params: dict[str, Any], field: str, bot: Bot, get_status: Callable[..., Any]
) -> None:
    _assert_bad_query(get_status(bot, **params), f'"{field}"')


@pytest.mark.parametrize("user_huid", [None, ""], ids=["missing", "empty"])
def test_a_missing_user_huid_is_refused_400(user_huid: str | None, bot: Bot, get_status: Callable[..., Any]) -> None:
    _assert_bad_query(get_status(bot, user_huid=user_huid), '"user_huid"')


def test_a_query_for_another_bot_than_the_url_is_refused_400(bot: Bot, get_status: Callable[..., Any]) -> None:
    _assert_bad_query(get_status(bot, bot_id=uuid.uuid4()), "bot_id")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "The authorization token was not provided."),
        ("forged", "Signature verification failed"),
        ("not-a-jwt", "Not enough segments"),
    ],
    ids=["missing", "forged", "garbage"],
)
def test_a_status_request_without_a_valid_token_is_refused_401(
    token: str | None, message: str, bot: Bot, get_status: Callable[..., Any]
) -> None:
    if token == "forged":
        token = botx_token(bot, secret="f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0")

    response = get_status(bot, token=token)

    assert response.status_code == 401
    assert response.json() == responses.unverified_request(message)
    event = only_event()
    assert event.status == InboundEvent.Status.REJECTED
    assert event.verification == InboundEvent.Verification.FAILED
    assert event.http_status == 401


def test_status_for_an_unknown_bot_is_answered_503(bot: Bot, client: Client) -> None:
    unknown = uuid.uuid4()
    token = botx_token(bot)

    response = client.get(
        f"/botx/{unknown}/status",
        {"bot_id": str(unknown), "user_huid": str(payloads.USER_HUID), "chat_type": "chat"},
        headers={"authorization": f"Bearer {token}"},
    )

    assert response.status_code == 503
    assert response.json()["reason"] == "bot_disabled"
    assert only_event().bot_ref == str(unknown)


def test_post_on_the_status_endpoint_is_not_allowed(bot: Bot, client: Client) -> None:
    assert client.post(f"/botx/{bot.bot_id}/status").status_code == 405
