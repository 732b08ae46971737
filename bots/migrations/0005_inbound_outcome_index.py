from django.db import migrations, models

from bots.migrations._operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [
        ("bots", "0004_ledger_indexes"),
    ]

    operations = [
        # The index of statuses and times leaves the commands waiting for a drain to inbound_queue_idx:
        # built first without blocking writes, then the one it replaces dropped the same way.
        AddIndexWithoutLocking(
            model_name="inboundevent",
            index=models.Index(
                condition=models.Q(("status", "received"), _negated=True),
                fields=["status", "received_at"],
                name="inbound_outcome_time_idx",
            ),
        ),
        RemoveIndexWithoutLocking(
            model_name="inboundevent",
            name="inbound_status_time_idx",
        ),
    ]
