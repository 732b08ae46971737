"""``manage.py bots``: the registry from the command line.

bots apply FILE [--dry-run]      make the registry match a YAML/JSON file
bots list [--json]               the registered bots, secrets as their last four characters
bots export BOT_ID [--cts NAME]  one bot's record as JSON, without secrets
bots rotate-secret BOT_ID [--cts NAME] (--from-env VAR | --generate) [--grace-hours N]
bots check BOT_ID [--cts NAME]   ask the CTS whether the bot's credentials work
bots reencrypt                   re-encrypt every stored secret with the newest PORTAL_ENCRYPTION_KEY
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bots import audit, crypto
from bots.models import Bot
from bots.selectors import bot_export
from bots.services.credentials import bot_credentials_check
from bots.services.declarative import SpecError, spec_apply, spec_load
from bots.services.registry import bot_secret_rotate, secret_generate


class Command(BaseCommand):
    help = gettext_lazy("Manage the registry of bots: apply a bots-as-code file, list, export, rotate secrets, check.")  # type: ignore[assignment]
    # Speak the portal's language (LANGUAGE_CODE), not Django's default English for commands.
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=argparse.ArgumentParser)

        apply = sub.add_parser("apply", help=_("Make the registry match a YAML or JSON file."))
        apply.add_argument("file", type=Path)
        apply.add_argument("--dry-run", action="store_true", help=_("Print the changes without making them."))

        listing = sub.add_parser("list", help=_("List the registered bots."))
        listing.add_argument("--json", action="store_true", help=_("Print JSON instead of a table."))

        for name, text in (
            ("export", _("Print a bot's record as JSON, without secrets.")),
            ("check", _("Ask the CTS whether the bot's credentials work.")),
        ):
            one = sub.add_parser(name, help=text)
            self._bot_arguments(one)

        rotate = sub.add_parser("rotate-secret", help=_("Give a bot a new secret key."))
        self._bot_arguments(rotate)
        source = rotate.add_mutually_exclusive_group(required=True)
        source.add_argument("--from-env", metavar="VAR", help=_("Read the new secret from this environment variable."))
        source.add_argument("--generate", action="store_true", help=_("Generate a new secret and print it once."))
        rotate.add_argument(
            "--grace-hours",
            type=float,
            default=None,
            help=_("How long the old key stays valid (default: BOT_SECRET_ROTATION_GRACE_HOURS)."),
        )

        sub.add_parser("reencrypt", help=_("Re-encrypt stored secrets with the newest encryption key."))

    @staticmethod
    def _bot_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("bot_id")
        parser.add_argument("--cts", help=_("The CTS server's name, when the bot ID is registered on several."))

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"].replace("-", "_")
        with audit.acting_as(label=f"manage.py bots {options['action']}"):
            getattr(self, f"do_{action}")(options)

    # --- actions -------------------------------------------------------------------------------------

    def do_apply(self, options: dict[str, Any]) -> None:
        try:
            result = spec_apply(spec_load(options["file"]), dry_run=options["dry_run"])
        except SpecError as exc:
            raise CommandError(
                _("The file was not applied; nothing changed:") + "\n  " + "\n  ".join(exc.problems)
            ) from None
        sign = {"create": "+", "update": "~", "delete": "-"}
        for record in result.changes:
            self.stdout.write(f"{sign[record.action]} {record.model.split('.')[-1]} {record.object_repr}")
            if record.action != "delete":
                for name, change in sorted(record.changes.items()):
                    if isinstance(change, str):
                        shown = change
                    elif record.action == "create":
                        shown = repr(change[1])
                    else:
                        shown = f"{change[0]!r} -> {change[1]!r}"
                    self.stdout.write(f"    {name}: {shown}")
        count = len(result.changes)
        if result.dry_run:
            summary = ngettext("%(count)d record would change.", "%(count)d records would change.", count)
        else:
            summary = ngettext("%(count)d record changed.", "%(count)d records changed.", count)
        self.stdout.write(self.style.SUCCESS(summary % {"count": count}))

    def do_list(self, options: dict[str, Any]) -> None:
        bots = Bot.objects.select_related("cts").order_by("cts__name", "name")
        rows = [
            {
                "bot_id": str(bot.bot_id),
                "cts": bot.cts.name,
                "name": bot.name,
                "kind": bot.kind,
                "handler": bot.handler,
                "protocol": bot.protocol_version,
                "enabled": bot.enabled,
                "secret": bot.secret_masked,
            }
            for bot in bots
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        if not rows:
            self.stdout.write(_("No bots registered."))
            return
        columns = list(rows[0])
        widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
        self.stdout.write("  ".join(c.upper().ljust(widths[c]) for c in columns))
        for row in rows:
            self.stdout.write("  ".join(str(row[c]).ljust(widths[c]) for c in columns))

    def do_export(self, options: dict[str, Any]) -> None:
        bot = self._bot(options)
        self.stdout.write(json.dumps(bot_export(bot=bot), ensure_ascii=False, indent=2))

    def do_check(self, options: dict[str, Any]) -> None:
        result = bot_credentials_check(bot=self._bot(options))
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(self.style.SUCCESS(result.message))

    def do_rotate_secret(self, options: dict[str, Any]) -> None:
        bot = self._bot(options)
        if options["generate"]:
            secret = secret_generate()
        else:
            name = options["from_env"]
            if name not in os.environ:
                raise CommandError(_("The environment variable %(name)s is not set.") % {"name": name})
            secret = os.environ[name]
        grace = None if options["grace_hours"] is None else dt.timedelta(hours=options["grace_hours"])
        try:
            bot = bot_secret_rotate(bot=bot, new_secret=secret, grace=grace)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["generate"]:
            # Shown once, so that it can be entered in the CTS admin panel; never stored in clear.
            self.stdout.write(_("New secret key (enter it in the CTS admin panel): %(secret)s") % {"secret": secret})
        until = bot.previous_secret_expires_at
        if until:
            message = _(
                "The secret key of %(bot)s is now %(new)s; the previous key %(old)s stays valid until %(until)s."
            )
        else:
            message = _("The secret key of %(bot)s is now %(new)s; the previous key is no longer valid.")
        params = {
            "bot": bot.name,
            "new": bot.secret_masked,
            "old": crypto.masked(bot.previous_secret_last4),
            "until": f"{until:%Y-%m-%d %H:%M %Z}" if until else "",
        }
        self.stdout.write(self.style.SUCCESS(message % params))

    def do_reencrypt(self, options: dict[str, Any]) -> None:
        count = 0
        with transaction.atomic():
            for bot in Bot.objects.select_for_update():
                bot.secret_key_ciphertext = crypto.reencrypt(bot.secret_key_ciphertext)
                if bot.previous_secret_ciphertext:
                    bot.previous_secret_ciphertext = crypto.reencrypt(bot.previous_secret_ciphertext)
                bot.save(update_fields=["secret_key_ciphertext", "previous_secret_ciphertext"])
                count += 1
        self.stdout.write(
            self.style.SUCCESS(
                ngettext(
                    "%(count)d bot re-encrypted with the newest key.",
                    "%(count)d bots re-encrypted with the newest key.",
                    count,
                )
                % {"count": count}
            )
        )

    # --- helpers -------------------------------------------------------------------------------------

    def _bot(self, options: dict[str, Any]) -> Bot:
        try:
            bot_id = uuid.UUID(options["bot_id"])
        except ValueError:
            raise CommandError(_("%(value)r is not a UUID.") % {"value": options["bot_id"]}) from None
        bots = Bot.objects.select_related("cts").filter(bot_id=bot_id)
        if options.get("cts"):
            bots = bots.filter(cts__name=options["cts"])
        found = list(bots[:2])
        if not found:
            if options.get("cts"):
                raise CommandError(_("No bot %(bot_id)s on CTS %(cts)s.") % {"bot_id": bot_id, "cts": options["cts"]})
            raise CommandError(_("No bot %(bot_id)s.") % {"bot_id": bot_id})
        if len(found) > 1:
            raise CommandError(
                _("Bot %(bot_id)s is registered on several CTS servers: name one with --cts.") % {"bot_id": bot_id}
            )
        return found[0]
