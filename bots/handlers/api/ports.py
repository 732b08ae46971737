"""What a context asks of the service that runs the handler: state storage and BotX look-ups.

The service hands these to the context (bots/services/handler_context.py); the handler sees only the
context. A context made without them (in a unit test, say) gets a state kept in memory and look-ups
that explain why they cannot run.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, Protocol

from bots.botx.lookups import ChatInfo, UserInfo

STATE_KEY_MAX_LENGTH = 200


class LookupFailed(Exception):
    """A look-up BotX did not answer (down, refused, slow). ``reason`` is BotX's code or ours."""

    def __init__(self, what: str, reason: str) -> None:
        self.what, self.reason = what, reason
        super().__init__(f"{what}: {reason}")


class StateError(ValueError):
    """A state key or value that cannot be stored."""


class KeyValueState(Protocol):
    """Key-value state of one bot, or of one bot in one chat. Values are plain JSON."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> bool: ...

    def keys(self) -> list[str]: ...


class Lookups(Protocol):
    """Synchronous BotX reads. Not found is None (or an empty list); other failures: LookupFailed."""

    def chat_info(self, chat_id: uuid.UUID) -> ChatInfo | None: ...

    def personal_chat(self, user_huid: uuid.UUID) -> ChatInfo | None: ...

    def user_by_huid(self, huid: uuid.UUID) -> UserInfo | None: ...

    def users_by_email(self, emails: list[str]) -> list[UserInfo]: ...

    def user_by_login(self, ad_login: str, ad_domain: str) -> UserInfo | None: ...

    def file_download(self, chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes: ...


def state_checked(key: str, value: Any) -> Any:
    """The value as it will be read back (a JSON round trip), or StateError naming the problem."""
    state_key_check(key)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StateError(f"State {key!r} must be plain JSON: {exc}") from None


def state_key_check(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > STATE_KEY_MAX_LENGTH:
        raise StateError(f"A state key is a non-empty string of at most {STATE_KEY_MAX_LENGTH} characters.")


class MemoryState:
    """State kept in a dict, for contexts made without a database (tests, previews)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        state_key_check(key)
        return copy.deepcopy(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = state_checked(key, value)

    def delete(self, key: str) -> bool:
        state_key_check(key)
        return self.values.pop(key, None) is not None

    def keys(self) -> list[str]:
        return sorted(self.values)


class NoChatState:
    """The per-chat state of an event that came from no chat (``cts_login``, say)."""

    def _refuse(self) -> Any:
        raise StateError("This event came from no chat, so it has no chat state; use ctx.bot_state.")

    def get(self, key: str, default: Any = None) -> Any:
        return self._refuse()

    def set(self, key: str, value: Any) -> None:
        self._refuse()

    def delete(self, key: str) -> bool:
        return bool(self._refuse())

    def keys(self) -> list[str]:
        return list(self._refuse())


class NoLookups:
    """Look-ups of a context made without a BotX connection."""

    def _refuse(self, what: str) -> Any:
        raise LookupFailed(what, "this context was made without a BotX connection")

    def chat_info(self, chat_id: uuid.UUID) -> ChatInfo | None:
        return self._refuse("chat info")

    def personal_chat(self, user_huid: uuid.UUID) -> ChatInfo | None:
        return self._refuse("personal chat")

    def user_by_huid(self, huid: uuid.UUID) -> UserInfo | None:
        return self._refuse("user by HUID")

    def users_by_email(self, emails: list[str]) -> list[UserInfo]:
        return list(self._refuse("users by e-mail"))

    def user_by_login(self, ad_login: str, ad_domain: str) -> UserInfo | None:
        return self._refuse("user by AD login")

    def file_download(self, chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes:
        return bytes(self._refuse("file download"))
