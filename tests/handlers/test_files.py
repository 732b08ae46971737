"""Files a handler sends (bytes or a path, with a size limit) and files it receives (inlined or on the CTS)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

from bots.botx.incoming import parse_command
from bots.botx.outgoing import build_request
from bots.handlers.api import FileTooLarge, file_from_bytes, file_from_path
from bots.handlers.api.files import incoming_files
from tests.botx import payloads

CHAT = "dbc8934f-d0d7-4a9e-89df-d45c137a851c"


def test_a_file_from_bytes_is_base64_with_the_type_of_its_extension() -> None:
    attachment = file_from_bytes("Report.PDF", b"%PDF-1.4\n")

    assert attachment == {
        "file_name": "Report.PDF",
        "data_base64": base64.b64encode(b"%PDF-1.4\n").decode(),
        "mimetype": "application/pdf",
    }
    body = build_request("notification", {"chat_id": CHAT, "file": attachment}).json
    assert body is not None
    assert body["file"] == {"file_name": "Report.PDF", "data": "data:application/pdf;base64,JVBERi0xLjQK"}


def test_a_file_without_a_known_extension_is_octet_stream_unless_told() -> None:
    assert file_from_bytes("data", b"x")["mimetype"] == "application/octet-stream"
    assert file_from_bytes("data", b"x", mimetype="text/csv")["mimetype"] == "text/csv"


def test_a_file_from_a_path_takes_its_name_or_another(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\n")

    assert file_from_path(path) == file_from_bytes("notes.txt", b"hello\n")
    assert file_from_path(str(path), file_name="today.txt")["file_name"] == "today.txt"


def test_a_file_over_the_limit_is_refused_with_its_size_and_the_limit(settings: Any, tmp_path: Path) -> None:
    settings.HANDLER_FILE_MAX_BYTES = 1024 * 1024
    big = b"x" * (1024 * 1024 + 1)

    with pytest.raises(FileTooLarge) as caught:
        file_from_bytes("big.bin", big)
    assert str(caught.value) == "big.bin is 1.0 MB; a bot may send files of at most 1.0 MB (HANDLER_FILE_MAX_MB)."
    (tmp_path / "big.bin").write_bytes(big)
    with pytest.raises(FileTooLarge, match=r"big\.bin"):
        file_from_path(tmp_path / "big.bin")
    assert file_from_bytes("fits.bin", big[:-1])["file_name"] == "fits.bin"


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a\\b"])
def test_a_file_name_with_folders_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="file name"):
        file_from_bytes(name, b"x")


def test_an_inlined_file_is_read_without_a_download() -> None:
    message = parse_command(payloads.load("attachment_document"))

    (file,) = incoming_files(message)
    assert (file.type, file.name, file.mimetype, file.size, file.on_cts) == (
        "document",
        "report.txt",
        "text/plain",
        29,
        False,
    )
    assert file.read().startswith(b"Quarterly")


def test_a_voice_message_is_named_by_its_media_type() -> None:
    (file,) = incoming_files(parse_command(payloads.load("attachment_voice")))

    assert file.name == "voice.mp3"


def test_locations_links_and_stickers_are_not_files() -> None:
    for name in ("attachment_location", "attachment_link", "attachment_sticker", "attachment_contact"):
        assert incoming_files(parse_command(payloads.load(name))) == [], name


def test_a_file_on_the_cts_is_downloaded_with_its_chat_and_id() -> None:
    raw = payloads.load("system_smartapp_event")
    raw["command"] = {"body": "here", "command_type": "user", "data": {}, "metadata": {}}
    raw["from"]["group_chat_id"] = CHAT
    message = parse_command(raw)
    asked: list[tuple[uuid.UUID, uuid.UUID]] = []

    def download(chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes:
        asked.append((chat_id, file_id))
        return b"downloaded"

    (file,) = incoming_files(message, download)
    assert file.on_cts
    assert file.read() == b"downloaded"
    assert asked == [(uuid.UUID(CHAT), uuid.UUID(raw["async_files"][0]["file_id"]))]


def test_a_file_described_both_inlined_and_on_the_cts_is_one_file() -> None:
    files = incoming_files(parse_command(payloads.load("message_maximal")))

    assert [(file.name, file.on_cts) for file in files] == [("chart.png", False)]
