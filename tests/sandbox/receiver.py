"""A tiny bot endpoint over real HTTP that records what the sandbox posts to it and checks the JWT.

It stands in for the portal's own ``/botx/`` endpoints: a CTS's ``bot_base_url`` points at
``receiver.url + "/bots/{bot_id}"``. The token is checked with PyJWT here, independently of the
sandbox's signing code, in the layout BotX uses (v2: iss = bot ID, aud = CTS host; v1: the reverse).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import jwt


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    claims: dict[str, Any] | None
    jwt_error: str
    at: float

    @property
    def is_callback(self) -> bool:
        return self.path.endswith("/notification/callback")

    @property
    def is_command(self) -> bool:
        return self.path.endswith("/command")


class Receiver:
    def __init__(self, secrets: dict[str, str], host: str) -> None:
        self.secrets = {bot_id.lower(): secret for bot_id, secret in secrets.items()}
        self.host = host
        self.received: list[Received] = []
        self.status = 202
        self.answer: Any = {"result": "accepted"}
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                receiver._record(self, raw)
                payload = json.dumps(receiver.answer).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="bot-receiver", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _record(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        claims, error = self._verify(handler.headers.get("Authorization", ""), body)
        with self._changed:
            self.received.append(
                Received("POST", handler.path, dict(handler.headers.items()), body, claims, error, time.monotonic())
            )
            self._changed.notify_all()

    def _verify(self, header: str, body: Any) -> tuple[dict[str, Any] | None, str]:
        token = header.split()[-1] if header.strip() else ""
        if not token:
            return None, "no token"
        unverified = jwt.decode(token, options={"verify_signature": False})
        if unverified.get("version") == 2:  # iss = bot ID, aud = CTS host
            bot_id = str(unverified.get("iss", ""))
            audience, issuer = self.host, bot_id
        else:  # v1: iss = CTS host, aud = [bot ID]
            aud = unverified.get("aud")
            bot_id = str(aud[0]) if isinstance(aud, list) and aud else ""
            audience, issuer = bot_id, self.host
        secret = self.secrets.get(str(bot_id).lower())
        if secret is None:
            return None, f"unknown bot {bot_id}"
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience=audience, issuer=issuer)
        except jwt.PyJWTError as exc:
            return None, str(exc)
        return claims, ""

    def wait_for(self, count: int, *, timeout: float = 5.0, kind: str = "") -> list[Received]:
        """The first ``count`` requests (of ``kind``: "callback" or "command"), waiting for them."""

        def matching() -> list[Received]:
            return [r for r in self.received if not kind or (r.is_callback if kind == "callback" else r.is_command)]

        with self._changed:
            self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout)
            found = matching()
        assert len(found) >= count, f"expected {count} {kind or 'requests'}, got {len(found)}: {found}"
        return found

    def callbacks(self) -> list[Received]:
        return [r for r in self.received if r.is_callback]

    def commands(self) -> list[Received]:
        return [r for r in self.received if r.is_command]
