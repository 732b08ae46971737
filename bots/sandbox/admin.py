"""The sandbox in the operator console: fault settings and the sandbox's users and chats to edit;
messages, deliveries and Smart App events to read."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Field, ForeignKey
from django.forms import Field as FormField
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from bots.sandbox.models import (
    SandboxChat,
    SandboxDelivery,
    SandboxFaults,
    SandboxMember,
    SandboxMessage,
    SandboxSmartAppEvent,
    SandboxUser,
)
from bots.sandbox.selectors import sandbox_cts_list


@admin.register(SandboxFaults)
class SandboxFaultsAdmin(admin.ModelAdmin):
    list_display = (
        "cts",
        "latency_ms",
        "error_rate",
        "throttle_rate",
        "timeout_rate",
        "callback_drop_rate",
        "callback_delay_ms",
        "bot_base_url",
    )
    fieldsets = (
        (None, {"fields": ("cts",)}),
        (_("Answers"), {"fields": ("latency_ms", "error_rate", "throttle_rate", "retry_after_seconds")}),
        (_("Timeouts after receiving"), {"fields": ("timeout_rate", "timeout_hold_ms")}),
        (
            _("Callbacks and events to bots"),
            {"fields": ("bot_base_url", "callback_jwt", "callback_drop_rate", "callback_delay_ms")},
        ),
        (_("Bot properties"), {"fields": ("allow_chat_creating", "token_lifetime_seconds")}),
    )

    def formfield_for_dbfield(self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any) -> FormField | None:
        if db_field.name == "bot_base_url":
            # Bots in tests and demos listen on plain HTTP; a URL typed without a scheme means that.
            kwargs["assume_scheme"] = "http"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        if db_field.name == "cts":
            # Only CTS servers served by this sandbox can have sandbox faults.
            kwargs["queryset"] = sandbox_cts_list()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(SandboxUser)
class SandboxUserAdmin(admin.ModelAdmin):
    list_display = ("name", "huid", "ad_login", "ad_domain", "user_kind", "active")
    list_filter = ("user_kind", "active")
    search_fields = ("name", "huid", "ad_login", "other_id")


class SandboxMemberInline(admin.TabularInline):
    model = SandboxMember
    extra = 0
    fields = ("huid", "kind", "admin", "joined_at")


@admin.register(SandboxChat)
class SandboxChatAdmin(admin.ModelAdmin):
    list_display = ("name", "group_chat_id", "chat_type", "stealth", "created_at")
    list_filter = ("chat_type", "stealth")
    search_fields = ("name", "group_chat_id")
    inlines = (SandboxMemberInline,)


class ReadOnlyAdmin(admin.ModelAdmin):
    """What happened in the sandbox is a record, not a form."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SandboxMessage)
class SandboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("sync_id", "chat", "sender_kind", "sender_huid", "body", "created_at", "edited_at", "deleted_at")
    list_filter = ("sender_kind",)
    search_fields = ("sync_id", "body", "sender_huid")
    list_select_related = ("chat",)


@admin.register(SandboxDelivery)
class SandboxDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("sync_id", "kind", "bot", "status", "response_status", "created_at", "delivered_at")
    list_filter = ("kind", "status")
    search_fields = ("sync_id", "url")
    list_select_related = ("bot",)


@admin.register(SandboxSmartAppEvent)
class SandboxSmartAppEventAdmin(ReadOnlyAdmin):
    list_display = ("kind", "bot", "group_chat_id", "sync_id", "created_at")
    list_filter = ("kind",)
    list_select_related = ("bot",)
