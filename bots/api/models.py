"""The REST API's own rows: tokens, messages waiting for their time, broadcasts and their recipients.

Everything the API sends still goes through the outbox (``OutboundMessage``); these rows only say who
asked, when it is due, and which outbox row answered which recipient.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.models import Bot, Capability, OutboundMessage


class Scope(models.TextChoices):
    """What a token may do. Each scope also needs the owner's role on the bot (``SCOPE_CAPABILITY``)."""

    BOTS_READ = "bots:read", _("list bots and their state")
    MESSAGES_SEND = "messages:send", _("send messages")
    MESSAGES_READ = "messages:read", _("read the delivery status of messages")
    BROADCASTS_WRITE = "broadcasts:write", _("start and cancel broadcasts")
    BROADCASTS_READ = "broadcasts:read", _("follow broadcasts")
    LEDGER_READ = "ledger:read", _("query and export the message ledger")


SCOPE_CAPABILITY: dict[str, str] = {
    Scope.BOTS_READ: Capability.READ_HISTORY,
    Scope.MESSAGES_SEND: Capability.OPERATE,
    Scope.MESSAGES_READ: Capability.READ_HISTORY,
    Scope.BROADCASTS_WRITE: Capability.OPERATE,
    Scope.BROADCASTS_READ: Capability.READ_HISTORY,
    Scope.LEDGER_READ: Capability.READ_HISTORY,
}

RATE_RE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)\Z")


def validate_rate(value: str) -> None:
    if value and not RATE_RE.match(value):
        raise ValidationError(_("Write a rate as a number, a slash and a period, such as 120/min or 10/s."))


def validate_scopes(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s in Scope.values for s in value):
        raise ValidationError(_("Choose scopes from: %(scopes)s."), params={"scopes": ", ".join(Scope.values)})


class ApiToken(models.Model):
    """A key a corporate system uses to call the API on behalf of its owner.

    The token itself is shown once, when it is made; only its SHA-256 is stored, with a short prefix
    (part of the token) to find the row and to tell tokens apart in lists. A token acts on the bots its
    owner may act on (by their role on each bot), narrowed to ``bots`` unless ``all_bots`` is set, and
    only for its ``scopes``. Revoking it is final.
    """

    name = models.CharField(_("name"), max_length=128, help_text=_("Who uses it, e.g. the HR system."))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens", verbose_name=_("owner")
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    token_hash = models.CharField(_("token SHA-256"), max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, validators=[validate_scopes])
    all_bots = models.BooleanField(
        _("all bots of the owner"), default=False, help_text=_("Every bot the owner's roles allow, now and later.")
    )
    bots = models.ManyToManyField(Bot, blank=True, related_name="api_tokens", verbose_name=_("bots"))
    rate_limit = models.CharField(
        _("rate limit"),
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text=_("Requests per period, such as 600/min; empty: the portal's default (API_RATE_LIMIT)."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        """How the token is shown anywhere after it was made: its prefix, the rest hidden."""
        return f"{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def actor(self) -> str:
        return f"api: {self.name} ({self.prefix})"


class ScheduledMessage(models.Model):
    """A message asked for at a given time; at ``send_at`` it becomes an outbox row.

    It waits here rather than in the outbox because an outbox row keeps every later message to its
    chat waiting behind it (per-chat order), which a message due tomorrow must not do.

    Status transitions: ``scheduled`` → ``enqueued`` (the outbox row is ``message``) | ``cancelled`` |
    ``failed`` (the bot could no longer send it; ``error`` says why).
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("waiting for its time")
        ENQUEUED = "enqueued", _("put in the outbox")
        CANCELLED = "cancelled", _("cancelled")
        FAILED = "failed", _("failed")

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="scheduled_messages", verbose_name=_("bot"))
    token = models.ForeignKey(
        ApiToken, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("API token")
    )
    correlation_id = models.UUIDField(_("correlation ID"), default=uuid.uuid4, db_index=True)
    method = models.CharField(_("method"), max_length=32, default="notification")
    chat_id = models.UUIDField(_("chat ID"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    send_at = models.DateTimeField(_("send at"))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.SCHEDULED)
    message = models.ForeignKey(
        OutboundMessage, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("outbound message")
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    enqueued_at = models.DateTimeField(_("enqueued at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled message")
        verbose_name_plural = _("scheduled messages")
        ordering = ["send_at", "id"]
        indexes = [models.Index(fields=["status", "send_at"], name="api_scheduled_due_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.send_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class Broadcast(models.Model):
    """One message sent to many chats, or to many users in one chat, each its own outbox row.

    Status transitions: ``scheduled`` (``send_at`` in the future) → ``queued`` → ``running`` (outbox
    rows are being made, in batches) → ``enqueued`` (every recipient has its row; the progress is the
    rows' statuses) ; ``scheduled`` | ``queued`` | ``running`` → ``cancelled`` (recipients without a
    row get none).
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("waiting for its time")
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("putting messages in the outbox")
        ENQUEUED = "enqueued", _("every message is in the outbox")
        CANCELLED = "cancelled", _("cancelled")

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="broadcasts", verbose_name=_("bot"))
    token = models.ForeignKey(
        ApiToken, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("API token")
    )
    name = models.CharField(_("name"), max_length=128, blank=True)
    correlation_id = models.UUIDField(_("correlation ID"), default=uuid.uuid4, db_index=True)
    payload = models.JSONField(_("message"), help_text=_("The message fields, without the chat and recipients."))
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("recipients"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    enqueued_at = models.DateTimeField(_("all enqueued at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "send_at"], name="api_broadcast_due_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} ({self.get_status_display()})"


class BroadcastRecipient(models.Model):
    """One recipient of a broadcast: a chat, or a user in the broadcast's chat.

    Its status is its outbox row's once it has one (``message``; ``enqueued`` here); before that
    ``queued``, and ``cancelled`` or ``failed`` if it never gets one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        ENQUEUED = "enqueued", _("put in the outbox")
        CANCELLED = "cancelled", _("cancelled")
        FAILED = "failed", _("failed")

    broadcast = models.ForeignKey(Broadcast, models.CASCADE, related_name="recipients", verbose_name=_("broadcast"))
    chat_id = models.UUIDField(_("chat ID"))
    user_huid = models.UUIDField(_("user HUID"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    message = models.ForeignKey(
        OutboundMessage, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("outbound message")
    )
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("broadcast recipient")
        verbose_name_plural = _("broadcast recipients")
        ordering = ["broadcast", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "chat_id"], condition=Q(user_huid__isnull=True), name="api_recipient_chat_once"
            ),
            models.UniqueConstraint(
                fields=["broadcast", "chat_id", "user_huid"],
                condition=Q(user_huid__isnull=False),
                name="api_recipient_user_once",
            ),
        ]
        indexes = [
            models.Index(fields=["broadcast", "id"], name="api_recipient_todo_idx", condition=Q(message__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.user_huid or ''}".strip()
