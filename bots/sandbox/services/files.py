"""Files in sandbox chats: stored from uploads and message attachments, fetched for download."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import uuid

from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxChat, SandboxFile
from bots.sandbox.protocol import IncomingFile
from bots.sandbox.selectors import chat_visible_to_bot


def content_hash(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")


def guess_mimetype(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def file_store(*, chat: SandboxChat, file: IncomingFile) -> SandboxFile:
    return SandboxFile.objects.create(
        chat=chat,
        file_name=file.file_name,
        mimetype=file.mimetype or guess_mimetype(file.file_name),
        content=file.content,
        size=len(file.content),
        file_hash=content_hash(file.content),
        caption=file.caption,
        duration=file.duration,
    )


def file_upload(*, caller: Caller, group_chat_id: uuid.UUID, file: IncomingFile) -> SandboxFile:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    return file_store(chat=chat, file=file)


def file_for_download(*, caller: Caller, group_chat_id: uuid.UUID, file_id: uuid.UUID, is_preview: bool) -> SandboxFile:
    chat = chat_visible_to_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
    file = SandboxFile.objects.filter(chat=chat, file_id=file_id).first()
    if file is None:
        raise SandboxError(
            404,
            "file_metadata_not_found",
            "File metadata not found",
            file_id=str(file_id),
            group_chat_id=str(group_chat_id),
        )
    if is_preview:
        # The sandbox makes no previews, which is what BotX answers for a file that has none.
        raise SandboxError(
            400, "file_without_preview", "File without preview", file_id=str(file_id), group_chat_id=str(group_chat_id)
        )
    return file
