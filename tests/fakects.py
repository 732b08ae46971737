"""A fake CTS that speaks real HTTP, for tests of the BotX client and what sits on it.

It serves the v1 token endpoint and two read methods of the Chats API on 127.0.0.1, checks
credentials independently of ``bots.botx`` (so a test catches a wrong signature instead of agreeing
with it), and can be scripted to fail. It is deliberately small; the project's own sandbox will
replace it.

    with FakeCts({bot_id: secret}) as cts:
        cts.script(500, path="/api/v3/botx/chats/list")
        ...  # point a client at cts.url
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import jwt

TOKEN_PREFIX = "/api/v2/botx/bots/"
CHATS_LIST = "/api/v3/botx/chats/list"
CHATS_INFO = "/api/v3/botx/chats/info"

DEFAULT_CHATS: list[dict[str, Any]] = [
    {
        "group_chat_id": "740cf331-d833-5250-b5a5-5b5cbc697ff5",
        "chat_type": "group_chat",
        "name": "Ops",
        "description": None,
        "members": ["6fafda2c-6505-57a5-a088-25ea5d1d0364"],
        "inserted_at": "2024-01-15T09:30:00.000000Z",
        "updated_at": "2024-01-15T09:30:00.000000Z",
        "shared_history": False,
    },
    {
        "group_chat_id": "dcfa5a7c-7cc4-4c89-b6c0-80325604f9f4",
        "chat_type": "chat",
        "name": "Personal",
        "description": None,
        "members": ["6fafda2c-6505-57a5-a088-25ea5d1d0364"],
        "inserted_at": "2024-02-01T12:00:00.000000Z",
        "updated_at": "2024-02-01T12:00:00.000000Z",
        "shared_history": False,
    },
]

Answer = tuple[int, dict[str, str], bytes, float]


@dataclass
class Scripted:
    """One canned answer, used once by the next request to ``path`` (any path when None)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    path: str | None = None


@dataclass(frozen=True)
class Seen:
    """A request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def envelope_error(reason: str, **error_data: Any) -> dict[str, Any]:
    return {"status": "error", "reason": reason, "errors": [], "error_data": error_data}


def unused_url() -> str:
    """The URL of a local port nothing listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeCts:
    def __init__(
        self,
        bots: dict[str | uuid.UUID, str] | None = None,
        *,
        host: str = "127.0.0.1",
        chats: list[dict[str, Any]] | None = None,
    ) -> None:
        self.bots: dict[str, str] = {str(bot_id).lower(): secret for bot_id, secret in (bots or {}).items()}
        self.host = host
        self.chats = DEFAULT_CHATS if chats is None else chats
        self.requests: list[Seen] = []
        self._issued: dict[str, str] = {}
        self._scripted: list[Scripted] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll keeps shutdown (and so every test's teardown) from waiting half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-cts", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()  # wakes handlers sleeping through a scripted delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeCts as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what tests tell it and ask it -----------------------------------------------------------------

    def add_bot(self, bot_id: str | uuid.UUID, secret: str) -> None:
        self.bots[str(bot_id).lower()] = secret

    def script(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        path: str | None = None,
    ) -> None:
        """Answer the next matching request with this instead of the real thing. ``body``: a dict or
        list is sent as JSON, str/bytes as they are. ``delay``: seconds to wait before answering."""
        with self._lock:
            self._scripted.append(Scripted(status, body, headers or {}, delay, path))

    def revoke_tokens(self) -> None:
        """Forget every token issued so far, as when BotX tokens expire."""
        with self._lock:
            self._issued.clear()

    def hits(self, path_prefix: str) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen.path.startswith(path_prefix))

    # --- answering -------------------------------------------------------------------------------------

    def answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            scripted = next((s for s in self._scripted if s.path in (None, seen.path)), None)
            if scripted is not None:
                self._scripted.remove(scripted)
        if scripted is not None:
            return _encode(scripted.status, scripted.body, scripted.headers, scripted.delay)

        if seen.path.startswith(TOKEN_PREFIX) and seen.path.endswith("/token") and seen.method == "GET":
            return self._token(seen)
        if seen.path in (CHATS_LIST, CHATS_INFO):
            bot_id = self._authorized_bot(seen.headers.get("authorization", ""))
            if bot_id is None:
                return _encode(401, envelope_error("unauthorized", error_description="Invalid token"))
            if seen.path == CHATS_LIST and seen.method == "GET":
                return _encode(200, {"status": "ok", "result": self.chats})
            if seen.path == CHATS_INFO and seen.method == "GET":
                return self._chat_info(seen)
        return _encode(404, "no such route", {"Content-Type": "text/plain"})

    def _token(self, seen: Seen) -> Answer:
        bot_id = seen.path[len(TOKEN_PREFIX) : -len("/token")].lower()
        secret = self.bots.get(bot_id)
        if secret is None:
            return _encode(404, envelope_error("bot_not_found", bot_id=bot_id))
        expected = hmac.new(secret.encode(), bot_id.encode(), hashlib.sha256).hexdigest().upper()
        if not hmac.compare_digest(seen.query.get("signature", ""), expected):
            return _encode(401, envelope_error("invalid_bot_credentials", bot_id=bot_id))
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._issued[token] = bot_id
        return _encode(200, {"status": "ok", "result": token})

    def _authorized_bot(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with self._lock:
            if token in self._issued:
                return self._issued[token]
        try:
            bot_id = str(jwt.decode(token, options={"verify_signature": False}).get("iss", "")).lower()
            secret = self.bots.get(bot_id)
            if secret is None:
                return None
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=self.host,
                issuer=bot_id,
                options={"require": ["iss", "aud", "exp", "iat", "nbf", "jti"]},
            )
        except jwt.PyJWTError:
            return None
        return bot_id if claims.get("version") == 2 else None

    def _chat_info(self, seen: Seen) -> Answer:
        chat_id = seen.query.get("group_chat_id", "")
        for chat in self.chats:
            if chat["group_chat_id"] == chat_id:
                return _encode(200, {"status": "ok", "result": chat})
        return _encode(
            404,
            envelope_error(
                "chat_not_found", group_chat_id=chat_id, error_description="Chat with specified id not found"
            ),
        )


def _encode(status: int, body: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> Answer:
    headers = dict(headers or {})
    if isinstance(body, bytes):
        payload = body
    elif isinstance(body, str):
        payload = body.encode()
    elif body is None:
        payload = b""
    else:
        payload = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    return status, headers, payload, delay


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeCts

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) leaves a dead socket behind; that is the test working.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        fake = self.server.fake
        status, headers, payload, delay = fake.answer(seen)
        if delay and fake._stopping.wait(delay):
            return
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
