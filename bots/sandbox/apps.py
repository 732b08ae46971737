from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SandboxConfig(AppConfig):
    # Its own app label and migrations, so the sandbox's tables never mix with the registry's.
    name = "bots.sandbox"
    label = "sandbox"
    verbose_name = _("BotX sandbox")
    default_auto_field = "django.db.models.BigAutoField"
