"""The message ledger: every request BotX made to the portal, everything the bots sent, every callback.

All rows of one conversation turn share a ``correlation_id``: the inbound command, the outbox rows its
handler created, their delivery attempts and the callbacks BotX sent back for them.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.models.registry import Bot


class InboundEvent(models.Model):
    """One request BotX made to a bot's endpoint, stored raw before anything else is done with it.

    Status transitions (``/command``): ``received`` → ``done`` | ``failed`` | ``refused`` | ``unhandled``;
    a request that is not accepted (bad token, bad body, disabled or unknown bot) is stored as
    ``rejected`` with the answer it got. The synchronous endpoints (``/status``, ``/smartapps/request``,
    ``/notification/callback``) are stored as ``answered`` or ``rejected``.
    """

    class Endpoint(models.TextChoices):
        COMMAND = "command", "/command"
        STATUS = "status", "/status"
        CALLBACK = "callback", "/notification/callback"
        SMARTAPP = "smartapp", "/smartapps/request"

    class Status(models.TextChoices):
        RECEIVED = "received", _("received, waiting for a worker")
        DONE = "done", _("processed")
        FAILED = "failed", _("handler failed")
        REFUSED = "refused", _("refused by permissions")
        UNHANDLED = "unhandled", _("stored, not handled")
        REJECTED = "rejected", _("rejected")
        ANSWERED = "answered", _("answered")

    class Verification(models.TextChoices):
        VERIFIED = "verified", _("token verified")
        FAILED = "failed", _("token refused")
        ABSENT = "absent", _("no token (allowed)")
        NOT_CHECKED = "not_checked", _("not checked")

    correlation_id = models.UUIDField(_("correlation ID"), default=uuid.uuid4, db_index=True)
    # No index of its own: inbound_bot_time_idx and inbound_command_once begin with the bot (every index is
    # one more write for each of the thousands of requests a minute).
    bot = models.ForeignKey(
        Bot,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_events",
        verbose_name=_("bot"),
        db_index=False,
    )
    # Searched for a part of it, which no b-tree index serves.
    bot_ref = models.CharField(_("bot ID as received"), max_length=64, blank=True)
    endpoint = models.CharField(_("endpoint"), max_length=16, choices=Endpoint)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    raw_body = models.TextField(_("raw body"), blank=True)
    sync_id = models.UUIDField(_("sync ID"), null=True, blank=True, db_index=True)
    verification = models.CharField(
        _("verification"), max_length=16, choices=Verification, default=Verification.NOT_CHECKED
    )
    http_status = models.PositiveSmallIntegerField(_("HTTP status of the answer"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    chat_id = models.UUIDField(_("chat ID"), null=True, blank=True)
    user_huid = models.UUIDField(_("user HUID"), null=True, blank=True)
    text = models.CharField(_("command or text"), max_length=255, blank=True)
    duplicates = models.PositiveIntegerField(_("repeated deliveries"), default=0)
    attempts = models.PositiveSmallIntegerField(_("processing attempts"), default=0)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("processing started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("processing finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound request")
        verbose_name_plural = _("inbound requests")
        ordering = ["-received_at", "-id"]
        constraints = [
            # BotX may deliver one command twice; it is processed once. A rejected (say, forged) request
            # must not occupy the sync ID of the genuine one.
            models.UniqueConstraint(
                fields=["bot", "sync_id"],
                condition=Q(endpoint="command") & ~Q(status="rejected"),
                name="inbound_command_once",
            ),
        ]
        indexes = [
            models.Index(fields=["bot", "received_at"], name="inbound_bot_time_idx"),
            # Not of the commands waiting for a drain: those are inbound_queue_idx's alone. With both, a
            # claim could be planned on this one from statistics that say few commands wait (taken before a
            # burst), and then read and sort the whole backlog for each batch of 50 it claims.
            models.Index(
                fields=["status", "received_at"], name="inbound_outcome_time_idx", condition=~Q(status="received")
            ),
            models.Index(fields=["chat_id", "received_at"], name="inbound_chat_time_idx"),
            models.Index(fields=["user_huid", "received_at"], name="inbound_user_time_idx"),
            # The commands waiting for a drain, in the order it claims them: a claim reads these few
            # entries, not every command ever stored.
            models.Index(fields=["id"], name="inbound_queue_idx", condition=Q(status="received", endpoint="command")),
        ]

    def __str__(self) -> str:
        return f"{self.get_endpoint_display()} {self.sync_id or ''} ({self.get_status_display()})"


class OutboundMessage(models.Model):
    """Something a bot sends to BotX: a row first, delivered by a Celery worker.

    Status transitions: ``pending`` → ``sending`` (claimed by one worker) → ``sent`` (BotX accepted it
    and a callback will follow) → ``delivered`` | ``failed``; ``sending`` → ``delivered`` for methods
    without a callback; ``sending`` → ``pending`` after a transient error (retried at
    ``next_attempt_at``), → ``failed`` after a permanent one or when the retry budget is spent, →
    ``unknown`` when the request may have reached BotX but no answer came (never resent blindly: an
    operator decides). An operator may cancel a pending message or send an unknown one again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        SENDING = "sending", _("being sent")
        SENT = "sent", _("accepted by BotX, waiting for the callback")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown: may have reached BotX")
        CANCELLED = "cancelled", _("cancelled")

    OPEN_STATUSES = (Status.PENDING, Status.SENDING)

    correlation_id = models.UUIDField(_("correlation ID"), default=uuid.uuid4, db_index=True)
    # No index of its own: outbound_bot_time_idx begins with the bot.
    bot = models.ForeignKey(
        Bot, models.SET_NULL, null=True, related_name="outbound_messages", verbose_name=_("bot"), db_index=False
    )
    inbound = models.ForeignKey(
        InboundEvent,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_messages",
        verbose_name=_("in answer to"),
    )
    method = models.CharField(_("method"), max_length=32)
    chat_id = models.UUIDField(_("chat ID"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    text = models.CharField(_("text"), max_length=255, blank=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    sync_id = models.UUIDField(_("sync ID"), null=True, blank=True)  # outbound_sync_idx
    result = models.JSONField(_("BotX result"), null=True, blank=True)
    error_kind = models.CharField(_("error kind"), max_length=16, blank=True)
    error_reason = models.CharField(_("error reason"), max_length=128, blank=True)
    error_detail = models.TextField(_("error detail"), blank=True)
    error_data = models.JSONField(_("error data"), default=dict, blank=True)
    delivery_status = models.JSONField(_("message status"), null=True, blank=True)
    delivery_status_at = models.DateTimeField(_("message status fetched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["bot", "chat_id", "id"],
                name="outbound_chat_order_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due_idx"),
            models.Index(fields=["bot", "created_at"], name="outbound_bot_time_idx"),
            models.Index(fields=["chat_id", "created_at"], name="outbound_chat_time_idx"),
            # A callback's message, by sync ID and bot in one index: with an index on each, PostgreSQL
            # may combine them and read every message of the bot for each callback.
            models.Index(fields=["sync_id", "bot"], name="outbound_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} #{self.pk} ({self.get_status_display()})"


class MessageEvent(models.Model):
    """One step in an outbound message's life: the status history shown on its page."""

    message = models.ForeignKey(OutboundMessage, models.CASCADE, related_name="events", verbose_name=_("message"))
    at = models.DateTimeField(_("time"), default=timezone.now)
    status = models.CharField(_("status"), max_length=16, choices=OutboundMessage.Status)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status history")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status}"


class DeliveryAttempt(models.Model):
    """One HTTP call to BotX for an outbound message, with what was sent and what came back (no secrets)."""

    class Outcome(models.TextChoices):
        OK = "ok", _("accepted")
        TRANSIENT = "transient", _("transient error")
        PERMANENT = "permanent", _("permanent error")
        AMBIGUOUS = "ambiguous", _("no answer after sending")

    message = models.ForeignKey(OutboundMessage, models.CASCADE, related_name="attempts_log", verbose_name=_("message"))
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    http_method = models.CharField(_("HTTP method"), max_length=8)
    path = models.CharField(_("path"), max_length=255)
    request_body = models.JSONField(_("request body"), null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["message", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome} {self.status_code or ''}"


class CallbackReceipt(models.Model):
    """A BotX callback (``/notification/callback``) and the outbound message it was matched to.

    A callback may arrive before the worker has stored the sync ID that the send returned; it is kept
    unmatched and matched as soon as the sync ID is known.
    """

    inbound = models.OneToOneField(InboundEvent, models.CASCADE, related_name="callback", verbose_name=_("request"))
    bot = models.ForeignKey(Bot, models.SET_NULL, null=True, related_name="callbacks", verbose_name=_("bot"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    sync_id = models.UUIDField(_("sync ID"))  # callback_sync_idx
    ok = models.BooleanField(_("ok"))
    reason = models.CharField(_("reason"), max_length=128, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_data = models.JSONField(_("error data"), default=dict, blank=True)
    message = models.ForeignKey(
        OutboundMessage,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="callbacks",
        verbose_name=_("message"),
    )
    matched_at = models.DateTimeField(_("matched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback")
        verbose_name_plural = _("callbacks")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["sync_id"], name="callback_unmatched_idx", condition=Q(message__isnull=True)),
            # As outbound_sync_idx: the early callbacks of a send, by sync ID and bot in one index.
            models.Index(fields=["sync_id", "bot"], name="callback_sync_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.sync_id} {'ok' if self.ok else self.reason}"


class SendSlot(models.Model):
    """The next moment a bot may send, shared by every worker: the per-bot rate limit."""

    bot = models.OneToOneField(Bot, models.CASCADE, primary_key=True, related_name="send_slot")
    next_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("send slot")
        verbose_name_plural = _("send slots")

    def __str__(self) -> str:
        return f"{self.bot_id}: {self.next_at}"
