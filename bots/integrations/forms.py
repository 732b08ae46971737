"""Forms of the built-in bots' admin pages: shared secrets are write-only, offsets are typed as a list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bots.forms import SecretInput
from bots.integrations.models import BridgeEndpoint, ConferenceSettings, RecordingIntegration
from bots.integrations.models.base import validate_shared_secret


class _SecretForm(forms.ModelForm):
    new_secret = forms.CharField(
        label=_("New shared secret"),
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text=_("Write-only: 16 to 256 characters without spaces. Leave empty to keep the current one."),
    )

    def clean_new_secret(self) -> str:
        value: str = self.cleaned_data.get("new_secret") or ""
        if not value and not self.instance.secret_ciphertext:
            raise ValidationError(_("A shared secret is required."))
        if value:
            validate_shared_secret(value)
            # Set before the model's own validation runs, which checks that a secret is stored.
            self.instance.secret = value
        return value


class RecordingIntegrationForm(_SecretForm):
    class Meta:
        model = RecordingIntegration
        fields = ["bot", "name", "enabled", "default_chat_id"]


class BridgeEndpointForm(_SecretForm):
    url = forms.URLField(
        label=BridgeEndpoint._meta.get_field("url").verbose_name.capitalize(),
        max_length=1000,
        assume_scheme="https",
        help_text=BridgeEndpoint._meta.get_field("url").help_text,
    )

    class Meta:
        model = BridgeEndpoint
        fields = ["bot", "url", "timeout_seconds", "max_attempts", "enabled"]


class ConferenceSettingsForm(forms.ModelForm):
    reminder_offsets = forms.CharField(
        label=_("Reminders, minutes before the start"),
        required=False,
        help_text=_("Whole numbers separated by commas, e.g. 15, 5. Empty: no reminders before a start."),
    )

    class Meta:
        model = ConferenceSettings
        fields = ["bot", "reminder_offsets", "tell_conference_chat", "recurring_frequency", "recurring_lead_minutes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offsets = self.instance.reminder_offsets if self.instance.pk else ConferenceSettings().reminder_offsets
        self.initial["reminder_offsets"] = ", ".join(str(item) for item in offsets or [])

    def clean_reminder_offsets(self) -> list[int]:
        text = self.cleaned_data.get("reminder_offsets") or ""
        try:
            return [int(item) for item in text.replace(";", ",").split(",") if item.strip()]
        except ValueError:
            raise ValidationError(_("Give whole numbers of minutes separated by commas.")) from None
