"""The registry of handler code: a plain dict from handler key to the module that serves it.

Every module in ``bots/handlers/`` whose name does not start with an underscore and that defines
``HANDLER`` (a :class:`HandlerInfo`) is picked up. A bot row names one key; several bot accounts may
share one. Adding a bot is copying a sibling module and changing its key (docs/writing-bots.md walks
through it). ``api`` is the framework's own package of building blocks, not a bot.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from functools import cache

from django.utils.functional import Promise

from bots.handlers.framework import Router

logger = logging.getLogger(__name__)

# Modules of the package that are the framework, not bots.
_FRAMEWORK_MODULES = {"registry", "framework", "api"}


@dataclass(frozen=True)
class HandlerInfo:
    key: str
    name: str | Promise
    description: str | Promise = ""
    router: Router = field(default_factory=Router)


@cache
def handlers() -> dict[str, HandlerInfo]:
    import bots.handlers as package

    found: dict[str, HandlerInfo] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("_") or module_info.name in _FRAMEWORK_MODULES:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        info = getattr(module, "HANDLER", None)
        if not isinstance(info, HandlerInfo):
            continue
        if info.key in found:
            raise RuntimeError(f"Handler key {info.key!r} is declared twice ({module.__name__}).")
        found[info.key] = info
    return found


def handler_exists(key: str) -> bool:
    return key in handlers()


def handler_get(key: str) -> HandlerInfo | None:
    return handlers().get(key)


def handler_choices() -> list[tuple[str, str]]:
    return sorted(((key, f"{info.name} ({key})") for key, info in handlers().items()), key=lambda c: c[0])
