"""Recording the change history of the registry.

Every save and delete of a registry model writes a ``ChangeRecord`` through model signals, so no
code path (admin, ``bots apply``, services, cascades) can change the registry unrecorded. Who acted
is carried in a context variable: the middleware sets it to the request's user, commands and tasks
set it with :func:`acting_as`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse

from bots import crypto
from bots.models import Bot, BotRole, ChangeRecord, ChatRule, CommandRule, CtsServer, SmartApp
from bots.models.audit import audit_snapshot

AUDITED_MODELS: tuple[type[models.Model], ...] = (CtsServer, Bot, SmartApp, BotRole, ChatRule, CommandRule)
SECRET_CHANGED = "changed"  # noqa: S105 (the word recorded instead of a secret)


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None
    label: str


_SYSTEM = Actor(user=None, label="system")
_actor: ContextVar[Actor] = ContextVar("audit_actor", default=_SYSTEM)
_collector: ContextVar[list[ChangeRecord] | None] = ContextVar("audit_collector", default=None)


@contextlib.contextmanager
def acting_as(user: AbstractBaseUser | None = None, label: str | None = None) -> Iterator[None]:
    """Attribute registry changes made inside the block to ``user`` (or to a named process)."""
    actor = Actor(user=user, label=label or (user.get_username() if user is not None else "system"))
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def collecting() -> Iterator[list[ChangeRecord]]:
    """Also hand every change recorded inside the block to the caller (``bots apply`` prints them)."""
    records: list[ChangeRecord] = []
    token = _collector.set(records)
    try:
        yield records
    finally:
        _collector.reset(token)


class AuditActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        with acting_as(user):
            return self.get_response(request)


# --- diffs ----------------------------------------------------------------------------------------


def _diff(model: type[models.Model], before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    secret_fields: dict[str, str] = getattr(model, "SECRET_FIELDS", {})
    ignored: set[str] = getattr(model, "AUDIT_IGNORED_FIELDS", set())
    changes: dict[str, Any] = {}
    for name in after.keys() | before.keys():
        if name in ignored:
            continue
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in secret_fields:
            # A new ciphertext of the same secret (re-encryption under a new key) is no change.
            if (old or new) and not (old and new and crypto.decrypt(old) == crypto.decrypt(new)):
                changes[secret_fields[name]] = SECRET_CHANGED
            continue
        changes[name] = [old, new]
    return changes


def _bot_ref(instance: models.Model) -> str:
    if isinstance(instance, Bot):
        return str(instance.bot_id)
    bot = getattr(instance, "bot", None)
    return str(bot.bot_id) if isinstance(bot, Bot) else ""


def _record(instance: models.Model, action: str, changes: dict[str, Any]) -> None:
    actor = _actor.get()
    record = ChangeRecord.objects.create(
        actor_id=actor.user.pk if actor.user is not None else None,
        actor_label=actor.label[:150],
        action=action,
        model=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:255],
        bot_ref=_bot_ref(instance),
        changes=changes,
    )
    collected = _collector.get()
    if collected is not None:
        collected.append(record)


def _on_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:  # loaddata
        return
    after = audit_snapshot(instance)
    if created:
        changes = _diff(sender, {}, after)
        _record(instance, ChangeRecord.Action.CREATE, changes)
    else:
        before = getattr(instance, "_audit_snapshot", None) or {}
        changes = _diff(sender, before, after)
        if changes:
            _record(instance, ChangeRecord.Action.UPDATE, changes)
    instance._audit_snapshot = after  # type: ignore[attr-defined]


def _on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    _record(instance, ChangeRecord.Action.DELETE, _diff(sender, audit_snapshot(instance), {}))


def connect() -> None:
    for model in AUDITED_MODELS:
        uid = f"audit-{model._meta.label_lower}"
        post_save.connect(_on_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_on_delete, sender=model, dispatch_uid=uid)
