"""The chat simulator's views: pages and htmx partials, who may use them, and what they make happen.

The live server serves both the sandbox (``/sandbox/``) and the echo bot's Bot API (``/botx/``);
Celery runs eagerly, so by the time a simulator action returns, the bot's answer is in the chat.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from bots.models import Bot, CtsServer, InboundEvent, OutboundMessage, SmartApp
from bots.sandbox.models import SandboxChat, SandboxDelivery, SandboxFaults, SandboxMember, SandboxMessage
from bots.sandbox.services.simulator_reads import bot_typing
from bots.services.botx_clients import clients_close
from bots.services.outbox import message_enqueue
from tests.conftest import Cast
from tests.sandbox.conftest import World, make_client

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/sandbox/simulator/"


@pytest.fixture
def sandbox_cts(live_server: Any, eager_celery: None) -> CtsServer:
    """A sandbox CTS whose bots are the portal's own: the sandbox posts to /botx/ on the live server."""
    cts = CtsServer.objects.create(name="sandbox", base_url=f"{live_server.url}/sandbox", auth_mode="v2")
    SandboxFaults.objects.create(cts=cts, bot_base_url=f"{live_server.url}/botx/{{bot_id}}")
    return cts


@pytest.fixture(autouse=True)
def fresh_botx_clients() -> Iterator[None]:
    clients_close()
    yield
    clients_close()


def web(user: Any = None) -> Client:
    browser = Client()
    if user is not None:
        browser.force_login(user)
    return browser


def scope(bot: Bot, world: World, chat: SandboxChat | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "bot": str(bot.pk),
        "user": str(world.ivan.huid),
        "chat": str((chat or world.personal).group_chat_id),
        **extra,
    }


def htmx(browser: Client, url: str, data: dict[str, Any], method: str = "post") -> Any:
    return getattr(browser, method)(url, data, headers={"HX-Request": "true"})


def bot_messages(bot: Bot, chat: SandboxChat) -> list[SandboxMessage]:
    return list(SandboxMessage.objects.filter(chat=chat, sender_huid=bot.bot_id).order_by("created_at", "pk"))


# --- who may use it ----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(bot: Bot, world: World) -> None:
    for url in (PAGE, reverse("sandbox:simulator_feed"), reverse("sandbox:simulator_traffic")):
        response = web().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    response = web().post(reverse("sandbox:simulator_send"), scope(bot, world, text="hi"))
    assert response.status_code == 302
    assert not SandboxMessage.objects.exists()


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(bot: Bot, world: World, django_user_model: Any) -> None:
    person = django_user_model.objects.create_user("person", "person@example.com", "pw-123456789")

    response = web(person).get(PAGE)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_without_a_role_on_the_bot_neither_see_it_nor_use_it(bot: Bot, world: World, cast: Cast) -> None:
    outsider = web(cast.outsider)

    page = outsider.get(PAGE)
    assert page.status_code == 200
    assert "There is no sandbox bot you may operate" in page.content.decode()
    assert "Echo" not in page.content.decode()

    assert outsider.get(PAGE, {"bot": bot.pk}).status_code == 403
    sent = htmx(outsider, reverse("sandbox:simulator_send"), scope(bot, world, text="hi"))
    assert sent.status_code == 403
    assert htmx(outsider, reverse("sandbox:simulator_event"), scope(bot, world, event="cts_login")).status_code == 403
    assert not SandboxDelivery.objects.exists()


def test_an_auditor_may_read_the_ledger_but_not_talk_as_the_bot(bot: Bot, world: World, cast: Cast) -> None:
    response = htmx(web(cast.auditor), reverse("sandbox:simulator_send"), scope(bot, world, text="hi"))

    assert response.status_code == 403
    assert not SandboxMessage.objects.exists()


def test_the_operator_gets_the_page_with_the_personal_chat_picked(bot: Bot, world: World, cast: Cast) -> None:
    response = web(cast.operator).get(PAGE)

    assert response.status_code == 200
    assert response.context["scope"].bot == bot
    assert response.context["scope"].chat == world.personal  # Ivan is the first user; his chat with the bot
    html = response.content.decode()
    assert "htmx" in html
    assert 'id="sim-feed"' in html
    assert 'id="sim-traffic"' in html
    # Only chats both are in: the foreign chat (without the bot) is not offered.
    found = re.search(r'<select name="chat" id="sim-chat".*?</select>', html, re.DOTALL)
    assert found is not None
    chats = found.group(0)
    assert world.personal.name in chats
    assert world.group.name in chats
    assert world.foreign.name not in chats


def test_the_admin_index_links_to_the_simulator(cast: Cast) -> None:
    response = web(cast.operator).get("/admin/")

    assert response.status_code == 200
    assert reverse("sandbox:simulator") in response.content.decode()


# --- talking to the bot ------------------------------------------------------------------------------


def test_a_message_is_sent_and_the_echo_arrives_in_the_feed(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)

    response = htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="hello there"))

    assert response.status_code == 200
    assert "sim-refresh" in json.loads(response["HX-Trigger"])
    assert 'id="sim-composer"' in response.content.decode()
    assert "hello there" not in response.content.decode()  # the composer is cleared
    [echo] = bot_messages(bot, world.personal)
    assert echo.body == "hello there"

    feed = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get")
    assert feed.status_code == 200
    html = feed.content.decode()
    assert f'id="msg-{echo.sync_id}"' in html
    assert html.count("hello there") == 2  # Ivan's message and the echo


def test_the_feed_answers_204_while_nothing_changed(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    first = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get")
    found = re.search(r"v=([0-9a-f]+)", first.content.decode())
    assert found is not None
    version = found.group(1)

    same = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world, v=version), method="get")
    assert same.status_code == 204

    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="news"))
    changed = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world, v=version), method="get")
    assert changed.status_code == 200
    assert "news" in changed.content.decode()


def test_pressing_the_bubble_edits_the_same_message(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="/buttons"))
    [card] = bot_messages(bot, world.personal)
    assert card.bubble[0][0]["label"] == "Press me"
    feed = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get").content.decode()
    assert "Press me" in feed
    assert 'class="sim-keyboard"' in feed  # the /help keyboard button of the same message

    pressed = htmx(
        operator,
        reverse("sandbox:simulator_press"),
        scope(bot, world, message=str(card.sync_id), row=0, column=0, keyboard=0),
    )

    assert pressed.status_code == 200
    assert "Button pressed." in pressed.content.decode()
    card.refresh_from_db()
    assert card.body == "Pressed 1 time."
    assert card.bubble[0][0]["data"] == {"count": 1}
    assert card.edited_at is not None
    assert bot_messages(bot, world.personal) == [card]  # edited in place, nothing new posted
    press = SandboxDelivery.objects.filter(payload__command__body="/pressed").get()
    assert press.payload["source_sync_id"] == str(card.sync_id)
    assert press.payload["command"]["data"] == {"count": 0}


def test_a_keyboard_button_sends_its_command(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="/buttons"))
    [card] = bot_messages(bot, world.personal)

    htmx(
        operator,
        reverse("sandbox:simulator_press"),
        scope(bot, world, message=str(card.sync_id), row=0, column=0, keyboard=1),
    )

    assert SandboxDelivery.objects.filter(payload__command__body="/help").exists()
    assert bot_messages(bot, world.personal)[-1].body.startswith("I repeat what you write")


def test_markdown_is_rendered_and_html_is_escaped(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    htmx(
        operator,
        reverse("sandbox:simulator_send"),
        scope(bot, world, text='<script>alert("x")</script> **bold** and `code`'),
    )

    html = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html


def test_a_mention_reaches_the_bot_as_an_entity_and_shows_the_name(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    text = f"ping @{{user:{world.maria.huid}}} please"

    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, chat=world.group, text=text))

    delivery = SandboxDelivery.objects.get(kind=SandboxDelivery.Kind.COMMAND)
    [entity] = delivery.payload["entities"]
    assert entity["type"] == "mention"
    assert entity["data"]["mention_data"]["user_huid"] == str(world.maria.huid)
    assert delivery.payload["command"]["body"] == f"ping @{{mention:{entity['data']['mention_id']}}} please"
    html = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world, chat=world.group), method="get")
    assert "@Мария Смирнова" in html.content.decode()


def test_a_file_is_sent_as_an_attachment_and_can_be_downloaded(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    upload = ContentFile(b"quarterly numbers", name="report.txt")

    response = operator.post(
        reverse("sandbox:simulator_send"),
        {**scope(bot, world), "text": "", "file": upload},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    delivery = SandboxDelivery.objects.get(kind=SandboxDelivery.Kind.COMMAND)
    [attachment] = delivery.payload["attachments"]
    assert attachment["data"]["file_name"] == "report.txt"
    assert attachment["data"]["content"].startswith("data:text/plain;base64,")
    message = SandboxMessage.objects.get(sender_huid=world.ivan.huid)
    download = operator.get(reverse("sandbox:simulator_file", args=[message.sync_id]), scope(bot, world))
    assert download.status_code == 200
    assert download.content == b"quarterly numbers"
    assert "report.txt" in download["Content-Disposition"]


# --- bad input -----------------------------------------------------------------------------------------


def test_an_empty_message_gets_a_readable_error_and_sends_nothing(bot: Bot, world: World, cast: Cast) -> None:
    response = htmx(web(cast.operator), reverse("sandbox:simulator_send"), scope(bot, world, text="   "))

    assert response.status_code == 200
    assert "Write a message or choose a file." in response.content.decode()
    assert not SandboxDelivery.objects.exists()


def test_an_empty_message_without_htmx_gets_the_page_with_the_error(bot: Bot, world: World, cast: Cast) -> None:
    response = web(cast.operator).post(reverse("sandbox:simulator_send"), scope(bot, world, text=""))

    assert response.status_code == 400
    assert "Write a message or choose a file." in response.content.decode()


def test_a_chat_the_bot_and_user_do_not_share_is_refused(bot: Bot, world: World, cast: Cast) -> None:
    response = htmx(
        web(cast.operator), reverse("sandbox:simulator_send"), scope(bot, world, chat=world.foreign, text="hi")
    )

    assert "have no chat" in response.content.decode()
    assert not SandboxDelivery.objects.exists()


def test_a_malformed_button_press_is_refused_readably(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)

    no_id = htmx(operator, reverse("sandbox:simulator_press"), scope(bot, world, message="nope", row=0, column=0))
    assert "message ID is missing or malformed" in no_id.content.decode()

    unknown = htmx(
        operator, reverse("sandbox:simulator_press"), scope(bot, world, message=str(uuid.uuid4()), row=0, column=0)
    )
    assert "its buttons can no longer be pressed" in unknown.content.decode()

    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="/buttons"))
    [card] = bot_messages(bot, world.personal)
    missing = htmx(
        operator, reverse("sandbox:simulator_press"), scope(bot, world, message=str(card.sync_id), row=5, column=0)
    )
    assert "no longer on the message" in missing.content.decode()
    negative = htmx(
        operator, reverse("sandbox:simulator_press"), scope(bot, world, message=str(card.sync_id), row=-1, column=0)
    )
    assert "must not be negative" in negative.content.decode()


def test_a_mention_of_nobody_is_refused(bot: Bot, world: World, cast: Cast) -> None:
    text = f"hi @{{user:{uuid.uuid4()}}}"
    response = htmx(web(cast.operator), reverse("sandbox:simulator_send"), scope(bot, world, text=text))

    assert "no user with the HUID" in response.content.decode()
    assert not SandboxDelivery.objects.exists()


# --- what the bot answers, and failures ---------------------------------------------------------------


def test_the_bots_error_answer_is_shown(bot: Bot, world: World, cast: Cast) -> None:
    Bot.objects.filter(pk=bot.pk).update(enabled=False, status_message="Down for maintenance")
    operator = web(cast.operator)

    response = htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="hi"))

    html = response.content.decode()
    assert "The bot answered 503." in html
    assert "bot_disabled" in html
    assert "Down for maintenance" in html
    traffic = htmx(operator, reverse("sandbox:simulator_traffic"), scope(bot, world), method="get").content.decode()
    assert "sim-exchange sim-failed" in traffic
    assert "503" in traffic


def test_a_request_the_bot_refuses_as_unsigned_is_shown_with_its_401(bot: Bot, world: World, cast: Cast) -> None:
    SandboxFaults.objects.filter(cts=bot.cts).update(callback_jwt=SandboxFaults.CallbackJwt.NONE)

    response = htmx(web(cast.operator), reverse("sandbox:simulator_send"), scope(bot, world, text="hi"))

    html = response.content.decode()
    assert "The bot answered 401." in html
    assert "unverified_request" in html
    assert not bot_messages(bot, world.personal)


def test_the_traffic_panel_shows_both_directions_with_the_correlation_id(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="trace me"))
    event = InboundEvent.objects.get(endpoint=InboundEvent.Endpoint.COMMAND)

    html = htmx(operator, reverse("sandbox:simulator_traffic"), scope(bot, world), method="get").content.decode()

    assert "/command · trace me" in html
    assert "notification · /api/v4/botx/notifications/direct" in html
    assert "/notification/callback" in html
    assert str(event.correlation_id) in html
    assert reverse("admin:bots_inboundevent_change", args=[event.pk]) in html
    answer = OutboundMessage.objects.get(inbound=event)
    assert reverse("admin:bots_outboundmessage_change", args=[answer.pk]) in html
    assert "sim-failed" not in html


def test_a_failing_delivery_of_the_bot_is_shown(bot: Bot, world: World, cast: Cast) -> None:
    SandboxFaults.objects.filter(cts=bot.cts).update(error_rate=1.0)
    operator = web(cast.operator)

    htmx(operator, reverse("sandbox:simulator_send"), scope(bot, world, text="will fail"))

    answer = OutboundMessage.objects.get()
    assert answer.status == OutboundMessage.Status.PENDING  # retried later
    html = htmx(operator, reverse("sandbox:simulator_traffic"), scope(bot, world), method="get").content.decode()
    failed = re.search(r'<details class="sim-exchange sim-failed" id="x-o\d+">.*?</details>', html, re.DOTALL)
    assert failed is not None
    assert "500" in failed.group(0)
    assert "unexpected_error" in failed.group(0)


# --- typing ------------------------------------------------------------------------------------------


def test_the_typing_indicator_follows_typing_and_stop_typing(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    message_enqueue(bot=bot, method="typing", payload={"chat_id": str(world.personal.group_chat_id)})

    feed = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get").content.decode()
    assert "Echo is typing…" in feed

    message_enqueue(bot=bot, method="stop_typing", payload={"chat_id": str(world.personal.group_chat_id)})
    feed = htmx(operator, reverse("sandbox:simulator_feed"), scope(bot, world), method="get").content.decode()
    assert "is typing" not in feed


def test_the_typing_indicator_goes_after_a_while_or_with_the_bots_message(bot: Bot, world: World) -> None:
    import datetime as dt

    from django.utils import timezone

    message_enqueue(bot=bot, method="typing", payload={"chat_id": str(world.personal.group_chat_id)})
    assert bot_typing(bot=bot, chat=world.personal)
    assert not bot_typing(bot=bot, chat=world.personal, now=timezone.now() + dt.timedelta(seconds=30))

    message_enqueue(bot=bot, method="notification", payload={"chat_id": str(world.personal.group_chat_id), "body": "x"})
    assert not bot_typing(bot=bot, chat=world.personal)


# --- system events and chats -------------------------------------------------------------------------


def test_system_events_reach_the_bot(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    stranger_scope = {**scope(bot, world, chat=world.group), "event": "added_to_chat"}

    added = htmx(operator, reverse("sandbox:simulator_event"), stranger_scope)
    assert "Event sent: User added to the chat." in added.content.decode()
    login = htmx(operator, reverse("sandbox:simulator_event"), {**scope(bot, world), "event": "cts_login"})
    assert login.status_code == 200
    for name in ("chat_created", "conference_created", "conference_changed", "conference_deleted", "cts_logout"):
        htmx(operator, reverse("sandbox:simulator_event"), {**scope(bot, world, chat=world.group), "event": name})

    bodies = [d.payload["command"]["body"] for d in SandboxDelivery.objects.order_by("pk")]
    assert bodies == [
        "system:added_to_chat",
        "system:cts_login",
        "system:chat_created",
        "system:conference_created",
        "system:conference_changed",
        "system:conference_deleted",
        "system:cts_logout",
    ]
    assert all(d.response_status == 202 for d in SandboxDelivery.objects.all())
    created = SandboxDelivery.objects.get(payload__command__body="system:chat_created").payload
    assert {m["huid"] for m in created["command"]["data"]["members"]} >= {str(bot.bot_id), str(world.ivan.huid)}
    login_payload = SandboxDelivery.objects.get(payload__command__body="system:cts_login").payload
    assert login_payload["command"]["data"]["user_huid"] == str(world.ivan.huid)
    assert login_payload["from"]["group_chat_id"] is None


def test_a_user_leaving_a_group_changes_its_members_and_a_personal_chat_cannot(
    bot: Bot, world: World, cast: Cast
) -> None:
    operator = web(cast.operator)

    left = htmx(
        operator, reverse("sandbox:simulator_event"), {**scope(bot, world, chat=world.group), "event": "left_from_chat"}
    )
    assert left.status_code == 200
    assert not SandboxMember.objects.filter(chat=world.group, huid=world.ivan.huid).exists()
    delivery = SandboxDelivery.objects.get()
    assert delivery.payload["command"]["data"] == {"left_members": [str(world.ivan.huid)]}

    refused = htmx(operator, reverse("sandbox:simulator_event"), {**scope(bot, world), "event": "left_from_chat"})
    assert "The members of a personal chat cannot change." in refused.content.decode()
    unknown = htmx(operator, reverse("sandbox:simulator_event"), {**scope(bot, world), "event": "teleport"})
    assert "Unknown system event" in unknown.content.decode()
    assert SandboxDelivery.objects.count() == 1


def test_a_personal_chat_is_made_when_the_user_has_none(bot: Bot, world: World, cast: Cast) -> None:
    operator = web(cast.operator)
    page = operator.get(PAGE, {"bot": str(bot.pk), "user": str(world.maria.huid)})
    assert page.context["can_open_personal"]

    response = htmx(operator, reverse("sandbox:simulator_personal"), {"bot": bot.pk, "user": str(world.maria.huid)})

    chat = SandboxChat.objects.get(chat_type="chat", members__huid=world.maria.huid)
    assert set(chat.members.values_list("huid", flat=True)) == {world.maria.huid, bot.bot_id}
    assert response["HX-Redirect"].endswith(f"chat={chat.group_chat_id}")
    created = SandboxDelivery.objects.get()
    assert created.payload["command"]["body"] == "system:chat_created"
    assert created.payload["from"]["group_chat_id"] == str(chat.group_chat_id)
    again = htmx(operator, reverse("sandbox:simulator_personal"), {"bot": bot.pk, "user": str(world.maria.huid)})
    assert again.status_code == 200
    assert SandboxChat.objects.filter(chat_type="chat", members__huid=world.maria.huid).count() == 1


# --- the Smart App tab -------------------------------------------------------------------------------


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<!doctype html><title>App</title><script src='app.js'></script>")
        archive.writestr("app.js", "parent.postMessage({type: 'smartapp_rpc', method: 'ping'}, '*');")
    return buffer.getvalue()


@pytest.fixture
def smartapp(bot: Bot, settings: Any, tmp_path: Any) -> SmartApp:
    settings.MEDIA_ROOT = tmp_path
    Bot.objects.filter(pk=bot.pk).update(kind=Bot.Kind.SMARTAPP)
    app = SmartApp(bot=Bot.objects.get(pk=bot.pk), app_version="1.0.0")
    app.bundle.save("bundle.zip", ContentFile(_bundle()), save=False)
    app.save()
    return app


def test_the_smartapp_tab_serves_the_front_end_in_a_sandboxed_frame(
    bot: Bot, world: World, cast: Cast, smartapp: SmartApp
) -> None:
    page = web(cast.operator).get(PAGE).content.decode()
    static = reverse("sandbox:simulator_smartapp_static", args=[bot.pk, "index.html"])
    assert f'data-src="{static}"' in page
    assert 'sandbox="allow-scripts' in page

    response = web().get(static)  # the frame sends no cookies
    assert response.status_code == 200
    assert b"<title>App</title>" in response.content
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Content-Security-Policy"].startswith("sandbox allow-scripts")
    script = web().get(reverse("sandbox:simulator_smartapp_static", args=[bot.pk, "app.js"]))
    assert b"smartapp_rpc" in script.content
    assert web().get(reverse("sandbox:simulator_smartapp_static", args=[bot.pk, "missing.js"])).status_code == 404


def test_a_synchronous_smartapp_request_goes_to_the_bot_and_its_answer_comes_back(
    bot: Bot, world: World, cast: Cast, smartapp: SmartApp
) -> None:
    body = {
        **scope(bot, world),
        "method": "list.get",
        "params": {"page": 1},
        "sync_request": True,
        "ref": str(uuid.uuid4()),
    }

    response = web(cast.operator).post(
        reverse("sandbox:simulator_smartapp_call"), body, content_type="application/json"
    )

    assert response.status_code == 200
    data = response.json()
    assert data["mode"] == "sync"
    assert data["request"]["method"] == "list.get"
    assert data["request"]["payload"]["data"] == {"page": 1}
    assert data["status_code"] == 200
    # The echo bot has no Smart App methods: its answer says so, in the protocol's error shape.
    assert data["answer"]["status"] == "error"
    assert data["answer"]["errors"][0]["id"] == "METHOD_NOT_FOUND"
    event = InboundEvent.objects.get(endpoint=InboundEvent.Endpoint.SMARTAPP)
    assert event.chat_id == world.personal.group_chat_id


def test_an_asynchronous_smartapp_request_is_an_event_and_the_bots_answer_is_polled(
    bot: Bot, world: World, cast: Cast, smartapp: SmartApp
) -> None:
    operator = web(cast.operator)
    ref = uuid.uuid4()
    body = {**scope(bot, world), "method": "sum", "params": {"a": 1}, "ref": str(ref)}

    response = operator.post(reverse("sandbox:simulator_smartapp_call"), body, content_type="application/json")

    assert response.json()["mode"] == "event"
    assert response.json()["status_code"] == 202
    delivery = SandboxDelivery.objects.get()
    assert delivery.payload["command"]["body"] == "system:smartapp_event"
    assert delivery.payload["command"]["data"]["ref"] == str(ref)
    assert delivery.payload["command"]["data"]["data"] == {"type": "smartapp_rpc", "method": "sum", "params": {"a": 1}}

    with make_client(bot) as botx:  # the bot answers through the SmartApps API
        botx.request(
            "POST",
            "/api/v3/botx/smartapps/event",
            json={
                "ref": str(ref),
                "smartapp_id": str(bot.bot_id),
                "group_chat_id": str(world.personal.group_chat_id),
                "data": {"type": "smartapp_rpc", "status": "ok", "result": 1},
                "opts": {},
                "smartapp_api_version": 1,
            },
        )
    events = operator.get(reverse("sandbox:simulator_smartapp_events"), {**scope(bot, world), "after": "0"}).json()
    [event] = events["events"]
    assert event["payload"]["ref"] == str(ref)
    assert event["payload"]["data"]["result"] == 1
    later = operator.get(reverse("sandbox:simulator_smartapp_events"), {**scope(bot, world), "after": str(event["id"])})
    assert later.json() == {"events": []}


def test_a_bad_smartapp_request_gets_a_readable_error(bot: Bot, world: World, cast: Cast, smartapp: SmartApp) -> None:
    operator = web(cast.operator)
    url = reverse("sandbox:simulator_smartapp_call")

    not_json = operator.post(url, "{", content_type="application/json")
    assert not_json.status_code == 400
    assert not_json.json() == {"error": "The request body is not JSON."}
    no_method = operator.post(url, {**scope(bot, world), "method": " "}, content_type="application/json")
    assert no_method.json() == {"error": "A Smart App request needs a method name."}
    bad_ref = operator.post(url, {**scope(bot, world), "method": "x", "ref": "r"}, content_type="application/json")
    assert bad_ref.json() == {"error": "The ref of a Smart App request must be a UUID."}
    forbidden = web(cast.outsider).post(url, {**scope(bot, world), "method": "x"}, content_type="application/json")
    assert forbidden.status_code == 403
    assert not SandboxDelivery.objects.exists()
