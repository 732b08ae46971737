"""Files a bot sends (from bytes or a path) and files it receives (inlined or on the CTS).

    ctx.reply(_("The report"), file=file_from_bytes("report.csv", data))
    for file in ctx.files:
        content = file.read()   # an inlined file at once; a CTS file through the Files API

A file sent is base64 in the outbox row, so its size is limited (``HANDLER_FILE_MAX_MB``); a bigger
one is refused with :class:`FileTooLarge` in the handler, where the mistake is.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from bots.botx.incoming import ASYNC_FILE_TYPES, IncomingCommand
from bots.botx.outgoing import FileAttachment, mimetype_for


class FileTooLarge(ValueError):
    """A file over the limit a bot may send."""

    def __init__(self, file_name: str, size: int, limit: int) -> None:
        self.file_name, self.size, self.limit = file_name, size, limit
        super().__init__(
            f"{file_name} is {_megabytes(size)}; a bot may send files of at most {_megabytes(limit)} "
            "(HANDLER_FILE_MAX_MB)."
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def file_max_bytes() -> int:
    return int(settings.HANDLER_FILE_MAX_BYTES)


def file_from_bytes(file_name: str, content: bytes, *, mimetype: str | None = None) -> FileAttachment:
    """A file to send as ``file=``; the media type follows the extension unless given."""
    if not file_name or "/" in file_name or "\\" in file_name:
        raise ValueError(f"A file name without folders is needed, not {file_name!r}.")
    limit = file_max_bytes()
    if len(content) > limit:
        raise FileTooLarge(file_name, len(content), limit)
    return {
        "file_name": file_name,
        "data_base64": base64.b64encode(content).decode("ascii"),
        "mimetype": mimetype or mimetype_for(file_name),
    }


def file_from_path(path: str | Path, *, file_name: str | None = None, mimetype: str | None = None) -> FileAttachment:
    """A file on disk, sent under its own name unless ``file_name`` says otherwise."""
    path = Path(path)
    limit = file_max_bytes()
    size = path.stat().st_size
    if size > limit:  # checked before reading: a huge file is never loaded into memory
        raise FileTooLarge(file_name or path.name, size, limit)
    return file_from_bytes(file_name or path.name, path.read_bytes(), mimetype=mimetype)


Downloader = Callable[[uuid.UUID, uuid.UUID], bytes]


def _no_downloader(chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes:
    raise RuntimeError("This context cannot download files (it was made without a BotX connection).")


@dataclass(frozen=True)
class IncomingFile:
    """A file in the message: inlined (``attachments``) or kept on the CTS (``async_files``)."""

    type: str  # image, video, document or voice
    name: str
    mimetype: str | None
    size: int | None  # bytes; known up front for both kinds
    file_id: uuid.UUID | None  # CTS files only
    chat_id: uuid.UUID | None
    caption: str | None = None
    content: bytes | None = field(default=None, repr=False)  # inlined files only
    downloader: Downloader = field(default=_no_downloader, repr=False, compare=False)

    @property
    def on_cts(self) -> bool:
        return self.content is None

    def read(self) -> bytes:
        """The file's bytes; a CTS file is downloaded through the Files API (a synchronous call)."""
        if self.content is not None:
            return self.content
        if self.file_id is None or self.chat_id is None:
            raise ValueError(f"{self.name} names no file on the CTS to download.")
        return self.downloader(self.chat_id, self.file_id)


def incoming_files(message: IncomingCommand, downloader: Downloader = _no_downloader) -> list[IncomingFile]:
    """The files of a message, inlined ones first, in the order BotX sent them."""
    files: list[IncomingFile] = []
    for attachment in message.attachments:
        if attachment.type not in ASYNC_FILE_TYPES:
            continue  # locations, contacts, links and stickers are not files to read
        content = attachment.content()
        if content is None:
            continue
        files.append(
            IncomingFile(
                type=attachment.type,
                name=attachment.file_name or _default_name(attachment.type, attachment.mimetype),
                mimetype=attachment.mimetype,
                size=len(content),
                file_id=None,
                chat_id=message.chat_id,
                content=content,
            )
        )
    inlined = {(file.name, file.size) for file in files}
    for item in message.async_files:
        if not item.known:
            continue
        if item.file_name and (item.file_name, item.file_size) in inlined:
            continue  # the same file, described both ways
        files.append(
            IncomingFile(
                type=item.type,
                name=item.file_name or _default_name(item.type, item.file_mimetype),
                mimetype=item.file_mimetype,
                size=item.file_size,
                file_id=item.file_id,
                chat_id=message.chat_id,
                caption=item.caption,
                downloader=downloader,
            )
        )
    return files


def _default_name(kind: str, mimetype: str | None) -> str:
    # A voice message comes without a name; its media type gives the extension (audio/mp3 → voice.mp3).
    extension = mimetype.rsplit("/", 1)[-1] if mimetype else "bin"
    return f"{kind}.{extension}"
