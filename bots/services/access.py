"""Whom a bot serves: its chat allow/deny lists and per-command rules, checked before a handler runs."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from bots.botx.incoming import IncomingCommand
from bots.models import Bot, ChatRule, Sender


@dataclass(frozen=True)
class Refusal:
    reason: str  # recorded in the ledger
    answer: str | None  # told to the user, when there is someone to tell


def access_check(*, bot: Bot, command: IncomingCommand) -> Refusal | None:
    if command.chat_id is not None:
        rules = {rule.chat_id: rule.kind for rule in bot.chat_rules.all()}
        kind = rules.get(command.chat_id)
        allow_listed = ChatRule.Kind.ALLOW in rules.values()
        if kind == ChatRule.Kind.DENY or (allow_listed and kind != ChatRule.Kind.ALLOW):
            return Refusal(
                reason=f"chat {command.chat_id} is not served",
                answer=None if command.is_system else _("Sorry, this bot does not work in this chat."),
            )
    name = command.command_name
    if name is None or command.is_system:
        return None
    # All of them rather than a filtered query: the batch drain has them prefetched for the whole batch.
    rule = next((rule for rule in bot.command_rules.all() if rule.command == name), None)
    if rule is None:
        return None
    sender = Sender(
        user_huid=str(command.sender.user_huid) if command.sender.user_huid else None,
        ad_login=command.sender.ad_login,
        ad_domain=command.sender.ad_domain,
        is_admin=command.sender.is_admin,
    )
    if rule.allows(sender):
        return None
    return Refusal(
        reason=f"{name} is not allowed for {sender.user_huid or 'this user'}",
        answer=_("Sorry, you may not run %(command)s.") % {"command": name},
    )
