"""The change history of the registry: who changed what, and when. Append-only."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any, NoReturn, Self

from django.conf import settings
from django.db import models
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

_SKIPPED_FIELDS = {"created_at", "updated_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name or ""
    return value


def audit_snapshot(instance: models.Model) -> dict[str, Any]:
    """The recorded fields of a row by field name (a foreign key as the related row's id), JSON-ready."""
    return {
        field.name: _plain(field.value_from_object(instance))
        for field in instance._meta.concrete_fields
        if field.name not in _SKIPPED_FIELDS and not field.primary_key
    }


class Audited(models.Model):
    """A registry model whose saves and deletes are written to the change history (bots/audit.py).

    It remembers the values it was loaded with, so that an update records only what changed.
    """

    _audit_snapshot: dict[str, Any] | None = None

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Self:
        instance = super().from_db(db, field_names, values)
        instance._audit_snapshot = audit_snapshot(instance)
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._audit_snapshot = audit_snapshot(self)


class AppendOnlyQuerySet(models.QuerySet["ChangeRecord"]):
    def delete(self) -> NoReturn:
        raise PermissionError("The change history is append-only.")

    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("The change history is append-only.")


class ChangeRecord(models.Model):
    """One create, update or delete of a registry row.

    ``changes`` maps a field name to ``[old, new]``; a secret is recorded as ``"changed"`` only.
    """

    class Action(models.TextChoices):
        CREATE = "create", pgettext_lazy("history action", "created")
        UPDATE = "update", pgettext_lazy("history action", "changed")
        DELETE = "delete", pgettext_lazy("history action", "deleted")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    actor_label = models.CharField(_("actor"), max_length=150)
    action = models.CharField(_("action"), max_length=8, choices=Action)
    model = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object ID"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=255)
    bot_ref = models.CharField(_("bot ID"), max_length=36, blank=True, db_index=True)
    changes = models.JSONField(_("changes"), default=dict)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("change record")
        verbose_name_plural = _("change history")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["model", "object_id"], name="change_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.get_action_display()} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("The change history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("The change history is append-only.")
