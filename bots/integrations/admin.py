"""The built-in bots in the operator console, scoped like the rest of it (bots/admin/): a user sees the
rows of the bots their role lets them read, and changes those of the bots they manage (owners).

Settings pages call services where a change has consequences (planning reminders again); logs are
read-only; shared secrets are write-only and shown as their last four characters.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext

from bots.admin.ledger import LedgerInline
from bots.admin.registry import BotScopedAdmin, _can
from bots.integrations.forms import BridgeEndpointForm, ConferenceSettingsForm, RecordingIntegrationForm
from bots.integrations.models import (
    BridgeAttempt,
    BridgeCall,
    BridgeEndpoint,
    Conference,
    ConferenceReminder,
    ConferenceSchedule,
    ConferenceSettings,
    ConferenceSubscription,
    RecordingContact,
    RecordingIntegration,
    WebhookRequest,
)
from bots.integrations.models import bridge as bridge_models
from bots.integrations.models import conference as conference_models
from bots.integrations.models import recordings as recordings_models
from bots.integrations.services.bridge import bridge_call_retry
from bots.integrations.services.conferences import bot_conferences_replan, schedule_restart
from bots.models import Bot, Capability
from bots.selectors import bot_list_for_user


class _ManagedBotChoice(BotScopedAdmin):
    """The bot of a new or changed row is one the user manages, served by this page's handler code."""

    handler_key = ""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "bot":
            kwargs["queryset"] = bot_list_for_user(user=request.user, capability=Capability.MANAGE).filter(
                handler=self.handler_key
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class _ReadOnly(BotScopedAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- conference notifier ---------------------------------------------------------------------------


@admin.register(ConferenceSettings)
class ConferenceSettingsAdmin(_ManagedBotChoice):
    handler_key = conference_models.HANDLER_KEY
    form = ConferenceSettingsForm
    list_display = ["bot", "offsets_display", "tell_conference_chat", "recurring_frequency", "recurring_lead_minutes"]
    readonly_fields = ["updated_at"]

    @admin.display(description=gettext_lazy("reminders, minutes before"))
    def offsets_display(self, obj: ConferenceSettings) -> str:
        return ", ".join(str(item) for item in obj.reminder_offsets or []) or "—"

    def save_model(self, request: HttpRequest, obj: ConferenceSettings, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # New offsets apply to the conferences the bot knows already, not only to those to come.
        bot_conferences_replan(bot=obj.bot)


class ConferenceReminderInline(LedgerInline):
    model = ConferenceReminder
    fields = readonly_fields = ("offset_minutes", "due_at", "status", "sent_at", "note")


class ConferenceScheduleInline(admin.StackedInline):
    model = ConferenceSchedule
    extra = 0
    can_delete = False
    fields = ["frequency", "interval", "lead_minutes", "next_run", "enabled", "last_run_at", "runs"]
    readonly_fields = ["last_run_at", "runs"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, getattr(obj, "bot", None), Capability.READ_HISTORY)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, getattr(obj, "bot", None), Capability.MANAGE)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conference)
class ConferenceAdmin(BotScopedAdmin):
    list_display = ["__str__", "bot", "start_at", "end_at", "chat_id", "member_count", "updated_at"]
    list_filter = ["bot", "start_at"]
    search_fields = ["name", "=call_id", "=chat_id"]
    list_select_related = ["bot"]
    inlines = [ConferenceScheduleInline, ConferenceReminderInline]
    # What BotX said of the conference is not the operator's to change; its schedule (inline) is.
    fields = readonly_fields = (
        "bot",
        "call_id",
        "name",
        "chat_id",
        "start_at",
        "end_at",
        "link",
        "members",
        "created_at",
        "updated_at",
    )

    @admin.display(description=gettext_lazy("members"))
    def member_count(self, obj: Conference) -> int:
        return len(obj.members or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for schedule_form in getattr(formset, "forms", []):
            _schedule_changed(schedule_form.instance, schedule_form.changed_data)
        super().save_formset(request, form, formset, change)


def _schedule_changed(schedule: Any, changed: list[str]) -> None:
    # A new rhythm without a new date given: the next reminder follows from the rhythm.
    rhythm = {"frequency", "interval", "lead_minutes"} & set(changed)
    if isinstance(schedule, ConferenceSchedule) and rhythm and "next_run" not in changed:
        schedule_restart(schedule=schedule)


@admin.register(ConferenceSchedule)
class ConferenceScheduleAdmin(BotScopedAdmin):
    bot_field = "conference__bot"
    list_display = ["conference", "frequency", "interval", "lead_minutes", "next_run", "enabled", "last_run_at", "runs"]
    list_filter = ["enabled", "frequency"]
    search_fields = ["conference__name", "=conference__call_id"]
    list_select_related = ["conference__bot"]
    fields = ["conference", "frequency", "interval", "lead_minutes", "next_run", "enabled", "last_run_at", "runs"]
    readonly_fields = ["conference", "last_run_at", "runs"]

    def _bot_of(self, obj: Any) -> Bot | None:
        return obj.conference.bot if obj is not None else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made with its conference

    def save_model(self, request: HttpRequest, obj: ConferenceSchedule, form: ModelForm, change: bool) -> None:
        _schedule_changed(obj, form.changed_data)
        super().save_model(request, obj, form, change)


@admin.register(ConferenceSubscription)
class ConferenceSubscriptionAdmin(_ReadOnly):
    list_display = ["user_huid", "chat_id", "bot", "language", "created_at"]
    list_filter = ["bot"]
    search_fields = ["=user_huid", "=chat_id"]


# --- recordings notifier ---------------------------------------------------------------------------


@admin.register(RecordingIntegration)
class RecordingIntegrationAdmin(_ManagedBotChoice):
    handler_key = recordings_models.HANDLER_KEY
    form = RecordingIntegrationForm
    list_display = ["name", "bot", "enabled", "secret_display", "webhook_path"]
    list_filter = ["enabled", "bot"]
    search_fields = ["name", "=id"]
    readonly_fields = ["webhook_path", "secret_display", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "bot", "enabled", "default_chat_id", "webhook_path"]}),
        (gettext_lazy("Shared secret"), {"fields": ["new_secret", "secret_display"]}),
        (gettext_lazy("Timestamps"), {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=gettext_lazy("secret"))
    def secret_display(self, obj: RecordingIntegration) -> str:
        return obj.secret_masked if obj.secret_ciphertext else "—"

    @admin.display(description=gettext_lazy("webhook address"))
    def webhook_path(self, obj: RecordingIntegration) -> str:
        if obj.pk is None or obj._state.adding:
            return "—"
        return format_html("<code>{}</code>", reverse("integrations:recordings_webhook", args=[str(obj.pk)]))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(name, {"fields": [f for f in opts["fields"] if f != "new_secret"]}) for name, opts in fieldsets]
        return fieldsets


@admin.register(RecordingContact)
class RecordingContactAdmin(_ReadOnly):
    list_display = ["user_huid", "chat_id", "bot", "language", "updated_at"]
    list_filter = ["bot"]
    search_fields = ["=user_huid", "=chat_id"]


@admin.register(WebhookRequest)
class WebhookRequestAdmin(_ReadOnly):
    list_display = ["received_at", "integration", "bot", "http_status", "status", "error", "remote_addr"]
    list_filter = ["status", "http_status", "error", "bot", "received_at"]
    search_fields = ["error", "integration_ref", "body_excerpt"]
    date_hierarchy = "received_at"
    list_select_related = ["integration", "bot"]
    fields = readonly_fields = (
        "received_at",
        "integration",
        "integration_ref",
        "bot",
        "status",
        "http_status",
        "error",
        "detail",
        "signed_at",
        "signature",
        "remote_addr",
        "body_size",
        "body_excerpt",
        "result",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Requests naming no known integration belong to no bot: superusers only.
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(bot__in=bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- bridge --------------------------------------------------------------------------------------


@admin.register(BridgeEndpoint)
class BridgeEndpointAdmin(_ManagedBotChoice):
    handler_key = bridge_models.HANDLER_KEY
    form = BridgeEndpointForm
    list_display = ["bot", "url", "enabled", "timeout_seconds", "max_attempts", "secret_display"]
    list_filter = ["enabled"]
    search_fields = ["bot__name", "url"]
    readonly_fields = ["secret_display", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["bot", "url", "enabled", "timeout_seconds", "max_attempts"]}),
        (gettext_lazy("Shared secret"), {"fields": ["new_secret", "secret_display"]}),
        (gettext_lazy("Timestamps"), {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=gettext_lazy("secret"))
    def secret_display(self, obj: BridgeEndpoint) -> str:
        return obj.secret_masked if obj.secret_ciphertext else "—"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(name, {"fields": [f for f in opts["fields"] if f != "new_secret"]}) for name, opts in fieldsets]
        return fieldsets


class BridgeAttemptInline(LedgerInline):
    model = BridgeAttempt
    fields = readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "outcome",
        "error",
        "response_excerpt",
    )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _can(request, getattr(obj, "bot", None), Capability.READ_HISTORY)


@admin.register(BridgeCall)
class BridgeCallAdmin(_ReadOnly):
    list_display = ["created_at", "bot", "status", "attempts", "response_status", "text", "chat_id", "error_short"]
    list_filter = ["status", "bot", "created_at"]
    search_fields = ["=request_id", "=correlation_id", "=chat_id", "=user_huid", "text", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["bot"]
    inlines = [BridgeAttemptInline]
    fields = readonly_fields = (
        "request_id",
        "correlation_id",
        "bot",
        "endpoint",
        "inbound",
        "status",
        "attempts",
        "next_attempt_at",
        "chat_id",
        "user_huid",
        "text",
        "request",
        "response_status",
        "response_excerpt",
        "error",
        "reply",
        "created_at",
        "started_at",
        "finished_at",
    )

    actions = ["send_again"]

    @admin.display(description=gettext_lazy("error"))
    def error_short(self, obj: BridgeCall) -> str:
        return obj.error[:80]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return _can(request, None, Capability.OPERATE)

    @admin.action(description=gettext_lazy("Send again (failed)"), permissions=["operate"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[BridgeCall]) -> None:
        actor = request.user.get_username()
        done = sum(
            bridge_call_retry(call=call, actor=actor)
            for call in queryset.select_related("bot")
            if _can(request, call.bot, Capability.OPERATE)
        )
        message = ngettext("%(count)d call sent again.", "%(count)d calls sent again.", done)
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
