"""Checking the JWT that BotX puts in the ``Authorization`` header of every request it sends to a bot.

BotX signs each request with the bot's secret key (HS256, the key used as raw UTF-8). Two claim
layouts are in the wild and nothing in the header says which one a token uses, so it is told apart
by its content:

* v2 (newer BotX): ``iss`` = bot id, ``aud`` = CTS host (a string), ``version`` = 2;
* v1 (older BotX): ``iss`` = CTS host, ``aud`` = ``[bot id]`` (a one-element list).

Both carry ``exp``, ``nbf``, ``iat`` and ``jti``. The caller finds the bot first (``peek_bot_id``
reads the token without trusting it) and then passes that bot's host and secrets to
``verify_incoming``. Every failure is an ``UnverifiedRequest`` whose message is safe to show BotX in
the 401 body; the texts follow pybotx's so logs from either side read the same.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from bots.botx.incoming import opt_uuid

LAYOUT_V1 = "v1"
LAYOUT_V2 = "v2"

# BotX and the portal run on different machines; pybotx allows one second of clock skew and so do we.
DEFAULT_LEEWAY = 1

_ALGORITHM = "HS256"

MESSAGE_NOT_PROVIDED = "The authorization token was not provided."
MESSAGE_BAD_AUDIENCE = "Invalid audience parameter was provided."
MESSAGE_BAD_ISSUER = "Invalid issuer"
MESSAGE_NO_ISSUER = 'Token is missing the "iss" claim'
MESSAGE_NO_EXPIRY = 'Token is missing the "exp" claim'
MESSAGE_BAD_SIGNATURE = "Signature verification failed"
MESSAGE_EXPIRED = "Signature has expired"
MESSAGE_NOT_YET_VALID_NBF = "The token is not yet valid (nbf)"
MESSAGE_NOT_YET_VALID_IAT = "The token is not yet valid (iat)"
MESSAGE_BAD_ALGORITHM = "The specified alg value is not allowed"
MESSAGE_MALFORMED = "The authorization token is malformed."
MESSAGE_NO_KEY = "No secret key is configured for this bot."


class UnverifiedRequest(Exception):
    """The request does not carry a valid BotX token. ``message`` says why, in plain English."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VerifiedToken:
    """What a token that passed every check tells about the request."""

    layout: str  # LAYOUT_V1 or LAYOUT_V2
    bot_id: uuid.UUID
    issuer: str
    audience: str
    key_index: int  # which of the given secrets matched: 0 = current, 1 = previous during a rotation


def token_from_header(value: str | None) -> str | None:
    """The token in an ``Authorization`` header value: its last whitespace-separated part.

    BotX sends ``Bearer <jwt>``; taking the last part also accepts a bare token or another scheme word,
    as pybotx does.
    """
    if not value:
        return None
    parts = value.split()
    return parts[-1] if parts else None


def peek_bot_id(token: str | None) -> uuid.UUID | None:
    """The bot a token claims to be for, read WITHOUT checking the signature: only for finding which
    bot's secret to verify it with. None when the token cannot be read."""
    if not token:
        return None
    try:
        _header, claims, _signing_input, _signature = _decode_unverified(token)
    except UnverifiedRequest:
        return None
    if _layout(claims) == LAYOUT_V2:
        return opt_uuid(claims.get("iss"))
    audience = claims.get("aud")
    if isinstance(audience, list) and audience:
        return opt_uuid(audience[0])
    return None


def verify_incoming(
    token: str | None,
    *,
    bot_id: uuid.UUID,
    host: str,
    secrets: Sequence[str],
    trusted_issuers: Iterable[str] = (),
    leeway: int = DEFAULT_LEEWAY,
    now: float | None = None,
) -> VerifiedToken:
    """Check a BotX token for the bot ``bot_id`` on the CTS ``host`` (hostname only, no scheme/port).

    ``secrets`` are tried in order, so during a secret rotation both the new and the old key are
    accepted; ``key_index`` of the result says which one matched. ``trusted_issuers`` are other CTS
    hosts whose v1 tokens this bot accepts (federated servers). Raises ``UnverifiedRequest`` on any
    failure and never anything else.
    """
    if not token:
        raise UnverifiedRequest(MESSAGE_NOT_PROVIDED)
    header, claims, signing_input, signature = _decode_unverified(token)

    # The algorithm is fixed here, never taken from the token: that is what stops "alg": "none" and
    # key-confusion tricks.
    if header.get("alg") != _ALGORITHM:
        raise UnverifiedRequest(MESSAGE_BAD_ALGORITHM)
    if "crit" in header or header.get("b64", True) is not True:
        # Extensions that change how the signature is computed; BotX never uses them.
        raise UnverifiedRequest(MESSAGE_MALFORMED)

    # The signature before any claim: whoever does not hold the key learns nothing about which of
    # their claims would have passed.
    key_index = _matching_key(signing_input, signature, secrets)

    layout = _layout(claims)
    if layout == LAYOUT_V2:
        issuer, audience = _check_v2_parties(claims, bot_id=bot_id, host=host)
    else:
        issuer, audience = _check_v1_parties(claims, bot_id=bot_id, host=host, trusted_issuers=trusted_issuers)
    _check_times(claims, now=time.time() if now is None else now, leeway=leeway)
    return VerifiedToken(layout=layout, bot_id=bot_id, issuer=issuer, audience=audience, key_index=key_index)


# --- internals -------------------------------------------------------------------------------------


def _decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS, nothing checked yet."""
    try:
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
        header = decoded["header"]
        claims = decoded["payload"]
        signature = decoded["signature"]
        signing_input = token.encode("utf-8").rsplit(b".", 1)[0]
    except jwt.PyJWTError as exc:
        raise UnverifiedRequest(str(exc) or MESSAGE_MALFORMED) from None
    except Exception:  # the token is attacker input: no failure of the decoder may escape as another type
        raise UnverifiedRequest(MESSAGE_MALFORMED) from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or not isinstance(signature, bytes):
        raise UnverifiedRequest(MESSAGE_MALFORMED)
    return header, claims, signing_input, signature


def _matching_key(signing_input: bytes, signature: bytes, secrets: Sequence[str]) -> int:
    # Plain HMAC rather than jwt.decode per key: the token is parsed once however many keys there
    # are, and PyJWT would warn about every secret shorter than 32 bytes, which BotX secrets may be.
    usable = [(index, secret) for index, secret in enumerate(secrets) if isinstance(secret, str) and secret]
    if not usable:
        # An empty key would let anyone sign; a bot without a secret accepts nothing.
        raise UnverifiedRequest(MESSAGE_NO_KEY)
    for index, secret in usable:
        expected = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
        if hmac.compare_digest(expected, signature):
            return index
    raise UnverifiedRequest(MESSAGE_BAD_SIGNATURE)


def _layout(claims: Mapping[str, Any]) -> str:
    if claims.get("version") == 2:
        return LAYOUT_V2
    audience, issuer = claims.get("aud"), claims.get("iss")
    if isinstance(audience, str) and opt_uuid(issuer) is not None:
        return LAYOUT_V2
    return LAYOUT_V1


def _check_v2_parties(claims: Mapping[str, Any], *, bot_id: uuid.UUID, host: str) -> tuple[str, str]:
    issuer = claims.get("iss")
    if issuer is None:
        raise UnverifiedRequest(MESSAGE_NO_ISSUER)
    if not isinstance(issuer, str) or opt_uuid(issuer) != bot_id:
        raise UnverifiedRequest(MESSAGE_BAD_ISSUER)
    audience = claims.get("aud")
    if not isinstance(audience, str) or not audience or not _same_host(audience, host):
        raise UnverifiedRequest(MESSAGE_BAD_AUDIENCE)
    return issuer, audience


def _check_v1_parties(
    claims: Mapping[str, Any],
    *,
    bot_id: uuid.UUID,
    host: str,
    trusted_issuers: Iterable[str],
) -> tuple[str, str]:
    audience = claims.get("aud")
    if not isinstance(audience, list) or len(audience) != 1:
        raise UnverifiedRequest(MESSAGE_BAD_AUDIENCE)
    (bot_audience,) = audience
    if not isinstance(bot_audience, str) or opt_uuid(bot_audience) != bot_id:
        raise UnverifiedRequest(MESSAGE_BAD_AUDIENCE)
    issuer = claims.get("iss")
    if issuer is None:
        raise UnverifiedRequest(MESSAGE_NO_ISSUER)
    if not isinstance(issuer, str) or not issuer:
        raise UnverifiedRequest(MESSAGE_BAD_ISSUER)
    if not _same_host(issuer, host) and not any(_same_host(issuer, trusted) for trusted in trusted_issuers):
        raise UnverifiedRequest(MESSAGE_BAD_ISSUER)
    return issuer, bot_audience


def _check_times(claims: Mapping[str, Any], *, now: float, leeway: int) -> None:
    # Unlike pybotx, a token without "exp" is refused: BotX always sets it, and a token that never
    # expires would be a permanent credential for whoever copied it from a log.
    if "exp" not in claims:
        raise UnverifiedRequest(MESSAGE_NO_EXPIRY)
    expires = _as_number(claims["exp"])
    if expires is None:
        raise UnverifiedRequest("Expiration Time claim (exp) must be a number.")
    if expires <= now - leeway:
        raise UnverifiedRequest(MESSAGE_EXPIRED)
    if "nbf" in claims:
        not_before = _as_number(claims["nbf"])
        if not_before is None:
            raise UnverifiedRequest("Not Before claim (nbf) must be a number.")
        if not_before > now + leeway:
            raise UnverifiedRequest(MESSAGE_NOT_YET_VALID_NBF)
    if "iat" in claims:
        issued_at = _as_number(claims["iat"])
        if issued_at is None:
            raise UnverifiedRequest("Issued At claim (iat) must be a number.")
        # A token issued in the future means a clock is wrong or the token was made up.
        if issued_at > now + leeway:
            raise UnverifiedRequest(MESSAGE_NOT_YET_VALID_IAT)


def _as_number(value: Any) -> float | None:
    # bool is an int subclass in Python but not a NumericDate in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _same_host(left: str, right: str) -> bool:
    # Hostnames are case-insensitive (RFC 4343), and the CTS URL an operator typed may differ in case
    # from what BotX puts in its claims.
    return left.strip().lower() == right.strip().lower()
