"""The bots the Bot API serves, kept per process: the hot endpoints must not read and decrypt a bot per request.

An entry holds the bot with its CTS and its decrypted secret keys. It is dropped:

* at once in this process, when a Bot or CtsServer is saved or deleted here (signals);
* after ``BOTX_BOT_CACHE_SECONDS`` everywhere else (other web processes see a change that late at most,
  give or take one reload's time; the worker checks the bot again from the database before it runs a
  handler, so a command accepted in that window for a bot just disabled is recorded as not served,
  never run);
* when a token does not verify with the cached keys (the caller asks for a fresh entry once), so a
  rotated secret is accepted at once.

An entry past its time is reloaded by one thread of the process; the others meanwhile go on with it
rather than each reading the same rows (under load every thread met the stale entry in the same
instant: 3% of the web's CPU in bench/traffic.py's burst went to those reloads).

Only ``/command`` and ``/notification/callback`` use it; the other endpoints read the registry.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from bots import crypto
from bots.models import Bot, CtsServer


@dataclass(frozen=True)
class CachedBot:
    """A bot as loaded (treat it as read-only) and the secret keys it had then."""

    bot: Bot
    current_secret: str
    previous_secret: str | None
    previous_expires_at: dt.datetime | None

    def valid_secrets(self, now: dt.datetime | None = None) -> list[str]:
        """As ``Bot.valid_secrets``, from the cached keys: the previous one only within its grace."""
        keys = [self.current_secret]
        expires = self.previous_expires_at
        if self.previous_secret and expires is not None and (now or timezone.now()) < expires:
            keys.append(self.previous_secret)
        return keys


@dataclass(frozen=True)
class _Entry:
    bots: tuple[CachedBot, ...]
    loaded_at: float
    generation: int


_lock = threading.Lock()
_entries: dict[uuid.UUID, _Entry] = {}
_reloading: set[uuid.UUID] = set()  # the bot IDs whose stale entry a thread is reloading now
_generation = 0
_MAX_ENTRIES = 4096


def _load(bot: Bot) -> CachedBot:
    has_previous = bool(bot.previous_secret_ciphertext) and bot.previous_secret_expires_at is not None
    return CachedBot(
        bot=bot,
        current_secret=bot.secret_key,
        previous_secret=crypto.decrypt(bot.previous_secret_ciphertext) if has_previous else None,
        previous_expires_at=bot.previous_secret_expires_at if has_previous else None,
    )


def bots_for(bot_id: uuid.UUID, *, fresh: bool = False) -> tuple[CachedBot, ...]:
    """The bots registered under ``bot_id`` (one per CTS), from the cache unless stale or ``fresh``."""
    ttl = float(settings.BOTX_BOT_CACHE_SECONDS)
    now = time.monotonic()
    with _lock:
        entry = _entries.get(bot_id)
        generation = _generation
        kept = None if fresh or entry is None or entry.generation != generation else entry
        if kept is not None:
            if now - kept.loaded_at < ttl or bot_id in _reloading:
                return kept.bots  # in its time, or past it only by the reload under way in another thread
            _reloading.add(bot_id)
    try:
        loaded = tuple(_load(bot) for bot in Bot.objects.select_related("cts").filter(bot_id=bot_id)[:10])
        if ttl > 0:
            with _lock:
                # A change saved while this was loading bumped the generation: do not keep what may predate it.
                if generation == _generation:
                    if len(_entries) >= _MAX_ENTRIES:
                        _entries.clear()
                    _entries[bot_id] = _Entry(loaded, now, generation)
    finally:
        if kept is not None:
            with _lock:
                _reloading.discard(bot_id)
    return loaded


def cache_clear() -> None:
    """Forget every entry (a bot or CTS changed in this process; tests)."""
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


def _changed(**_kwargs: Any) -> None:
    cache_clear()
    # Again once the change is visible to others: a request that read the old row meanwhile kept it.
    transaction.on_commit(cache_clear)


for _model in (Bot, CtsServer):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"bot_cache_changed_save_{_model.__name__}")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"bot_cache_changed_delete_{_model.__name__}")
