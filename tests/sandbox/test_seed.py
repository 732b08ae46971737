"""``manage.py sandbox_seed``: demo users and chats with the sandbox bots in them, idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from bots.models import Bot, CtsServer
from bots.sandbox.models import SandboxChat, SandboxFaults, SandboxMember, SandboxUser
from tests.sandbox.conftest import BOT_ID, SECRET


@pytest.fixture
def sandbox_bot(db):
    cts = CtsServer.objects.create(name="sandbox", base_url="http://127.0.0.1:8000/sandbox", auth_mode="v2")
    CtsServer.objects.create(name="real", base_url="https://cts.example.com", auth_mode="v2")
    bot = Bot(bot_id=BOT_ID, cts=cts, name="Echo", handler="echo")
    bot.secret_key = SECRET
    bot.save()
    return bot


def seed() -> str:
    out = io.StringIO()
    call_command("sandbox_seed", stdout=out)
    return out.getvalue()


def test_seeding_creates_users_chats_and_puts_the_bots_in_them(sandbox_bot):
    seed()

    assert SandboxUser.objects.count() == 4
    assert SandboxFaults.objects.get().cts == sandbox_bot.cts  # only the sandbox CTS gets settings
    group = SandboxChat.objects.get(chat_type="group_chat")
    assert group.members.filter(huid=BOT_ID, kind=SandboxMember.Kind.BOT, admin=True).exists()
    assert group.members.filter(kind=SandboxMember.Kind.USER).count() == 4
    assert SandboxChat.objects.filter(chat_type="channel").count() == 1
    personal = SandboxChat.objects.filter(chat_type="chat")
    assert personal.count() == 4
    assert all(set(chat.members.values_list("huid", flat=True)) >= {BOT_ID} for chat in personal)


def test_seeding_again_changes_nothing(sandbox_bot):
    seed()
    counts = (SandboxUser.objects.count(), SandboxChat.objects.count(), SandboxMember.objects.count())

    output = seed()

    assert (SandboxUser.objects.count(), SandboxChat.objects.count(), SandboxMember.objects.count()) == counts
    assert "0 users, 0 chats and 0 memberships created; bots in the chats: 1." in output
