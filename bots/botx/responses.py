"""The bodies the portal answers BotX with on the Bot API endpoints, as plain dicts for JsonResponse.

The HTTP status goes with the body and is the view's choice; the usual pairs are
``accepted`` → 202, ``bot_disabled`` → 503, ``unverified_request`` → 401, ``status_result`` → 200,
``smartapp_ok`` → 200. Only ``error_data.status_message`` of an error body is shown to the user;
the rest ends up in BotX's logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SMARTAPP_ERROR_REASON = "smartapp_error"


@dataclass(frozen=True)
class MenuCommand:
    """One entry of the command menu a client shows for the bot."""

    body: str  # what the client sends when the entry is tapped, e.g. "/help"
    name: str  # what the menu shows; pybotx repeats the body here
    description: str


def accepted() -> dict[str, Any]:
    """``/command`` and ``/notification/callback``: taken, will be processed."""
    return {"result": "accepted"}


def bot_disabled(status_message: str) -> dict[str, Any]:
    """The bot cannot or will not process the request; ``status_message`` is shown to the user."""
    return {"reason": "bot_disabled", "error_data": {"status_message": status_message}, "errors": []}


def unverified_request(status_message: str) -> dict[str, Any]:
    """The request's token is missing or did not verify."""
    return {"reason": "unverified_request", "error_data": {"status_message": status_message}, "errors": []}


def status_result(*, enabled: bool, status_message: str | None, commands: Sequence[MenuCommand]) -> dict[str, Any]:
    """``/status``: whether the bot is available and the menu of commands for the asking user and chat."""
    return {
        "status": "ok",
        "result": {
            "enabled": enabled,
            "status_message": status_message,
            "commands": [
                {"description": command.description, "body": command.body, "name": command.name} for command in commands
            ],
        },
    }


def smartapp_ok(data: Any, files: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``/smartapps/request`` success: ``data`` goes back to the Smart App front-end as is, ``files``
    are async-file objects (as the Files API upload returns them)."""
    return {"status": "ok", "result": {"data": data, "files": [dict(file) for file in files]}}


def smartapp_error(
    errors: Sequence[Any],
    *,
    reason: str = SMARTAPP_ERROR_REASON,
    error_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``/smartapps/request`` failure as the front-end's bridge expects it."""
    return {
        "status": "error",
        "reason": reason,
        "errors": list(errors),
        "error_data": dict(error_data or {}),
    }
