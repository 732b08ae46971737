"""The recordings notifier's data: the call-recording systems allowed to post, the personal chats it
knows, and the log of every webhook request, accepted or not."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.integrations.models.base import WithSecret
from bots.models import Bot

HANDLER_KEY = "recordings"


class RecordingIntegration(WithSecret):
    """A call-recording system that posts to ``/integrations/recordings/<id>/``, signing with its secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bot = models.ForeignKey(
        Bot,
        models.CASCADE,
        related_name="recording_integrations",
        verbose_name=_("bot"),
        limit_choices_to={"handler": HANDLER_KEY},
    )
    name = models.CharField(_("name"), max_length=128)
    enabled = models.BooleanField(_("enabled"), default=True)
    default_chat_id = models.UUIDField(
        _("default chat"),
        null=True,
        blank=True,
        help_text=_("Told of recordings whose notice names neither a chat nor participants."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("recording system")
        verbose_name_plural = _("recording systems")
        ordering = ["name", "pk"]
        constraints = [models.CheckConstraint(condition=~models.Q(secret_ciphertext=""), name="recording_has_secret")]

    def __str__(self) -> str:
        return self.name


class RecordingContact(models.Model):
    """A user's personal chat with the recordings bot, learnt when they wrote to it there."""

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="recording_contacts", verbose_name=_("bot"))
    user_huid = models.UUIDField(_("user HUID"))
    chat_id = models.UUIDField(_("personal chat"))
    language = models.CharField(_("language"), max_length=8, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("recording contact")
        verbose_name_plural = _("recording contacts")
        ordering = ["-updated_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["bot", "user_huid"], name="recording_contact_unique")]

    def __str__(self) -> str:
        return str(self.user_huid)


class WebhookRequest(models.Model):
    """One request to a recordings webhook with the answer it got. Append-only.

    ``signature`` of an accepted request is unique per integration: the same signed request posted
    again is a replay and refused. ``recording_id`` of an accepted request is unique too: a new
    request about a recording already told of is answered ``duplicate`` and sends nothing.
    """

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DUPLICATE = "duplicate", _("Duplicate")
        REJECTED = "rejected", _("Rejected")

    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    integration = models.ForeignKey(
        RecordingIntegration,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="requests",
        verbose_name=_("recording system"),
    )
    # Kept apart from the integration so that the log stays readable to the bot's roles after the
    # integration is deleted.
    bot = models.ForeignKey(
        Bot, models.SET_NULL, null=True, blank=True, related_name="webhook_requests", verbose_name=_("bot")
    )
    integration_ref = models.CharField(_("integration in the URL"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"))
    error = models.CharField(_("error"), max_length=64, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    signature = models.CharField(_("signature"), max_length=100, blank=True)
    recording_id = models.CharField(_("recording ID"), max_length=128, blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    body_excerpt = models.TextField(_("body excerpt"), blank=True)
    body_size = models.PositiveIntegerField(_("body size, bytes"), default=0)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)

    class Meta:
        verbose_name = _("webhook request")
        verbose_name_plural = _("webhook requests")
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "signature"],
                condition=models.Q(status="accepted"),
                name="webhook_signature_used_once",
            ),
            # A recording system that retries after a lost answer signs anew: the recording's ID
            # keeps its participants from being told twice.
            models.UniqueConstraint(
                fields=["integration", "recording_id"],
                condition=models.Q(status="accepted"),
                name="webhook_recording_told_once",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["accepted", "duplicate", "rejected"]), name="webhook_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.http_status} {self.error or self.status}"
