"""Small typed readers of the process environment, used by settings only.

Each reader takes the variable's name and a default; a value that cannot be read is an
``ImproperlyConfigured`` error naming the variable, so a bad deployment fails at start-up with a
sentence instead of a traceback deep in a request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no, got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def persistent_secret(path: Path, *, generate: bool, name: str, factory: Callable[[], str] | None = None) -> str:
    """Read a secret kept in a file under var/, creating it on first use when ``generate`` is set.

    The embedded default run needs a stable SECRET_KEY and encryption key across restarts without
    asking anything of the user; production must pass them through the environment instead.
    """
    if path.exists():
        return path.read_text().strip()
    if not generate:
        raise ImproperlyConfigured(
            f"{name} is required when DEBUG is off: set it in the environment (see README, Configuration)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    value = factory() if factory is not None else secrets.token_urlsafe(50)
    # Created readable by the owner only from the first byte.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value)
    return value


# Executions of a statement on one connection before it is prepared: a statement run once (an admin
# page's) is not worth a prepare round trip; the hot path runs each of its statements thousands of times.
PREPARE_THRESHOLD = 2


def database_from_url(url: str) -> dict[str, object]:
    """Turn DATABASE_URL into a Django DATABASES entry.

    Supported: ``sqlite:///relative/or/absolute/path``, ``sqlite:////abs/path``,
    ``postgres://user:password@host:port/name?option=value`` (also ``postgresql://``).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ImproperlyConfigured("DATABASE_URL for SQLite needs a file path: sqlite:///var/portal.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # A web server and a worker share the file: wait for a lock instead of failing at once.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL for PostgreSQL needs a database name: postgres://host/name")
        options: dict[str, object] = dict(parse_qsl(parts.query))
        if env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # Every command runs the same few dozen statements: prepared once per connection, the server
            # skips parsing and planning them (a third of its CPU per command, bench/probe_costs.py).
            # Prepared statements need the values sent apart from the SQL (server-side binding). Off
            # behind a pooler that hands one connection to several clients (PgBouncer in transaction
            # mode before 1.21), where a statement prepared by one is unknown to the next.
            options.setdefault("server_side_binding", True)
            options.setdefault("prepare_threshold", PREPARE_THRESHOLD)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:// or postgres://.")
