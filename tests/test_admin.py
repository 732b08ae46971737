"""The operator console: what each role sees and may do, secrets write-only, bad input refused."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from bots.models import Bot, ChangeRecord
from tests.conftest import ECHO_SECRET, Cast

pytestmark = pytest.mark.django_db


def _client(user: Any, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


def _change_url(bot: Bot) -> str:
    return reverse("admin:bots_bot_change", args=[bot.pk])


def _bot_form_data(bot: Bot, **overrides: Any) -> dict[str, Any]:
    data = {
        "bot_id": str(bot.bot_id),
        "cts": bot.cts_id,
        "app_id": bot.app_id,
        "name": bot.name,
        "description": bot.description,
        "kind": bot.kind,
        "handler": bot.handler,
        "protocol_version": bot.protocol_version,
        "enabled": "on" if bot.enabled else "",
        "status_message": bot.status_message,
        "allowed_data": bot.allowed_data,
        "jwt_policy": bot.jwt_policy,
        "rate_limit": bot.rate_limit,
        "retention_days": bot.retention_days,
        "new_secret_key": "",
    }
    # The inlines' management forms, with no rows: existing roles and rules are left as they are.
    for prefix in ("roles", "chat_rules", "command_rules"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0}
    return data | overrides


def test_the_console_speaks_russian_by_default_and_english_on_request(cast: Cast, bot: Bot) -> None:
    url = reverse("admin:bots_bot_changelist")
    assert "Боты" in _client(cast.owner, language="ru").get(url).content.decode()
    assert "Bots" in _client(cast.owner, language="en").get(url).content.decode()


class TestWhoSeesWhat:
    def test_outsider_sees_no_bots_and_cannot_open_one(self, cast: Cast, bot: Bot) -> None:
        client = _client(cast.outsider)
        changelist = client.get(reverse("admin:bots_bot_changelist"))
        assert changelist.status_code == 403
        assert client.get(_change_url(bot)).status_code in {302, 403}

    @pytest.mark.parametrize("role", ["owner", "operator", "auditor"])
    def test_every_role_sees_its_bot_in_the_list(self, cast: Cast, bot: Bot, role: str) -> None:
        response = _client(getattr(cast, role)).get(reverse("admin:bots_bot_changelist"))
        assert response.status_code == 200
        assert str(bot.bot_id) in response.content.decode()

    def test_a_role_on_one_bot_shows_nothing_of_another(self, cast: Cast, bot: Bot, make_bot: Any) -> None:
        other = make_bot(name="Other")
        client = _client(cast.owner)
        assert str(other.bot_id) not in client.get(reverse("admin:bots_bot_changelist")).content.decode()
        assert client.get(_change_url(other)).status_code in {302, 403}

    @pytest.mark.parametrize("role", ["operator", "auditor"])
    def test_readers_get_a_read_only_page_without_the_secret_input(self, cast: Cast, bot: Bot, role: str) -> None:
        response = _client(getattr(cast, role)).get(_change_url(bot))
        page = response.content.decode()
        assert response.status_code == 200
        assert 'name="new_secret_key"' not in page
        assert 'name="name"' not in page
        assert "Rotate secret key" not in page

    @pytest.mark.parametrize("role", ["operator", "auditor", "outsider"])
    def test_non_owners_cannot_change_a_bot(self, cast: Cast, bot: Bot, role: str) -> None:
        response = _client(getattr(cast, role)).post(_change_url(bot), _bot_form_data(bot, name="Hacked"))
        assert response.status_code in {302, 403}
        bot.refresh_from_db()
        assert bot.name == "Echo"

    def test_owner_changes_a_bot_and_the_change_is_recorded(self, cast: Cast, bot: Bot) -> None:
        response = _client(cast.owner).post(_change_url(bot), _bot_form_data(bot, name="Echo 2"))
        assert response.status_code == 302, response.content.decode()[:2000]
        bot.refresh_from_db()
        assert bot.name == "Echo 2"
        record = ChangeRecord.objects.filter(model="bots.bot", action="update").latest("id")
        assert record.actor == cast.owner
        assert record.changes == {"name": ["Echo", "Echo 2"]}

    def test_creating_bots_takes_the_django_permission(self, cast: Cast) -> None:
        assert _client(cast.owner).get(reverse("admin:bots_bot_add")).status_code == 403
        assert _client(cast.admin).get(reverse("admin:bots_bot_add")).status_code == 200

    @pytest.mark.parametrize("role", ["owner", "operator", "auditor"])
    def test_change_history_shows_the_bots_rows_to_every_role(self, cast: Cast, bot: Bot, role: str) -> None:
        response = _client(getattr(cast, role)).get(reverse("admin:bots_changerecord_changelist"))
        assert response.status_code == 200
        assert str(bot.bot_id) in response.content.decode()

    def test_change_history_hides_other_bots_rows(self, cast: Cast, make_bot: Any) -> None:
        other = make_bot(name="Other")
        page = _client(cast.auditor).get(reverse("admin:bots_changerecord_changelist")).content.decode()
        assert str(other.bot_id) not in page

    def test_change_history_cannot_be_edited_or_deleted_even_by_a_superuser(self, cast: Cast, bot: Bot) -> None:
        record = ChangeRecord.objects.first()
        assert record is not None
        client = _client(cast.admin)
        assert client.get(reverse("admin:bots_changerecord_add")).status_code == 403
        assert (
            client.post(reverse("admin:bots_changerecord_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
        )
        page = client.get(reverse("admin:bots_changerecord_change", args=[record.pk])).content.decode()
        assert 'name="_save"' not in page


class TestSecretsInPages:
    @pytest.mark.parametrize("role", ["admin", "owner", "auditor"])
    def test_pages_show_only_the_last_four_characters(self, cast: Cast, bot: Bot, role: str) -> None:
        client = _client(getattr(cast, role))
        for url in (reverse("admin:bots_bot_changelist"), _change_url(bot)):
            page = client.get(url).content.decode()
            assert ECHO_SECRET not in page
            assert bot.secret_key_ciphertext not in page
            assert "••••" + ECHO_SECRET[-4:] in page

    def test_export_has_no_secret(self, cast: Cast, bot: Bot) -> None:
        response = _client(cast.auditor).get(reverse("admin:bots_bot_export", args=[bot.pk]))
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
        body = response.content.decode()
        assert ECHO_SECRET not in body
        exported = json.loads(body)["bots"][0]
        assert exported["bot_id"] == str(bot.bot_id)
        assert exported["secret_key_last4"] == ECHO_SECRET[-4:]

    def test_export_action_on_the_list(self, cast: Cast, bot: Bot) -> None:
        response = _client(cast.admin).post(
            reverse("admin:bots_bot_changelist"), {"action": "export_json", "_selected_action": [bot.pk]}
        )
        assert ECHO_SECRET not in response.content.decode()
        assert json.loads(response.content)["bots"][0]["name"] == "Echo"


class TestActions:
    def test_owner_rotates_the_secret_with_a_grace_period(self, cast: Cast, bot: Bot) -> None:
        url = reverse("admin:bots_bot_rotate_secret", args=[bot.pk])
        response = _client(cast.owner).post(url, {"new_secret_key": "new-secret-0001", "grace_hours": "2"})
        assert response.status_code == 302
        bot.refresh_from_db()
        assert bot.secret_key == "new-secret-0001"
        assert bot.valid_secrets() == ["new-secret-0001", ECHO_SECRET]
        follow = _client(cast.owner).get(_change_url(bot)).content.decode()
        assert "new-secret-0001" not in follow
        assert "••••0001" in follow

    def test_rotation_refuses_a_bad_secret_and_changes_nothing(self, cast: Cast, bot: Bot) -> None:
        url = reverse("admin:bots_bot_rotate_secret", args=[bot.pk])
        response = _client(cast.owner).post(url, {"new_secret_key": "short", "grace_hours": "2"})
        assert response.status_code == 200
        assert "8 to 256 characters" in response.content.decode()
        bot.refresh_from_db()
        assert bot.secret_key == ECHO_SECRET

    @pytest.mark.parametrize("role", ["operator", "auditor", "outsider"])
    def test_only_owners_rotate(self, cast: Cast, bot: Bot, role: str) -> None:
        url = reverse("admin:bots_bot_rotate_secret", args=[bot.pk])
        response = _client(getattr(cast, role)).post(url, {"new_secret_key": "new-secret-0001", "grace_hours": "2"})
        assert response.status_code in {403, 404}
        bot.refresh_from_db()
        assert bot.secret_key == ECHO_SECRET

    def test_disable_with_a_status_message_then_enable(self, cast: Cast, bot: Bot) -> None:
        client = _client(cast.owner)
        response = client.post(reverse("admin:bots_bot_disable", args=[bot.pk]), {"status_message": "Maintenance"})
        assert response.status_code == 302
        bot.refresh_from_db()
        assert (bot.enabled, bot.status_message) == (False, "Maintenance")
        client.post(reverse("admin:bots_bot_enable", args=[bot.pk]))
        bot.refresh_from_db()
        assert bot.enabled

    def test_bulk_disable_asks_for_the_status_message_first(self, cast: Cast, bot: Bot) -> None:
        client = _client(cast.owner)
        url = reverse("admin:bots_bot_changelist")
        page = client.post(url, {"action": "disable_bots", "_selected_action": [bot.pk]})
        assert page.status_code == 200
        assert 'name="status_message"' in page.content.decode()
        bot.refresh_from_db()
        assert bot.enabled
        client.post(
            url, {"action": "disable_bots", "_selected_action": [bot.pk], "apply": "1", "status_message": "Later"}
        )
        bot.refresh_from_db()
        assert (bot.enabled, bot.status_message) == (False, "Later")

    def test_bulk_disable_leaves_bots_the_user_does_not_own(self, cast: Cast, bot: Bot, make_bot: Any) -> None:
        other = make_bot(name="Other")
        from bots.models import BotRole

        BotRole.objects.create(bot=other, user=cast.owner, role="auditor")
        _client(cast.owner).post(
            reverse("admin:bots_bot_changelist"),
            {"action": "disable_bots", "_selected_action": [bot.pk, other.pk], "apply": "1", "status_message": "x"},
        )
        other.refresh_from_db()
        assert other.enabled


class TestBadInput:
    def _add(self, client: Client, cts_id: int, **overrides: Any) -> Any:
        data = {
            "bot_id": str(uuid.uuid4()),
            "cts": cts_id,
            "name": "New",
            "kind": "chatbot",
            "handler": "echo",
            "protocol_version": 4,
            "enabled": "on",
            "allowed_data": "commands",
            "jwt_policy": "required",
            "rate_limit": 20,
            "retention_days": 90,
            "new_secret_key": "a-good-secret-1",
            "roles-TOTAL_FORMS": 0,
            "roles-INITIAL_FORMS": 0,
            "chat_rules-TOTAL_FORMS": 0,
            "chat_rules-INITIAL_FORMS": 0,
            "command_rules-TOTAL_FORMS": 0,
            "command_rules-INITIAL_FORMS": 0,
        } | overrides
        return client.post(reverse("admin:bots_bot_add"), data)

    def test_a_good_bot_is_created(self, cast: Cast, bot: Bot) -> None:
        response = self._add(_client(cast.admin), bot.cts_id)
        assert response.status_code == 302
        created = Bot.objects.get(name="New")
        assert created.secret_key == "a-good-secret-1"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"bot_id": "not-a-uuid"}, "valid UUID"),
            ({"bot_id": "24348246-6791-4ac0-9d86-b948cd6a0e46"}, "already exists"),
            ({"protocol_version": 5}, "not one of the available choices"),
            ({"handler": "nope"}, "not one of the available choices"),
            ({"cts": 99999}, "not one of the available choices"),
            ({"new_secret_key": ""}, "This field is required"),
            ({"new_secret_key": "has space in it"}, "8 to 256 characters"),
        ],
    )
    def test_bad_input_is_refused_with_a_readable_error(
        self, cast: Cast, bot: Bot, overrides: dict[str, Any], message: str
    ) -> None:
        before = (Bot.objects.count(), ChangeRecord.objects.count())
        response = self._add(_client(cast.admin), bot.cts_id, **overrides)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert (Bot.objects.count(), ChangeRecord.objects.count()) == before

    def test_a_bot_whose_handler_code_is_gone_shows_the_error(self, cast: Cast, bot: Bot) -> None:
        Bot.objects.filter(pk=bot.pk).update(handler="retired")
        page = _client(cast.admin).get(reverse("admin:bots_bot_changelist")).content.decode()
        assert "no such handler code" in page
