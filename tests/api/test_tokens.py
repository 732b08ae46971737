"""Making and revoking tokens: the console shows a new token once; the command prints it once."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from bots.api.models import ApiToken
from bots.api.services.tokens import token_authenticate
from bots.models import Bot


def test_the_console_shows_a_new_token_once_and_keeps_only_its_hash(client: Client, cast: Any, bot: Bot) -> None:
    client.force_login(cast.operator)

    answer = client.post(
        "/admin/api/apitoken/add/",
        {
            "name": "HR system",
            "owner": cast.operator.pk,
            "scopes": ["messages:send", "bots:read"],
            "bots": [bot.pk],
            "rate_limit": "",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )

    assert answer.status_code == 200, answer.content
    assert "no-store" in answer["Cache-Control"]
    token = ApiToken.objects.get()
    plaintext = answer.context["plaintext"]
    assert plaintext.startswith(token.prefix + "_")
    assert plaintext in answer.content.decode()
    assert token_authenticate(plaintext) == token
    assert (token.owner, token.scopes, list(token.bots.all()), token.created_by) == (
        cast.operator,
        ["bots:read", "messages:send"],
        [bot],
        "operator",
    )
    page = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert plaintext not in page
    assert token.prefix in page
    assert plaintext not in client.get("/admin/api/apitoken/").content.decode()


def test_a_user_without_a_role_may_not_make_tokens_and_others_see_only_their_own(
    client: Client, cast: Any, bot: Bot
) -> None:
    client.force_login(cast.outsider)
    assert client.get("/admin/api/apitoken/add/").status_code == 403

    client.force_login(cast.operator)
    answer = client.post(
        "/admin/api/apitoken/add/",
        {"name": "x", "owner": cast.owner.pk, "scopes": ["bots:read"], "all_bots": "on"},
    )
    assert answer.status_code == 200
    assert "owner" in answer.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_a_token_needs_bots_or_all_bots(client: Client, cast: Any) -> None:
    client.force_login(cast.admin)

    answer = client.post("/admin/api/apitoken/add/", {"name": "x", "owner": cast.admin.pk, "scopes": ["bots:read"]})

    assert "bots" in answer.context["adminform"].form.errors


def test_the_revoke_action_revokes(client: Client, cast: Any, bot: Bot) -> None:
    out = io.StringIO()
    call_command(
        "api_token",
        "create",
        "--user",
        "operator",
        "--name",
        "x",
        "--scope",
        "bots:read",
        "--all-bots",
        stdout=out,
        stderr=io.StringIO(),
    )
    token = ApiToken.objects.get()
    client.force_login(cast.operator)

    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token_authenticate(out.getvalue().strip()) is None


def test_the_command_prints_the_token_once_lists_without_it_and_revokes(cast: Any, bot: Bot) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "api_token",
        "create",
        "--user",
        "operator",
        "--name",
        "Monitoring",
        "--scope",
        "messages:send",
        "--scope",
        "messages:read",
        "--bot",
        str(bot.bot_id),
        "--expires-days",
        "30",
        "--rate",
        "60/min",
        stdout=out,
        stderr=err,
    )
    plaintext = out.getvalue().strip()
    token = token_authenticate(plaintext)
    assert token is not None
    assert (token.scopes, list(token.bots.all()), token.rate_limit) == (
        ["messages:read", "messages:send"],
        [bot],
        "60/min",
    )
    assert token.expires_at is not None
    assert token.prefix in err.getvalue()

    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert token.prefix in listing.getvalue()
    assert plaintext not in listing.getvalue()

    call_command("api_token", "revoke", token.prefix, stdout=io.StringIO())
    assert token_authenticate(plaintext) is None
    with pytest.raises(CommandError):
        call_command("api_token", "revoke", token.prefix, stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("api_token", "create", "--user", "nobody", "--name", "x", "--scope", "bots:read", "--all-bots")
