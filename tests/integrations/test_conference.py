"""The conference notifier: BotX's conference events through the real /command, reminders at offsets
and on a recurring schedule run as the beat runs them (time passed in as ``now``), subscriptions."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from bots.integrations.models import (
    Conference,
    ConferenceReminder,
    ConferenceSchedule,
    ConferenceSettings,
    ConferenceSubscription,
)
from bots.integrations.services.conferences import reminders_run, schedules_run
from bots.models import Bot, InboundEvent, OutboundMessage
from bots.sandbox import bot_api
from bots.sandbox.models import SandboxChat, SandboxMember, SandboxMessage
from bots.sandbox.services.user_send import sandbox_user_send
from tests.integrations.conftest import bot_messages, chat_with, inbound, replies_to
from tests.sandbox_fixtures import World

pytestmark = pytest.mark.django_db(transaction=True)

CALL_ID = uuid.UUID("b58a647b-eda8-5275-bd0e-28ac48d58ebd")
LINK = "https://cts.example.com/conference/d2784e8d-3c57-5919-ad26-cef412251ed0"


@pytest.fixture
def handler_key() -> str:
    return "conference"


@pytest.fixture
def call_chat(bot: Bot, world: World) -> SandboxChat:
    """The conference's own chat: Ivan, Maria and the bot."""
    return chat_with(
        "Weekly sync",
        "voex_call",
        (world.ivan.huid, SandboxMember.Kind.USER),
        (world.maria.huid, SandboxMember.Kind.USER),
        (bot.bot_id, SandboxMember.Kind.BOT),
    )


@pytest.fixture
def event(bot: Bot, live_server: Any):
    def post(system_event: bot_api.SystemEvent, chat: SandboxChat | None = None) -> InboundEvent:
        sent = sandbox_user_send(bot=bot, chat=chat, user=None, message=system_event, origin=live_server.url)
        assert sent.status_code == 202, sent.body
        return inbound(bot, sent.sync_id)

    return post


def changed_data(world: World, start: dt.datetime, end: dt.datetime | None, **extra: Any) -> dict[str, Any]:
    # The shape of tests/fixtures/botx/system_conference_changed.json.
    return {
        "access_code": None,
        "actor": str(world.ivan.huid),
        "added_users": [str(world.maria.huid)],
        "admins": [str(world.ivan.huid)],
        "call_id": str(CALL_ID),
        "deleted_users": [],
        "end_at": end.isoformat().replace("+00:00", "Z") if end else None,
        "link": LINK,
        "link_id": str(uuid.uuid4()),
        "link_type": "corporate",
        "members": [str(world.ivan.huid), str(world.maria.huid)],
        "name": "Weekly sync",
        "operation": "change_conference_info",
        "sip_number": 40117,
        "start_at": start.isoformat().replace("+00:00", "Z"),
        **extra,
    }


@pytest.fixture
def start() -> dt.datetime:
    return (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)


@pytest.fixture
def conference(event: Any, call_chat: SandboxChat, world: World, start: dt.datetime) -> Conference:
    """A conference of tomorrow, one hour long, that BotX told the bot of."""
    event(bot_api.conference_created(CALL_ID), call_chat)
    event(bot_api.conference_changed(changed_data(world, start, start + dt.timedelta(hours=1))))
    return Conference.objects.get(call_id=CALL_ID)


def subscribe(say: Any) -> None:
    say("/subscribe")


# --- events --------------------------------------------------------------------------------------


def test_created_and_changed_events_store_the_conference_and_tell_its_chat(
    bot: Bot, event: Any, call_chat: SandboxChat, world: World, start: dt.datetime
) -> None:
    created = event(bot_api.conference_created(CALL_ID), call_chat)

    assert created.status == InboundEvent.Status.DONE
    conference = Conference.objects.get(bot=bot, call_id=CALL_ID)
    assert conference.chat_id == call_chat.group_chat_id
    assert conference.start_at is None
    [hello] = replies_to(created)
    assert hello.chat_id == call_chat.group_chat_id
    assert hello.status == OutboundMessage.Status.DELIVERED

    end = start + dt.timedelta(hours=1)
    changed = event(bot_api.conference_changed(changed_data(world, start, end)))

    assert changed.status == InboundEvent.Status.DONE
    conference.refresh_from_db()
    assert (conference.name, conference.start_at, conference.end_at, conference.link) == (
        "Weekly sync",
        start,
        end,
        LINK,
    )
    assert conference.members == [str(world.ivan.huid), str(world.maria.huid)]
    [news] = replies_to(changed)
    assert news.chat_id == call_chat.group_chat_id  # the event names no chat; the conference's is known
    assert "Weekly sync" in news.payload["body"]
    assert news.payload["bubbles"][0][0]["link"] == LINK
    posted = bot_messages(bot, call_chat)
    assert [m.body for m in posted] == [hello.payload["body"], news.payload["body"]]
    assert posted[1].bubble[0][0]["opts"]["link"] == LINK
    reminders = conference.reminders.order_by("-offset_minutes")
    assert [(r.offset_minutes, r.due_at, r.status) for r in reminders] == [
        (15, start - dt.timedelta(minutes=15), ConferenceReminder.Status.PENDING),
        (5, start - dt.timedelta(minutes=5), ConferenceReminder.Status.PENDING),
    ]
    assert not ConferenceSchedule.objects.exists(), "a conference with an end recurs on no schedule"


def test_a_deleted_conference_is_forgotten_with_its_reminders_and_its_chat_told(
    bot: Bot, event: Any, conference: Conference, call_chat: SandboxChat
) -> None:
    deleted = event(bot_api.conference_deleted(CALL_ID), call_chat)

    assert deleted.status == InboundEvent.Status.DONE
    assert not Conference.objects.exists()
    assert not ConferenceReminder.objects.exists()
    [notice] = replies_to(deleted)
    assert "Weekly sync" in notice.payload["body"]
    assert bot_messages(bot, call_chat)[-1].body == notice.payload["body"]
    assert conference.start_at is not None
    assert reminders_run(now=conference.start_at - dt.timedelta(minutes=5))["sent"] == 0


def test_a_conference_event_without_a_call_id_fails_recorded_and_sends_nothing(
    bot: Bot, event: Any, call_chat: SandboxChat
) -> None:
    bad = event(bot_api.SystemEvent("system:conference_changed", {"name": "No id"}))

    assert bad.status == InboundEvent.Status.FAILED
    assert "call_id" in bad.error
    assert not Conference.objects.exists()
    assert not OutboundMessage.objects.exists()


# --- reminders at offsets ------------------------------------------------------------------------


def test_reminders_are_sent_at_their_offsets_once_to_the_chat_and_to_subscribed_members(
    bot: Bot, conference: Conference, call_chat: SandboxChat, world: World, say: Any
) -> None:
    say("/subscribe")  # Ivan, in his personal chat with the bot
    start = conference.start_at
    assert start is not None
    before = OutboundMessage.objects.count()

    assert reminders_run(now=start - dt.timedelta(minutes=16)) == {"sent": 0, "skipped": 0, "messages": 0}
    assert OutboundMessage.objects.count() == before

    first = reminders_run(now=start - dt.timedelta(minutes=15))
    again = reminders_run(now=start - dt.timedelta(minutes=14))

    assert first == {"sent": 1, "skipped": 0, "messages": 2}
    assert again == {"sent": 0, "skipped": 0, "messages": 0}, "a reminder is sent once"
    to_chat, to_ivan = OutboundMessage.objects.filter(created_by="conference: reminder").order_by("pk")
    assert to_chat.chat_id == call_chat.group_chat_id and "recipients" not in to_chat.payload
    assert to_ivan.chat_id == world.personal.group_chat_id
    assert to_ivan.payload["recipients"] == [str(world.ivan.huid)]
    assert "in 15 minutes" in to_chat.payload["body"]
    assert {to_chat.status, to_ivan.status} == {OutboundMessage.Status.DELIVERED}
    in_chat = bot_messages(bot, call_chat)[-1]
    assert in_chat.body == to_chat.payload["body"]
    assert in_chat.bubble[0][0]["opts"]["link"] == LINK
    in_personal = bot_messages(bot, world.personal)[-1]
    assert in_personal.body == to_ivan.payload["body"]
    assert in_personal.recipients == [str(world.ivan.huid)]

    second = reminders_run(now=start - dt.timedelta(minutes=5))

    assert second == {"sent": 1, "skipped": 0, "messages": 2}
    assert "in 5 minutes" in bot_messages(bot, call_chat)[-1].body
    statuses = conference.reminders.values_list("status", flat=True)
    assert set(statuses) == {ConferenceReminder.Status.SENT}


def test_a_moved_start_plans_the_reminders_again_and_a_late_beat_skips_a_started_conference(
    bot: Bot, event: Any, conference: Conference, world: World
) -> None:
    start = conference.start_at
    assert start is not None
    reminders_run(now=start - dt.timedelta(minutes=15))
    later = start + dt.timedelta(hours=2)

    event(bot_api.conference_changed(changed_data(world, later, later + dt.timedelta(hours=1))))

    reminders = {r.offset_minutes: r for r in conference.reminders.all()}
    assert reminders[15].status == ConferenceReminder.Status.PENDING
    assert reminders[15].due_at == later - dt.timedelta(minutes=15)
    # The beat was down until after the start: nobody is reminded of a conference in progress.
    assert reminders_run(now=later + dt.timedelta(minutes=1)) == {"sent": 0, "skipped": 2, "messages": 0}


def test_offsets_come_from_the_bots_settings(bot: Bot, event: Any, call_chat: SandboxChat, world: World) -> None:
    ConferenceSettings.objects.create(bot=bot, reminder_offsets=[60, 30, 10], tell_conference_chat=False)
    start = (timezone.now() + dt.timedelta(hours=5)).replace(microsecond=0)

    event(bot_api.conference_created(CALL_ID), call_chat)
    event(bot_api.conference_changed(changed_data(world, start, start + dt.timedelta(hours=1))))

    offsets = sorted(ConferenceReminder.objects.values_list("offset_minutes", flat=True))
    assert offsets == [10, 30, 60]
    assert not OutboundMessage.objects.exists(), "told not to write to the conference chat"
    assert reminders_run(now=start - dt.timedelta(minutes=60)) == {"sent": 1, "skipped": 0, "messages": 0}


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks: SQLite has none")
def test_two_beats_at_once_send_each_reminder_once(bot: Bot, conference: Conference, say: Any) -> None:
    say("/subscribe")
    start = conference.start_at
    assert start is not None
    due = start - dt.timedelta(minutes=4)  # both reminders due
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(2)

    def beat() -> None:
        try:
            barrier.wait()
            results.append(reminders_run(now=due))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(result["sent"] for result in results) == 2
    assert OutboundMessage.objects.filter(created_by="conference: reminder").count() == 4
    assert connection.vendor == "postgresql"


# --- recurring -------------------------------------------------------------------------------------


def test_a_conference_with_no_end_is_reminded_of_on_its_schedule_which_advances_without_double_sends(
    bot: Bot, event: Any, call_chat: SandboxChat, world: World, start: dt.datetime
) -> None:
    event(bot_api.conference_created(CALL_ID), call_chat)
    event(bot_api.conference_changed(changed_data(world, start, None)))
    schedule = ConferenceSchedule.objects.get(conference__call_id=CALL_ID)
    week = dt.timedelta(days=7)
    lead = dt.timedelta(minutes=15)
    assert (schedule.frequency, schedule.interval, schedule.lead_minutes) == ("weekly", 1, 15)
    assert schedule.next_run == start + week - lead, "the first meeting has reminders of its own"
    before = OutboundMessage.objects.count()

    assert schedules_run(now=schedule.next_run - dt.timedelta(seconds=1))["sent"] == 0
    sent = schedules_run(now=schedule.next_run)
    again = schedules_run(now=schedule.next_run + dt.timedelta(seconds=30))

    assert sent == {"sent": 1, "missed": 0, "messages": 1}
    assert again == {"sent": 0, "missed": 0, "messages": 0}
    schedule.refresh_from_db()
    assert schedule.next_run == start + 2 * week - lead
    assert schedule.runs == 1
    [reminder] = OutboundMessage.objects.filter(pk__gt=0).order_by("pk")[before:]
    assert reminder.chat_id == call_chat.group_chat_id
    assert reminder.status == OutboundMessage.Status.DELIVERED
    assert "in 15 minutes" in bot_messages(bot, call_chat)[-1].body


def test_a_schedule_edited_in_the_database_takes_effect_on_the_next_tick_and_missed_meetings_are_skipped(
    bot: Bot, event: Any, call_chat: SandboxChat, world: World, start: dt.datetime
) -> None:
    event(bot_api.conference_created(CALL_ID), call_chat)
    event(bot_api.conference_changed(changed_data(world, start, None)))
    schedule = ConferenceSchedule.objects.get()
    soon = start + dt.timedelta(hours=3)
    ConferenceSchedule.objects.filter(pk=schedule.pk).update(frequency="daily", next_run=soon)

    assert schedules_run(now=soon)["sent"] == 1
    schedule.refresh_from_db()
    assert schedule.next_run == soon + dt.timedelta(days=1)

    # The beat stood still for three days: the meetings in between are not reminded of late.
    late = schedule.next_run + dt.timedelta(days=2, hours=1)
    result = schedules_run(now=late)

    assert result == {"sent": 0, "missed": 1, "messages": 0}
    schedule.refresh_from_db()
    assert schedule.next_run > late
    assert schedule.next_run == soon + dt.timedelta(days=4)


def test_an_end_given_later_stops_the_schedule(
    bot: Bot, event: Any, call_chat: SandboxChat, world: World, start: dt.datetime
) -> None:
    event(bot_api.conference_created(CALL_ID), call_chat)
    event(bot_api.conference_changed(changed_data(world, start, None)))
    assert ConferenceSchedule.objects.exists()

    event(bot_api.conference_changed(changed_data(world, start, start + dt.timedelta(hours=1))))

    assert not ConferenceSchedule.objects.exists()


# --- commands --------------------------------------------------------------------------------------


def test_users_subscribe_and_unsubscribe_by_command(bot: Bot, world: World, say: Any) -> None:
    first = say("/subscribe")
    second = say("/subscribe")

    [subscription] = ConferenceSubscription.objects.all()
    assert (subscription.user_huid, subscription.chat_id) == (world.ivan.huid, world.personal.group_chat_id)
    assert subscription.language == "en"  # the sandbox user's locale
    answers = [replies_to(inbound(bot, sent.sync_id))[0].payload["body"] for sent in (first, second)]
    assert answers == [
        "Done: I will remind you here before each conference you are a member of.",
        "You are subscribed here already. /unsubscribe stops the reminders.",
    ]

    say("/unsubscribe")
    gone = say("/unsubscribe")

    assert not ConferenceSubscription.objects.exists()
    assert replies_to(inbound(bot, gone.sync_id))[0].payload["body"] == "You were not subscribed here."
    posted = [m.body for m in bot_messages(bot, world.personal)]
    assert posted[:2] == answers
    assert posted[-1] == "You were not subscribed here."


def test_an_unsubscribed_member_gets_no_reminder_of_their_own(
    bot: Bot, conference: Conference, call_chat: SandboxChat, say: Any
) -> None:
    say("/subscribe")
    say("/unsubscribe")
    start = conference.start_at
    assert start is not None

    assert reminders_run(now=start - dt.timedelta(minutes=15))["messages"] == 1  # the conference chat only


def test_conferences_lists_the_users_upcoming_conferences(
    bot: Bot, conference: Conference, world: World, say: Any
) -> None:
    other = Conference.objects.create(
        bot=bot, call_id=uuid.uuid4(), name="Not Ivan's", start_at=conference.start_at, members=[str(uuid.uuid4())]
    )

    listed = say("/conferences")

    [answer] = replies_to(inbound(bot, listed.sync_id))
    assert "Weekly sync" in answer.payload["body"]
    assert LINK in answer.payload["body"]
    assert other.name not in answer.payload["body"]
    assert bot_messages(bot, world.personal)[-1].body == answer.payload["body"]


def test_an_unknown_command_gets_the_help_hint(bot: Bot, world: World, say: Any) -> None:
    sent = say("what can you do?")

    [answer] = replies_to(inbound(bot, sent.sync_id))
    assert "/subscribe" in answer.payload["body"] and "/conferences" in answer.payload["body"]
    assert SandboxMessage.objects.filter(chat=world.personal, body=answer.payload["body"]).exists()


def test_the_beat_entry_runs_the_tick_task_which_sends_what_is_due(
    bot: Bot, conference: Conference, call_chat: SandboxChat, settings: Any
) -> None:
    from portal.celery import app as celery_app

    entry = settings.CELERY_BEAT_SCHEDULE["integrations-conference-tick"]
    assert entry["task"] == "integrations.conference_tick"
    assert 1 <= entry["schedule"] <= 60
    # Made due now: the task runs the services with the real clock.
    ConferenceReminder.objects.filter(offset_minutes=15).update(due_at=timezone.now() - dt.timedelta(seconds=1))

    celery_app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    celery_app.tasks["integrations.conference_tick"].apply()

    assert ConferenceReminder.objects.get(offset_minutes=15).status == ConferenceReminder.Status.SENT
    assert ConferenceReminder.objects.get(offset_minutes=5).status == ConferenceReminder.Status.PENDING
    assert "Reminder" in bot_messages(bot, call_chat)[-1].body


def test_a_change_of_members_only_is_stored_without_a_word_to_the_chat(
    bot: Bot, event: Any, conference: Conference, world: World, call_chat: SandboxChat
) -> None:
    start, end = conference.start_at, conference.end_at
    assert start is not None and end is not None
    said = len(bot_messages(bot, call_chat))

    quiet = event(bot_api.conference_changed(changed_data(world, start, end, members=[str(world.ivan.huid)])))

    assert quiet.status == InboundEvent.Status.DONE
    assert not replies_to(quiet)
    assert len(bot_messages(bot, call_chat)) == said
    conference.refresh_from_db()
    assert conference.members == [str(world.ivan.huid)]
