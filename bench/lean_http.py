"""A lean HTTP/1.1 client for the benchmark's own traffic: keep-alive POSTs on asyncio protocols.

The load generator and the fake BotX stand for BotX, which runs on other machines; here they share
the two cores with the system under test, so every millisecond they spend is taken from it. With
aiohttp's client, at 150 commands/s the load generator used 14-18% of a core and the fake BotX 13%;
with this one, 8-9% each, and the portal's p99 came out lower in each of four paired runs. This
client does only what the benchmark needs: a request is one write, an answer is parsed for its
status line and body length, and connections are kept and reused in turn (the oldest idle one
first, so that requests spread over every connection and so over the server's processes).

Answers are read by ``Content-Length`` (which every server measured here sends), or until the server
closes the connection when it sends none; a chunked answer is read the same way, undecoded, as the
benchmark looks only at the status.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import urlsplit

Answer = tuple[int, bytes]  # (HTTP status, body); status 0: no answer (refused, reset, timed out)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._answer_if_complete(eof=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._answer_if_complete(eof=True)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def _answer_if_complete(self, *, eof: bool) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
        elif not eof:
            return  # no length: the body ends with the connection
        else:
            total = len(self.buffer)
        status = int(self.buffer[9:12])
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        keep = start >= 0 and b"\r\nconnection: close" not in head
        self.waiter.set_result((status, body, keep))


class Client:
    """POSTs to one server (scheme http) over at most ``connections`` kept-alive connections."""

    def __init__(self, base_url: str, *, connections: int, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// URL is needed, not {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authority = parts.netloc
        self.limit = connections
        self.timeout = timeout
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._waiting: deque[asyncio.Future[_Connection | None]] = deque()

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        """POST ``body`` as JSON; the answer, or status 0 if none came within the timeout."""
        head = [f"POST {path} HTTP/1.1", f"Host: {self.authority}", "Content-Type: application/json"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        connection = await self._acquire()
        if connection is None:
            return 0, b""
        waiter = connection.request(data)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            status, answer, keep = await waiter
        except OSError:  # ConnectionError and TimeoutError among them
            self._discard(connection)
            return 0, b""
        finally:
            timer.cancel()
        if keep and not connection.closed:
            self._release(connection)
        else:
            self._discard(connection)
        return status, answer

    async def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()

    async def _acquire(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.popleft()
            if not connection.closed:
                return connection
            self._open -= 1
        if self._open >= self.limit:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            handed = await waiter
            if handed is not None:
                return handed
        self._open += 1
        try:
            _transport, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port
            )
        except OSError:
            self._open -= 1
            self._hand_on(None)
            return None
        return connection

    def _release(self, connection: _Connection) -> None:
        if self._waiting:
            self._hand_on(connection)
        else:
            self._idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        if connection.transport is not None:
            connection.transport.close()
        self._open -= 1
        if self._waiting:
            self._hand_on(None)  # the first waiter opens a connection in its place

    def _hand_on(self, connection: _Connection | None) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is not None:
            self._idle.append(connection)


def _expire(waiter: asyncio.Future[tuple[int, bytes, bool]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
