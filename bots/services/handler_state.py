"""Handler state in the database: what ``ctx.state`` and ``ctx.bot_state`` read and write.

Writes go straight to ``BotState`` rows in the caller's transaction; the dispatcher runs each handler
in a savepoint, so a handler that fails leaves no state change behind.
"""

from __future__ import annotations

import uuid
from typing import Any

from bots.handlers.api.ports import state_checked, state_key_check
from bots.models import Bot, BotState


class DatabaseState:
    """The state of one bot (``chat_id`` None) or of one bot in one chat."""

    def __init__(self, *, bot: Bot, chat_id: uuid.UUID | None) -> None:
        self.bot = bot
        self.chat_id = chat_id

    def _rows(self) -> Any:
        rows = BotState.objects.filter(bot=self.bot)
        return rows.filter(chat_id__isnull=True) if self.chat_id is None else rows.filter(chat_id=self.chat_id)

    def get(self, key: str, default: Any = None) -> Any:
        state_key_check(key)
        found = self._rows().filter(key=key).values_list("value", flat=True)[:1]
        return found[0] if found else default

    def set(self, key: str, value: Any) -> None:
        value = state_checked(key, value)
        updated = self._rows().filter(key=key).update(value=value)
        if not updated:
            BotState.objects.create(bot=self.bot, chat_id=self.chat_id, key=key, value=value)

    def delete(self, key: str) -> bool:
        state_key_check(key)
        deleted, _ = self._rows().filter(key=key).delete()
        return deleted > 0

    def keys(self) -> list[str]:
        return list(self._rows().order_by("key").values_list("key", flat=True))
