"""What the API takes and gives, as serializers: they check types and shapes, and describe the schema.

The message fields are the outbox's own (``bots/botx/outgoing.py``: ``_MessageFields``,
``NotificationPayload``); the serializers here check their types, and the outbox's
``validate_payload`` has the last word on everything else (lengths, mention markers, sizes).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots.api.models import BroadcastRecipient, ScheduledMessage
from bots.models import InboundEvent, OutboundMessage

# The top-level keys of a message that go to the outbox as the caller wrote them.
MESSAGE_KEYS = (
    "body",
    "metadata",
    "bubbles",
    "keyboard",
    "mentions",
    "file",
    "silent_response",
    "buttons_auto_adjust",
    "stealth_mode",
    "push",
    "force_dnd",
)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know: a misspelt field is an error, not silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            {key: [_("Unknown field.")] for key in sorted(set(data) - set(self.fields))}
            if isinstance(data, dict)
            else {}
        )
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ButtonSerializer(StrictSerializer):
    label = serializers.CharField(trim_whitespace=False, help_text=_("The button's text."))  # type: ignore[assignment]
    command = serializers.CharField(
        required=False, trim_whitespace=False, help_text=_("The command a press sends; not needed for a link.")
    )
    data = serializers.DictField(required=False, help_text=_("Comes back with the press."))  # type: ignore[assignment]
    silent = serializers.BooleanField(required=False, help_text=_("Default true: the press posts no text."))
    width = serializers.IntegerField(required=False, min_value=1)
    alert = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    font_color = serializers.CharField(required=False)
    background_color = serializers.CharField(required=False)
    align = serializers.ChoiceField(required=False, choices=["left", "center", "right"])
    link = serializers.CharField(required=False, help_text=_("A URL the client opens itself."))
    process_on_client = serializers.BooleanField(required=False)


class MentionSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=["user", "contact", "chat", "channel", "all"])
    id = serializers.UUIDField(help_text=_("Your id for the mention; write {mention:<id>} in the body where it goes."))
    user_huid = serializers.UUIDField(required=False, help_text=_("For user and contact mentions."))
    chat_id = serializers.UUIDField(required=False, help_text=_("For chat and channel mentions."))
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class FileSerializer(StrictSerializer):
    file_name = serializers.CharField()
    data_base64 = serializers.CharField(help_text=_("The file's content, standard base64 with padding."))
    mimetype = serializers.CharField(required=False, help_text=_("Default: by the file name's extension."))


class MessageFieldsSerializer(StrictSerializer):
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text=_("Markdown text, up to 4096 characters.")
    )
    metadata = serializers.DictField(required=False, help_text=_("Kept with the message, for self-updating widgets."))
    bubbles = serializers.ListField(
        required=False, child=serializers.ListField(child=ButtonSerializer()), help_text=_("Rows of inline buttons.")
    )
    keyboard = serializers.ListField(
        required=False, child=serializers.ListField(child=ButtonSerializer()), help_text=_("Rows of keyboard buttons.")
    )
    mentions = serializers.ListField(required=False, child=MentionSerializer())
    file = FileSerializer(required=False)
    silent_response = serializers.BooleanField(required=False)
    buttons_auto_adjust = serializers.BooleanField(required=False)
    stealth_mode = serializers.BooleanField(required=False, help_text=_("Send in stealth mode."))
    push = serializers.BooleanField(required=False, help_text=_("Whether a push notification is sent."))
    force_dnd = serializers.BooleanField(required=False, help_text=_("Push even to users in do-not-disturb."))

    def message_payload(self) -> dict[str, Any]:
        """The message fields exactly as sent (checked types), for the outbox to check the rest."""
        data = self.initial_data
        return {key: data[key] for key in MESSAGE_KEYS if key in data}


class BotTarget(serializers.Serializer):
    bot = serializers.UUIDField(help_text=_("The bot ID that sends."))
    cts = serializers.CharField(
        required=False, help_text=_("The CTS server's name, when the bot ID is registered on several.")
    )


class SendMessageSerializer(MessageFieldsSerializer, BotTarget):
    chat_id = serializers.UUIDField(help_text=_("The chat to post to."))
    recipients = serializers.ListField(
        required=False,
        allow_null=True,
        allow_empty=False,
        child=serializers.UUIDField(),
        help_text=_("Only these users of the chat get it; absent or null: everyone in the chat."),
    )
    send_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=_("Send at this time (ISO 8601); absent or past: now.")
    )
    correlation_id = serializers.UUIDField(
        required=False, help_text=_("Your id for this message, to find it in the ledger; default: a new one.")
    )

    def message_payload(self) -> dict[str, Any]:
        payload = {"chat_id": str(self.validated_data["chat_id"]), **super().message_payload()}
        if self.validated_data.get("recipients") is not None:
            payload["recipients"] = [str(huid) for huid in self.validated_data["recipients"]]
        return payload


class SendResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField(allow_null=True, help_text=_("The outbox row; null while scheduled."))
    scheduled_id = serializers.IntegerField(allow_null=True, help_text=_("Set when the message waits for send_at."))
    status = serializers.CharField()
    correlation_id = serializers.UUIDField()
    send_at = serializers.DateTimeField(allow_null=True)


# --- reading ---------------------------------------------------------------------------------------


class BotSerializer(serializers.Serializer):
    bot_id = serializers.UUIDField()
    cts = serializers.CharField(source="cts.name")
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    handler = serializers.CharField()
    protocol_version = serializers.IntegerField()
    enabled = serializers.BooleanField()
    served = serializers.BooleanField(help_text=_("Enabled, on protocol 4 and with handler code."))
    status_message = serializers.CharField(help_text=_("Why it is not served, when it is not."))
    rate_limit = serializers.IntegerField(help_text=_("Messages per second."))
    secret_key = serializers.CharField(source="secret_masked", help_text=_("Masked: its last four characters."))


class ErrorInfoSerializer(serializers.Serializer):
    kind = serializers.CharField(source="error_kind")
    reason = serializers.CharField(source="error_reason")
    detail = serializers.CharField(source="error_detail")


class CallbackSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    reason = serializers.CharField()
    errors = serializers.ListField(child=serializers.JSONField())  # type: ignore[assignment]


class HistorySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.CharField()
    note = serializers.CharField()


class ReadReceiptSerializer(serializers.Serializer):
    user_huid = serializers.UUIDField()
    read_at = serializers.DateTimeField()


class ReceiveReceiptSerializer(serializers.Serializer):
    user_huid = serializers.UUIDField()
    received_at = serializers.DateTimeField()


class DeliveryStatusSerializer(serializers.Serializer):
    chat_id = serializers.UUIDField()
    sent_to = serializers.ListField(child=serializers.UUIDField())
    read_by = ReadReceiptSerializer(many=True)
    received_by = ReceiveReceiptSerializer(many=True)


class MessageStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bot_id = serializers.UUIDField(source="bot.bot_id", allow_null=True)
    correlation_id = serializers.UUIDField()
    method = serializers.CharField()
    chat_id = serializers.UUIDField(allow_null=True)
    status = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    sync_id = serializers.UUIDField(allow_null=True)
    error = serializers.SerializerMethodField()
    callbacks = CallbackSerializer(many=True)
    history = HistorySerializer(many=True, source="events")
    delivery_status = DeliveryStatusSerializer(allow_null=True, help_text=_("Who got and read it, as last fetched."))
    delivery_status_at = serializers.DateTimeField(allow_null=True)
    refresh_error = serializers.SerializerMethodField()

    @extend_schema_field(ErrorInfoSerializer(allow_null=True))
    def get_error(self, obj: OutboundMessage) -> dict[str, Any] | None:
        if not obj.error_kind and not obj.error_reason:
            return None
        return dict(ErrorInfoSerializer(obj).data)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_refresh_error(self, obj: OutboundMessage) -> str | None:
        return self.context.get("refresh_error")


class ScheduledSerializer(serializers.ModelSerializer):
    bot_id = serializers.UUIDField(source="bot.bot_id")
    message_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = ScheduledMessage
        fields = [
            "id",
            "bot_id",
            "correlation_id",
            "chat_id",
            "send_at",
            "status",
            "message_id",
            "error",
            "created_at",
            "enqueued_at",
        ]


# --- broadcasts ------------------------------------------------------------------------------------


class BroadcastCreateSerializer(MessageFieldsSerializer, BotTarget):
    name = serializers.CharField(required=False, allow_blank=True, max_length=128)
    chat_ids = serializers.ListField(
        required=False,
        allow_empty=False,
        child=serializers.UUIDField(),
        help_text=_("One message to each of these chats."),
    )
    chat_id = serializers.UUIDField(required=False, help_text=_("With user_huids: the chat the users get it in."))
    user_huids = serializers.ListField(
        required=False,
        allow_empty=False,
        child=serializers.UUIDField(),
        help_text=_("One message to each of these users, in chat_id, seen by that user only."),
    )
    send_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        chats, users, chat = attrs.get("chat_ids"), attrs.get("user_huids"), attrs.get("chat_id")
        if chats and (users or chat):
            raise serializers.ValidationError({"chat_ids": [_("Give either chat_ids, or chat_id with user_huids.")]})
        if chat is not None and not users:
            raise serializers.ValidationError({"user_huids": [_("Give the users of chat_id to send to.")]})
        if not chats and not users:
            raise serializers.ValidationError({"chat_ids": [_("Give chat_ids, or chat_id with user_huids.")]})
        if users and chat is None:
            raise serializers.ValidationError({"chat_id": [_("Messages to users need the chat they are sent in.")]})
        return attrs


class BroadcastCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text=_("Not in the outbox yet."))
    pending = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField(help_text=_("Accepted by BotX, waiting for its callback."))
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    unknown = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class BroadcastSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    bot_id = serializers.UUIDField(source="bot.bot_id")
    correlation_id = serializers.UUIDField()
    status = serializers.CharField()
    state = serializers.ChoiceField(
        choices=["scheduled", "queued", "running", "sending", "done", "cancelled"],
        help_text=_("sending: every message is in the outbox, some not settled; done: all settled."),
    )
    send_at = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    counts = BroadcastCountsSerializer()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    enqueued_at = serializers.DateTimeField(allow_null=True)


class RecipientSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="effective_status")
    message_id = serializers.IntegerField(allow_null=True)
    sync_id = serializers.UUIDField(source="message.sync_id", allow_null=True, default=None)

    class Meta:
        model = BroadcastRecipient
        fields = ["id", "chat_id", "user_huid", "status", "message_id", "sync_id", "error"]


# --- the ledger ------------------------------------------------------------------------------------


class LedgerFilterSerializer(serializers.Serializer):
    bot = serializers.UUIDField(required=False, help_text=_("A bot ID."))
    since = serializers.DateTimeField(required=False, help_text=_("From this time on (inclusive)."))
    until = serializers.DateTimeField(required=False, help_text=_("Before this time."))
    status = serializers.CharField(required=False)
    chat_id = serializers.UUIDField(required=False)
    correlation_id = serializers.UUIDField(required=False)
    sync_id = serializers.UUIDField(required=False)
    q = serializers.CharField(required=False, help_text=_("Text search in the command or message text."))


class InboundFilterSerializer(LedgerFilterSerializer):
    status = serializers.ChoiceField(required=False, choices=InboundEvent.Status.choices)  # type: ignore[assignment]
    endpoint = serializers.ChoiceField(required=False, choices=InboundEvent.Endpoint.choices)
    user_huid = serializers.UUIDField(required=False)


class OutboundFilterSerializer(LedgerFilterSerializer):
    status = serializers.ChoiceField(required=False, choices=OutboundMessage.Status.choices)  # type: ignore[assignment]
    method = serializers.CharField(required=False)


class ExportFormatSerializer(serializers.Serializer):
    file_format = serializers.ChoiceField(choices=["csv", "json"], default="csv", required=False)


class InboundRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    correlation_id = serializers.UUIDField()
    bot_id = serializers.UUIDField(source="bot_uuid", allow_null=True)
    endpoint = serializers.CharField()
    status = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    verification = serializers.CharField()
    sync_id = serializers.UUIDField(allow_null=True)
    chat_id = serializers.UUIDField(allow_null=True)
    user_huid = serializers.UUIDField(allow_null=True)
    text = serializers.CharField()
    error = serializers.CharField()


class OutboundRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    correlation_id = serializers.UUIDField()
    bot_id = serializers.UUIDField(source="bot_uuid", allow_null=True)
    method = serializers.CharField()
    status = serializers.CharField()
    chat_id = serializers.UUIDField(allow_null=True)
    sync_id = serializers.UUIDField(allow_null=True)
    text = serializers.CharField()
    created_by = serializers.CharField()
    attempts = serializers.IntegerField()
    sent_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error_kind = serializers.CharField()
    error_reason = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text=_("A stable code: invalid, not_authenticated, permission_denied, …"))
    detail = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False,
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("For invalid input: each field's path and what is wrong with it."),
    )
