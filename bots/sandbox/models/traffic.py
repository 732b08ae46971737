"""What passes between the sandbox and the bots: issued tokens, deliveries to bots, Smart App events."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.models import Bot


class SandboxToken(models.Model):
    """A token the sandbox's token endpoint issued. Only its SHA-256 is kept: the sandbox verifies
    tokens, it never needs to show one again. In the database, so every web process accepts it."""

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="sandbox_tokens", verbose_name=_("bot"))
    token_hash = models.CharField(_("token SHA-256"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox token")
        verbose_name_plural = _("sandbox tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.bot.bot_id} {self.created_at:%Y-%m-%d %H:%M:%S}"


class SandboxDelivery(models.Model):
    """A request the sandbox posts to a bot: an async-method callback or a ``/command`` event.

    Status: ``pending`` → ``sending`` (claimed by one worker) → ``delivered`` (2xx) or ``failed``
    (anything else, including no answer); ``dropped`` is decided when the row is made (fault
    injection) and is final. A user's message sent by ``sandbox_user_send`` is recorded straight as
    delivered or failed.
    """

    class Kind(models.TextChoices):
        CALLBACK = "callback", _("Callback")
        COMMAND = "command", _("Command")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        DROPPED = "dropped", _("Dropped")

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="sandbox_deliveries", verbose_name=_("bot"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind)
    sync_id = models.UUIDField(_("sync ID"), default=uuid.uuid4)
    url = models.URLField(_("URL"), max_length=1000)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    deliver_after = models.DateTimeField(_("not before"), default=timezone.now)
    response_status = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)
    response_body = models.TextField(_("answer"), blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox delivery")
        verbose_name_plural = _("sandbox deliveries")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["sync_id"], name="sandbox_delivery_sync_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sending", "delivered", "failed", "dropped"]),
                name="sandbox_delivery_status_known",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sync_id}"


class SandboxSmartAppEvent(models.Model):
    """What a Smart App bot sent towards its front-end: an event, a push, an unread counter."""

    class Kind(models.TextChoices):
        EVENT = "event", _("Event")
        NOTIFICATION = "notification", _("Notification")
        UNREAD_COUNTER = "unread_counter", _("Unread counter")

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="sandbox_smartapp_events", verbose_name=_("bot"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    group_chat_id = models.UUIDField(_("chat ID"), null=True, blank=True)
    sync_id = models.UUIDField(_("sync ID"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sandbox Smart App event")
        verbose_name_plural = _("sandbox Smart App events")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.group_chat_id}"
