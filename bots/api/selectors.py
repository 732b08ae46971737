"""The API's reads: the ledger as rows of plain values, filtered, and the same rows for export."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet

from bots.models import Bot, InboundEvent, OutboundMessage

INBOUND_COLUMNS = (
    "id",
    "received_at",
    "correlation_id",
    "bot_uuid",
    "endpoint",
    "status",
    "http_status",
    "verification",
    "sync_id",
    "chat_id",
    "user_huid",
    "text",
    "error",
)
OUTBOUND_COLUMNS = (
    "id",
    "created_at",
    "correlation_id",
    "bot_uuid",
    "method",
    "status",
    "chat_id",
    "sync_id",
    "text",
    "created_by",
    "attempts",
    "sent_at",
    "finished_at",
    "error_kind",
    "error_reason",
)


@dataclass(frozen=True)
class LedgerFilter:
    bot: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    status: str | None = None
    chat_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    sync_id: uuid.UUID | None = None
    q: str | None = None
    endpoint: str | None = None  # inbound only
    user_huid: uuid.UUID | None = None  # inbound only
    method: str | None = None  # outbound only

    @classmethod
    def of(cls, values: dict[str, Any]) -> LedgerFilter:
        return cls(**{key: value for key, value in values.items() if key in cls.__dataclass_fields__})


def _common(rows: QuerySet[Any], f: LedgerFilter, time_field: str) -> QuerySet[Any]:
    if f.bot is not None:
        rows = rows.filter(bot__bot_id=f.bot)
    if f.since is not None:
        rows = rows.filter(**{f"{time_field}__gte": f.since})
    if f.until is not None:
        rows = rows.filter(**{f"{time_field}__lt": f.until})
    for name in ("status", "chat_id", "correlation_id", "sync_id"):
        value = getattr(f, name)
        if value is not None:
            rows = rows.filter(**{name: value})
    return rows


def inbound_rows(*, bots: QuerySet[Bot], filters: LedgerFilter) -> QuerySet[InboundEvent]:
    rows = _common(InboundEvent.objects.filter(bot__in=bots), filters, "received_at")
    if filters.endpoint:
        rows = rows.filter(endpoint=filters.endpoint)
    if filters.user_huid is not None:
        rows = rows.filter(user_huid=filters.user_huid)
    if filters.q:
        rows = rows.filter(Q(text__icontains=filters.q) | Q(error__icontains=filters.q))
    return rows.annotate(bot_uuid=F("bot__bot_id")).order_by("-id")


def outbound_rows(*, bots: QuerySet[Bot], filters: LedgerFilter) -> QuerySet[OutboundMessage]:
    rows = _common(OutboundMessage.objects.filter(bot__in=bots), filters, "created_at")
    if filters.method:
        rows = rows.filter(method=filters.method)
    if filters.q:
        rows = rows.filter(Q(text__icontains=filters.q) | Q(error_reason__icontains=filters.q))
    return rows.annotate(bot_uuid=F("bot__bot_id")).order_by("-id")
