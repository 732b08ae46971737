from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    # Its own label and migrations: these bots' tables are theirs, not the registry's.
    name = "bots.integrations"
    label = "integrations"
    verbose_name = _("Built-in bots")
    default_auto_field = "django.db.models.BigAutoField"
