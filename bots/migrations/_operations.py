"""Migration operations of the portal's own (a leading underscore: Django does not load it as a migration)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexWithoutLocking(migrations.AddIndex):
    """``AddIndex`` that builds the index on PostgreSQL without blocking writes (``CREATE INDEX
    CONCURRENTLY``), and as usual elsewhere. Its migration must set ``atomic = False``.

    For the ledger's tables: a plain ``CREATE INDEX`` blocks writes for as long as the build takes, and
    on a ledger of millions of rows every request BotX sends would wait that long.
    """

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        schema_editor.add_index(model, self.index, **_without_locking(schema_editor))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        schema_editor.remove_index(model, self.index, **_without_locking(schema_editor))


class RemoveIndexWithoutLocking(migrations.RemoveIndex):
    """``RemoveIndex`` that drops the index on PostgreSQL without blocking the table (``DROP INDEX
    CONCURRENTLY``), and as usual elsewhere; undone by building it the same way. Its migration must set
    ``atomic = False``."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._change(app_label, schema_editor, from_state, schema_editor.remove_index)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._change(app_label, schema_editor, to_state, schema_editor.add_index)

    def _change(self, app_label: str, schema_editor: Any, state: Any, change: Any) -> None:
        """``change`` (the schema editor's add or remove) the index as ``state`` defines it."""
        model = state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            change(model, index, **_without_locking(schema_editor))


def _without_locking(schema_editor: Any) -> dict[str, bool]:
    """The schema editor's option for an index change that does not block writes: PostgreSQL's alone."""
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
