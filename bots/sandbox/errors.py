"""The one error the sandbox's services raise: a BotX error answer, ready to be enveloped."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """A BotX refusal: HTTP ``status``, snake_case ``reason``, ``error_data`` and ``errors``.

    Sync methods answer it as the error envelope; async methods put it in the callback, where the
    status does not travel.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        description: str = "",
        *,
        errors: list[Any] | None = None,
        **error_data: Any,
    ) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.errors = list(errors or [])
        self.error_data = dict(error_data)
        if description:
            self.error_data["error_description"] = description

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.error_data.get('error_description', '')}"


def chat_not_found(group_chat_id: object) -> SandboxError:
    return SandboxError(404, "chat_not_found", "Chat with specified id not found", group_chat_id=str(group_chat_id))


def bot_not_member(group_chat_id: object, bot_id: object) -> SandboxError:
    return SandboxError(
        403,
        "bot_is_not_a_chat_member",
        "Bot is not a chat member",
        group_chat_id=str(group_chat_id),
        bot_id=str(bot_id),
    )


def no_permission(group_chat_id: object, bot_id: object) -> SandboxError:
    return SandboxError(
        403,
        "no_permission_for_operation",
        "Bot doesn't have permission for this operation in current chat",
        group_chat_id=str(group_chat_id),
        bot_id=str(bot_id),
        sender=str(bot_id),
    )
