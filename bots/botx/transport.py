"""HTTP/1.1 to one CTS for the BotX client: a kept-alive connection per thread, and each failure named
by when it happened, before the request left or after, since that decides whether it may be sent again.

Built on ``http.client``: a BotX call is a small JSON request on a kept-alive connection, and through
httpx each one cost a worker about three times the CPU of the same call here (0.5 ms against 0.15 ms,
bench/probe_costs.py), a share of every command the portal answers. What httpx did for these calls is
done here as it did it: proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``, certificates
checked against certifi's bundle (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), no redirects followed, a
connect timeout apart from the read timeout, and a kept-alive connection the server has closed
meanwhile replaced before use rather than failing the call.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi

from bots.botx.errors import ErrorKind

USER_AGENT = "express-bot-portal"


class TransportError(Exception):
    """No HTTP answer: ``kind`` says whether the request may have reached the server (AMBIGUOUS) or
    certainly did not (TRANSIENT, or PERMANENT when sending it again cannot help)."""

    def __init__(self, kind: ErrorKind, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.get_content_charset() or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


def query_string(params: Mapping[str, Any]) -> str:
    """Query parameters as httpx wrote them: booleans in lower case, None empty, lists repeated."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, text(item)))
    return urlencode(pairs)


def _tls_context(verify: bool) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return ssl.create_default_context(cafile=certifi.where())


class HttpConnections:
    """Requests to one base URL, each thread on its own kept-alive connection (one client serves the
    threads of a worker's send pool). ``close`` closes them all."""

    def __init__(self, base_url: str, *, timeout: float, connect_timeout: float, verify_tls: bool) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        try:
            self.port = parts.port or (443 if self.scheme == "https" else 80)
        except ValueError:
            self.port = 0
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.verify_tls = verify_tls
        self.proxy = self._proxy()
        self._context: ssl.SSLContext | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()

    def _proxy(self) -> tuple[str, int, dict[str, str]] | None:
        """The proxy the environment names for this URL, as (host, port, headers for it), or None."""
        url = getproxies().get(self.scheme)
        if not url or not self.host or proxy_bypass(self.host):
            return None
        parts = urlsplit(url if "://" in url else f"http://{url}")
        headers = {}
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        return parts.hostname or "", parts.port or 8080, headers

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None, body: bytes | None, headers: dict[str, str]
    ) -> HttpResponse:
        if self.scheme not in {"http", "https"}:
            raise TransportError(ErrorKind.PERMANENT, "unsupported_protocol", f"unsupported URL scheme {self.scheme!r}")
        if not self.host or not self.port:
            raise TransportError(ErrorKind.PERMANENT, "invalid_url", "the CTS URL names no host or a bad port")
        target = self.prefix + path
        if params:
            target += ("&" if "?" in target else "?") + query_string(params)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **headers}
        if self.proxy is not None and self.scheme == "http":
            target = f"http://{self.host}:{self.port}{target}"  # a plain-HTTP proxy takes the whole URL
            headers.update(self.proxy[2])
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = self._connected()
        try:
            connection.request(method, target, body=body, headers=headers)
        except (ValueError, http.client.InvalidURL) as exc:
            # Refused by http.client before a byte was written (a header value with a line break, say).
            raise self._failed(connection, ErrorKind.PERMANENT, "invalid_request", exc) from exc
        except TimeoutError as exc:
            raise self._failed(connection, ErrorKind.AMBIGUOUS, "write_timeout", exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(connection, ErrorKind.AMBIGUOUS, "connection_lost", exc) from exc
        try:
            response = connection.getresponse()
            content = response.read()
        except TimeoutError as exc:
            raise self._failed(connection, ErrorKind.AMBIGUOUS, "read_timeout", exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(connection, ErrorKind.AMBIGUOUS, "connection_lost", exc) from exc
        return HttpResponse(response.status, response.reason, response.headers, content)

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    # --- connections ----------------------------------------------------------------------------------

    def _connected(self) -> http.client.HTTPConnection:
        """This thread's connection, opened (or opened again) now if it is not usable; failures to open
        it are TRANSIENT: nothing was sent."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._new()
        elif connection.sock is not None and _dropped(connection.sock):
            connection.close()  # the server closed it while it was idle
        if connection.sock is None:
            try:
                connection.connect()
            except TimeoutError as exc:
                raise self._failed(connection, ErrorKind.TRANSIENT, "connect_timeout", exc) from exc
            except OSError as exc:
                reason = "proxy_error" if self.proxy is not None and "Tunnel" in str(exc) else "connect_failed"
                raise self._failed(connection, ErrorKind.TRANSIENT, reason, exc) from exc
            assert connection.sock is not None
            connection.sock.settimeout(self.timeout)
        return connection

    def _new(self) -> http.client.HTTPConnection:
        host, port = (self.proxy[0], self.proxy[1]) if self.proxy is not None else (self.host, self.port)
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            if self._context is None:
                self._context = _tls_context(self.verify_tls)
            connection = http.client.HTTPSConnection(host, port, timeout=self.connect_timeout, context=self._context)
            if self.proxy is not None:
                connection.set_tunnel(self.host, self.port, headers=self.proxy[2])
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        self._local.connection = connection
        with self._lock:
            self._open.add(connection)
        return connection

    def _failed(
        self, connection: http.client.HTTPConnection, kind: ErrorKind, reason: str, exc: BaseException
    ) -> TransportError:
        """The error to raise for ``exc``; the connection, in an unknown state now, is closed."""
        connection.close()
        self._local.connection = None
        with self._lock:
            self._open.discard(connection)
        return TransportError(kind, reason, str(exc) or type(exc).__name__)


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive socket with something to read has been closed by the server (or holds bytes no
    request asked for): either way it must not carry the next request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
