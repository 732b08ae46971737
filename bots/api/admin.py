"""The API in the console: tokens (made here, shown once), and read-only views of scheduled messages and broadcasts.

A superuser sees and makes tokens for anyone; everyone else who holds a role on some bot makes and
revokes their own, for bots they hold a role on. The token acts with its owner's rights, never more.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bots.admin.registry import ReadOnlyMixin
from bots.api.models import ApiToken, Broadcast, ScheduledMessage, Scope
from bots.api.services.tokens import token_issue_secret, token_revoke
from bots.models import Capability
from bots.selectors import bot_list_for_user


def _any_role(request: HttpRequest) -> bool:
    return (
        request.user.is_superuser or bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY).exists()
    )


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ["name", "owner", "scopes", "all_bots", "bots", "rate_limit", "expires_at"]

    def clean_scopes(self) -> list[str]:
        return sorted(set(self.cleaned_data["scopes"]))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("all_bots") and not data.get("bots"):
            self.add_error("bots", _("Choose the bots, or allow all bots of the owner."))
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "display", "owner", "scope_list", "all_bots", "state", "last_used_at", "created_at"]
    list_filter = ["all_bots", "revoked_at", "created_at"]
    search_fields = ["name", "prefix", "owner__username"]
    readonly_fields = ["display", "created_at", "created_by", "last_used_at", "revoked_at"]
    filter_horizontal = ["bots"]
    actions = ["revoke"]

    @admin.display(description=gettext_lazy("token"))
    def display(self, obj: ApiToken) -> str:
        return obj.display if obj.prefix else "—"

    @admin.display(description=gettext_lazy("scopes"))
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: ApiToken) -> str:
        if obj.revoked_at is not None:
            return _("revoked")
        return _("active") if obj.is_active else _("expired")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request).select_related("owner")
        return tokens if request.user.is_superuser else tokens.filter(owner=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _any_role(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _any_role(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _any_role(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _any_role(request) and (obj is None or obj.revoked_at is None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser:
            owner = form.base_fields.get("owner")
            if isinstance(owner, forms.ModelChoiceField):
                owner.queryset = User.objects.filter(username=request.user.get_username())
                owner.initial = request.user.pk
        bots = form.base_fields.get("bots")
        if isinstance(bots, forms.ModelMultipleChoiceField):
            bots.queryset = bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY)
        return form

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
            # Kept on the object for response_add only; the database gets the hash.
            obj._plaintext = token_issue_secret(obj)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        plaintext = getattr(obj, "_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        # The token is in this one page and nowhere else: not in a message cookie, not in the log.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("The new API token"),
            "token": obj,
            "plaintext": plaintext,
        }
        response = TemplateResponse(request, "api/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=gettext_lazy("Revoke selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(token_revoke(token=token) for token in queryset)
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", revoked) % {"count": revoked},
            messages.SUCCESS,
        )


class ReadOnlyApiAdmin(ReadOnlyMixin, admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY)
        return super().get_queryset(request).filter(bot__in=visible).select_related("bot")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _any_role(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _any_role(request)


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(ReadOnlyApiAdmin):
    list_display = ["id", "bot", "chat_id", "send_at", "status", "message", "created_by"]
    list_filter = ["status", "bot", "send_at"]
    search_fields = ["=correlation_id", "=chat_id"]


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyApiAdmin):
    list_display = ["id", "name", "bot", "status", "total", "send_at", "created_at", "created_by"]
    list_filter = ["status", "bot", "created_at"]
    search_fields = ["name", "=correlation_id"]
