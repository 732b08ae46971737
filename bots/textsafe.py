"""Text that every database stores: PostgreSQL refuses the NUL character in text and JSON columns.

BotX payloads are user input; a NUL in a message must not cost the request its row.
"""

from __future__ import annotations

from typing import Any

_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def scrub(value: Any) -> Any:
    """``value`` with every NUL in its strings (and dict keys) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value
