"""How a bot proves itself to BotX: the v1 token-endpoint signature and the v2 self-signed JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid

JWT_ALGORITHM = "HS256"
JWT_LIFETIME_SECONDS = 60


def _canonical_bot_id(bot_id: uuid.UUID | str) -> str:
    # BotX signs the lowercase hyphenated form; an id typed in upper case or without hyphens must
    # still produce the same signature.
    return str(bot_id if isinstance(bot_id, uuid.UUID) else uuid.UUID(bot_id))


def token_signature(bot_id: uuid.UUID | str, secret_key: str) -> str:
    """The ``signature`` query parameter of the v1 token endpoint: HMAC-SHA256 of the bot id under the
    secret key, as upper-case hex."""
    digest = hmac.new(secret_key.encode("utf-8"), _canonical_bot_id(bot_id).encode("ascii"), hashlib.sha256).hexdigest()
    return digest.upper()


def jwt_v2_build(
    *,
    bot_id: uuid.UUID | str,
    host: str,
    secret_key: str,
    now: int | None = None,
    lifetime: int = JWT_LIFETIME_SECONDS,
) -> str:
    """A v2 bearer token: a short-lived HS256 JWT the bot signs itself for one BotX request."""
    if not secret_key:
        raise ValueError("a bot signs its tokens with its secret key, and this one has none")
    issued_at = int(time.time()) if now is None else now
    claims = {
        "iss": _canonical_bot_id(bot_id),
        "aud": host,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "jti": secrets.token_hex(12),
        "version": 2,
    }
    # Signed here rather than by PyJWT's encode, which writes the same token (tests/botx/test_auth.py)
    # but first makes sure the HMAC key is not an asymmetric one by trying to parse it as DER, twice,
    # on every call: 15 times the cost of the rest, paid for every message the workers send.
    signing_input = _V2_HEADER + b"." + _base64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret_key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _base64url(signature)).decode("ascii")


def _base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_V2_HEADER = _base64url(json.dumps({"alg": JWT_ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())
