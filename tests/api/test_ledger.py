"""The ledger through the API: filters, cursor pagination, CSV and JSON export; only the token's bots."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from bots.models import Bot, InboundEvent, OutboundMessage
from tests.api.conftest import Api

CHAT = uuid.UUID("6f0c4b8e-2f4a-4a8e-9d3c-1b2a3c4d5e6f")


@pytest.fixture
def ledger(bot: Bot, make_bot: Any) -> dict[str, Any]:
    now = timezone.now()
    other = make_bot(name="Other")
    shared = uuid.uuid4()
    rows = {
        "old": OutboundMessage.objects.create(
            bot=bot, method="notification", payload={}, text="Old news", created_at=now - dt.timedelta(days=3)
        ),
        "sent": OutboundMessage.objects.create(
            bot=bot,
            method="notification",
            payload={},
            text="Payday",
            chat_id=CHAT,
            status="delivered",
            correlation_id=shared,
        ),
        "failed": OutboundMessage.objects.create(
            bot=bot,
            method="notification",
            payload={},
            text="=HYPERLINK(1)",
            status="failed",
            error_reason="chat_not_found",
        ),
        "foreign": OutboundMessage.objects.create(bot=other, method="notification", payload={}, text="Payday too"),
        "command": InboundEvent.objects.create(
            bot=bot, endpoint="command", text="/help", chat_id=CHAT, correlation_id=shared, status="done"
        ),
        "rejected": InboundEvent.objects.create(
            bot=bot, endpoint="command", text="", status="rejected", error="bad token"
        ),
        "foreign_in": InboundEvent.objects.create(bot=other, endpoint="command", text="/help"),
    }
    return rows


def ids(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.content
    return [row["id"] for row in answer.json()["results"]]


def test_outbound_rows_are_filtered_by_every_filter_and_only_of_the_tokens_bots(
    api: Api, ledger: dict[str, Any], bot: Bot
) -> None:
    sent, failed, old = ledger["sent"].pk, ledger["failed"].pk, ledger["old"].pk

    assert ids(api.get("ledger/outbound/")) == [failed, sent, old]
    assert ids(api.get("ledger/outbound/", {"status": "failed"})) == [failed]
    assert ids(api.get("ledger/outbound/", {"chat_id": str(CHAT)})) == [sent]
    assert ids(api.get("ledger/outbound/", {"q": "payday"})) == [sent]
    assert ids(api.get("ledger/outbound/", {"q": "chat_not"})) == [failed]
    assert ids(api.get("ledger/outbound/", {"correlation_id": str(ledger["sent"].correlation_id)})) == [sent]
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert ids(api.get("ledger/outbound/", {"since": since})) == [failed, sent]
    assert ids(api.get("ledger/outbound/", {"until": since})) == [old]
    assert ids(api.get("ledger/outbound/", {"bot": str(bot.bot_id)})) == [failed, sent, old]
    assert ids(api.get("ledger/outbound/", {"bot": str(ledger["foreign"].bot.bot_id)})) == []


def test_inbound_rows_are_filtered_too(api: Api, ledger: dict[str, Any]) -> None:
    command, rejected = ledger["command"].pk, ledger["rejected"].pk

    assert ids(api.get("ledger/inbound/")) == [rejected, command]
    assert ids(api.get("ledger/inbound/", {"status": "rejected"})) == [rejected]
    assert ids(api.get("ledger/inbound/", {"q": "help"})) == [command]
    assert ids(api.get("ledger/inbound/", {"correlation_id": str(ledger["command"].correlation_id)})) == [command]
    row = api.get("ledger/inbound/", {"chat_id": str(CHAT)}).json()["results"][0]
    assert "raw_body" not in row and "headers" not in row


def test_bad_filters_are_answered_400_with_the_field(api: Api, ledger: dict[str, Any]) -> None:
    answer = api.get("ledger/outbound/", {"status": "lost", "since": "yesterday", "chat_id": "x"})

    assert answer.status_code == 400
    assert set(answer.json()["fields"]) == {"status", "since", "chat_id"}


def test_pages_follow_a_cursor_without_gaps_or_repeats(api: Api, bot: Bot) -> None:
    made = [
        OutboundMessage.objects.create(bot=bot, method="notification", payload={}, text=str(i)).pk for i in range(7)
    ]

    seen: list[int] = []
    page = api.get("ledger/outbound/", {"limit": 3}).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if not page["next"]:
            break
        page = api.client.get(page["next"], headers=api.headers()).json()
    assert seen == sorted(made, reverse=True)


def test_the_outbound_export_is_a_streamed_csv_safe_for_spreadsheets(api: Api, ledger: dict[str, Any]) -> None:
    answer = api.get("ledger/outbound/export/", {"status": "failed"})

    assert answer.status_code == 200
    assert answer.streaming
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["id"] == str(ledger["failed"].pk)
    assert rows[0]["text"] == "'=HYPERLINK(1)"
    assert rows[0]["bot_id"] == str(ledger["failed"].bot.bot_id)
    assert rows[0]["error_reason"] == "chat_not_found"


def test_the_inbound_export_as_json_has_the_same_rows_as_the_list(api: Api, ledger: dict[str, Any]) -> None:
    answer = api.get("ledger/inbound/export/", {"file_format": "json"})

    assert answer["Content-Type"] == "application/json"
    records = json.loads(b"".join(answer.streaming_content))
    assert [r["id"] for r in records] == ids(api.get("ledger/inbound/"))
    assert records[-1]["text"] == "/help"
    assert records[-1]["chat_id"] == str(CHAT)
    assert api.get("ledger/inbound/export/", {"file_format": "xml"}).status_code == 400


@override_settings(API_EXPORT_MAX_ROWS=2)
def test_an_export_stops_at_the_row_limit(api: Api, ledger: dict[str, Any]) -> None:
    answer = api.get("ledger/outbound/export/", {"file_format": "json"})

    assert len(json.loads(b"".join(answer.streaming_content))) == 2
