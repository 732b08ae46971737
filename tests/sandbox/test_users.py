"""Users API over HTTP: look-ups and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest

from bots.botx.auth import jwt_v2_build
from bots.botx.errors import BotxError
from tests.sandbox.conftest import BOT_ID, SECRET


def error_of(client, method, path, **kwargs) -> BotxError:
    with pytest.raises(BotxError) as caught:
        client.request(method, path, **kwargs)
    return caught.value


def test_a_user_is_found_by_huid_with_the_full_user_object(client, world):
    user = client.request("GET", "/api/v3/botx/users/by_huid", params={"user_huid": str(world.ivan.huid)})

    assert user["user_huid"] == str(world.ivan.huid)
    assert user["name"] == "Иван Петров"
    assert user["ad_login"] == "ipetrov"
    assert user["ad_domain"] == "corp"
    assert user["emails"] == ["ipetrov@corp.example.com", "ivan@example.com"]
    assert user["other_id"] == "emp-001"
    assert user["company"] == "Песочница"
    assert user["user_kind"] == "cts_user"
    assert user["active"] is True
    assert user["department"] is None  # empty fields are null, as BotX sends them


def test_an_unknown_huid_is_user_not_found(client, world):
    huid = uuid.uuid4()

    error = error_of(client, "GET", "/api/v3/botx/users/by_huid", params={"user_huid": str(huid)})

    assert error.status_code == 404
    assert error.reason == "user_not_found"
    assert error.error_data["user_huid"] == str(huid)


def test_users_are_found_by_a_list_of_emails(client, world):
    users = client.request(
        "POST",
        "/api/v3/botx/users/by_email",
        json={"emails": ["IVAN@example.com", "nobody@example.com"], "trusts_search": True},
    )

    assert [user["user_huid"] for user in users] == [str(world.ivan.huid)]


def test_the_deprecated_get_by_email_finds_one_user_or_404(client, world):
    user = client.request("GET", "/api/v3/botx/users/by_email", params={"email": "ipetrov@corp.example.com"})
    assert user["user_huid"] == str(world.ivan.huid)

    error = error_of(client, "GET", "/api/v3/botx/users/by_email", params={"email": "nobody@example.com"})
    assert error.status_code == 404
    assert error.reason == "user_not_found"


def test_by_email_needs_a_list(client, world):
    error = error_of(client, "POST", "/api/v3/botx/users/by_email", json={"emails": "ivan@example.com"})

    assert error.status_code == 400
    assert "emails" in error.error_data


def test_a_user_is_found_by_ad_login_and_domain(client, world):
    user = client.request("GET", "/api/v3/botx/users/by_login", params={"ad_login": "MSMIRNOVA", "ad_domain": "corp"})
    assert user["user_huid"] == str(world.maria.huid)

    error = error_of(client, "GET", "/api/v3/botx/users/by_login", params={"ad_login": "x", "ad_domain": "corp"})
    assert error.reason == "user_not_found"


def test_a_user_is_found_by_other_id(client, world):
    user = client.request("GET", "/api/v3/botx/users/by_other_id", params={"other_id": "emp-001"})
    assert user["user_huid"] == str(world.ivan.huid)

    assert error_of(client, "GET", "/api/v3/botx/users/by_other_id", params={"other_id": "x"}).status_code == 404


def csv_export(bot, **params) -> httpx.Response:
    token = jwt_v2_build(bot_id=BOT_ID, host=bot.cts.host, secret_key=SECRET)
    return httpx.get(
        f"{bot.cts.base_url}/api/v3/botx/users/users_as_csv",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_users_are_exported_as_csv(bot, world):
    answer = csv_export(bot, cts_user="true", unregistered="false", botx="true")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    by_huid = {row["HUID"]: row for row in rows}
    assert by_huid[str(world.ivan.huid)]["AD Login"] == "ipetrov"
    assert by_huid[str(world.ivan.huid)]["AD E-mail"] == "ipetrov@corp.example.com"
    assert by_huid[str(world.ivan.huid)]["Active"] == "true"
    assert str(world.stranger.huid) not in by_huid  # unregistered left out
    assert by_huid[str(BOT_ID)]["Kind"] == "botx"


def test_the_csv_export_needs_some_user_kind(bot, world):
    answer = csv_export(bot, cts_user="false", unregistered="false", botx="false")

    assert answer.status_code == 400
    assert answer.json()["reason"] == "no_user_kind_selected"
