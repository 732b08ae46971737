"""The registry: CTS servers, bots, Smart Apps.

Secret keys are stored encrypted (``bots.crypto``); pages, commands and logs see only their last
four characters. During a rotation the previous key stays valid until ``previous_secret_expires_at``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots import crypto
from bots.handlers.registry import handler_exists
from bots.models.audit import Audited


def cts_host(base_url: str) -> str:
    """The host part of a CTS base URL: what BotX puts in ``from.host`` and in JWT claims."""
    return (urlsplit(base_url).hostname or "").lower()


class Timestamped(Audited):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class CtsServer(Timestamped):
    """A CTS (corporate transport server) whose BotX the bots talk to."""

    class AuthMode(models.TextChoices):
        TOKEN = "v1", _("v1: token from the token endpoint")
        JWT = "v2", _("v2: self-signed JWT per request")

    name = models.SlugField(_("name"), max_length=64, unique=True)
    base_url = models.URLField(_("base URL"), max_length=500, help_text=_("For example https://cts.example.com"))
    host = models.CharField(_("host"), max_length=255, editable=False, help_text=_("Derived from the base URL."))
    verify_tls = models.BooleanField(_("verify TLS certificates"), default=True)
    auth_mode = models.CharField(_("outbound auth"), max_length=2, choices=AuthMode, default=AuthMode.JWT)
    trusted_issuers = models.JSONField(
        _("trusted JWT issuers"),
        default=list,
        blank=True,
        help_text=_("Other CTS hosts whose tokens are accepted (federated servers)."),
    )

    class Meta:
        verbose_name = _("CTS server")
        verbose_name_plural = _("CTS servers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if not cts_host(self.base_url):
            raise ValidationError({"base_url": _("The URL has no host name.")})
        issuers = self.trusted_issuers
        if not isinstance(issuers, list) or not all(isinstance(i, str) and i.strip() for i in issuers):
            raise ValidationError({"trusted_issuers": _("Give a list of host names.")})

    def save(self, *args: object, **kwargs: object) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.host = cts_host(self.base_url)
        self.trusted_issuers = sorted({i.strip().lower() for i in self.trusted_issuers or []})
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def validate_handler_key(value: str) -> None:
    if not handler_exists(value):
        raise ValidationError(_("No handler code with the key %(key)s."), params={"key": value}, code="no_handler")


class Bot(Timestamped):
    """A bot account on a CTS, served by the portal.

    A Smart App is a bot whose ``kind`` is ``smartapp``; its front-end settings live in SmartApp.
    """

    SUPPORTED_PROTOCOL = 4

    class Kind(models.TextChoices):
        CHATBOT = "chatbot", _("Chat bot")
        SMARTAPP = "smartapp", _("Smart App")

    class ProtocolVersion(models.IntegerChoices):
        V3 = 3, _("3 (not served: every request is answered bot_disabled)")
        V4 = 4, "4"

    class AllowedData(models.TextChoices):
        ALL = "all", _("All messages in the chat")
        COMMANDS = "commands", _("Commands only")
        NONE = "none", _("Nothing")

    class JwtPolicy(models.TextChoices):
        REQUIRED = "required", _("Required on every request")
        WHEN_PRESENT = "when_present", _("Checked when present")

    bot_id = models.UUIDField(_("bot ID"))
    cts = models.ForeignKey(CtsServer, models.PROTECT, related_name="bots", verbose_name=_("CTS server"))
    app_id = models.SlugField(_("app ID"), max_length=128, blank=True)
    name = models.CharField(_("name"), max_length=128)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.CHATBOT)
    handler = models.CharField(
        _("handler"),
        max_length=64,
        validators=[validate_handler_key],
        help_text=_("The handler code in the repository that serves this bot."),
    )
    protocol_version = models.PositiveSmallIntegerField(
        _("BotX protocol version"), choices=ProtocolVersion, default=ProtocolVersion.V4
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    status_message = models.CharField(
        _("status message"), max_length=255, blank=True, help_text=_("What users see while the bot is off.")
    )
    allowed_data = models.CharField(
        _("allowed data"),
        max_length=16,
        choices=AllowedData,
        default=AllowedData.COMMANDS,
        help_text=_("As set for the bot on the CTS."),
    )
    rate_limit = models.PositiveIntegerField(
        _("rate limit, messages per second"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Shared by every worker."),
    )
    retention_days = models.PositiveIntegerField(
        _("keep history, days"),
        default=90,
        validators=[MinValueValidator(1)],
        help_text=_("Requests and messages older than this are purged."),
    )
    jwt_policy = models.CharField(_("incoming JWT"), max_length=16, choices=JwtPolicy, default=JwtPolicy.REQUIRED)

    secret_key_ciphertext = models.TextField(editable=False)
    secret_key_last4 = models.CharField(_("secret key"), max_length=4, editable=False, blank=True)
    previous_secret_ciphertext = models.TextField(editable=False, blank=True)
    previous_secret_last4 = models.CharField(_("previous secret key"), max_length=4, editable=False, blank=True)
    previous_secret_expires_at = models.DateTimeField(
        _("previous key valid until"), null=True, blank=True, editable=False
    )

    # Fields the change history records as "changed", never with their values.
    SECRET_FIELDS: ClassVar[dict[str, str]] = {
        "secret_key_ciphertext": "secret_key",
        "previous_secret_ciphertext": "previous_secret_key",
    }
    AUDIT_IGNORED_FIELDS: ClassVar[set[str]] = {"secret_key_last4", "previous_secret_last4"}
    # Plain fields that a bots-as-code file sets and an export shows, in that order.
    DECLARED_FIELDS: ClassVar[tuple[str, ...]] = (
        "app_id",
        "name",
        "description",
        "kind",
        "handler",
        "protocol_version",
        "enabled",
        "status_message",
        "allowed_data",
        "jwt_policy",
        "rate_limit",
        "retention_days",
    )

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["name", "bot_id"]
        constraints = [
            models.UniqueConstraint(fields=["cts", "bot_id"], name="bot_unique_per_cts"),
            models.CheckConstraint(condition=models.Q(protocol_version__in=[3, 4]), name="bot_protocol_known"),
            models.CheckConstraint(condition=models.Q(kind__in=["chatbot", "smartapp"]), name="bot_kind_known"),
            models.CheckConstraint(
                condition=models.Q(allowed_data__in=["all", "commands", "none"]),
                name="bot_allowed_data_known",
            ),
            models.CheckConstraint(condition=~models.Q(secret_key_ciphertext=""), name="bot_has_secret"),
        ]
        indexes = [models.Index(fields=["bot_id"], name="bot_bot_id_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.bot_id})"

    # --- secrets -------------------------------------------------------------------------------------

    @property
    def secret_key(self) -> str:
        return crypto.decrypt(self.secret_key_ciphertext)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        validate_secret(value)
        self.secret_key_ciphertext = crypto.encrypt(value)
        self.secret_key_last4 = crypto.last_four(value)

    @property
    def secret_masked(self) -> str:
        return crypto.masked(self.secret_key_last4)

    def valid_secrets(self, now: dt.datetime | None = None) -> list[str]:
        """The keys an incoming JWT may be signed with: the current one, and the previous one until
        its grace expiry."""
        now = now or timezone.now()
        keys = [self.secret_key]
        if (
            self.previous_secret_ciphertext
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            keys.append(crypto.decrypt(self.previous_secret_ciphertext))
        return keys

    # --- state ---------------------------------------------------------------------------------------

    @property
    def is_served(self) -> bool:
        """Whether requests for this bot reach its handler (otherwise: 503 bot_disabled)."""
        return self.enabled and self.protocol_version == self.SUPPORTED_PROTOCOL and handler_exists(self.handler)

    def clean(self) -> None:
        super().clean()
        if self.kind != self.Kind.SMARTAPP and hasattr(self, "smartapp") and self.pk:
            raise ValidationError({"kind": _("This bot has Smart App settings; delete them first.")})


_SECRET_RE = re.compile(r"\S{8,256}")


def validate_secret(value: str) -> None:
    if not isinstance(value, str) or not _SECRET_RE.fullmatch(value):
        raise ValidationError(_("A secret key is 8 to 256 characters without spaces."), code="bad_secret")


semver_validator = RegexValidator(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?\Z", _("Use a version such as 1.2.0."))


def bundle_upload_to(instance: SmartApp, filename: str) -> str:
    return f"smartapps/{instance.bot.bot_id}/bundle-{instance.app_version}.zip"


class SmartApp(Timestamped):
    """Front-end settings of a Smart App bot: its manifest and its static bundle."""

    class WebLayout(models.TextChoices):
        MINIMAL = "minimal", _("Minimal")
        HALF = "half", _("Half")
        FULL = "full", _("Full")

    bot = models.OneToOneField(
        Bot,
        models.CASCADE,
        related_name="smartapp",
        verbose_name=_("bot"),
        limit_choices_to={"kind": Bot.Kind.SMARTAPP},
    )
    app_version = models.CharField(_("app version"), max_length=64, default="1.0.0", validators=[semver_validator])
    changelog = models.TextField(_("change log"), blank=True, help_text=_("Shown to users on update."))
    ios_fullscreen_layout = models.BooleanField(_("iOS: full screen"), default=False)
    android_fullscreen_layout = models.BooleanField(_("Android: full screen"), default=False)
    aurora_fullscreen_layout = models.BooleanField(_("Aurora: full screen"), default=False)
    web_default_layout = models.CharField(
        _("web: default layout"), max_length=8, choices=WebLayout, default=WebLayout.MINIMAL
    )
    web_expanded_layout = models.CharField(
        _("web: expanded layout"), max_length=8, choices=WebLayout, default=WebLayout.HALF
    )
    always_pinned = models.BooleanField(_("always pinned"), default=False)
    store_on_close = models.BooleanField(_("keep in memory when closed"), default=False)
    preload_in_background = models.BooleanField(_("preload in background"), default=False)
    link_regex = models.CharField(
        _("link pattern"),
        max_length=500,
        blank=True,
        help_text=_("Links matching it open in this Smart App."),
    )
    unread_counter_user_huids = models.JSONField(_("unread counters: users"), default=list, blank=True)
    unread_counter_chat_ids = models.JSONField(_("unread counters: chats"), default=list, blank=True)
    unread_counter_app_ids = models.JSONField(_("unread counters: Smart Apps"), default=list, blank=True)
    # Plain fields that a bots-as-code file sets and an export shows.
    DECLARED_FIELDS: ClassVar[tuple[str, ...]] = (
        "app_version",
        "changelog",
        "ios_fullscreen_layout",
        "android_fullscreen_layout",
        "aurora_fullscreen_layout",
        "web_default_layout",
        "web_expanded_layout",
        "always_pinned",
        "store_on_close",
        "preload_in_background",
        "link_regex",
        "unread_counter_user_huids",
        "unread_counter_chat_ids",
        "unread_counter_app_ids",
    )

    bundle = models.FileField(_("static bundle (zip)"), upload_to=bundle_upload_to, blank=True, max_length=300)
    bundle_sha256 = models.CharField(_("bundle SHA-256"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("Smart App")
        verbose_name_plural = _("Smart Apps")
        ordering = ["bot__name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(web_default_layout__in=["minimal", "half", "full"])
                & models.Q(web_expanded_layout__in=["minimal", "half", "full"]),
                name="smartapp_layouts_known",
            )
        ]

    def __str__(self) -> str:
        return str(self.bot.name)

    def clean(self) -> None:
        super().clean()
        errors: dict[str, object] = {}
        if self.bot_id is not None and self.bot.kind != Bot.Kind.SMARTAPP:
            errors["bot"] = _("Only a bot of the Smart App kind can have Smart App settings.")
        if self.link_regex:
            try:
                re.compile(self.link_regex)
            except re.error as exc:
                errors["link_regex"] = _("Not a valid regular expression: %(error)s") % {"error": exc}
        for field in ("unread_counter_user_huids", "unread_counter_chat_ids"):
            if not _is_uuid_list(getattr(self, field)):
                errors[field] = _("Give a list of UUIDs.")
        if not isinstance(self.unread_counter_app_ids, list) or not all(
            isinstance(item, str) and item for item in self.unread_counter_app_ids
        ):
            errors["unread_counter_app_ids"] = _("Give a list of app IDs.")
        if errors:
            raise ValidationError(errors)


def _is_uuid_list(value: object) -> bool:
    if not isinstance(value, list):
        return False
    try:
        for item in value:
            uuid.UUID(str(item))
    except ValueError:
        return False
    return True
