"""The message ledger in the console: read-only, searchable, limited to the bots the user's role allows.

Operators (and owners) may act on outbound messages: send an unknown or failed one again, cancel a
pending one, fetch its delivery status from BotX. Everything else is for reading.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bots.admin.registry import BotScopedAdmin, ReadOnlyMixin, _can
from bots.botx.errors import BotxError
from bots.models import CallbackReceipt, Capability, DeliveryAttempt, InboundEvent, MessageEvent, OutboundMessage
from bots.selectors import bot_list_for_user
from bots.services.delivery import message_cancel, message_resend, message_status_fetch


def _pretty(value: Any) -> str:
    return format_html(
        "<pre style='white-space: pre-wrap; margin: 0'>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2)
    )


def _raw(text: str) -> str:
    try:
        return _pretty(json.loads(text))
    except ValueError:
        return format_html("<pre style='white-space: pre-wrap; margin: 0'>{}</pre>", text)


def _json_display(field: str, label: Any) -> Any:
    """An admin column showing a JSON field of the row, indented."""

    @admin.display(description=label)
    def show(admin_: Any, obj: Any) -> str:
        return _pretty(getattr(obj, field))

    return show


class ReadOnlyLedgerAdmin(ReadOnlyMixin, BotScopedAdmin):
    list_per_page = 50

    @admin.display(description=gettext_lazy("correlation chain"))
    def chain(self, obj: Any) -> str:
        return _chain(obj.correlation_id)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Rows of a deleted bot (bot is NULL) stay readable to superusers only.
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(bot__in=bot_list_for_user(user=request.user, capability=Capability.READ_HISTORY))


def _chain(correlation_id: Any) -> str:
    """Everything of one conversation turn: the request, the messages it caused, their callbacks."""
    rows: list[tuple[str, str, str, str]] = []
    for event in InboundEvent.objects.filter(correlation_id=correlation_id).order_by("received_at"):
        url = reverse("admin:bots_inboundevent_change", args=[event.pk])
        rows.append((url, f"{event.received_at:%H:%M:%S.%f}"[:-3], str(event), event.text))
    for message in OutboundMessage.objects.filter(correlation_id=correlation_id).order_by("id"):
        url = reverse("admin:bots_outboundmessage_change", args=[message.pk])
        rows.append((url, f"{message.created_at:%H:%M:%S.%f}"[:-3], str(message), message.text))
        for receipt in message.callbacks.all():
            url = reverse("admin:bots_callbackreceipt_change", args=[receipt.pk])
            rows.append((url, f"{receipt.received_at:%H:%M:%S.%f}"[:-3], _("callback: %s") % receipt, ""))
    return format_html(
        "<table>{}</table>",
        format_html_join("", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td></tr>", rows),
    )


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyLedgerAdmin):
    list_display = ["received_at", "bot", "endpoint", "status", "http_status", "verification", "text", "chat_id"]
    list_filter = ["endpoint", "status", "verification", "http_status", "bot", "received_at"]
    search_fields = ["=sync_id", "=correlation_id", "=chat_id", "=user_huid", "text", "bot_ref"]
    date_hierarchy = "received_at"
    list_select_related = ["bot"]
    fields = readonly_fields = (
        "correlation_id",
        "bot",
        "bot_ref",
        "endpoint",
        "status",
        "http_status",
        "verification",
        "error",
        "received_at",
        "queued_at",
        "started_at",
        "finished_at",
        "attempts",
        "duplicates",
        "sync_id",
        "chat_id",
        "user_huid",
        "text",
        "remote_addr",
        "headers_pretty",
        "summary_pretty",
        "raw_body_pretty",
        "chain",
    )

    headers_pretty = _json_display("headers", gettext_lazy("headers"))

    summary_pretty = _json_display("summary", gettext_lazy("summary"))

    @admin.display(description=gettext_lazy("raw body"))
    def raw_body_pretty(self, obj: InboundEvent) -> str:
        return _raw(obj.raw_body)


class LedgerInline(ReadOnlyMixin, admin.TabularInline):
    """Rows of a message's page: visible to whoever may read the message's bot, changed by nobody."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Without a message (Django asks so when it builds the rows' queryset) it is enough to read some
        # bot: the message page itself is only reachable for messages of the bots the user may read.
        return _can(request, getattr(obj, "bot", None), Capability.READ_HISTORY)


class DeliveryAttemptInline(LedgerInline):
    model = DeliveryAttempt
    fields = readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "http_method",
        "path",
        "status_code",
        "outcome",
        "error",
        "response_body",
    )


class MessageEventInline(LedgerInline):
    model = MessageEvent
    fields = readonly_fields = ("at", "status", "note")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyLedgerAdmin):
    list_display = ["created_at", "bot", "method", "status", "attempts", "chat_id", "text", "sync_id"]
    list_filter = ["status", "method", "bot", "error_kind", "created_at"]
    search_fields = ["=sync_id", "=correlation_id", "=chat_id", "text", "error_reason"]
    date_hierarchy = "created_at"
    list_select_related = ["bot"]
    inlines = [MessageEventInline, DeliveryAttemptInline]
    actions = ["resend", "cancel", "fetch_status"]
    fields = readonly_fields = (
        "correlation_id",
        "bot",
        "inbound",
        "method",
        "chat_id",
        "status",
        "attempts",
        "created_by",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "finished_at",
        "sync_id",
        "error_kind",
        "error_reason",
        "error_detail",
        "payload_pretty",
        "result_pretty",
        "error_data_pretty",
        "delivery_status_pretty",
        "delivery_status_at",
        "chain",
    )

    payload_pretty = _json_display("payload", gettext_lazy("payload"))

    result_pretty = _json_display("result", gettext_lazy("BotX result"))

    error_data_pretty = _json_display("error_data", gettext_lazy("error data"))

    delivery_status_pretty = _json_display("delivery_status", gettext_lazy("message status"))

    def _operable(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> list[OutboundMessage]:
        return [m for m in queryset.select_related("bot") if m.bot and _can(request, m.bot, Capability.OPERATE)]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return _can(request, None, Capability.OPERATE)

    def _each(self, request: HttpRequest, queryset: QuerySet[OutboundMessage], service: Any) -> int:
        """Run an operator service on every selected message the user may operate; count those it changed."""
        actor = request.user.get_username()
        return sum(service(message=m, actor=actor) for m in self._operable(request, queryset))

    @admin.action(description=gettext_lazy("Send again (unknown or failed)"), permissions=["operate"])
    def resend(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        done = self._each(request, queryset, message_resend)
        message = ngettext("%(count)d message queued again.", "%(count)d messages queued again.", done)
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Cancel (pending or unknown)"), permissions=["operate"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        done = self._each(request, queryset, message_cancel)
        message = ngettext("%(count)d message cancelled.", "%(count)d messages cancelled.", done)
        self.message_user(request, message % {"count": done}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Fetch delivery status from BotX"), permissions=["operate"])
    def fetch_status(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        for message in self._operable(request, queryset):
            try:
                status = message_status_fetch(message=message)
            except (BotxError, ValueError) as exc:
                self.message_user(request, f"#{message.pk}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                _("#%(id)s: sent to %(sent)d, received by %(received)d, read by %(read)d.")
                % {
                    "id": message.pk,
                    "sent": len(status.get("sent_to", [])),
                    "received": len(status.get("received_by", [])),
                    "read": len(status.get("read_by", [])),
                },
                messages.SUCCESS,
            )


@admin.register(CallbackReceipt)
class CallbackReceiptAdmin(ReadOnlyLedgerAdmin):
    list_display = ["received_at", "bot", "sync_id", "ok", "reason", "message", "matched_at"]
    list_filter = ["ok", "reason", "bot", "received_at"]
    search_fields = ["=sync_id", "reason"]
    date_hierarchy = "received_at"
    fields = readonly_fields = (
        "received_at",
        "bot",
        "sync_id",
        "ok",
        "reason",
        "errors",
        "error_data",
        "message",
        "matched_at",
        "inbound",
    )
