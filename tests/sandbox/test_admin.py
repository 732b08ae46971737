"""The sandbox in the operator console: fault settings are edited there, records only read."""

from __future__ import annotations

import pytest

from bots.models import CtsServer
from bots.sandbox.models import SandboxFaults


@pytest.fixture
def two_cts(db):
    sandbox = CtsServer.objects.create(name="sandbox", base_url="http://127.0.0.1:8000/sandbox", auth_mode="v2")
    real = CtsServer.objects.create(name="real", base_url="https://cts.example.com", auth_mode="v2")
    return sandbox, real


def test_fault_settings_are_added_for_sandbox_cts_servers_only(admin_client, two_cts):
    sandbox, _real = two_cts

    page = admin_client.get("/admin/sandbox/sandboxfaults/add/")

    assert page.status_code == 200
    choices = [value for value, _label in page.context["adminform"].form.fields["cts"].choices if value]
    assert [str(value) for value in choices] == [str(sandbox.pk)]

    answer = admin_client.post(
        "/admin/sandbox/sandboxfaults/add/",
        {
            "cts": sandbox.pk,
            "latency_ms": 50,
            "error_rate": 0.1,
            "throttle_rate": 0,
            "retry_after_seconds": 2,
            "timeout_rate": 0,
            "timeout_hold_ms": 15000,
            "callback_drop_rate": 0.5,
            "callback_delay_ms": 0,
            "bot_base_url": "http://127.0.0.1:9000/bots/{bot_id}",
            "callback_jwt": "v2",
            "allow_chat_creating": "on",
            "token_lifetime_seconds": 0,
        },
    )

    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    faults = SandboxFaults.objects.get(cts=sandbox)
    assert (faults.latency_ms, faults.error_rate, faults.callback_drop_rate) == (50, 0.1, 0.5)
    assert admin_client.get("/admin/sandbox/sandboxfaults/").status_code == 200


def test_a_rate_above_1_is_refused(admin_client, two_cts):
    sandbox, _real = two_cts

    form = {
        "cts": sandbox.pk,
        "error_rate": 1.5,
        "latency_ms": 0,
        "throttle_rate": 0,
        "retry_after_seconds": 1,
        "timeout_rate": 0,
        "timeout_hold_ms": 1,
        "callback_drop_rate": 0,
        "callback_delay_ms": 0,
        "callback_jwt": "v2",
        "token_lifetime_seconds": 0,
    }

    answer = admin_client.post("/admin/sandbox/sandboxfaults/add/", form)

    assert answer.status_code == 200
    assert "error_rate" in answer.context["adminform"].form.errors


@pytest.mark.parametrize(
    "model", ["sandboxuser", "sandboxchat", "sandboxmessage", "sandboxdelivery", "sandboxsmartappevent"]
)
def test_the_sandbox_pages_open(admin_client, db, model):
    assert admin_client.get(f"/admin/sandbox/{model}/").status_code == 200


def test_messages_and_deliveries_cannot_be_added(admin_client, db):
    assert admin_client.get("/admin/sandbox/sandboxmessage/add/").status_code == 403
    assert admin_client.get("/admin/sandbox/sandboxdelivery/add/").status_code == 403
