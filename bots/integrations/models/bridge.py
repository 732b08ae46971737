"""The bridge's data: the external endpoint per bot, and the delivery log of every forwarded message."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.integrations.models.base import WithSecret
from bots.models import Bot, InboundEvent, OutboundMessage

HANDLER_KEY = "bridge"


class BridgeEndpoint(WithSecret):
    """Where a bridge bot forwards its users' messages, and how hard it tries."""

    bot = models.OneToOneField(
        Bot,
        models.CASCADE,
        related_name="bridge_endpoint",
        verbose_name=_("bot"),
        limit_choices_to={"handler": HANDLER_KEY},
    )
    url = models.URLField(_("URL"), max_length=1000, help_text=_("An HTTPS address that answers POST requests."))
    timeout_seconds = models.FloatField(
        _("timeout, seconds"), default=10.0, validators=[MinValueValidator(0.5), MaxValueValidator(60.0)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("attempts"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("How many times a message is tried before the user is told it failed."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("bridge endpoint")
        verbose_name_plural = _("bridge endpoints")
        ordering = ["bot__name"]
        constraints = [models.CheckConstraint(condition=~models.Q(secret_ciphertext=""), name="bridge_has_secret")]

    def __str__(self) -> str:
        return f"{self.bot.name} → {urlsplit(self.url).hostname or self.url}"

    def clean(self) -> None:
        super().clean()
        scheme = urlsplit(self.url or "").scheme.lower()
        if scheme != "https" and not (scheme == "http" and settings.BRIDGE_ALLOW_PLAIN_HTTP):
            raise ValidationError({"url": _("The endpoint must be an https:// address.")})


class BridgeCall(models.Model):
    """One user's message forwarded to the endpoint, and what came of it.

    Status: ``pending`` (due at ``next_attempt_at``) → ``sending`` (a worker holds it) → ``succeeded``
    (the answer, if any, is in the outbox) or back to ``pending`` for a retry, or ``failed`` (attempts
    spent, or an answer that retrying cannot fix; the user was told).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    request_id = models.UUIDField(_("request ID"), default=uuid.uuid4, unique=True, editable=False)
    bot = models.ForeignKey(Bot, models.CASCADE, related_name="bridge_calls", verbose_name=_("bot"))
    endpoint = models.ForeignKey(
        BridgeEndpoint, models.SET_NULL, null=True, blank=True, related_name="calls", verbose_name=_("endpoint")
    )
    inbound = models.ForeignKey(
        InboundEvent, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("request")
    )
    correlation_id = models.UUIDField(_("correlation ID"), default=uuid.uuid4, db_index=True)
    chat_id = models.UUIDField(_("chat"), null=True, blank=True)
    user_huid = models.UUIDField(_("user HUID"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    text = models.CharField(_("text"), max_length=255, blank=True)
    request = models.JSONField(_("request"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)
    response_excerpt = models.TextField(_("answer excerpt"), blank=True)
    error = models.TextField(_("error"), blank=True)
    reply = models.ForeignKey(
        OutboundMessage, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("reply")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bridge call")
        verbose_name_plural = _("bridge calls")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "sending", "succeeded", "failed"]),
                name="bridge_call_status_known",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="bridge_call_due_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.status}"


class BridgeAttempt(models.Model):
    """One HTTP request of a bridge call to its endpoint. Append-only."""

    call = models.ForeignKey(BridgeCall, models.CASCADE, related_name="attempt_log", verbose_name=_("bridge call"))
    number = models.PositiveSmallIntegerField(_("number"))
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    status_code = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16)
    error = models.TextField(_("error"), blank=True)
    response_excerpt = models.TextField(_("answer excerpt"), blank=True)

    class Meta:
        verbose_name = _("bridge attempt")
        verbose_name_plural = _("bridge attempts")
        ordering = ["call", "number"]

    def __str__(self) -> str:
        return f"#{self.call_id}.{self.number} {self.outcome}"
