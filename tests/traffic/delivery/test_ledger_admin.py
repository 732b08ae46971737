"""The message ledger in the console: who reads what, one turn's chain on one page, who may act.

The rows are made by real turns: a sandbox user writes to a bot, the bot answers through the outbox,
the sandbox calls back. The cast has roles on the Echo bot only; the Helper bot's rows are never theirs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from bots.models import Bot, CallbackReceipt, CtsServer, InboundEvent, OutboundMessage
from bots.sandbox.services.user_send import UserMessage, sandbox_user_send
from tests.conftest import Cast
from tests.sandbox_fixtures import OTHER_SECRET, SECRET, World
from tests.traffic.delivery.conftest import faults_set, notify

# A JWT whole (three dotted parts) or cut short after its header, which encodes '{"alg"' or '{"typ"'.
JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.|eyJ(?:hbGci|0eXAi)")

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboundMessage.Status
LEDGER = ["inboundevent", "outboundmessage", "callbackreceipt"]
READERS = ["owner", "operator", "auditor"]
OURS = "hello, ledger"
THEIRS = "the helper speaks"


def _client(user: Any) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def _changelist(model: str) -> str:
    return reverse(f"admin:bots_{model}_changelist")


def _change(obj: Any) -> str:
    return reverse(f"admin:bots_{type(obj).__name__.lower()}_change", args=[obj.pk])


class Turn:
    """One user's message to a bot and everything it left in the ledger."""

    def __init__(self, bot: Bot, world: World, origin: str, text: str, *, in_group: bool = False) -> None:
        chat = world.group if in_group else world.personal
        sent = sandbox_user_send(bot=bot, chat=chat, user=world.ivan, message=UserMessage(body=text), origin=origin)
        assert sent.status_code == 202, sent.body
        self.command = InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint="command")
        self.message = OutboundMessage.objects.get(inbound=self.command)
        assert self.message.status == Status.DELIVERED
        self.receipt = CallbackReceipt.objects.get(message=self.message)
        self.callback = self.receipt.inbound


@pytest.fixture
def ours(bot: Bot, world: World, live_server: Any) -> Turn:
    return Turn(bot, world, live_server.url, OURS)


@pytest.fixture
def theirs(other_bot: Bot, world: World, live_server: Any) -> Turn:
    return Turn(other_bot, world, live_server.url, THEIRS, in_group=True)


# --- reading ----------------------------------------------------------------------------------------


def test_the_roles_on_a_bot_read_its_ledger_and_nothing_of_another_bots(cast: Cast, ours: Turn, theirs: Turn) -> None:
    for role in READERS:
        client = _client(getattr(cast, role))

        requests = client.get(_changelist("inboundevent")).content.decode()
        messages = client.get(_changelist("outboundmessage")).content.decode()
        callbacks = client.get(_changelist("callbackreceipt")).content.decode()

        assert OURS in requests and THEIRS not in requests, role
        assert _change(ours.command) in requests and _change(ours.callback) in requests, role
        assert _change(theirs.command) not in requests and _change(theirs.callback) not in requests, role
        assert OURS in messages and THEIRS not in messages, role
        assert str(ours.receipt.sync_id) in callbacks and str(theirs.receipt.sync_id) not in callbacks, role
        for row in (theirs.command, theirs.message, theirs.receipt):
            assert client.get(_change(row)).status_code in {302, 403, 404}, (role, row)

    messages = _client(cast.admin).get(_changelist("outboundmessage")).content.decode()
    assert OURS in messages and THEIRS in messages, "a superuser reads every bot's"


def test_an_outsider_is_refused_the_ledger(cast: Cast, ours: Turn) -> None:
    client = _client(cast.outsider)

    for model in LEDGER:
        assert client.get(_changelist(model)).status_code == 403
    for row in (ours.command, ours.message, ours.receipt):
        assert client.get(_change(row)).status_code in {302, 403}
    assert "Outbound messages" not in client.get(reverse("admin:index")).content.decode()


def _shows_attempts_and_history(html: str) -> bool:
    return "/api/v4/botx/notifications/direct" in html and "accepted by BotX" in html and "callback: ok" in html


def test_a_messages_page_shows_its_turns_chain(cast: Cast, ours: Turn) -> None:
    for role in [*READERS, "admin"]:
        client = _client(getattr(cast, role))

        page = client.get(_change(ours.message))

        assert page.status_code == 200, role
        html = page.content.decode()
        for row in (ours.command, ours.message, ours.receipt):
            assert _change(row) in html, f"{role}: the chain links {row}"
        assert str(ours.message.sync_id) in html, role
        assert _change(ours.message) in client.get(_change(ours.command)).content.decode(), role
        if role == "admin":
            assert _shows_attempts_and_history(html)


def test_the_roles_on_a_bot_see_a_messages_delivery_attempts_and_status_history(cast: Cast, ours: Turn) -> None:
    for role in READERS:
        html = _client(getattr(cast, role)).get(_change(ours.message)).content.decode()

        assert _shows_attempts_and_history(html), role


def test_nobody_adds_changes_or_deletes_ledger_rows(cast: Cast, ours: Turn) -> None:
    for role in [*READERS, "admin"]:
        client = _client(getattr(cast, role))

        for row in (ours.command, ours.message, ours.receipt):
            model = type(row).__name__.lower()
            assert client.get(reverse(f"admin:bots_{model}_add")).status_code == 403, (role, model)
            assert client.post(_change(row), {"text": "changed"}).status_code == 403, (role, model)
            assert client.get(reverse(f"admin:bots_{model}_delete", args=[row.pk])).status_code == 403, (role, model)

    ours.message.refresh_from_db()
    assert ours.message.text == OURS
    assert InboundEvent.objects.filter(pk=ours.command.pk).exists()


def test_no_secret_appears_in_the_ledger(cast: Cast, ours: Turn, theirs: Turn) -> None:
    client = _client(cast.admin)
    pages = [client.get(_changelist(model)).content.decode() for model in LEDGER]
    for turn in (ours, theirs):
        pages += [client.get(_change(row)).content.decode() for row in (turn.command, turn.message, turn.receipt)]
        pages.append(client.get(_change(turn.callback)).content.decode())

    for html in pages:
        assert SECRET not in html and OTHER_SECRET not in html
        assert "Bearer" not in html
        # Not a bare "eyJ": a random CSRF token holds those three letters now and then.
        assert not JWT.search(html), "no JWT"


# --- acting --------------------------------------------------------------------------------------------

ACTORS = {"owner": True, "operator": True, "auditor": False}


def _act(client: Client, action: str, message: OutboundMessage) -> Any:
    return client.post(
        _changelist("outboundmessage"),
        {"action": action, "_selected_action": [str(message.pk)], "index": "0", "select_across": "0"},
    )


def test_the_actions_are_offered_to_owners_and_operators_only(cast: Cast, ours: Turn) -> None:
    for role, offered in ACTORS.items():
        html = _client(getattr(cast, role)).get(_changelist("outboundmessage")).content.decode()

        for action in ("resend", "cancel", "fetch_status"):
            assert (f'value="{action}"' in html) is offered, (role, action)


def test_owners_and_operators_send_a_failed_message_again_and_auditors_cannot(
    cast: Cast, bot: Bot, world: World, sandbox_cts: CtsServer, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 1
    faults_set(sandbox_cts, error_rate=1.0)  # BotX is down...
    failed = {role: notify(bot, world.group.group_chat_id, f"for the {role}") for role in ACTORS}
    assert {m.status for m in OutboundMessage.objects.all()} == {Status.FAILED}
    faults_set(sandbox_cts, error_rate=0.0)  # ...and back

    for role, allowed in ACTORS.items():
        _act(_client(getattr(cast, role)), "resend", failed[role])

        message = failed[role]
        message.refresh_from_db()
        if allowed:
            assert message.status == Status.DELIVERED, role
            assert message.events.filter(note=f"sent again by {role}").exists()
        else:
            assert (message.status, message.attempts) == (Status.FAILED, 1), role


def test_owners_and_operators_cancel_a_pending_message_and_auditors_cannot(cast: Cast, bot: Bot, world: World) -> None:
    pending = {role: notify(bot, world.group.group_chat_id, f"for the {role}", held=True) for role in ACTORS}

    for role, allowed in ACTORS.items():
        _act(_client(getattr(cast, role)), "cancel", pending[role])

        message = pending[role]
        message.refresh_from_db()
        assert message.status == (Status.CANCELLED if allowed else Status.PENDING), role


def test_owners_and_operators_fetch_a_messages_status_and_auditors_cannot(cast: Cast, bot: Bot, world: World) -> None:
    delivered = {role: notify(bot, world.personal.group_chat_id, f"for the {role}") for role in ACTORS}

    for role, allowed in ACTORS.items():
        response = _act(_client(getattr(cast, role)), "fetch_status", delivered[role])

        message = delivered[role]
        message.refresh_from_db()
        if allowed:
            assert response.status_code == 302, role
            assert message.delivery_status is not None, role
            assert message.delivery_status["sent_to"] == [str(world.ivan.huid)]
        else:
            assert message.delivery_status is None, role
