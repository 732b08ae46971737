"""Who may manage a bot in the portal, and whom a bot serves in eXpress.

* ``BotRole``: a portal user or group gets a role on a bot (owner, operator, auditor).
* ``ChatRule``: a bot's chat allow-list and deny-list.
* ``CommandRule``: who may run one command of a bot.

Stored here; the traffic pipeline and the ``/status`` menu enforce the last two.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.models.audit import Audited
from bots.models.registry import Bot


class Capability(models.TextChoices):
    MANAGE = "manage", _("change configuration and secrets")
    OPERATE = "operate", _("send messages and retry deliveries")
    READ_HISTORY = "read_history", _("read message and change history")


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    OPERATOR = "operator", _("Operator")
    AUDITOR = "auditor", _("Auditor")


ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset({Capability.MANAGE, Capability.OPERATE, Capability.READ_HISTORY}),
    Role.OPERATOR: frozenset({Capability.OPERATE, Capability.READ_HISTORY}),
    Role.AUDITOR: frozenset({Capability.READ_HISTORY}),
}


def roles_with(capability: str) -> list[str]:
    return [role for role, caps in ROLE_CAPABILITIES.items() if capability in caps]


class BotRole(Audited):
    """A role on one bot, given to one portal user or to one group (exactly one of the two)."""

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="roles", verbose_name=_("bot"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="bot_roles",
        verbose_name=_("user"),
    )
    group = models.ForeignKey(
        Group, models.CASCADE, null=True, blank=True, related_name="bot_roles", verbose_name=_("group")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False) & models.Q(group__isnull=True))
                | (models.Q(user__isnull=True) & models.Q(group__isnull=False)),
                name="botrole_user_xor_group",
            ),
            models.CheckConstraint(condition=models.Q(role__in=list(Role.values)), name="botrole_role_known"),
            models.UniqueConstraint(
                fields=["bot", "user"], condition=models.Q(user__isnull=False), name="botrole_unique_user"
            ),
            models.UniqueConstraint(
                fields=["bot", "group"], condition=models.Q(group__isnull=False), name="botrole_unique_group"
            ),
        ]

    def __str__(self) -> str:
        # Also called while the user or group is being deleted (the change history names the row).
        try:
            holder = str(self.user if self.user_id else self.group)
        except ObjectDoesNotExist:
            holder = f"user #{self.user_id}" if self.user_id else f"group #{self.group_id}"
        return f"{holder}: {self.get_role_display()}"

    def clean(self) -> None:
        super().clean()
        if bool(self.user_id) == bool(self.group_id):
            raise ValidationError(_("Give the role either to a user or to a group."))


class ChatRule(Audited):
    """One chat on a bot's allow-list or deny-list.

    With no allow rules a bot serves every chat but the denied ones; with allow rules, only those.
    """

    class Kind(models.TextChoices):
        ALLOW = "allow", _("Allow")
        DENY = "deny", _("Deny")

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="chat_rules", verbose_name=_("bot"))
    chat_id = models.UUIDField(_("chat ID"))
    kind = models.CharField(_("rule"), max_length=8, choices=Kind)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("chat rule")
        verbose_name_plural = _("chat rules")
        constraints = [
            models.UniqueConstraint(fields=["bot", "chat_id"], name="chatrule_unique_chat"),
            models.CheckConstraint(condition=models.Q(kind__in=["allow", "deny"]), name="chatrule_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.chat_id}"


COMMAND_NAME_RE = re.compile(r"^/[^\s/]+\Z")

command_name_validator = RegexValidator(
    COMMAND_NAME_RE, _("A command is a slash and a word without spaces, such as /report.")
)


@dataclass(frozen=True)
class Sender:
    """Who runs a command, as far as permissions care."""

    user_huid: str | None
    ad_login: str | None = None
    ad_domain: str | None = None
    is_admin: bool = False


class CommandRule(Audited):
    """Who may run one command of a bot.

    A user may run the command when they match any of the listed HUIDs, AD logins or AD domains
    (or no list is filled), and, if ``chat_admins_only`` is set, they are an admin of the chat.
    A command without a rule is open to everyone the bot serves.
    """

    bot = models.ForeignKey(Bot, models.CASCADE, related_name="command_rules", verbose_name=_("bot"))
    command = models.CharField(_("command"), max_length=64, validators=[command_name_validator])
    user_huids = models.JSONField(_("user HUIDs"), default=list, blank=True)
    ad_logins = models.JSONField(_("AD logins"), default=list, blank=True)
    ad_domains = models.JSONField(_("AD domains"), default=list, blank=True)
    chat_admins_only = models.BooleanField(_("chat admins only"), default=False)

    class Meta:
        verbose_name = _("command rule")
        verbose_name_plural = _("command rules")
        constraints = [models.UniqueConstraint(fields=["bot", "command"], name="commandrule_unique_command")]

    def __str__(self) -> str:
        return self.command

    def clean(self) -> None:
        super().clean()
        errors: dict[str, object] = {}
        try:
            self.user_huids = sorted({str(uuid.UUID(str(h))) for h in self.user_huids or []})
        except (ValueError, TypeError):
            errors["user_huids"] = _("Give a list of UUIDs.")
        for field in ("ad_logins", "ad_domains"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                errors[field] = _("Give a list of names.")
            else:
                setattr(self, field, sorted({v.strip().lower() for v in value}))
        if errors:
            raise ValidationError(errors)

    def allows(self, sender: Sender) -> bool:
        if self.chat_admins_only and not sender.is_admin:
            return False
        if not (self.user_huids or self.ad_logins or self.ad_domains):
            return True
        login = (sender.ad_login or "").lower()
        domain = (sender.ad_domain or "").lower()
        return (
            (sender.user_huid is not None and sender.user_huid.lower() in self.user_huids)
            or (bool(login) and login in self.ad_logins)
            or (bool(domain) and domain in self.ad_domains)
        )
