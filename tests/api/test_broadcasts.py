"""Broadcasts: recipients stored, outbox rows made in batches, progress read from the rows' statuses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.test import override_settings
from django.utils import timezone

from bots.api.models import Broadcast, BroadcastRecipient
from bots.api.services.broadcasts import broadcast_run, broadcasts_due
from bots.models import Bot, OutboundMessage
from bots.services.outbox import message_status_change
from tests.api.conftest import Api

Status = OutboundMessage.Status


def chats(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def start(api: Api, bot: Bot, **fields: Any) -> Any:
    return api.post("broadcasts/", {"bot": str(bot.bot_id), "body": "All hands at 15:00", **fields})


def test_a_broadcast_to_chats_gives_each_chat_its_own_outbox_row_in_batches(api: Api, bot: Bot) -> None:
    targets = chats(5)

    answer = start(
        api, bot, chat_ids=targets, name="all hands", bubbles=[[{"label": "Agenda", "link": "https://x.example"}]]
    )

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert (body["status"], body["state"], body["total"]) == ("queued", "queued", 5)
    assert body["counts"]["queued"] == 5
    assert not OutboundMessage.objects.exists(), "made by the task, after commit"

    assert broadcast_run(broadcast_id=body["id"], batch=2) == Broadcast.Status.ENQUEUED
    rows = OutboundMessage.objects.order_by("id")
    assert sorted(str(row.chat_id) for row in rows) == sorted(targets)
    assert {row.text for row in rows} == {"All hands at 15:00"}
    assert all(row.payload["bubbles"] == [[{"label": "Agenda", "link": "https://x.example"}]] for row in rows)
    assert {str(row.correlation_id) for row in rows} == {body["correlation_id"]}
    assert broadcast_run(broadcast_id=body["id"]) is None, "a second run finds nothing to do"
    assert OutboundMessage.objects.count() == 5

    progress = api.get(f"broadcasts/{body['id']}/").json()
    assert (progress["state"], progress["counts"]["pending"]) == ("sending", 5)


def test_progress_follows_the_outbox_rows_to_done(api: Api, bot: Bot) -> None:
    body = start(api, bot, chat_ids=chats(3)).json()
    broadcast_run(broadcast_id=body["id"])
    first, second, third = OutboundMessage.objects.order_by("id")

    message_status_change(first, Status.DELIVERED)
    message_status_change(second, Status.FAILED)
    progress = api.get(f"broadcasts/{body['id']}/").json()
    assert progress["state"] == "sending"
    assert {k: v for k, v in progress["counts"].items() if v} == {"delivered": 1, "failed": 1, "pending": 1}

    message_status_change(third, Status.DELIVERED)
    progress = api.get(f"broadcasts/{body['id']}/").json()
    assert progress["state"] == "done"
    assert {k: v for k, v in progress["counts"].items() if v} == {"delivered": 2, "failed": 1}

    failed = api.get(f"broadcasts/{body['id']}/recipients/", {"status": "failed"}).json()
    assert [r["message_id"] for r in failed["results"]] == [second.pk]


def test_a_broadcast_to_users_sends_each_user_a_message_in_the_chat_only_they_see(api: Api, bot: Bot) -> None:
    chat, users = str(uuid.uuid4()), chats(3)

    body = start(api, bot, chat_id=chat, user_huids=users).json()
    broadcast_run(broadcast_id=body["id"])

    rows = OutboundMessage.objects.order_by("id")
    assert [row.payload["recipients"] for row in rows] == [[user] for user in users]
    assert {str(row.chat_id) for row in rows} == {chat}


def test_the_recipients_list_is_paginated_with_each_ones_status(api: Api, bot: Bot) -> None:
    body = start(api, bot, chat_ids=chats(5)).json()
    broadcast_run(broadcast_id=body["id"])

    seen: list[int] = []
    page = api.get(f"broadcasts/{body['id']}/recipients/", {"limit": 2}).json()
    while True:
        assert all(r["status"] == "pending" for r in page["results"])
        seen += [r["id"] for r in page["results"]]
        if not page["next"]:
            break
        page = api.client.get(page["next"], headers=api.headers()).json()
    assert seen == sorted(BroadcastRecipient.objects.values_list("id", flat=True))


def test_bad_broadcasts_are_answered_400_with_the_field(api: Api, bot: Bot) -> None:
    cases: dict[str, dict[str, Any]] = {
        "chat_ids": {},
        "chat_id": {"user_huids": chats(1)},
        "user_huids": {"chat_id": chats(1)[0]},
        "chat_ids[1]": {"chat_ids": [chats(1)[0], "nope"]},
        "body": {"chat_ids": chats(1), "body": "x" * 5000},
    }
    for field, fields in cases.items():
        answer = start(api, bot, **fields)
        assert answer.status_code == 400, (field, answer.content)
        assert field in answer.json()["fields"], (field, answer.json())
    assert not Broadcast.objects.exists()


@override_settings(API_BROADCAST_MAX_RECIPIENTS=2)
def test_a_broadcast_over_the_recipient_limit_is_refused(api: Api, bot: Bot) -> None:
    answer = start(api, bot, chat_ids=chats(3))

    assert answer.status_code == 400
    assert answer.json()["fields"] == {"chat_ids": ["At most 2 recipients."]}


def test_a_scheduled_broadcast_starts_when_due(api: Api, bot: Bot) -> None:
    send_at = timezone.now() + dt.timedelta(hours=2)
    body = start(api, bot, chat_ids=chats(2), send_at=send_at.isoformat()).json()
    assert body["state"] == "scheduled"

    assert broadcasts_due() == 0
    assert broadcasts_due(now=send_at) == 1
    assert Broadcast.objects.get().status == Broadcast.Status.QUEUED
    broadcast_run(broadcast_id=body["id"])
    assert OutboundMessage.objects.count() == 2


def test_cancelling_stops_a_broadcast_and_cancels_what_still_waits(api: Api, bot: Bot) -> None:
    body = start(api, bot, chat_ids=chats(4)).json()
    broadcast_run(broadcast_id=body["id"], batch=2)
    first = OutboundMessage.objects.order_by("id").first()
    assert first is not None
    message_status_change(first, Status.DELIVERED)

    answer = api.post(f"broadcasts/{body['id']}/cancel/")

    assert answer.status_code == 200
    progress = answer.json()
    assert progress["state"] == "cancelled"
    assert {k: v for k, v in progress["counts"].items() if v} == {"delivered": 1, "cancelled": 3}
    assert api.post(f"broadcasts/{body['id']}/cancel/").status_code == 409


def test_another_tokens_bots_broadcasts_are_not_found(
    api: Api, bot: Bot, cast: Any, make_bot: Any, make_token: Any
) -> None:
    body = start(api, bot, chat_ids=chats(1)).json()
    other = make_bot(name="Other")
    cast.outsider.bot_roles.create(bot=other, role="owner")
    outsider = make_token(cast.outsider)

    assert api.get(f"broadcasts/{body['id']}/", token=outsider).status_code == 404
    assert api.post(f"broadcasts/{body['id']}/cancel/", token=outsider).status_code == 404


def test_the_periodic_task_is_scheduled_and_runs_both_due_lists(api: Api, bot: Bot, settings: Any) -> None:
    from bots.api import tasks
    from portal.celery import app

    assert settings.CELERY_BEAT_SCHEDULE["api-due"]["task"] == tasks.due.name == "api.due"
    assert app.tasks["api.broadcast_run"].name == tasks.broadcast_run.name
    send_at = timezone.now() - dt.timedelta(seconds=1)
    Broadcast.objects.create(bot=bot, payload={"body": "x"}, status=Broadcast.Status.SCHEDULED, send_at=send_at)

    tasks.due()

    assert Broadcast.objects.get().status == Broadcast.Status.QUEUED
