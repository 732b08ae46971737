"""The operator console: the registry (registry.py) and the message ledger (ledger.py)."""

from bots.admin import ledger, registry

__all__ = ["ledger", "registry"]
