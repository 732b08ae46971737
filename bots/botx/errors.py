"""The one error type of the BotX client, and the rules that say whether a failed call may be retried.

Every failure is one of three kinds, and retry decisions read that and nothing else:

* PERMANENT: BotX understood the request and refused it (a 4xx other than 429, an error envelope on a
  2xx). Sending it again gives the same answer.
* TRANSIENT: the request never reached BotX (connection refused, DNS, connect timeout) or BotX said
  "not now" (5xx, 429). Safe to send again later.
* AMBIGUOUS: the request was sent but no usable answer came back (read timeout, connection dropped,
  unreadable body). BotX has no idempotency key, so sending it again may deliver a message twice.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"


class BotxError(Exception):
    """A BotX call that did not return a result.

    ``reason`` is BotX's snake_case code when it sent an error envelope, otherwise one of ours
    (``connect_failed``, ``read_timeout``, ``not_found``, ...). ``errors`` and ``error_data`` are the
    envelope's, empty when there was none. Nothing in it is a secret, a signature or a token.
    """

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        *,
        status_code: int | None = None,
        errors: list[Any] | None = None,
        error_data: dict[str, Any] | None = None,
        retry_after: float | None = None,
        detail: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        # Only the positional arguments go to Exception: pickling rebuilds with them and then restores
        # __dict__, so the error survives a trip through a task result or a worker boundary.
        super().__init__(kind, reason)
        self.kind = kind
        self.reason = reason
        self.status_code = status_code
        self.errors = list(errors or [])
        self.error_data = dict(error_data or {})
        self.retry_after = retry_after
        self.detail = detail
        self.method = method
        self.path = path

    @property
    def request_was_sent(self) -> bool:
        """False only when BotX certainly never saw the request."""
        return self.status_code is not None or self.kind is ErrorKind.AMBIGUOUS

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"HTTP {self.status_code} " if self.status_code is not None else ""
        description = self.detail or self.error_data.get("error_description") or ""
        tail = f": {description}" if description else ""
        return f"{where}{status}{self.reason}{tail} [{self.kind}]"


def classify_http_status(status: int) -> ErrorKind:
    """The kind of error an HTTP status means when BotX returned no result."""
    if status == 429 or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """The delay a ``Retry-After`` header asks for: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if not math.isfinite(seconds):  # float() accepts "nan" and "inf"; a scheduler must not
        return None
    return max(seconds, 0.0)
