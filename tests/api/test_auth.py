"""Who may call the API: 401 for a missing, bad, revoked or expired token; 403 for a missing scope or bot."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from bots.api.models import ApiToken
from bots.api.services.tokens import token_authenticate, token_revoke
from bots.models import Bot, OutboundMessage
from tests.api.conftest import Api


def send_body(bot: Bot, **fields: Any) -> dict[str, Any]:
    return {"bot": str(bot.bot_id), "chat_id": str(uuid.uuid4()), "body": "hello", **fields}


def test_a_request_without_a_token_is_answered_401_with_the_scheme_to_use(api: Api) -> None:
    answer = api.client.get("/api/v1/bots/")

    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"] == "not_authenticated"


def test_a_malformed_or_unknown_token_is_answered_401(api: Api) -> None:
    prefix = ApiToken.objects.get().prefix
    for header in ("Bearer", "Token abc", "Bearer a b", f"Bearer {prefix}_wrong-secret", "Bearer bpt_00000000_x"):
        answer = api.client.get("/api/v1/bots/", headers={"authorization": header})
        assert answer.status_code == 401, header
        assert answer.json()["error"] == "authentication_failed"


def test_a_revoked_token_is_answered_401_and_sends_nothing(api: Api, bot: Bot) -> None:
    token = ApiToken.objects.get()
    assert api.get("bots/").status_code == 200

    assert token_revoke(token=token)
    answer = api.post("messages/", send_body(bot))

    assert answer.status_code == 401
    assert not OutboundMessage.objects.exists()
    assert not token_revoke(token=token), "revoking twice changes nothing"


def test_an_expired_token_and_a_token_of_a_deactivated_owner_are_answered_401(
    api: Api, cast: Any, make_token: Callable[..., str]
) -> None:
    expired = make_token(cast.operator, expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert api.get("bots/", token=expired).status_code == 401

    cast.operator.is_active = False
    cast.operator.save()
    assert api.get("bots/").status_code == 401


def test_the_token_is_stored_only_as_its_hash(api: Api) -> None:
    token = ApiToken.objects.get()

    assert api.token is not None
    assert api.token.startswith(f"{token.prefix}_")
    assert token.token_hash == hashlib.sha256(api.token.encode()).hexdigest()
    assert api.token not in {token.token_hash, token.prefix, token.name}
    assert token_authenticate(api.token) == token


def test_a_token_without_the_scope_is_answered_403(
    api: Api, cast: Any, bot: Bot, make_token: Callable[..., str]
) -> None:
    reader = make_token(cast.operator, ["bots:read"])

    assert api.get("bots/", token=reader).status_code == 200
    answer = api.post("messages/", send_body(bot), token=reader)

    assert answer.status_code == 403
    assert answer.json() == {"error": "permission_denied", "detail": "The token does not have the scope messages:send."}
    assert not OutboundMessage.objects.exists()


def test_a_token_is_answered_403_for_a_bot_outside_its_set(
    api: Api, cast: Any, bot: Bot, make_bot: Callable[..., Bot], make_token: Callable[..., str]
) -> None:
    other = make_bot(name="Other")
    cast.operator.bot_roles.create(bot=other, role="operator")
    only_other = make_token(cast.operator, bots=[other])

    answer = api.post("messages/", send_body(bot), token=only_other)

    assert answer.status_code == 403
    assert str(bot.bot_id) in answer.json()["detail"]
    assert api.post("messages/", send_body(other), token=only_other).status_code == 202
    assert [b["name"] for b in api.get("bots/", token=only_other).json()] == ["Other"]


def test_a_token_cannot_do_more_than_its_owners_role_allows(
    api: Api, cast: Any, bot: Bot, make_token: Callable[..., str]
) -> None:
    # The auditor may read the bot's history, not send: a token with messages:send does not change that.
    auditor = make_token(cast.auditor, all_bots=True)
    outsider = make_token(cast.outsider, all_bots=True)

    assert api.post("messages/", send_body(bot), token=auditor).status_code == 403
    assert api.get("ledger/outbound/", token=auditor).status_code == 200
    assert api.get("bots/", token=outsider).json() == []
    assert api.post("messages/", send_body(bot), token=outsider).status_code == 403
    assert not OutboundMessage.objects.exists()


def test_an_unknown_bot_is_answered_403_like_a_forbidden_one(api: Api, bot: Bot) -> None:
    answer = api.post("messages/", {**send_body(bot), "bot": str(uuid.uuid4())})

    assert answer.status_code == 403


def test_the_last_use_is_recorded_at_most_once_a_minute(api: Api) -> None:
    token = ApiToken.objects.get()
    assert token.last_used_at is None

    api.get("bots/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("bots/")
    token.refresh_from_db()
    assert token.last_used_at == first

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    api.get("bots/")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first - dt.timedelta(seconds=1)
