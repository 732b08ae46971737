"""Rate limits per token: the token's own rate, else API_RATE_LIMIT; 429 with Retry-After past it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import override_settings

from tests.api.conftest import Api


def test_a_token_past_its_own_rate_gets_429_and_other_tokens_are_not_slowed(
    api: Api, cast: Any, make_token: Callable[..., str]
) -> None:
    slow = make_token(cast.operator, rate_limit="3/min")

    answers = [api.get("bots/", token=slow) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    assert api.get("bots/").status_code == 200


@override_settings(API_RATE_LIMIT="2/min")
def test_the_portal_default_applies_to_tokens_without_their_own(api: Api) -> None:
    assert [api.get("bots/").status_code for _ in range(3)] == [200, 200, 429]


def test_a_bad_rate_cannot_be_given_to_a_token(api: Api, cast: Any, make_token: Callable[..., str]) -> None:
    from django.core.exceptions import ValidationError

    try:
        make_token(cast.operator, rate_limit="lots")
    except ValidationError as exc:
        assert "rate_limit" in exc.message_dict
    else:
        raise AssertionError("a bad rate was accepted")
