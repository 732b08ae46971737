"""The chat simulator in a real headless Chromium, against the real sandbox and a real Celery worker.

The live server serves the portal, its sandbox (``/sandbox/``) and the echo bot's Bot API (``/botx/``);
the worker (a thread of this process, on the broker of the settings) runs the bot's handler and
delivers its answers, so the answers reach the page only through the simulator's polling.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from bots.models import Bot, CtsServer, SmartApp
from bots.sandbox.models import SandboxFaults, SandboxMessage
from bots.services.botx_clients import clients_close
from tests.conftest import Cast
from tests.sandbox.conftest import World
from tests.traffic.delivery.test_end_to_end import celery_worker

__all__ = ["celery_worker"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 20_000


@pytest.fixture(autouse=True)
def fresh_botx_clients() -> Iterator[None]:
    # The bots' kept-alive connections to the sandbox hold live-server threads, and their database
    # connections, open: close them with the test.
    clients_close()
    yield
    clients_close()


@pytest.fixture
def sandbox_cts(live_server: Any) -> CtsServer:
    """A sandbox CTS with no bot address of its own: the sandbox posts to the portal it is served by."""
    cts = CtsServer.objects.create(name="sandbox", base_url=f"{live_server.url}/sandbox", auth_mode="v2")
    SandboxFaults.objects.create(cts=cts)
    return cts


def _log_in(page: Any, live_server: Any, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def _say(page: Any, text: str) -> None:
    page.fill("#sim-text", text)
    page.click("#sim-send")


def test_an_operator_talks_to_the_echo_bot_and_a_button_edits_its_message(
    page: Any, live_server: Any, celery_worker: Any, bot: Bot, world: World, cast: Cast
) -> None:
    _log_in(page, live_server, cast.operator.username, cast.password)
    page.goto(f"{live_server.url}/admin/")
    page.click("#sandbox-simulator-link")
    expect(page.locator("#sim-bot option:checked")).to_contain_text("Echo")
    expect(page.locator("#sim-chat option:checked")).to_contain_text(world.personal.name)

    _say(page, "hello, **echo**")
    echo = page.locator("#sim-feed li.sim-from-bot", has_text="hello, echo")
    expect(echo).to_have_count(1, timeout=WAIT_MS)
    expect(echo.locator(".sim-body strong")).to_have_text("echo")
    expect(page.locator("#sim-text")).to_have_value("")
    # The side panel shows the request the sandbox posted and the bot's call back, with the ledger's id.
    expect(page.locator("#sim-traffic .sim-exchange", has_text="/command · hello, **echo**")).to_have_count(1)
    expect(
        page.locator("#sim-traffic .sim-exchange", has_text="/api/v4/botx/notifications/direct").first
    ).to_be_visible(timeout=WAIT_MS)

    _say(page, "/buttons")
    card = page.locator("#sim-feed li.sim-from-bot", has_text="Press the button below.")
    expect(card).to_have_count(1, timeout=WAIT_MS)
    card_id = card.get_attribute("id")
    sync_id = card.get_attribute("data-sync-id")
    assert card_id == f"msg-{sync_id}"

    card.get_by_role("button", name="Press me").click()

    edited = page.locator(f"#{card_id} .sim-body")
    expect(edited).to_have_text("Pressed 1 time.", timeout=WAIT_MS)
    expect(page.locator(f"#{card_id} .sim-meta")).to_contain_text("edited")
    expect(page.locator("#sim-feed li.sim-from-bot", has_text="Press the button below.")).to_have_count(0)
    # The same message, edited in place: the bot posted two messages in all.
    expect(page.locator("#sim-feed li.sim-from-bot")).to_have_count(2)
    message = SandboxMessage.objects.get(sync_id=sync_id)
    assert message.body == "Pressed 1 time."
    assert SandboxMessage.objects.filter(chat=world.personal, sender_huid=bot.bot_id).count() == 2


FRONT_END = """<!doctype html><title>Front end</title><pre id="out">waiting</pre><script src="app.js"></script>"""
# What a Smart App front end does through the bridge: a synchronous request, and the answer shown.
FRONT_END_JS = """
window.addEventListener("message", (event) => {
  document.getElementById("out").textContent = JSON.stringify(event.data);
});
window.parent.postMessage(
  {type: "smartapp_rpc", ref: "5b6e2c1a-0d4f-4c1e-9a7b-1f2e3d4c5b6a", method: "catalog.list",
   params: {page: 2}, sync_request: true},
  "*");
"""


def test_the_smartapp_tab_bridges_the_front_end_to_its_bot(
    page: Any, live_server: Any, bot: Bot, world: World, cast: Cast, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    Bot.objects.filter(pk=bot.pk).update(kind=Bot.Kind.SMARTAPP)
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("index.html", FRONT_END)
        archive.writestr("app.js", FRONT_END_JS)
    app = SmartApp(bot=Bot.objects.get(pk=bot.pk))
    app.bundle.save("bundle.zip", ContentFile(bundle.getvalue()), save=False)
    app.save()
    _log_in(page, live_server, cast.operator.username, cast.password)

    page.goto(f"{live_server.url}/sandbox/simulator/")
    page.get_by_role("tab", name="Smart App").click()

    answer = page.frame_locator("#sim-smartapp-frame").locator("#out")
    # The echo bot has no Smart App methods: its answer, relayed by the bridge, says so.
    expect(answer).to_contain_text("METHOD_NOT_FOUND", timeout=WAIT_MS)
    expect(answer).to_contain_text("5b6e2c1a-0d4f-4c1e-9a7b-1f2e3d4c5b6a")
    log = page.locator("#sim-smartapp-log")
    expect(log).to_contain_text("catalog.list")
    expect(log).to_contain_text("Bot → front end")
    expect(page.locator("#sim-traffic .sim-exchange", has_text="/smartapps/request · catalog.list")).to_have_count(
        1, timeout=WAIT_MS
    )
