from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = _("Bots and Smart Apps")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Change history is bookkeeping, so it hangs on model signals (see bots/audit.py).
        from bots import audit, pg_statements

        audit.connect()
        pg_statements.connect()
