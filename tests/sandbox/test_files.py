"""Files API over HTTP: multipart upload and download (the BotX client speaks JSON only, so these use
httpx with the same self-signed JWT)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import httpx
import pytest

from bots.botx.auth import jwt_v2_build
from tests.sandbox.conftest import BOT_ID, SECRET


def headers(bot) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_v2_build(bot_id=BOT_ID, host=bot.cts.host, secret_key=SECRET)}"}


def upload(bot, chat_id, content=b"%PDF-1.4 report", meta=None) -> httpx.Response:
    return httpx.post(
        f"{bot.cts.base_url}/api/v3/botx/files/upload",
        headers=headers(bot),
        data={"group_chat_id": str(chat_id), "meta": json.dumps(meta or {"duration": None, "caption": "Отчёт"})},
        files={"content": ("report.pdf", content, "application/pdf")},
    )


def download(bot, chat_id, file_id, **params) -> httpx.Response:
    return httpx.get(
        f"{bot.cts.base_url}/api/v3/botx/files/download",
        headers=headers(bot),
        params={"group_chat_id": str(chat_id), "file_id": str(file_id), "is_preview": "false"} | params,
    )


def test_an_uploaded_file_is_described_and_downloaded_again(bot, world):
    answer = upload(bot, world.group.group_chat_id)

    assert answer.status_code == 200
    result = answer.json()["result"]
    assert result["type"] == "document"
    assert result["file_name"] == "report.pdf"
    assert result["file_mime_type"] == "application/pdf"
    assert result["file_size"] == len(b"%PDF-1.4 report")
    assert result["file_hash"] == base64.b64encode(hashlib.sha256(b"%PDF-1.4 report").digest()).decode()
    assert result["caption"] == "Отчёт"
    uuid.UUID(result["file_id"])

    fetched = download(bot, world.group.group_chat_id, result["file_id"])
    assert fetched.status_code == 200
    assert fetched.content == b"%PDF-1.4 report"
    assert fetched.headers["content-type"] == "application/pdf"


def test_uploading_to_an_unknown_chat_is_chat_not_found(bot, world):
    answer = upload(bot, uuid.uuid4())

    assert answer.status_code == 404
    assert answer.json()["reason"] == "chat_not_found"


def test_an_upload_without_content_is_400(bot, world):
    answer = httpx.post(
        f"{bot.cts.base_url}/api/v3/botx/files/upload",
        headers=headers(bot),
        data={"group_chat_id": str(world.group.group_chat_id)},
        files={"other": ("x", b"x")},
    )

    assert answer.status_code == 400
    assert "content" in answer.json()["error_data"]


def test_an_unknown_file_is_file_metadata_not_found(bot, world):
    file_id = uuid.uuid4()

    answer = download(bot, world.group.group_chat_id, file_id)

    assert answer.status_code == 404
    assert answer.json()["reason"] == "file_metadata_not_found"
    assert answer.json()["error_data"]["file_id"] == str(file_id)


def test_a_file_in_a_chat_the_bot_is_not_in_is_chat_not_found(bot, world):
    assert download(bot, world.foreign.group_chat_id, uuid.uuid4()).json()["reason"] == "chat_not_found"


@pytest.mark.parametrize("preview", ["true"])
def test_the_sandbox_has_no_previews(bot, world, preview):
    file_id = upload(bot, world.group.group_chat_id).json()["result"]["file_id"]

    answer = download(bot, world.group.group_chat_id, file_id, is_preview=preview)

    assert answer.status_code == 400
    assert answer.json()["reason"] == "file_without_preview"
