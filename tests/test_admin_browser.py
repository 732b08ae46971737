"""The operator console in a real browser: an administrator registers a bot and rotates its key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bots.models import Bot, ChangeRecord, CtsServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Any, live_server: Any, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def test_administrator_registers_a_bot_and_sees_only_the_last_four_characters(
    page: Any, live_server: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.com", "a-long-password-1")
    CtsServer.objects.create(name="main", base_url="https://cts.example.com")
    bot_id = uuid.uuid4()
    _log_in(page, live_server, "root", "a-long-password-1")

    page.goto(f"{live_server.url}/admin/bots/bot/add/")
    page.fill("#id_name", "Helpdesk")
    page.fill("#id_bot_id", "not-a-uuid")
    page.select_option("#id_cts", label="main")
    page.select_option("#id_handler", value="echo")
    page.fill("#id_new_secret_key", "helpdesk-secret-7f3a")
    page.click("input[name=_save]")
    # A readable form error, and nothing saved.
    error = page.locator(".errorlist").first
    error.wait_for()
    assert "UUID" in error.inner_text()
    assert not Bot.objects.exists()

    page.fill("#id_bot_id", str(bot_id))
    page.fill("#id_new_secret_key", "helpdesk-secret-7f3a")  # write-only: never rendered back
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    row = page.locator("#result_list tbody tr", has_text="Helpdesk")
    assert "••••7f3a" in row.inner_text()
    assert "helpdesk-secret-7f3a" not in page.content()

    row.locator("a", has_text="Helpdesk").click()
    page.click("text=Rotate secret key")
    page.fill("#id_new_secret_key", "helpdesk-secret-9b2c")
    page.fill("#id_grace_hours", "1")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert "••••9b2c" in page.content()
    assert "••••7f3a" in page.content()  # the previous key, still valid for the grace hour
    assert "helpdesk-secret-9b2c" not in page.content()

    bot = Bot.objects.get(bot_id=bot_id)
    assert bot.valid_secrets() == ["helpdesk-secret-9b2c", "helpdesk-secret-7f3a"]
    assert ChangeRecord.objects.filter(bot_ref=str(bot_id), actor__username="root").count() == 2


def test_the_console_follows_the_language_the_user_picks(page: Any, live_server: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("root", "root@example.com", "a-long-password-1")
    _log_in(page, live_server, "root", "a-long-password-1")
    page.goto(f"{live_server.url}/admin/")
    assert "Operator console" in page.content()
    # Django's set_language view, as a user's choice stored in a cookie.
    page.evaluate(
        """async () => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
            await fetch('/i18n/setlang/', {method: 'POST', headers: {'X-CSRFToken': token,
                'Content-Type': 'application/x-www-form-urlencoded'}, body: 'language=ru&next=/admin/'});
        }"""
    )
    page.goto(f"{live_server.url}/admin/")
    assert "Консоль оператора" in page.content()
