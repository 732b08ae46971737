"""The operator console: the registry in Django admin.

What a user sees and may change follows their role on each bot (bots/models/access.py): owners
change configuration and secrets, operators and auditors read. Superusers may do everything.
Actions call services; secrets are write-only and shown as their last four characters.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from bots import crypto
from bots.forms import BotForm, CommandRuleForm, CtsServerForm, DisableForm, RotateSecretForm, SmartAppForm
from bots.handlers.registry import handler_exists
from bots.models import Bot, BotRole, Capability, ChangeRecord, ChatRule, CommandRule, CtsServer, SmartApp
from bots.selectors import bot_capabilities, bot_export, bot_list_for_user
from bots.services.credentials import bot_credentials_check
from bots.services.registry import bot_secret_rotate, bot_set_enabled

admin.site.site_header = gettext_lazy("eXpress Bot Portal")
admin.site.site_title = gettext_lazy("eXpress Bot Portal")
admin.site.index_title = gettext_lazy("Operator console")


def _can(request: HttpRequest, bot: Bot | None, capability: str) -> bool:
    """With a bot: the user's role on it allows ``capability``; without: it does on some bot."""
    if request.user.is_superuser:
        return True
    if bot is None:
        return bot_list_for_user(user=request.user, capability=capability).exists()
    return capability in bot_capabilities(user=request.user, bot=bot)


class ReadOnlyMixin:
    """For records (the ledger, the change log, the API's deliveries): shown, never added, edited or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BotScopedAdmin(admin.ModelAdmin):
    """Admin of rows that belong to one bot: what the role on that bot allows, not Django model perms."""

    bot_field = "bot"

    def _bot_of(self, obj: Any) -> Bot | None:
        return getattr(obj, self.bot_field) if obj is not None else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY)
        return super().get_queryset(request).filter(**{f"{self.bot_field}__in": visible})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _can(request, None, Capability.READ_HISTORY)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, self._bot_of(obj), Capability.READ_HISTORY)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, self._bot_of(obj), Capability.MANAGE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _can(request, None, Capability.MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, self._bot_of(obj), Capability.MANAGE)


class BotInline(admin.TabularInline):
    extra = 0

    def _allowed(self, request: HttpRequest, obj: Bot | None) -> bool:
        return _can(request, obj, Capability.MANAGE)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, obj, Capability.READ_HISTORY)


class BotRoleInline(BotInline):
    model = BotRole


class ChatRuleInline(BotInline):
    model = ChatRule


class CommandRuleInline(BotInline):
    model = CommandRule
    form = CommandRuleForm


@admin.register(CtsServer)
class CtsServerAdmin(admin.ModelAdmin):
    form = CtsServerForm
    list_display = ["name", "base_url", "host", "auth_mode", "verify_tls", "bot_count"]
    list_filter = ["auth_mode", "verify_tls"]
    search_fields = ["name", "base_url", "host"]
    readonly_fields = ["host", "created_at", "updated_at"]

    @admin.display(description=gettext_lazy("bots"))
    def bot_count(self, obj: CtsServer) -> int:
        return obj.bots.count()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Owners pick a CTS for their bots, so whoever manages a bot may look the servers up.
        return super().has_view_permission(request, obj) or _can(request, None, Capability.MANAGE)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or _can(request, None, Capability.MANAGE)


@admin.register(Bot)
class BotAdmin(BotScopedAdmin):
    form = BotForm
    change_form_template = "admin/bots/bot/change_form.html"
    list_display = [
        "name",
        "bot_id",
        "cts",
        "kind",
        "handler_display",
        "protocol_version",
        "enabled",
        "secret_display",
    ]
    list_filter = ["enabled", "kind", "cts", "protocol_version", "handler", "allowed_data"]
    search_fields = ["name", "app_id", "description", "handler", "=bot_id"]
    list_select_related = ["cts"]
    readonly_fields = ["secret_display", "previous_secret_display", "created_at", "updated_at"]
    inlines = [BotRoleInline, ChatRuleInline, CommandRuleInline]
    actions = ["enable_bots", "disable_bots", "check_credentials", "export_json"]
    fieldsets = [
        (None, {"fields": ["name", "bot_id", "cts", "app_id", "description", "kind", "handler"]}),
        (gettext_lazy("State"), {"fields": ["enabled", "status_message", "protocol_version"]}),
        (gettext_lazy("Protocol"), {"fields": ["allowed_data", "jwt_policy"]}),
        (gettext_lazy("Traffic"), {"fields": ["rate_limit", "retention_days"]}),
        (
            gettext_lazy("Secret key"),
            {"fields": ["new_secret_key", "secret_display", "previous_secret_display"]},
        ),
        (gettext_lazy("Timestamps"), {"fields": ["created_at", "updated_at"]}),
    ]

    def _bot_of(self, obj: Any) -> Bot | None:
        return obj

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return admin.ModelAdmin.get_queryset(self, request).filter(
            pk__in=bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY).values("pk")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new bot has no owner yet: creating one takes the Django permission (or a superuser).
        return request.user.has_perm("bots.add_bot")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("bots.delete_bot") or super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # A read-only viewer has no use for the write-only secret field.
            return [
                (name, {"fields": [f for f in opts["fields"] if f != "new_secret_key"]}) for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description=gettext_lazy("handler"), ordering="handler")
    def handler_display(self, obj: Bot) -> str:
        if handler_exists(obj.handler):
            return obj.handler
        return format_html('<span class="errornote">{} — {}</span>', obj.handler, _("no such handler code"))

    @admin.display(description=gettext_lazy("secret key"))
    def secret_display(self, obj: Bot) -> str:
        return obj.secret_masked

    @admin.display(description=gettext_lazy("previous secret key"))
    def previous_secret_display(self, obj: Bot) -> str:
        if not obj.previous_secret_ciphertext or obj.previous_secret_expires_at is None:
            return "—"
        return _("%(masked)s, valid until %(until)s") % {
            "masked": crypto.masked(obj.previous_secret_last4),
            "until": obj.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M %Z"),
        }

    # --- object pages --------------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/rotate-secret/", wrap(self.rotate_secret_view), name="bots_bot_rotate_secret"),
            path("<int:pk>/check-credentials/", wrap(self.check_credentials_view), name="bots_bot_check"),
            path("<int:pk>/export/", wrap(self.export_view), name="bots_bot_export"),
            path("<int:pk>/enable/", wrap(self.enable_view), name="bots_bot_enable"),
            path("<int:pk>/disable/", wrap(self.disable_view), name="bots_bot_disable"),
            *super().get_urls(),
        ]

    def _bot_or_403(self, request: HttpRequest, pk: int, capability: str) -> Bot:
        bot = get_object_or_404(self.get_queryset(request), pk=pk)
        if not _can(request, bot, capability):
            raise PermissionDenied
        return bot

    def _back(self, bot: Bot) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:bots_bot_change", args=[bot.pk]))

    def _form_page(self, request: HttpRequest, bot: Bot, form: Any, title: str, button: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": bot,
            "title": title,
            "form": form,
            "button": button,
        }
        return TemplateResponse(request, "admin/bots/bot/action_form.html", context)

    def rotate_secret_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        bot = self._bot_or_403(request, pk, Capability.MANAGE)
        form = RotateSecretForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                bot = bot_secret_rotate(bot=bot, new_secret=form.cleaned_data["new_secret_key"], grace=form.grace)
            except ValidationError as exc:
                form.add_error("new_secret_key", exc)
            else:
                messages.success(request, _("The secret key is now %(masked)s.") % {"masked": bot.secret_masked})
                return self._back(bot)
        return self._form_page(
            request, bot, form, _("Rotate the secret key of %(bot)s") % {"bot": bot.name}, _("Rotate")
        )

    def disable_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        bot = self._bot_or_403(request, pk, Capability.MANAGE)
        form = DisableForm(request.POST or None, initial={"status_message": bot.status_message or None})
        if request.method == "POST" and form.is_valid():
            bot_set_enabled(bot=bot, enabled=False, status_message=form.cleaned_data["status_message"])
            messages.success(request, _("%(bot)s is disabled.") % {"bot": bot.name})
            return self._back(bot)
        return self._form_page(request, bot, form, _("Disable %(bot)s") % {"bot": bot.name}, _("Disable"))

    def enable_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        bot = self._bot_or_403(request, pk, Capability.MANAGE)
        if request.method != "POST":
            return self._back(bot)
        bot_set_enabled(bot=bot, enabled=True)
        messages.success(request, _("%(bot)s is enabled.") % {"bot": bot.name})
        return self._back(bot)

    def check_credentials_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        bot = self._bot_or_403(request, pk, Capability.MANAGE)
        if request.method == "POST":
            self._report_check(request, bot)
        return self._back(bot)

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        bot = self._bot_or_403(request, pk, Capability.READ_HISTORY)
        return self._json_download([bot_export(bot=bot)], f"bot-{bot.bot_id}.json")

    # --- list actions --------------------------------------------------------------------------------

    def _managed(self, request: HttpRequest, queryset: QuerySet[Bot]) -> QuerySet[Bot]:
        return queryset.filter(pk__in=bot_list_for_user(user=request.user, capability=Capability.MANAGE).values("pk"))

    @admin.action(description=gettext_lazy("Enable selected bots"), permissions=["change"])
    def enable_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        bots = list(self._managed(request, queryset))
        for bot in bots:
            bot_set_enabled(bot=bot, enabled=True)
        self.message_user(
            request,
            ngettext("%(count)d bot enabled.", "%(count)d bots enabled.", len(bots)) % {"count": len(bots)},
            messages.SUCCESS,
        )

    @admin.action(description=gettext_lazy("Disable selected bots…"), permissions=["change"])
    def disable_bots(self, request: HttpRequest, queryset: QuerySet[Bot]) -> HttpResponse | None:
        bots = list(self._managed(request, queryset))
        form = DisableForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for bot in bots:
                bot_set_enabled(bot=bot, enabled=False, status_message=form.cleaned_data["status_message"])
            self.message_user(
                request,
                ngettext("%(count)d bot disabled.", "%(count)d bots disabled.", len(bots)) % {"count": len(bots)},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Disable bots"),
            "form": form,
            "bots": bots,
            "action": "disable_bots",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/bots/bot/disable_selected.html", context)

    @admin.action(description=gettext_lazy("Check credentials with the CTS"), permissions=["change"])
    def check_credentials(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        for bot in self._managed(request, queryset).select_related("cts"):
            self._report_check(request, bot)

    @admin.action(description=gettext_lazy("Export selected bots as JSON (no secrets)"))
    def export_json(self, request: HttpRequest, queryset: QuerySet[Bot]) -> HttpResponse:
        return self._json_download([bot_export(bot=bot) for bot in queryset.select_related("cts")], "bots.json")

    def _report_check(self, request: HttpRequest, bot: Bot) -> None:
        result = bot_credentials_check(bot=bot)
        level = messages.SUCCESS if result.ok else messages.ERROR
        self.message_user(request, f"{bot.name}: {result.message}", level)

    @staticmethod
    def _json_download(records: list[dict[str, Any]], filename: str) -> HttpResponse:
        response = HttpResponse(
            json.dumps({"bots": records}, ensure_ascii=False, indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def save_model(self, request: HttpRequest, obj: Bot, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change and not request.user.is_superuser:
            # Whoever registers a bot owns it, or they could not see what they just made.
            BotRole.objects.get_or_create(bot=obj, user=request.user, defaults={"role": "owner"})


@admin.register(SmartApp)
class SmartAppAdmin(BotScopedAdmin):
    form = SmartAppForm
    list_display = ["bot", "app_version", "web_default_layout", "always_pinned", "bundle_sha256_short"]
    search_fields = ["bot__name", "=bot__bot_id"]
    readonly_fields = ["bundle_sha256", "created_at", "updated_at"]

    @admin.display(description=gettext_lazy("bundle SHA-256"))
    def bundle_sha256_short(self, obj: SmartApp) -> str:
        return obj.bundle_sha256[:12] if obj.bundle_sha256 else "—"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "bot":
            kwargs["queryset"] = bot_list_for_user(user=request.user, capability=Capability.MANAGE).filter(
                kind=Bot.Kind.SMARTAPP
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ChangeRecord)
class ChangeRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "model", "object_repr", "bot_ref"]
    list_filter = ["action", "model", "at"]
    search_fields = ["object_repr", "actor_label", "=bot_ref", "object_id"]
    date_hierarchy = "at"
    fields = readonly_fields = (
        "at",
        "actor_label",
        "actor",
        "action",
        "model",
        "object_id",
        "object_repr",
        "bot_ref",
        "changes_table",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChangeRecord]:
        records = super().get_queryset(request)
        if request.user.is_superuser:
            return records
        visible = bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY)
        return records.filter(bot_ref__in=[str(b) for b in visible.values_list("bot_id", flat=True)])

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _can(request, None, Capability.READ_HISTORY)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, None, Capability.READ_HISTORY)

    @admin.display(description=gettext_lazy("changes"))
    def changes_table(self, obj: ChangeRecord) -> str:
        rows = []
        for name, change in sorted(obj.changes.items()):
            if isinstance(change, list) and len(change) == 2:
                rows.append(
                    (
                        name,
                        json.dumps(change[0], ensure_ascii=False),
                        json.dumps(change[1], ensure_ascii=False),
                    )
                )
            else:
                rows.append((name, "", pgettext("secret change", "changed")))
        if not rows:
            return "—"
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th></tr>", _("field"), _("before"), _("after"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html("<table>{}{}</table>", header, body)
