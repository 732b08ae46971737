"""The conference notifier's data: its settings per bot, the conferences BotX told it of, reminders
at offsets before a start, recurring reminders of conferences with no end, and who subscribed."""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.models import Bot

HANDLER_KEY = "conference"
MAX_OFFSET_MINUTES = 7 * 24 * 60


def default_offsets() -> list[int]:
    return [15, 5]


class Frequency(models.TextChoices):
    DAILY = "daily", _("Every day")
    WEEKDAYS = "weekdays", _("Every weekday (Monday to Friday)")
    WEEKLY = "weekly", _("Every week")


class ConferenceSettings(models.Model):
    """How one conference bot reminds. A bot without a row uses the defaults of the fields."""

    bot = models.OneToOneField(
        Bot,
        models.CASCADE,
        related_name="conference_settings",
        verbose_name=_("bot"),
        limit_choices_to={"handler": HANDLER_KEY},
    )
    reminder_offsets = models.JSONField(
        _("reminders, minutes before the start"),
        default=default_offsets,
        blank=True,
        help_text=_("For example 15 and 5: a reminder a quarter of an hour before, and another five minutes before."),
    )
    tell_conference_chat = models.BooleanField(
        _("write to the conference chat"),
        default=True,
        help_text=_("News and reminders go to the conference's own chat; subscribers get theirs in any case."),
    )
    recurring_frequency = models.CharField(
        _("recurring reminders"),
        max_length=16,
        choices=Frequency,
        default=Frequency.WEEKLY,
        help_text=_("For conferences with no end: how often they are expected to meet again."),
    )
    recurring_lead_minutes = models.PositiveIntegerField(
        _("recurring reminder, minutes before"),
        default=15,
        validators=[MaxValueValidator(MAX_OFFSET_MINUTES)],
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("conference bot settings")
        verbose_name_plural = _("conference bot settings")
        ordering = ["bot__name"]

    def __str__(self) -> str:
        return str(self.bot.name)

    def clean(self) -> None:
        super().clean()
        offsets = self.reminder_offsets
        if not isinstance(offsets, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= MAX_OFFSET_MINUTES for item in offsets
        ):
            raise ValidationError(
                {
                    "reminder_offsets": _("Give whole numbers of minutes from 0 to %(max)d.")
                    % {"max": MAX_OFFSET_MINUTES}
                }
            )
        self.reminder_offsets = sorted(set(offsets), reverse=True)


class Conference(models.Model):
    """A conference (a VoEx call) the bot takes part in, as the last conference event described it."""

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="conferences", verbose_name=_("bot"))
    call_id = models.UUIDField(_("call ID"))
    chat_id = models.UUIDField(_("conference chat"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    start_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    end_at = models.DateTimeField(_("ends at"), null=True, blank=True, help_text=_("Empty: a conference with no end."))
    link = models.CharField(_("link"), max_length=1000, blank=True)
    members = models.JSONField(_("members"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("conference")
        verbose_name_plural = _("conferences")
        ordering = ["start_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["bot", "call_id"], name="conference_unique_per_bot")]

    def __str__(self) -> str:
        return self.name or str(self.call_id)

    @property
    def is_open_ended(self) -> bool:
        return self.end_at is None

    def has_member(self, huid: uuid.UUID) -> bool:
        return str(huid) in {str(member) for member in self.members or []}


class ConferenceReminder(models.Model):
    """One reminder before one start of a conference.

    Status: ``pending`` → ``sent`` (its messages are in the outbox) or ``skipped`` (the conference had
    started when it came due, or the bot is not served); a change of the start makes it ``pending``
    again with a new ``due_at``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")

    conference = models.ForeignKey(Conference, models.CASCADE, related_name="reminders", verbose_name=_("conference"))
    offset_minutes = models.PositiveIntegerField(_("minutes before"))
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=8, choices=Status, default=Status.PENDING)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("conference reminder")
        verbose_name_plural = _("conference reminders")
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conference", "offset_minutes"], name="reminder_unique_offset"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sent", "skipped"]), name="reminder_status_known"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="reminder_due_idx")]

    def __str__(self) -> str:
        return f"{self.conference}: {self.offset_minutes} min before"


class ConferenceSchedule(models.Model):
    """Recurring reminders of a conference with no end; the beat task sends what is due and moves
    ``next_run`` on. Edited in the admin, read from the database on every tick: no restart needed."""

    conference = models.OneToOneField(Conference, models.CASCADE, related_name="schedule", verbose_name=_("conference"))
    frequency = models.CharField(_("frequency"), max_length=16, choices=Frequency, default=Frequency.WEEKLY)
    interval = models.PositiveSmallIntegerField(
        _("every"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(52)],
        help_text=_("1: every day or week; 2: every other one, and so on."),
    )
    lead_minutes = models.PositiveIntegerField(
        _("minutes before the meeting"), default=15, validators=[MaxValueValidator(MAX_OFFSET_MINUTES)]
    )
    next_run = models.DateTimeField(_("next reminder at"))
    enabled = models.BooleanField(_("enabled"), default=True)
    last_run_at = models.DateTimeField(_("last reminder at"), null=True, blank=True)
    runs = models.PositiveIntegerField(_("reminders sent"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("recurring reminder")
        verbose_name_plural = _("recurring reminders")
        ordering = ["next_run", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(frequency__in=["daily", "weekdays", "weekly"]), name="schedule_frequency_known"
            ),
            models.CheckConstraint(condition=models.Q(interval__gte=1), name="schedule_interval_positive"),
        ]
        indexes = [models.Index(fields=["enabled", "next_run"], name="schedule_due_idx")]

    def __str__(self) -> str:
        return f"{self.conference}: {self.get_frequency_display()}"

    @property
    def meeting_at(self) -> dt.datetime:
        """The start the next reminder is about."""
        return self.next_run + dt.timedelta(minutes=self.lead_minutes)


class ConferenceSubscription(models.Model):
    """A user who asked (``/subscribe``) to be reminded, in the chat they asked from, of the
    conferences they are a member of."""

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="conference_subscriptions", verbose_name=_("bot"))
    user_huid = models.UUIDField(_("user HUID"))
    chat_id = models.UUIDField(_("chat"))
    language = models.CharField(_("language"), max_length=8, blank=True)
    created_at = models.DateTimeField(_("subscribed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("conference subscription")
        verbose_name_plural = _("conference subscriptions")
        ordering = ["-created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "user_huid", "chat_id"], name="subscription_unique_per_chat")
        ]

    def __str__(self) -> str:
        return f"{self.user_huid} @ {self.chat_id}"
