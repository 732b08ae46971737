"""The REST API's views: authenticate, check the scope and the bot, parse, call one service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bots.api import serializers as s
from bots.api.auth import HasScope, TokenAuthentication, TokenRateThrottle, request_token
from bots.api.errors import BotNotServed, Conflict, api_exception_handler
from bots.api.export import csv_stream, json_stream
from bots.api.models import Broadcast, ScheduledMessage, Scope
from bots.api.parsers import LimitedJSONParser
from bots.api.selectors import INBOUND_COLUMNS, OUTBOUND_COLUMNS, LedgerFilter, inbound_rows, outbound_rows
from bots.api.services.broadcasts import (
    TooManyRecipientsError,
    broadcast_cancel,
    broadcast_progress,
    broadcast_start,
    recipients_with_status,
)
from bots.api.services.sending import BotNotServedError, message_send, scheduled_cancel
from bots.api.services.tokens import token_bots
from bots.botx.errors import BotxError
from bots.botx.outgoing import OutgoingPayloadError, UnexpectedResultError
from bots.models import Bot, CallbackReceipt, MessageEvent, OutboundMessage
from bots.services.delivery import message_status_fetch
from bots.services.ingress import not_served_message


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse({"error": "not_found", "detail": _("There is no such API endpoint.")}, status=404)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(s.ErrorSerializer) for code in codes}


# Every endpoint may answer these: a bad token, a missing scope, too many requests.
COMMON_ERRORS = (401, 403, 429)


class ApiView(GenericAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [TokenRateThrottle]
    parser_classes = [LimitedJSONParser]
    renderer_classes = [JSONRenderer]
    required_scope: str | dict[str, str] = ""

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    @property
    def token(self) -> Any:
        return request_token(self.request)

    def bots_for(self, scope: str) -> QuerySet[Bot]:
        return token_bots(self.token, scope)

    def bot_for(self, scope: str, bot_id: uuid.UUID, cts: str | None) -> Bot:
        """The bot the request names, if the token may use it for ``scope``; 403 if not (or none such)."""
        matches = list(self.bots_for(scope).filter(bot_id=bot_id).select_related("cts"))
        if cts:
            matches = [bot for bot in matches if bot.cts.name == cts]
        if not matches:
            raise exceptions.PermissionDenied(
                _("The token may not use the bot %(bot)s for %(scope)s, or there is no such bot.")
                % {"bot": bot_id, "scope": scope}
            )
        if len(matches) > 1:
            raise exceptions.ValidationError({"cts": [_("The bot ID is registered on several CTS servers; name one.")]})
        return matches[0]

    def query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def _payload_error(exc: OutgoingPayloadError) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field or "non_field_errors": [exc.problem]})


# --- bots -------------------------------------------------------------------------------------------


class BotList(ApiView):
    required_scope = Scope.BOTS_READ
    serializer_class = s.BotSerializer
    pagination_class = None

    @extend_schema(
        summary=gettext_lazy("The bots this token may use, with their state"),
        responses={200: s.BotSerializer(many=True), **_errors(*COMMON_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        bots = list(self.bots_for(Scope.BOTS_READ).select_related("cts").order_by("name", "bot_id"))
        for bot in bots:
            reason = not_served_message(bot)
            bot.served = reason is None  # type: ignore[attr-defined]
            bot.status_message = reason or ""
        return Response(s.BotSerializer(bots, many=True).data)


# --- messages ---------------------------------------------------------------------------------------


class MessageSend(ApiView):
    required_scope = Scope.MESSAGES_SEND
    serializer_class = s.SendMessageSerializer

    @extend_schema(
        summary=gettext_lazy("Send a message through a bot, now or at send_at"),
        request=s.SendMessageSerializer,
        responses={202: s.SendResultSerializer, **_errors(400, 409, 413, *COMMON_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = s.SendMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        bot = self.bot_for(Scope.MESSAGES_SEND, data["bot"], data.get("cts"))
        try:
            result = message_send(
                token=self.token,
                bot=bot,
                payload=serializer.message_payload(),
                send_at=data.get("send_at"),
                correlation_id=data.get("correlation_id"),
            )
        except OutgoingPayloadError as exc:
            raise _payload_error(exc) from None
        except BotNotServedError as exc:
            raise BotNotServed(str(exc)) from None
        body = s.SendResultSerializer(result).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class RefreshQuery(serializers.Serializer):
    refresh = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Ask BotX now who got and read the message (sent_to, received_by, read_by)."),
    )


class MessageDetail(ApiView):
    required_scope = Scope.MESSAGES_READ
    serializer_class = s.MessageStatusSerializer

    @extend_schema(
        summary=gettext_lazy("A message's delivery status"),
        parameters=[RefreshQuery],
        responses={200: s.MessageStatusSerializer, **_errors(400, 404, *COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        refresh = self.query(RefreshQuery)["refresh"]
        messages = OutboundMessage.objects.filter(bot__in=self.bots_for(Scope.MESSAGES_READ)).select_related("bot")
        message = get_object_or_404(messages, pk=pk)
        context: dict[str, Any] = {"refresh_error": None}
        if refresh:
            try:
                message_status_fetch(message=message)
            except (BotxError, UnexpectedResultError, ValueError) as exc:
                context["refresh_error"] = str(exc)
        message = get_object_or_404(
            messages.prefetch_related(
                Prefetch("events", MessageEvent.objects.order_by("at", "id")),
                Prefetch("callbacks", CallbackReceipt.objects.order_by("received_at", "id")),
            ),
            pk=pk,
        )
        return Response(s.MessageStatusSerializer(message, context=context).data)


class ScheduledDetail(ApiView):
    required_scope = {"GET": Scope.MESSAGES_READ, "DELETE": Scope.MESSAGES_SEND}
    serializer_class = s.ScheduledSerializer

    def _row(self, scope: str, pk: int) -> ScheduledMessage:
        rows = ScheduledMessage.objects.filter(bot__in=self.bots_for(scope)).select_related("bot")
        return get_object_or_404(rows, pk=pk)

    @extend_schema(
        summary=gettext_lazy("A message waiting for its time"),
        responses={200: s.ScheduledSerializer, **_errors(404, *COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.ScheduledSerializer(self._row(Scope.MESSAGES_READ, pk)).data)

    @extend_schema(
        summary=gettext_lazy("Cancel a message still waiting for its time"),
        responses={200: s.ScheduledSerializer, **_errors(404, 409, *COMMON_ERRORS)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        row = self._row(Scope.MESSAGES_SEND, pk)
        if not scheduled_cancel(scheduled=row):
            raise Conflict(_("The message is no longer waiting: it is %(status)s.") % {"status": row.status})
        row.refresh_from_db()
        return Response(s.ScheduledSerializer(row).data)


# --- broadcasts -------------------------------------------------------------------------------------


def _broadcast_body(broadcast: Broadcast) -> dict[str, Any]:
    progress = broadcast_progress(broadcast)
    broadcast.state = progress.state  # type: ignore[attr-defined]
    broadcast.counts = progress.counts  # type: ignore[attr-defined]
    return dict(s.BroadcastSerializer(broadcast).data)


class BroadcastCreate(ApiView):
    required_scope = Scope.BROADCASTS_WRITE
    serializer_class = s.BroadcastCreateSerializer

    @extend_schema(
        summary=gettext_lazy("Start a broadcast: one message to many chats, or to many users in a chat"),
        request=s.BroadcastCreateSerializer,
        responses={202: s.BroadcastSerializer, **_errors(400, 409, 413, *COMMON_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = s.BroadcastCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        bot = self.bot_for(Scope.BROADCASTS_WRITE, data["bot"], data.get("cts"))
        try:
            broadcast = broadcast_start(
                token=self.token,
                bot=bot,
                message=serializer.message_payload(),
                chat_ids=data.get("chat_ids") or (),
                chat_id=data.get("chat_id"),
                user_huids=data.get("user_huids") or (),
                name=data.get("name", ""),
                send_at=data.get("send_at"),
            )
        except OutgoingPayloadError as exc:
            raise _payload_error(exc) from None
        except BotNotServedError as exc:
            raise BotNotServed(str(exc)) from None
        except TooManyRecipientsError:
            key = "chat_ids" if data.get("chat_ids") else "user_huids"
            raise exceptions.ValidationError(
                {key: [_("At most %(limit)d recipients.") % {"limit": settings.API_BROADCAST_MAX_RECIPIENTS}]}
            ) from None
        broadcast = Broadcast.objects.select_related("bot").get(pk=broadcast.pk)
        return Response(_broadcast_body(broadcast), status=status.HTTP_202_ACCEPTED)


class BroadcastMixin(ApiView):
    def broadcast(self, scope: str, pk: int) -> Broadcast:
        rows = Broadcast.objects.filter(bot__in=self.bots_for(scope)).select_related("bot")
        return get_object_or_404(rows, pk=pk)


class BroadcastDetail(BroadcastMixin):
    required_scope = Scope.BROADCASTS_READ
    serializer_class = s.BroadcastSerializer

    @extend_schema(
        summary=gettext_lazy("A broadcast's progress"),
        responses={200: s.BroadcastSerializer, **_errors(404, *COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_broadcast_body(self.broadcast(Scope.BROADCASTS_READ, pk)))


class BroadcastCancel(BroadcastMixin):
    required_scope = Scope.BROADCASTS_WRITE
    serializer_class = s.BroadcastSerializer

    @extend_schema(
        summary=gettext_lazy("Stop a broadcast: no more messages, those still waiting are cancelled"),
        request=None,
        responses={200: s.BroadcastSerializer, **_errors(404, 409, *COMMON_ERRORS)},
    )
    def post(self, request: Request, pk: int) -> Response:
        broadcast = self.broadcast(Scope.BROADCASTS_WRITE, pk)
        if not broadcast_cancel(broadcast=broadcast, actor=self.token.actor):
            raise Conflict(_("There is nothing left to stop in this broadcast."))
        broadcast.refresh_from_db()
        return Response(_broadcast_body(broadcast))


class IdCursor(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class RecipientCursor(IdCursor):
    ordering = "id"


class RecipientFilter(serializers.Serializer):
    status = serializers.ChoiceField(
        required=False,
        choices=[*s.BroadcastCountsSerializer().fields, "enqueued"],
        help_text=gettext_lazy("Only the recipients in this status."),
    )


class BroadcastRecipients(BroadcastMixin):
    required_scope = Scope.BROADCASTS_READ
    serializer_class = s.RecipientSerializer
    pagination_class = RecipientCursor

    @extend_schema(
        summary=gettext_lazy("The recipients of a broadcast and each one's status"),
        parameters=[RecipientFilter],
        responses={200: s.RecipientSerializer(many=True), **_errors(400, 404, *COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        broadcast = self.broadcast(Scope.BROADCASTS_READ, pk)
        wanted = self.query(RecipientFilter).get("status")
        rows = recipients_with_status(broadcast)
        if wanted:
            rows = rows.filter(**{"effective_status": wanted})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.RecipientSerializer(page, many=True).data)


# --- the ledger -------------------------------------------------------------------------------------


class LedgerList(ApiView):
    """One of the two ledgers (``kind``), filtered by the query and the token's bots."""

    required_scope = Scope.LEDGER_READ
    pagination_class: type[BasePagination] | None = IdCursor
    filter_serializer: type[serializers.Serializer]
    kind = "inbound"

    def rows(self) -> QuerySet[Any]:
        filters = LedgerFilter.of(self.query(self.filter_serializer))
        bots = self.bots_for(Scope.LEDGER_READ)
        return (inbound_rows if self.kind == "inbound" else outbound_rows)(bots=bots, filters=filters)

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.rows())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class InboundList(LedgerList):
    kind = "inbound"
    filter_serializer = s.InboundFilterSerializer
    serializer_class = s.InboundRowSerializer

    @extend_schema(
        summary=gettext_lazy("Requests BotX made to the bots"),
        parameters=[s.InboundFilterSerializer],
        responses={200: s.InboundRowSerializer(many=True), **_errors(400, 404, *COMMON_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class OutboundList(LedgerList):
    kind = "outbound"
    filter_serializer = s.OutboundFilterSerializer
    serializer_class = s.OutboundRowSerializer

    @extend_schema(
        summary=gettext_lazy("Messages the bots sent or are sending"),
        parameters=[s.OutboundFilterSerializer],
        responses={200: s.OutboundRowSerializer(many=True), **_errors(400, 404, *COMMON_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


_EXPORT_RESPONSES: dict[Any, Any] = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=gettext_lazy("CSV, a header row first.")),
    (200, "application/json"): OpenApiResponse(OpenApiTypes.ANY, description=gettext_lazy("A JSON array of rows.")),
    **_errors(400, *COMMON_ERRORS),
}


class LedgerExport(LedgerList):
    pagination_class = None
    columns: tuple[str, ...] = ()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file's type is chosen by file_format, not by Accept; errors still answer in JSON.
        return super().perform_content_negotiation(request, force=True)

    def export(self, request: Request) -> StreamingHttpResponse:
        file_format = self.query(s.ExportFormatSerializer)["file_format"]
        limit = settings.API_EXPORT_MAX_ROWS
        rows = self.rows().values(*self.columns)[:limit].iterator(chunk_size=1000)
        header = ["bot_id" if column == "bot_uuid" else column for column in self.columns]
        stream = csv_stream if file_format == "csv" else json_stream
        content_type = "text/csv; charset=utf-8" if file_format == "csv" else "application/json"
        response = StreamingHttpResponse(stream(rows, self.columns, header), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{self.kind}.{file_format}"'
        return response


class InboundExport(LedgerExport):
    kind = "inbound"
    filter_serializer = s.InboundFilterSerializer
    columns = INBOUND_COLUMNS

    @extend_schema(
        summary=gettext_lazy(
            "Export requests as CSV or JSON (streamed; at most API_EXPORT_MAX_ROWS rows, newest first)"
        ),
        parameters=[s.InboundFilterSerializer, s.ExportFormatSerializer],
        responses=_EXPORT_RESPONSES,
    )
    def get(self, request: Request) -> StreamingHttpResponse:  # type: ignore[override]
        return self.export(request)


class OutboundExport(LedgerExport):
    kind = "outbound"
    filter_serializer = s.OutboundFilterSerializer
    columns = OUTBOUND_COLUMNS

    @extend_schema(
        summary=gettext_lazy(
            "Export messages as CSV or JSON (streamed; at most API_EXPORT_MAX_ROWS rows, newest first)"
        ),
        parameters=[s.OutboundFilterSerializer, s.ExportFormatSerializer],
        responses=_EXPORT_RESPONSES,
    )
    def get(self, request: Request) -> StreamingHttpResponse:  # type: ignore[override]
        return self.export(request)
