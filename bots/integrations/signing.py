"""HMAC-SHA256 signatures of HTTP bodies, one format both ways: webhooks to the portal and the bridge's
requests from it.

``X-Signature-Timestamp`` carries the Unix time in whole seconds; ``X-Signature`` carries
``sha256=`` and the lowercase hex HMAC-SHA256, keyed with the shared secret (UTF-8), of the timestamp
text, a full stop, and the raw body bytes: ``HMAC(secret, b"1767225600." + body)``. Signing the
timestamp with the body lets the receiver refuse old requests without trusting a header.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from django.utils.translation import gettext as _

TIMESTAMP_HEADER = "X-Signature-Timestamp"
SIGNATURE_HEADER = "X-Signature"
PREFIX = "sha256="


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


class SignatureError(Exception):
    """Why a signature is refused: ``code`` for logs and answers, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Verified:
    signature: str
    timestamp: int


def verify(
    *, secret: str, body: bytes, timestamp: str | None, given: str | None, max_age: int, now: float | None = None
) -> Verified:
    """Check a request's signature headers; raise ``SignatureError`` saying what is wrong."""
    if not timestamp or not given:
        raise SignatureError(
            "signature_missing",
            _("The %(timestamp)s and %(signature)s headers are required.")
            % {"timestamp": TIMESTAMP_HEADER, "signature": SIGNATURE_HEADER},
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(
            "bad_timestamp", _("%(header)s must be Unix time in whole seconds.") % {"header": TIMESTAMP_HEADER}
        )
    signed_at = int(timestamp)
    current = now if now is not None else time.time()
    if abs(current - signed_at) > max_age:
        raise SignatureError(
            "stale_timestamp",
            _("%(header)s is more than %(seconds)d seconds away from the portal's clock.")
            % {"header": TIMESTAMP_HEADER, "seconds": max_age},
        )
    expected = signature(secret, timestamp, body)
    # Compared in constant time, whatever the caller sent.
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise SignatureError("bad_signature", _("The signature does not match the body and the timestamp."))
    return Verified(signature=expected, timestamp=signed_at)
