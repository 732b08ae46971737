"""``manage.py sandbox_seed``: demo users and chats in the BotX sandbox, with the sandbox bots in them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.sandbox.services.seed import sandbox_seed


class Command(BaseCommand):
    help = gettext_lazy(  # type: ignore[assignment]
        "Create demo users and chats in the BotX sandbox and add the bots of sandbox CTS servers (idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = sandbox_seed()
        self.stdout.write(
            _(
                "Sandbox seeded: %(users)d users, %(chats)d chats and %(members)d memberships created; "
                "bots in the chats: %(bots)d."
            )
            % {
                "users": result.users_created,
                "chats": result.chats_created,
                "members": result.members_added,
                "bots": result.bots,
            }
        )
