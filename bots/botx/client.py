"""The one synchronous HTTP client to the BotX API of a CTS.

It signs requests (v1: a cached token from the token endpoint; v2: a fresh self-signed JWT per
request), unwraps the ``{"status": "ok", "result": ...}`` envelope and turns everything else into a
``BotxError`` that says whether the call may be retried. Callers pass credentials in; nothing here
reads settings or the database.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from bots.botx.auth import jwt_v2_build, token_signature
from bots.botx.errors import BotxError, ErrorKind, classify_http_status, retry_after_seconds
from bots.botx.transport import HttpConnections, HttpResponse, TransportError

logger = logging.getLogger(__name__)

AUTH_V1 = "v1"  # a token from the token endpoint, cached
AUTH_V2 = "v2"  # a self-signed JWT per request
AUTH_MODES = (AUTH_V1, AUTH_V2)

# A CTS that does not accept a connection within a few seconds is down, and failing fast there is
# safe (nothing was sent); the read timeout is the caller's, since BotX may be doing real work.
CONNECT_TIMEOUT_CAP = 5.0


@dataclass(frozen=True)
class BotxCredentials:
    """What the client needs to act as one bot on one CTS. The secret never appears in its repr."""

    bot_id: uuid.UUID
    secret_key: str = field(repr=False)
    base_url: str
    host: str
    auth_mode: str
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"Unknown BotX auth mode {self.auth_mode!r}; expected one of {AUTH_MODES}.")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


# --- v1 token cache ------------------------------------------------------------------------------

_CacheKey = tuple[str, uuid.UUID, str]


class _TokenCache:
    """Process-wide v1 tokens. BotX does not say how long a token lives, so one is kept until BotX
    rejects it. A lock per key keeps concurrent first calls for a bot to one token request without
    making other bots wait behind a slow CTS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[_CacheKey, str] = {}
        self._key_locks: dict[_CacheKey, threading.Lock] = {}

    def get(self, key: _CacheKey, fetch: Callable[[], str]) -> str:
        with self._lock:
            token = self._tokens.get(key)
            if token is not None:
                return token
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                token = self._tokens.get(key)
            if token is None:
                token = fetch()
                with self._lock:
                    self._tokens[key] = token
            return token

    def discard(self, key: _CacheKey, token: str) -> None:
        # Only the token that failed: another thread may already have put a fresh one in its place.
        with self._lock:
            if self._tokens.get(key) == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._key_locks.clear()


_token_cache = _TokenCache()


def token_cache_clear() -> None:
    """Forget every cached v1 token (tests; after a CTS-wide token reset)."""
    _token_cache.clear()


_SIGNATURE_RE = re.compile(r"(signature=)[^&\s\"']+", re.IGNORECASE)


# --- the client ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """What the last call sent and got, for the ledger (the token and signature are not in it)."""

    method: str
    path: str
    status_code: int | None
    response_text: str
    duration_ms: int


RESPONSE_TEXT_LIMIT = 10_000


class BotxClient:
    """Calls the BotX API as one bot. Use as a context manager, or call ``close()``.

    One client may serve several threads; ``last_exchange`` is each thread's own last call.
    """

    def __init__(self, credentials: BotxCredentials, *, timeout: float = 10.0) -> None:
        self.credentials = credentials
        self._local = threading.local()
        self._http = HttpConnections(
            credentials.base_url,
            timeout=timeout,
            connect_timeout=min(timeout, CONNECT_TIMEOUT_CAP),
            verify_tls=credentials.verify_tls,
        )

    @property
    def last_exchange(self) -> Exchange | None:
        return getattr(self._local, "exchange", None)

    @last_exchange.setter
    def last_exchange(self, exchange: Exchange) -> None:
        self._local.exchange = exchange

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get_token(self) -> str:
        """A new v1 token from the CTS token endpoint (always asks; the cache is ``request``'s)."""
        creds = self.credentials
        result = self._call(
            "GET",
            f"/api/v2/botx/bots/{creds.bot_id}/token",
            params={"signature": token_signature(creds.bot_id, creds.secret_key)},
            json=None,
            token=None,
        )
        if not isinstance(result, str) or not result:
            raise BotxError(
                ErrorKind.PERMANENT,
                "unexpected_result",
                status_code=200,
                detail="the token endpoint returned no token",
                method="GET",
                path=f"/api/v2/botx/bots/{creds.bot_id}/token",
            )
        return result

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        raw: bool = False,
    ) -> Any:
        """Call a BotX method and return the ``result`` of its ok envelope; raise ``BotxError``.

        ``raw``: the method answers 200 with bytes rather than an envelope (the Files API download);
        those bytes are returned, and errors are read as for any other method.
        """
        if not path.startswith("/") or path.startswith("//"):
            # An absolute URL here would send the bot's bearer token to another host.
            raise ValueError(f"A BotX path must start with a single '/': {path!r}")
        creds = self.credentials
        if creds.auth_mode == AUTH_V2:
            token = jwt_v2_build(bot_id=creds.bot_id, host=creds.host, secret_key=creds.secret_key)
            return self._call(method, path, params=params, json=json, token=token, raw=raw)

        key: _CacheKey = (
            creds.base_url,
            creds.bot_id,
            # The secret is part of the key so a rotated secret never reuses a token obtained with
            # the old one; hashed so the cache holds no extra copy of it.
            hashlib.sha256(creds.secret_key.encode("utf-8")).hexdigest(),
        )
        token = _token_cache.get(key, self.get_token)
        try:
            return self._call(method, path, params=params, json=json, token=token, raw=raw)
        except BotxError as exc:
            if exc.status_code != 401:
                raise
        # BotX refuses a request with a bad token before acting on it, so sending it again cannot
        # deliver anything twice. Tokens expire without notice: get a new one and try exactly once.
        logger.info("BotX rejected the cached token of bot %s; fetching a new one", creds.bot_id)
        _token_cache.discard(key, token)
        token = _token_cache.get(key, self.get_token)
        return self._call(method, path, params=params, json=json, token=token, raw=raw)

    # --- internals ---------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        token: str | None,
        raw: bool = False,
    ) -> Any:
        method = method.upper()
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        # The signature travels in the query string; error texts and logs name the bare path only.
        log_path = path.split("?", 1)[0]
        started = time.monotonic()
        self.last_exchange = Exchange(method, log_path, None, "", 0)
        # Compact, and UTF-8 as it is rather than escaped.
        body = None if json is None else jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = self._http.request(method, path, params=params, body=body, headers=headers)
        except TransportError as exc:
            kind, reason = exc.kind, exc.reason
            detail = self._redact(exc.detail, token)
            logger.warning(
                "BotX %s %s for bot %s failed: %s (%s)",
                method,
                log_path,
                self.credentials.bot_id,
                reason,
                kind,
            )
            self.last_exchange = Exchange(method, log_path, None, detail, _elapsed_ms(started))
            raise BotxError(kind, reason, detail=detail, method=method, path=log_path) from exc
        if raw and response.status == 200:
            # A file's bytes: the ledger needs their size, not their text.
            self.last_exchange = Exchange(
                method, log_path, 200, f"<{len(response.content)} bytes>", _elapsed_ms(started)
            )
            return response.content
        self.last_exchange = Exchange(
            method,
            log_path,
            response.status,
            self._redact(response.text[:RESPONSE_TEXT_LIMIT], token),
            _elapsed_ms(started),
        )
        logger.debug(
            "BotX %s %s for bot %s: HTTP %s in %.0f ms",
            method,
            log_path,
            self.credentials.bot_id,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return _unwrap(response, method=method, path=log_path)

    def _redact(self, text: str, token: str | None) -> str:
        creds = self.credentials
        for secret in (creds.secret_key, token_signature(creds.bot_id, creds.secret_key), token):
            if secret:
                text = text.replace(secret, "***")
        return _SIGNATURE_RE.sub(r"\1***", text)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _unwrap(response: HttpResponse, *, method: str, path: str) -> Any:
    status = response.status
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = _error_envelope(body)

    if 200 <= status < 300:
        if isinstance(body, dict) and body.get("status") == "ok":
            return body.get("result")
        if error is not None:
            # BotX answered deliberately (204 file_deleted is one such case): asking again changes nothing.
            raise BotxError(ErrorKind.PERMANENT, status_code=status, method=method, path=path, **error)
        # Sent and accepted, but we cannot tell what happened: the one case we may not blindly resend.
        raise BotxError(
            ErrorKind.AMBIGUOUS,
            "unexpected_response",
            status_code=status,
            detail="the answer is not a BotX envelope",
            method=method,
            path=path,
        )

    kind = classify_http_status(status)
    retry_after = retry_after_seconds(response.headers.get("Retry-After")) if kind is ErrorKind.TRANSIENT else None
    if error is None:
        error = {"reason": _reason_code(response.reason, status)}
    raise BotxError(kind, status_code=status, retry_after=retry_after, method=method, path=path, **error)


def _error_envelope(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not (body.get("status") == "error" or "reason" in body):
        return None
    reason = body.get("reason")
    errors = body.get("errors")
    error_data = body.get("error_data")
    return {
        "reason": reason if isinstance(reason, str) and reason else "unknown_error",
        "errors": errors if isinstance(errors, list) else [],
        "error_data": error_data if isinstance(error_data, dict) else {},
    }


def _reason_code(phrase: str, status: int) -> str:
    # Without an envelope (a proxy's HTML page, say) the HTTP phrase is the best reason we have, in
    # BotX's snake_case so callers can treat both alike.
    code = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
    return code or f"http_{status}"
