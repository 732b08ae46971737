"""Real-shaped BotX payloads for tests: the saved fixtures and small builders on top of them.

``load("system_chat_created")`` returns a fresh copy of ``tests/fixtures/botx/system_chat_created.json``.
``command(body="/help")`` and ``system_event("added_to_chat", {...})`` build ``/command`` bodies with a
new ``sync_id`` each call (inbound events are unique per bot and sync_id); keyword arguments override
fields wherever they live in the body::

    command(body="/echo hi", chat_type="group_chat", ad_login="anna", bot_id=bot.bot_id)

Top-level keys (``sync_id``, ``bot_id``, ``attachments``...), ``command`` keys (``body``,
``command_type``, ``data``, ``metadata``) and ``from`` keys (``user_huid``, ``group_chat_id``,
``host``...) are all accepted; UUIDs may be passed as ``uuid.UUID``.
"""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "botx"

# The ids the fixtures use (the bot is the one tests/conftest.py registers as "Echo").
BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
SECRET = "bee001bee001bee001bee001bee001bee001"
HOST = "cts.example.com"
USER_HUID = uuid.UUID("f16cdc5f-6366-4552-9ecd-c36290ab3d11")
PERSONAL_CHAT_ID = uuid.UUID("dea55ee4-7a9f-4da0-8c5e-0b7a5d4b2d3e")
GROUP_CHAT_ID = uuid.UUID("30dc1980-643a-4dad-87fc-7cc10d74e935")
OTHER_USER_HUID = uuid.UUID("8a2b6f4e-1c3d-4e5f-9a7b-2c4d6e8f0a1b")

_TOP_KEYS = frozenset(
    {"sync_id", "source_sync_id", "bot_id", "proto_version", "attachments", "async_files", "entities"}
)
_COMMAND_KEYS = frozenset({"body", "command_type", "data", "metadata"})


def names(prefix: str = "") -> list[str]:
    """Names of the saved payloads (without ``.json``) that start with ``prefix``."""
    return sorted(path.stem for path in FIXTURES.glob(f"{prefix}*.json"))


def load(name: str) -> dict[str, Any]:
    """A saved payload by name (``.json`` optional); a copy the test may change."""
    return copy.deepcopy(_read(name.removesuffix(".json")))


def command(**overrides: Any) -> dict[str, Any]:
    """A user's ``/command`` body (text ``/hello world`` in the personal chat unless overridden)."""
    payload = load("message_minimal")
    payload["sync_id"] = str(uuid.uuid4())
    return _apply(payload, overrides)


def system_event(event: str, data: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A ``system:<event>`` body: the saved fixture for a known event, else a bare envelope."""
    fixture = f"system_{event}"
    if fixture in names("system_"):
        payload = load(fixture)
    else:
        payload = load("system_cts_login")
        payload["command"]["body"] = f"system:{event}"
        payload["command"]["data"] = {}
    payload["sync_id"] = str(uuid.uuid4())
    if data is not None:
        payload["command"]["data"] = data
    return _apply(payload, overrides)


@cache
def _read(name: str) -> dict[str, Any]:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"No BotX fixture {name!r}; there are: {', '.join(names())}")
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return payload


def _apply(payload: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        value = _jsonable(value)
        if key in _TOP_KEYS:
            payload[key] = value
        elif key in _COMMAND_KEYS:
            payload["command"][key] = value
        elif key in payload["from"]:
            payload["from"][key] = value
        else:
            raise TypeError(f"Unknown BotX command field {key!r}")
    return payload


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
