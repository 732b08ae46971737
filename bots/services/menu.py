"""The command menu a user sees (``/status``): the handler's visible commands that the rules let them run."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext as _

from bots.botx import responses
from bots.botx.incoming import StatusQuery
from bots.handlers.framework import Command, MenuRecipient, Router
from bots.handlers.registry import handler_get
from bots.models import Bot, Sender


def status_menu(*, bot: Bot, query: StatusQuery, unavailable_reason: str | None) -> dict[str, Any]:
    if unavailable_reason is not None:
        return responses.status_result(enabled=False, status_message=unavailable_reason, commands=[])
    info = handler_get(bot.handler)
    allowed = (
        commands_allowed(
            bot=bot,
            router=info.router,
            user_huid=query.user_huid,
            ad_login=query.ad_login,
            ad_domain=query.ad_domain,
            is_admin=query.is_admin,
            chat_type=query.chat_type,
        )
        if info
        else []
    )
    commands = [
        responses.MenuCommand(body=command.name, name=command.name, description=str(command.description))
        for command in allowed
    ]
    return responses.status_result(
        enabled=True, status_message=bot.status_message or _("The bot is working."), commands=commands
    )


def commands_allowed(
    *,
    bot: Bot,
    router: Router,
    user_huid: uuid.UUID | None,
    ad_login: str | None,
    ad_domain: str | None,
    is_admin: bool | None,
    chat_type: str | None,
) -> list[Command]:
    """The commands of ``router`` this user sees in the menu (in a chat of ``chat_type``) and the bot's
    command rules let run; ``is_admin``: of the chat, None when BotX did not say."""
    recipient = MenuRecipient(
        user_huid=user_huid, ad_login=ad_login, ad_domain=ad_domain, is_admin=is_admin, chat_type=chat_type
    )
    sender = Sender(
        user_huid=str(user_huid) if user_huid else None, ad_login=ad_login, ad_domain=ad_domain, is_admin=bool(is_admin)
    )
    rules = {rule.command: rule for rule in bot.command_rules.all()}
    return [
        command
        for command in router.menu()
        if command.shown_to(recipient) and (command.name not in rules or rules[command.name].allows(sender))
    ]
