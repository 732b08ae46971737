"""How one sandbox CTS misbehaves, and where it finds the bots: one row per CtsServer.

A sandbox CTS without a row behaves like a healthy BotX and posts to the portal's own ``/botx/``.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.models import CtsServer

_RATE = [MinValueValidator(0.0), MaxValueValidator(1.0)]


def _rate_between_0_and_1(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": 0.0}) & models.Q(**{f"{field}__lte": 1.0}),
        name=f"sandbox_faults_{field}_0_1",
    )


class SandboxFaults(models.Model):
    """Fault injection and bot addresses of one sandbox CTS.

    Each fault is drawn independently per request with its rate (0 never, 1 always): an injected 5xx
    or 429 is answered before the request is processed (nothing happened, as the client's "transient"
    assumes); a "timeout after receiving" processes the request and then holds the answer for
    ``timeout_hold_ms`` (the client's "ambiguous" case).
    """

    class CallbackJwt(models.TextChoices):
        V2 = "v2", _("v2: iss = bot ID, aud = CTS host")
        V1 = "v1", _("v1: iss = CTS host, aud = [bot ID]")
        NONE = "none", _("No token")

    cts = models.OneToOneField(CtsServer, models.CASCADE, related_name="sandbox_faults", verbose_name=_("CTS server"))
    latency_ms = models.PositiveIntegerField(_("added latency, ms"), default=0)
    error_rate = models.FloatField(_("rate of 5xx answers"), default=0.0, validators=_RATE)
    throttle_rate = models.FloatField(_("rate of 429 answers"), default=0.0, validators=_RATE)
    retry_after_seconds = models.PositiveIntegerField(_("Retry-After of 429 answers, seconds"), default=1)
    timeout_rate = models.FloatField(
        _("rate of timeouts after receiving"),
        default=0.0,
        validators=_RATE,
        help_text=_("The request is processed, then the answer is held past the client's timeout."),
    )
    timeout_hold_ms = models.PositiveIntegerField(
        _("answer held for, ms"),
        default=15_000,
        help_text=_("How long a timed-out answer is held; longer than the client's timeout."),
    )
    callback_drop_rate = models.FloatField(_("rate of dropped callbacks"), default=0.0, validators=_RATE)
    callback_delay_ms = models.PositiveIntegerField(_("callback delay, ms"), default=0)
    bot_base_url = models.URLField(
        _("bot base URL"),
        max_length=500,
        blank=True,
        help_text=_(
            "Where callbacks and user events are posted; {bot_id} is replaced by the bot ID. "
            "Empty: this portal's own /botx/<bot ID>/ at the host the bot called."
        ),
    )
    callback_jwt = models.CharField(
        _("token on callbacks and events"), max_length=4, choices=CallbackJwt, default=CallbackJwt.V2
    )
    allow_chat_creating = models.BooleanField(
        _("bots may create chats"), default=True, help_text=_("The bot property allow_chat_creating of BotX.")
    )
    token_lifetime_seconds = models.PositiveIntegerField(
        _("token lifetime, seconds"),
        default=0,
        help_text=_("How long a token from the token endpoint is accepted; 0: until the sandbox is reset."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox fault settings")
        verbose_name_plural = _("sandbox fault settings")
        ordering = ["cts__name"]
        constraints = [
            _rate_between_0_and_1("error_rate"),
            _rate_between_0_and_1("throttle_rate"),
            _rate_between_0_and_1("timeout_rate"),
            _rate_between_0_and_1("callback_drop_rate"),
            models.CheckConstraint(
                condition=models.Q(callback_jwt__in=["v2", "v1", "none"]), name="sandbox_faults_callback_jwt_known"
            ),
        ]

    def __str__(self) -> str:
        return str(self.cts)
