"""Reads: which bots a portal user may see or act on, and what a bot's record looks like outside."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from bots.models import Bot, BotRole, Capability, ChatRule, SmartApp
from bots.models.access import ROLE_CAPABILITIES, roles_with

AnyUser = User | AnonymousUser


def _role_filter(user: AnyUser, roles: list[str]) -> Q:
    return Q(roles__role__in=roles) & (Q(roles__user=user) | Q(roles__group__in=user.groups.all()))


def bot_list_for_user(*, user: AnyUser, capability: str = Capability.READ_HISTORY) -> QuerySet[Bot]:
    """The bots on which ``user`` has ``capability``; a superuser has every capability on every bot."""
    if not user.is_authenticated or not user.is_active:
        return Bot.objects.none()
    if user.is_superuser:
        return Bot.objects.all()
    ids = Bot.objects.filter(_role_filter(user, roles_with(capability))).values("pk")
    return Bot.objects.filter(pk__in=ids)


def bot_capabilities(*, user: AnyUser, bot: Bot) -> frozenset[str]:
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Capability.values)
    roles = BotRole.objects.filter(Q(bot=bot) & (Q(user=user) | Q(group__in=user.groups.all()))).values_list(
        "role", flat=True
    )
    caps: set[str] = set()
    for role in roles:
        caps |= ROLE_CAPABILITIES.get(role, frozenset())
    return frozenset(caps)


def user_can(*, user: AnyUser, bot: Bot, capability: str) -> bool:
    return capability in bot_capabilities(user=user, bot=bot)


def _role_record(role: BotRole) -> dict[str, str]:
    holder = (
        {"user": role.user.get_username()}
        if role.user is not None
        else {"group": role.group.name if role.group else ""}
    )
    return {**holder, "role": role.role}


def bot_export(*, bot: Bot) -> dict[str, Any]:
    """A bot's record in the shape a ``bots apply`` file takes, without its secret."""
    record: dict[str, Any] = {"bot_id": str(bot.bot_id), "cts": bot.cts.name}
    record |= {field: getattr(bot, field) for field in Bot.DECLARED_FIELDS}
    record["secret_key_last4"] = bot.secret_key_last4
    record["chats"] = {
        kind: sorted(str(rule.chat_id) for rule in bot.chat_rules.all() if rule.kind == kind)
        for kind in (ChatRule.Kind.ALLOW, ChatRule.Kind.DENY)
    }
    record["commands"] = {
        rule.command: {
            "user_huids": rule.user_huids,
            "ad_logins": rule.ad_logins,
            "ad_domains": rule.ad_domains,
            "chat_admins_only": rule.chat_admins_only,
        }
        for rule in bot.command_rules.order_by("command")
    }
    roles = bot.roles.select_related("user", "group").order_by("role", "user__username", "group__name")
    record["roles"] = [_role_record(role) for role in roles]
    smartapp = SmartApp.objects.filter(bot=bot).first()
    if smartapp is not None:
        record["smartapp"] = {field: getattr(smartapp, field) for field in SmartApp.DECLARED_FIELDS}
        record["smartapp"]["bundle_sha256"] = smartapp.bundle_sha256
    return record
