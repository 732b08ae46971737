"""Recurrence of conferences with no end: the next meeting after a given one, in wall-clock time.

Meetings keep their local time of day across daylight-saving changes: arithmetic is done on aware
datetimes in ``TIME_ZONE`` (zoneinfo adds days to the wall clock), not on UTC.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bots.integrations.models import Frequency

_SATURDAY = 5


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(timezone.get_default_timezone())


def _plus_days(moment: dt.datetime, days: int) -> dt.datetime:
    local = _local(moment) + dt.timedelta(days=days)
    # Re-attached so that the offset is the one of the new wall time (DST may have changed).
    return local.replace(tzinfo=None).replace(tzinfo=local.tzinfo)


def meeting_after(meeting: dt.datetime, frequency: str, interval: int) -> dt.datetime:
    """The meeting that follows ``meeting``."""
    interval = max(interval, 1)
    if frequency == Frequency.DAILY:
        return _plus_days(meeting, interval)
    if frequency == Frequency.WEEKDAYS:
        following = meeting
        for _ in range(interval):
            following = _plus_days(following, 1)
            while _local(following).weekday() >= _SATURDAY:
                following = _plus_days(following, 1)
        return following
    return _plus_days(meeting, 7 * interval)


def _fast_forward(start: dt.datetime, now: dt.datetime, frequency: str, interval: int) -> dt.datetime:
    """A meeting of the series not long before ``now``, reached without stepping through years of them."""
    days = (_local(now).date() - _local(start).date()).days
    period = 7 if frequency == Frequency.WEEKDAYS else (interval if frequency == Frequency.DAILY else 7 * interval)
    skipped = days // period - 1
    if skipped <= 0:
        return start
    return _plus_days(start, skipped * period)


def first_reminder(
    *, start: dt.datetime, frequency: str, interval: int, lead_minutes: int, now: dt.datetime
) -> dt.datetime:
    """When to remind of the first meeting after ``start`` (the first one has reminders of its own)
    whose reminder is still ahead of ``now``."""
    lead = dt.timedelta(minutes=lead_minutes)
    meeting = meeting_after(_fast_forward(start, now, frequency, interval), frequency, interval)
    while meeting - lead <= now:
        meeting = meeting_after(meeting, frequency, interval)
    return meeting - lead


def next_reminder(
    *, meeting: dt.datetime, frequency: str, interval: int, lead_minutes: int, now: dt.datetime
) -> dt.datetime:
    """After the reminder of ``meeting``: when to remind of the next meeting that is still ahead."""
    return first_reminder(start=meeting, frequency=frequency, interval=interval, lead_minutes=lead_minutes, now=now)
