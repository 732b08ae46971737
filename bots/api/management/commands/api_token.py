"""``manage.py api_token``: REST API tokens from the command line.

api_token create --user NAME --name TEXT --scope SCOPE [--scope ...] (--all-bots | --bot BOT_ID ...)
                 [--expires-days N] [--rate 600/min]      prints the token once
api_token list                                           prefixes, owners, scopes; never a token
api_token revoke PREFIX
"""

from __future__ import annotations

import argparse
import datetime as dt
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.api.models import ApiToken, Scope
from bots.api.services.tokens import token_create, token_revoke
from bots.models import Bot


class Command(BaseCommand):
    help = gettext_lazy("Create, list and revoke REST API tokens.")  # type: ignore[assignment]
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=argparse.ArgumentParser)
        create = sub.add_parser("create", help=_("Make a token and print it once."))
        create.add_argument("--user", required=True, help=_("The portal user the token acts for."))
        create.add_argument("--name", required=True, help=_("Who uses it, e.g. the HR system."))
        create.add_argument(
            "--scope", action="append", required=True, choices=Scope.values, help=_("Repeat for several.")
        )
        bots = create.add_mutually_exclusive_group(required=True)
        bots.add_argument("--all-bots", action="store_true", help=_("Every bot the user's roles allow."))
        bots.add_argument("--bot", action="append", metavar="BOT_ID", help=_("Repeat for several."))
        create.add_argument("--expires-days", type=int, default=None)
        create.add_argument("--rate", default="", help=_("Requests per period, such as 600/min."))
        sub.add_parser("list", help=_("List the tokens (never the tokens themselves)."))
        revoke = sub.add_parser("revoke", help=_("Revoke a token for good."))
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_create(self, options: dict[str, Any]) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(_("No user %(user)s.") % {"user": options["user"]})
        bots: list[Bot] = []
        for bot_id in options["bot"] or []:
            found = list(Bot.objects.filter(bot_id=bot_id)) if _is_uuid(bot_id) else []
            if not found:
                raise CommandError(_("No bot %(bot)s.") % {"bot": bot_id})
            bots.extend(found)
        expires = options["expires_days"]
        try:
            issued = token_create(
                owner=user,
                name=options["name"],
                scopes=options["scope"],
                bots=bots,
                all_bots=options["all_bots"],
                expires_at=timezone.now() + dt.timedelta(days=expires) if expires else None,
                rate_limit=options["rate"],
                created_by="manage.py api_token",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(_("Token %(prefix)s made. It is shown only this once:") % {"prefix": issued.token.prefix})
        self.stdout.write(issued.plaintext)

    def do_list(self, options: dict[str, Any]) -> None:
        for token in ApiToken.objects.select_related("owner").order_by("created_at"):
            state = "revoked" if token.revoked_at else ("active" if token.is_active else "expired")
            used = token.last_used_at.isoformat() if token.last_used_at else "-"
            self.stdout.write(
                f"{token.prefix}\t{token.name}\t{token.owner.get_username()}\t{','.join(token.scopes)}\t{state}\t{used}"
            )

    def do_revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(prefix=options["prefix"]).first()
        if token is None:
            raise CommandError(_("No token %(prefix)s.") % {"prefix": options["prefix"]})
        if not token_revoke(token=token):
            raise CommandError(_("The token %(prefix)s was revoked already.") % {"prefix": token.prefix})
        self.stdout.write(_("Token %(prefix)s revoked.") % {"prefix": token.prefix})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
