"""Forms of the operator console (Django admin): secrets are write-only."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bots.handlers.registry import handler_choices
from bots.models import Bot, CommandRule, CtsServer, SmartApp
from bots.models.registry import validate_secret


class LinesField(forms.Field):
    """A list of strings typed one per line (or comma-separated), for the JSON list columns."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 40})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return "" if value is None else str(value)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return [str(item).strip() for item in value if str(item).strip()]
        text = str(value or "").replace(",", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)


def _lines_fields(model: type[Any], names: list[str]) -> dict[str, LinesField]:
    return {
        name: LinesField(
            label=model._meta.get_field(name).verbose_name.capitalize(),
            required=False,
            help_text=model._meta.get_field(name).help_text or _("One per line."),
        )
        for name in names
    }


class SecretInput(forms.PasswordInput):
    """Never renders a value back into the page."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


class CtsServerForm(forms.ModelForm):
    base_url = forms.URLField(
        label=CtsServer._meta.get_field("base_url").verbose_name.capitalize(),
        max_length=500,
        assume_scheme="https",
        help_text=CtsServer._meta.get_field("base_url").help_text,
    )

    class Meta:
        model = CtsServer
        fields = ["name", "base_url", "auth_mode", "verify_tls", "trusted_issuers"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_lines_fields(CtsServer, ["trusted_issuers"]))


class CommandRuleForm(forms.ModelForm):
    class Meta:
        model = CommandRule
        fields = ["command", "user_huids", "ad_logins", "ad_domains", "chat_admins_only"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(_lines_fields(CommandRule, ["user_huids", "ad_logins", "ad_domains"]))


class BotForm(forms.ModelForm):
    new_secret_key = forms.CharField(
        label=_("New secret key"),
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text=_(
            "Write-only. Leave empty to keep the current key; use “Rotate secret key” to keep the old "
            "key valid for a grace period."
        ),
    )

    class Meta:
        model = Bot
        fields = [
            "bot_id",
            "cts",
            "app_id",
            "name",
            "description",
            "kind",
            "handler",
            "protocol_version",
            "enabled",
            "status_message",
            "allowed_data",
            "jwt_policy",
            "rate_limit",
            "retention_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = handler_choices()
        current = self.instance.handler if self.instance.pk else ""
        if current and current not in dict(choices):
            # Keep an unknown key visible so the error next to it makes sense.
            choices.append((current, _("%(key)s — no such handler code") % {"key": current}))
        self.fields["handler"] = forms.ChoiceField(
            label=Bot._meta.get_field("handler").verbose_name.capitalize(),
            choices=[("", "---------"), *choices],
            help_text=Bot._meta.get_field("handler").help_text,
        )
        if self.instance.pk is None:
            self.fields["new_secret_key"].required = True
            self.fields["new_secret_key"].label = _("Secret key")
            self.fields["new_secret_key"].help_text = _("Write-only: as shown in the CTS admin panel.")
        else:
            self.fields["new_secret_key"].help_text = _(
                "Leave empty to keep the current key; use “Rotate secret key” to keep the old key valid for a "
                "grace period."
            )

    def clean_new_secret_key(self) -> str:
        value: str = self.cleaned_data.get("new_secret_key", "")
        if value:
            validate_secret(value)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Model validation runs after this and requires a secret: hand the new one to the instance now.
        if cleaned.get("new_secret_key"):
            self.instance.secret_key = cleaned["new_secret_key"]
        return cleaned


class DisableForm(forms.Form):
    status_message = forms.CharField(
        label=_("status message"),
        max_length=255,
        required=False,
        help_text=_("What users see while the bot is off."),
        initial=_("The bot is temporarily unavailable."),
    )


class RotateSecretForm(forms.Form):
    new_secret_key = forms.CharField(label=_("new secret key"), widget=SecretInput(), strip=True)
    grace_hours = forms.FloatField(
        label=_("grace period, hours"),
        min_value=0,
        max_value=24 * 30,
        help_text=_("How long the previous key stays valid, so that the CTS can be switched over."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grace_hours"].initial = settings.BOT_SECRET_ROTATION_GRACE_HOURS

    def clean_new_secret_key(self) -> str:
        value: str = self.cleaned_data["new_secret_key"]
        validate_secret(value)
        return value

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(hours=self.cleaned_data["grace_hours"])


class SmartAppForm(forms.ModelForm):
    class Meta:
        model = SmartApp
        fields = ["bot", *SmartApp.DECLARED_FIELDS, "bundle"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(
            _lines_fields(SmartApp, ["unread_counter_user_huids", "unread_counter_chat_ids", "unread_counter_app_ids"])
        )

    def clean_bundle(self) -> Any:
        bundle = self.cleaned_data.get("bundle")
        if not bundle or not hasattr(bundle, "read"):
            return bundle
        if bundle.size > settings.SMARTAPP_BUNDLE_MAX_BYTES:
            raise ValidationError(
                _("The bundle is larger than %(mb)s MB."),
                params={"mb": settings.SMARTAPP_BUNDLE_MAX_BYTES // 2**20},
            )
        data = bundle.read()
        bundle.seek(0)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
                broken = archive.testzip()
        except zipfile.BadZipFile:
            raise ValidationError(_("The bundle must be a zip file.")) from None
        if broken is not None:
            raise ValidationError(_("The zip file is damaged (%(name)s)."), params={"name": broken})
        if any(name.startswith("/") or ".." in name.split("/") for name in names):
            raise ValidationError(_("The zip file has paths that leave its folder."))
        if "index.html" not in names:
            raise ValidationError(_("The bundle needs an index.html at its top level."))
        self.instance.bundle_sha256 = hashlib.sha256(data).hexdigest()
        return bundle
