"""The conference notifier: conferences stored from BotX's conference events, reminders planned before
their starts and run by the beat, subscriptions by command.

The event functions run inside the dispatch transaction of the event (called by the handler in
``bots/handlers/conference.py``), so a conference row and its reminders change together with the
event's processing, or not at all. The beat functions (``reminders_run``, ``schedules_run``) claim due
rows with ``FOR UPDATE SKIP LOCKED`` and write the messages and the row's new state in one
transaction: two beats never send one reminder twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bots.botx.incoming import opt_uuid
from bots.integrations.models import (
    Conference,
    ConferenceReminder,
    ConferenceSchedule,
    ConferenceSettings,
    ConferenceSubscription,
)
from bots.integrations.services.common import local_time
from bots.integrations.services.recurrence import first_reminder, next_reminder
from bots.models import Bot
from bots.services.outbox import message_enqueue

logger = logging.getLogger(__name__)
BATCH = 100
MAX_LISTED = 10


class ConferenceEventError(ValueError):
    """A conference event BotX sent without what it must carry."""


@dataclass(frozen=True)
class ConferenceDetails:
    """What a ``conference_changed`` event says of a conference; None: not said."""

    call_id: uuid.UUID
    name: str | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    end_given: bool = False  # "end_at": null means "no end", an absent key means "unchanged"
    link: str | None = None
    members: list[str] | None = None


def _moment(data: dict[str, Any], key: str) -> dt.datetime | None:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ConferenceEventError(f'"{key}" is not a date and time: {value[:40]!r}')
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def call_id_of(data: dict[str, Any]) -> uuid.UUID:
    call_id = opt_uuid(data.get("call_id"))
    if call_id is None:
        raise ConferenceEventError('a conference event without a valid "call_id"')
    return call_id


def details_parse(data: dict[str, Any]) -> ConferenceDetails:
    members = data.get("members")
    name = data.get("name")
    link = data.get("link")
    return ConferenceDetails(
        call_id=call_id_of(data),
        name=name[:255] if isinstance(name, str) else None,
        start_at=_moment(data, "start_at"),
        end_at=_moment(data, "end_at"),
        end_given="end_at" in data,
        link=link[:1000] if isinstance(link, str) else None,
        members=(
            [str(huid) for item in members if (huid := opt_uuid(item)) is not None]
            if isinstance(members, list)
            else None
        ),
    )


def settings_of(bot: Bot) -> ConferenceSettings:
    """The bot's settings, or the defaults (unsaved) when it has none."""
    found = ConferenceSettings.objects.filter(bot=bot).first()
    return found if found is not None else ConferenceSettings(bot=bot)


# --- events --------------------------------------------------------------------------------------


def conference_created(
    *, bot: Bot, call_id: uuid.UUID, chat_id: uuid.UUID | None, now: dt.datetime | None = None
) -> Conference:
    conference, _created = Conference.objects.get_or_create(bot=bot, call_id=call_id)
    if chat_id is not None and conference.chat_id != chat_id:
        conference.chat_id = chat_id
        conference.save(update_fields=["chat_id", "updated_at"])
    conference_plan(conference, now=now)
    return conference


def conference_changed(
    *, bot: Bot, details: ConferenceDetails, chat_id: uuid.UUID | None, now: dt.datetime | None = None
) -> tuple[Conference, bool]:
    """Store what the event says; also whether anything people are told of (name, times, link) changed."""
    conference, _created = Conference.objects.get_or_create(bot=bot, call_id=details.call_id)
    before = (conference.name, conference.start_at, conference.end_at, conference.link)
    if chat_id is not None:
        conference.chat_id = chat_id
    if details.name is not None:
        conference.name = details.name
    if details.start_at is not None:
        conference.start_at = details.start_at
    if details.end_given:
        conference.end_at = details.end_at
    if details.link is not None:
        conference.link = details.link
    if details.members is not None:
        conference.members = details.members
    conference.save()
    conference_plan(conference, now=now)
    return conference, before != (conference.name, conference.start_at, conference.end_at, conference.link)


def conference_deleted(*, bot: Bot, call_id: uuid.UUID) -> Conference | None:
    """Forget a conference with its reminders; returns what it was (unsaved), None if it was unknown."""
    conference = Conference.objects.filter(bot=bot, call_id=call_id).first()
    if conference is None:
        return None
    conference.delete()
    return conference


# --- planning ------------------------------------------------------------------------------------


def conference_plan(conference: Conference, *, now: dt.datetime | None = None) -> None:
    """Make the conference's reminders and schedule match its start, its end and the bot's settings.

    A reminder whose time did not change keeps its state, so a change of the name or the members
    does not send a reminder twice; a moved start makes the reminders pending again.
    """
    now = now or timezone.now()
    bot_settings = settings_of(conference.bot)
    _plan_reminders(conference, bot_settings, now)
    _plan_schedule(conference, bot_settings, now)


def _plan_reminders(conference: Conference, bot_settings: ConferenceSettings, now: dt.datetime) -> None:
    existing = {reminder.offset_minutes: reminder for reminder in conference.reminders.all()}
    if conference.start_at is not None:
        for offset in bot_settings.reminder_offsets or []:
            due = conference.start_at - dt.timedelta(minutes=offset)
            reminder = existing.pop(offset, None)
            if reminder is not None and reminder.due_at == due:
                continue
            # A reminder whose time passed before it was planned would arrive late, or pile up with
            # the next one: it is left out.
            ahead = due > now
            ConferenceReminder.objects.update_or_create(
                conference=conference,
                offset_minutes=offset,
                defaults={
                    "due_at": due,
                    "status": ConferenceReminder.Status.PENDING if ahead else ConferenceReminder.Status.SKIPPED,
                    "sent_at": None,
                    "note": "" if ahead else "its time had passed when it was planned",
                },
            )
    # Offsets no longer set, or a start no longer known: what has not been sent goes.
    stale = [r.pk for r in existing.values() if r.status != ConferenceReminder.Status.SENT]
    if conference.start_at is None:
        stale = list(conference.reminders.exclude(status=ConferenceReminder.Status.SENT).values_list("pk", flat=True))
    ConferenceReminder.objects.filter(pk__in=stale).delete()


def _plan_schedule(conference: Conference, bot_settings: ConferenceSettings, now: dt.datetime) -> None:
    schedule = ConferenceSchedule.objects.filter(conference=conference).first()
    if conference.start_at is None or not conference.is_open_ended:
        if schedule is not None:
            schedule.delete()
        return
    if schedule is None:
        schedule = ConferenceSchedule(
            conference=conference,
            frequency=bot_settings.recurring_frequency,
            lead_minutes=bot_settings.recurring_lead_minutes,
        )
    schedule.next_run = first_reminder(
        start=conference.start_at,
        frequency=schedule.frequency,
        interval=schedule.interval,
        lead_minutes=schedule.lead_minutes,
        now=now,
    )
    schedule.save()


def bot_conferences_replan(*, bot: Bot, now: dt.datetime | None = None) -> int:
    """After the bot's settings changed: plan its conferences that have not ended again."""
    now = now or timezone.now()
    count = 0
    for conference in Conference.objects.filter(bot=bot).exclude(end_at__lt=now):
        conference_plan(conference, now=now)
        count += 1
    return count


def schedule_restart(*, schedule: ConferenceSchedule, now: dt.datetime | None = None) -> None:
    """After the frequency, interval or lead of a schedule changed in the admin: its next reminder."""
    start = schedule.conference.start_at
    if start is None:
        return
    schedule.next_run = first_reminder(
        start=start,
        frequency=schedule.frequency,
        interval=schedule.interval,
        lead_minutes=schedule.lead_minutes,
        now=now or timezone.now(),
    )


# --- subscriptions and listings -----------------------------------------------------------------


def subscription_add(*, bot: Bot, user_huid: uuid.UUID, chat_id: uuid.UUID, language: str) -> bool:
    """Subscribe a user in a chat; False when they were subscribed there already."""
    _subscription, created = ConferenceSubscription.objects.update_or_create(
        bot=bot, user_huid=user_huid, chat_id=chat_id, defaults={"language": language}
    )
    return created


def subscription_remove(*, bot: Bot, user_huid: uuid.UUID, chat_id: uuid.UUID | None = None) -> int:
    """Unsubscribe a user (in one chat, or everywhere); how many subscriptions went."""
    subscriptions = ConferenceSubscription.objects.filter(bot=bot, user_huid=user_huid)
    if chat_id is not None:
        subscriptions = subscriptions.filter(chat_id=chat_id)
    return subscriptions.delete()[0]


@dataclass(frozen=True)
class Upcoming:
    conference: Conference
    meets_at: dt.datetime
    open_ended: bool


def conferences_upcoming(
    *, bot: Bot, user_huid: uuid.UUID | None, chat_id: uuid.UUID | None, now: dt.datetime | None = None
) -> list[Upcoming]:
    """The next meetings of the bot's conferences that the user is a member of or that belong to the chat."""
    now = now or timezone.now()
    found: list[Upcoming] = []
    candidates = Conference.objects.filter(bot=bot, start_at__isnull=False).select_related("schedule")
    for conference in candidates:
        mine = (user_huid is not None and conference.has_member(user_huid)) or (
            chat_id is not None and conference.chat_id == chat_id
        )
        if not mine or conference.start_at is None:
            continue
        if conference.start_at > now:
            found.append(Upcoming(conference, conference.start_at, conference.is_open_ended))
        elif conference.is_open_ended:
            schedule = getattr(conference, "schedule", None)
            if schedule is not None and schedule.enabled:
                found.append(Upcoming(conference, schedule.meeting_at, True))
    found.sort(key=lambda item: item.meets_at)
    return found[:MAX_LISTED]


# --- texts ---------------------------------------------------------------------------------------


def _title(conference: Conference) -> str:
    return conference.name or _("Conference")


def with_join_button(fields: dict[str, Any], conference: Conference) -> dict[str, Any]:
    """The message fields with a button that opens the conference, when its link is known."""
    if not conference.link:
        return fields
    return {**fields, "bubbles": [[{"label": _("Join"), "link": conference.link}]]}


def created_text(conference: Conference) -> str:
    return _(
        "I am in this conference now and will remind its members before it starts. "
        "Write /subscribe to me to get reminders in our chat."
    )


def changed_text(conference: Conference) -> str:
    if conference.start_at is None:
        return _("“%(name)s” was changed.") % {"name": _title(conference)}
    if conference.end_at is None:
        return _("“%(name)s” starts %(start)s and has no end; I will remind of every meeting.") % {
            "name": _title(conference),
            "start": local_time(conference.start_at),
        }
    return _("“%(name)s”: from %(start)s to %(end)s.") % {
        "name": _title(conference),
        "start": local_time(conference.start_at),
        "end": local_time(conference.end_at),
    }


def deleted_text(conference: Conference) -> str:
    return _("“%(name)s” was cancelled; its reminders are off.") % {"name": _title(conference)}


def reminder_text(conference: Conference, starts_at: dt.datetime, now: dt.datetime) -> str:
    minutes = max(round((starts_at - now).total_seconds() / 60), 0)
    return ngettext(
        "Reminder: “%(name)s” starts at %(time)s, in %(count)d minute.",
        "Reminder: “%(name)s” starts at %(time)s, in %(count)d minutes.",
        minutes,
    ) % {"name": _title(conference), "time": local_time(starts_at), "count": minutes}


def upcoming_text(items: list[Upcoming]) -> str:
    if not items:
        return _("You have no upcoming conferences.")
    lines = [_("Your upcoming conferences:")]
    for item in items:
        line = f"• {local_time(item.meets_at)} — {_title(item.conference)}"
        if item.open_ended:
            line += " " + _("(recurring)")
        if item.conference.link:
            line += f"\n  {item.conference.link}"
        lines.append(line)
    return "\n".join(lines)


# --- the beat ------------------------------------------------------------------------------------


def _announce(conference: Conference, starts_at: dt.datetime, now: dt.datetime, *, created_by: str) -> int:
    """A reminder to the conference chat and to each subscribed member; the number of messages."""
    bot = conference.bot
    bot_settings = settings_of(bot)
    sent = 0
    chats_told: set[str] = set()
    if conference.chat_id is not None and bot_settings.tell_conference_chat:
        with translation.override(settings.LANGUAGE_CODE):
            payload = with_join_button(
                {"chat_id": str(conference.chat_id), "body": reminder_text(conference, starts_at, now)}, conference
            )
        message_enqueue(bot=bot, method="notification", payload=payload, created_by=created_by)
        chats_told.add(str(conference.chat_id))
        sent += 1
    members = {str(member) for member in conference.members or []}
    for subscription in ConferenceSubscription.objects.filter(bot=bot).order_by("pk"):
        if str(subscription.user_huid) not in members or str(subscription.chat_id) in chats_told:
            continue
        with translation.override(subscription.language or settings.LANGUAGE_CODE):
            payload = with_join_button(
                {
                    "chat_id": str(subscription.chat_id),
                    "body": reminder_text(conference, starts_at, now),
                    # In a group chat the reminder is for the subscriber alone.
                    "recipients": [str(subscription.user_huid)],
                },
                conference,
            )
        message_enqueue(bot=bot, method="notification", payload=payload, created_by=created_by)
        sent += 1
    return sent


def reminders_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Send the reminders that are due. Each batch is claimed, sent and marked in one transaction."""
    now = now or timezone.now()
    counts = {"sent": 0, "skipped": 0, "messages": 0}
    while True:
        with transaction.atomic():
            due = list(
                ConferenceReminder.objects.select_for_update(skip_locked=True)
                .filter(status=ConferenceReminder.Status.PENDING, due_at__lte=now)
                .order_by("due_at", "pk")[:BATCH]
            )
            for reminder in due:
                conference = Conference.objects.select_related("bot").get(pk=reminder.conference_id)
                reminder.note = _skip_reason(conference, conference.start_at, now)
                if reminder.note:
                    reminder.status = ConferenceReminder.Status.SKIPPED
                    counts["skipped"] += 1
                else:
                    assert conference.start_at is not None  # _skip_reason says so
                    counts["messages"] += _announce(
                        conference, conference.start_at, now, created_by="conference: reminder"
                    )
                    reminder.status = ConferenceReminder.Status.SENT
                    reminder.sent_at = now
                    counts["sent"] += 1
                reminder.save(update_fields=["status", "sent_at", "note"])
        if len(due) < BATCH:
            break
    if counts["sent"] or counts["skipped"]:
        logger.info("conference reminders: %s", counts)
    return counts


def schedules_run(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Send the recurring reminders that are due and move each schedule to its next meeting."""
    now = now or timezone.now()
    counts = {"sent": 0, "missed": 0, "messages": 0}
    while True:
        with transaction.atomic():
            due = list(
                ConferenceSchedule.objects.select_for_update(skip_locked=True)
                .filter(enabled=True, next_run__lte=now)
                .order_by("next_run", "pk")[:BATCH]
            )
            for schedule in due:
                conference = Conference.objects.select_related("bot").get(pk=schedule.conference_id)
                meeting = schedule.meeting_at
                if _skip_reason(conference, meeting, now):
                    # The beat was down past the meeting: reminding of it now would be noise.
                    counts["missed"] += 1
                else:
                    counts["messages"] += _announce(conference, meeting, now, created_by="conference: recurring")
                    schedule.last_run_at = now
                    schedule.runs += 1
                    counts["sent"] += 1
                schedule.next_run = next_reminder(
                    meeting=meeting,
                    frequency=schedule.frequency,
                    interval=schedule.interval,
                    lead_minutes=schedule.lead_minutes,
                    now=now,
                )
                schedule.save(update_fields=["next_run", "last_run_at", "runs", "updated_at"])
        if len(due) < BATCH:
            break
    if counts["sent"] or counts["missed"]:
        logger.info("recurring conference reminders: %s", counts)
    return counts


def _skip_reason(conference: Conference, starts_at: dt.datetime | None, now: dt.datetime) -> str:
    if starts_at is None:
        return "the conference has no start"
    if starts_at <= now:
        return "the conference had started when the reminder came due"
    if not conference.bot.is_served:
        return "the bot is not served (disabled or without handler code)"
    return ""
