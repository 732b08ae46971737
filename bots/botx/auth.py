"""How a bot proves itself to BotX: the v1 token-endpoint signature and the v2 self-signed JWT."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid

import jwt

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
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)
