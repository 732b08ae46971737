"""``manage.py demo``: what ``make run`` needs on a fresh machine.

Creates the demo administrator (its password generated once and kept under var/), and applies
docs/examples/demo.yaml with demo secrets generated once and kept under var/. Running it again
changes nothing and prints the same login.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bots import audit
from bots.services.declarative import spec_apply, spec_load
from portal.env import persistent_secret

DEMO_FILE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "demo.yaml"
DEMO_SECRETS = (
    "DEMO_ECHO_SECRET",
    "DEMO_NOTIFICATIONS_SECRET",
    "DEMO_CONFERENCE_SECRET",
    "DEMO_RECORDINGS_SECRET",
    "DEMO_BRIDGE_SECRET",
)


class Command(BaseCommand):
    help = gettext_lazy("Create the demo administrator and the demo bots (idempotent).")  # type: ignore[assignment]
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help=_("Where the portal is served."))
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        password = persistent_secret(
            Path(settings.VAR_DIR) / "demo_admin_password",
            generate=True,
            name="demo password",
            factory=lambda: secrets.token_urlsafe(12),
        )
        users = get_user_model()
        with audit.acting_as(label="manage.py demo"):
            user = users.objects.filter(username=options["username"]).first()
            if user is None:
                users.objects.create_superuser(options["username"], "admin@example.com", password)
            elif not user.check_password(password):
                # The kept password is not this user's (var/ was reset, or it was changed): say so.
                password = _("(unchanged; reset it with: manage.py changepassword %(user)s)") % {
                    "user": options["username"]
                }
            self._apply(options["url"].rstrip("/") + "/")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(_("eXpress Bot Portal is ready.")))
        lines = [
            (_("Console"), f"{options['url'].rstrip('/')}/admin/"),
            (_("Login"), options["username"]),
            (_("Password"), password),
            (_("Kept in"), str(Path(settings.VAR_DIR) / "demo_admin_password")),
        ]
        for label, value in lines:
            self.stdout.write(f"  {label + ':':<10} {value}")
        self.stdout.write("")

    def _apply(self, url: str) -> None:
        stored = Path(settings.VAR_DIR) / "demo_secrets.json"
        values = json.loads(
            persistent_secret(
                stored,
                generate=True,
                name="demo secrets",
                factory=lambda: json.dumps({name: secrets.token_hex(16) for name in DEMO_SECRETS}),
            )
        )
        missing = [name for name in DEMO_SECRETS if name not in values]
        if missing:  # a var/ made by an older release: keep its secrets, add the new bots' ones
            values.update({name: secrets.token_hex(16) for name in missing})
            stored.write_text(json.dumps(values))
        environ = {**os.environ, **values, "PORTAL_URL": url}
        result = spec_apply(spec_load(DEMO_FILE), environ=environ)
        count = len(result.changes)
        self.stdout.write(
            ngettext("Demo registry: %(count)d change.", "Demo registry: %(count)d changes.", count) % {"count": count}
        )
