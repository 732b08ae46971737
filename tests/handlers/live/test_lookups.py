"""Look-ups a handler makes (chat info, users by HUID, e-mail and AD login, file downloads): synchronous
BotX calls through the bot's client, here against the sandbox over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bots.handlers.api import LookupFailed
from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo, handlers
from bots.models import Bot, CtsServer, InboundEvent
from bots.sandbox.services.user_send import UserFile, UserMessage
from bots.services.lookups import BotxLookups
from tests.handlers.live.conftest import bot_messages, event_of, outbox_of, say
from tests.sandbox_fixtures import World, faults_set

pytestmark = pytest.mark.django_db(transaction=True)


def test_chat_info_gives_the_chat_and_its_members(bot: Bot, world: World) -> None:
    info = BotxLookups(bot).chat_info(world.group.group_chat_id)

    assert info is not None
    assert (info.chat_id, info.chat_type, info.name) == (world.group.group_chat_id, "group_chat", "Общий")
    assert info.creator == world.ivan.huid
    assert {member.user_huid for member in info.members} >= {world.ivan.huid, world.maria.huid, bot.bot_id}
    assert world.ivan.huid in info.admins


def test_a_chat_the_bot_is_not_in_is_not_found(bot: Bot, world: World) -> None:
    assert BotxLookups(bot).chat_info(world.foreign.group_chat_id) is None
    assert BotxLookups(bot).chat_info(uuid.uuid4()) is None


def test_the_personal_chat_with_a_user_is_found_and_a_user_without_one_is_not(bot: Bot, world: World) -> None:
    found = BotxLookups(bot).personal_chat(world.ivan.huid)

    assert found is not None
    assert (found.chat_id, found.chat_type) == (world.personal.group_chat_id, "chat")
    assert BotxLookups(bot).personal_chat(world.maria.huid) is None


def test_users_are_found_by_huid_email_and_ad_login(bot: Bot, world: World) -> None:
    lookups = BotxLookups(bot)

    by_huid = lookups.user_by_huid(world.ivan.huid)
    (by_email,) = lookups.users_by_email(["ivan@example.com", "nobody@example.com"])
    by_login = lookups.user_by_login("msmirnova", "corp")

    assert by_huid is not None and by_login is not None
    assert (by_huid.name, by_huid.upn, by_huid.company) == ("Иван Петров", "ipetrov@corp", "Песочница")
    assert "ipetrov@corp.example.com" in by_huid.emails
    assert by_email.huid == world.ivan.huid
    assert by_login.huid == world.maria.huid
    assert lookups.user_by_huid(uuid.uuid4()) is None
    assert lookups.user_by_login("nobody", "corp") is None
    assert lookups.users_by_email([]) == []


def test_a_cts_that_fails_gives_lookup_failed_with_botx_reason(bot: Bot, world: World, sandbox_cts: CtsServer) -> None:
    faults_set(sandbox_cts, error_rate=1.0)

    with pytest.raises(LookupFailed) as caught:
        BotxLookups(bot).user_by_huid(world.ivan.huid)
    assert caught.value.what == "user by HUID"


def test_a_cts_that_is_down_gives_lookup_failed(bot: Bot, world: World) -> None:
    CtsServer.objects.filter(pk=bot.cts_id).update(base_url="http://127.0.0.1:9")
    bot.refresh_from_db()

    with pytest.raises(LookupFailed, match="connect"):
        BotxLookups(bot).chat_info(world.group.group_chat_id)


@pytest.fixture
def inspector(bot: Bot) -> Iterator[Router]:
    """A bot that answers with what look-ups tell it, and with the size of the files it downloads."""
    router = Router()

    @router.command("/who", description="Who is in this chat")
    def who(ctx: Context) -> None:
        info = ctx.chat_info()
        assert info is not None
        me = ctx.user_by_huid(ctx.sender.user_huid) if ctx.sender.user_huid else None
        names = sorted(
            user.name or "?"
            for member in info.members
            if member.user_kind == "user" and member.user_huid
            for user in [ctx.user_by_huid(member.user_huid)]
            if user is not None
        )
        ctx.reply(f"{info.name}: {', '.join(names)}; you are {me.upn if me else '?'}")

    @router.command("/dm", description="Answers in private")
    def dm(ctx: Context) -> None:
        assert ctx.sender.user_huid is not None
        chat = ctx.personal_chat(ctx.sender.user_huid)
        if chat is None:
            ctx.reply("We have no private chat yet.")
            return
        ctx.send(chat_id=chat.chat_id, body="Just between us.")

    @router.default_message
    def files(ctx: Context) -> None:
        for file in ctx.files:
            ctx.reply(f"{file.name}: {len(file.read())} bytes from the {'CTS' if file.on_cts else 'message'}")

    handlers()["lookups_test"] = HandlerInfo(key="lookups_test", name="Look-ups", router=router)
    Bot.objects.filter(pk=bot.pk).update(handler="lookups_test")
    yield router
    handlers().pop("lookups_test", None)


def test_a_handler_looks_up_its_chat_and_users_while_it_runs(bot: Bot, world: World, inspector: Router) -> None:
    sent = say(bot, world.group, world.ivan, "/who")

    event = event_of(bot, sent)
    assert event.status == InboundEvent.Status.DONE, event.error
    assert [m.body for m in bot_messages(bot, world.group)] == [
        "Общий: Иван Петров, Мария Смирнова; you are ipetrov@corp"
    ]


def test_a_handler_finds_a_users_personal_chat_to_write_to_them_alone(
    bot: Bot, world: World, inspector: Router
) -> None:
    say(bot, world.group, world.ivan, "/dm")
    say(bot, world.group, world.maria, "/dm")

    assert [m.body for m in bot_messages(bot, world.personal)] == ["Just between us."]
    assert [m.body for m in bot_messages(bot, world.group)] == ["We have no private chat yet."]


def test_a_handler_downloads_a_file_kept_on_the_cts(bot: Bot, world: World, inspector: Router) -> None:
    content = "Отчёт за квартал\n".encode()
    message = UserMessage(
        files=(
            UserFile("report.txt", content, as_async_file=True),
            UserFile("inline.txt", b"abc"),
        )
    )

    sent = say(bot, world.personal, world.ivan, message)

    event = event_of(bot, sent)
    assert event.status == InboundEvent.Status.DONE, event.error
    assert [m.payload["body"] for m in outbox_of(event)] == [
        "inline.txt: 3 bytes from the message",
        f"report.txt: {len(content)} bytes from the CTS",
    ]


def test_a_look_up_that_fails_fails_the_handler_with_an_apology(
    bot: Bot, world: World, inspector: Router, sandbox_cts: CtsServer
) -> None:
    faults_set(sandbox_cts, error_rate=1.0)  # the answer cannot be delivered either; the outbox shows it
    sent = say(bot, world.group, world.ivan, "/who")

    event = event_of(bot, sent)
    assert event.status == InboundEvent.Status.FAILED
    assert "LookupFailed: chat info" in event.error
    assert [m.created_by for m in outbox_of(event)] == ["portal: apology"]


def test_a_file_the_cts_does_not_have_gives_lookup_failed_with_its_reason(bot: Bot, world: World) -> None:
    with pytest.raises(LookupFailed) as caught:
        BotxLookups(bot).file_download(world.personal.group_chat_id, uuid.uuid4())

    assert (caught.value.what, caught.value.reason) == ("file download", "file_metadata_not_found")
