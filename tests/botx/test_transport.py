"""The BotX client's HTTP transport over real sockets: kept-alive connections, TLS, proxies, and each
failure named by whether the request may have left."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bots.botx.errors import ErrorKind
from bots.botx.transport import HttpConnections, TransportError, query_string


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append((self.requestline, self.headers.get("Host", ""), self.client_address[1]))
        mode = self.server.mode
        if mode == "cut":
            # Half an answer, then the connection goes: the request did reach the server.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
            self.close_connection = True
            return
        body = b'{"status": "ok", "result": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # "close": kept alive as far as the client knows (no Connection: close), closed all the same.
        self.close_connection = mode == "close"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mode = "ok"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str, int]] = []


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def connections(url: str, *, verify_tls: bool = True, timeout: float = 5.0) -> HttpConnections:
    return HttpConnections(url, timeout=timeout, connect_timeout=timeout, verify_tls=verify_tls)


def url_of(server: _Server, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"


def get(http: HttpConnections, path: str = "/api/v1/ping", **params: Any) -> Any:
    return http.request("GET", path, params=params or None, body=None, headers={}).json()


def test_calls_share_one_kept_alive_connection(server: _Server) -> None:
    http = connections(url_of(server))

    assert [get(http) for _ in range(3)] == [{"status": "ok", "result": 1}] * 3
    assert len({port for _line, _host, port in server.seen}) == 1
    http.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(server: _Server) -> None:
    server.mode = "close"
    http = connections(url_of(server))
    results = []
    for _ in range(3):
        results.append(get(http)["result"])
        time.sleep(0.1)  # idle: the server's close arrives before the next call

    assert results == [1, 1, 1]
    assert len({port for _line, _host, port in server.seen}) == 3
    http.close()


def test_an_answer_cut_short_is_ambiguous(server: _Server) -> None:
    server.mode = "cut"
    http = connections(url_of(server))

    with pytest.raises(TransportError) as caught:
        get(http)

    assert (caught.value.kind, caught.value.reason) == (ErrorKind.AMBIGUOUS, "connection_lost")
    server.mode = "ok"
    assert get(http)["result"] == 1, "the broken connection is not used again"


def test_a_base_url_path_and_query_parameters_reach_the_server(server: _Server) -> None:
    http = connections(url_of(server) + "/prefix/")

    get(http, "/api/v3/botx/chats/info", group_chat_id="c1", flag=True, empty=None)

    (line, host, _port) = server.seen[0]
    assert line == "GET /prefix/api/v3/botx/chats/info?group_chat_id=c1&flag=true&empty= HTTP/1.1"
    assert host == f"127.0.0.1:{server.server_address[1]}"


def test_query_parameters_are_written_as_botx_expects() -> None:
    assert query_string({"a": False, "b": [1, "x y"], "c": None}) == "a=false&b=1&b=x+y&c="


def test_a_plain_http_proxy_from_the_environment_gets_the_whole_url(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", url_of(server))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http = connections("http://cts.example.com:8080")

    assert get(http, "/api/v1/ping")["result"] == 1
    (line, host, _port) = server.seen[0]
    assert line == "GET http://cts.example.com:8080/api/v1/ping HTTP/1.1"
    assert host == "cts.example.com:8080"


def test_no_proxy_sends_straight_to_the_cts(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    assert get(connections(url_of(server)))["result"] == 1


def test_an_unsupported_scheme_is_permanent_and_nothing_is_sent() -> None:
    with pytest.raises(TransportError) as caught:
        get(connections("ftp://cts.example.com"))

    assert (caught.value.kind, caught.value.reason) == (ErrorKind.PERMANENT, "unsupported_protocol")


# --- TLS -------------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(server: _Server, tmp_path: Path) -> _Server:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cts.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def test_tls_to_a_cts_whose_certificate_is_not_checked(tls_server: _Server) -> None:
    http = connections(url_of(tls_server, "https"), verify_tls=False)

    assert get(http)["result"] == 1
    http.close()


def test_tls_to_a_certificate_no_authority_signed_is_refused_before_sending(tls_server: _Server) -> None:
    with pytest.raises(TransportError) as caught:
        get(connections(url_of(tls_server, "https")))

    assert (caught.value.kind, caught.value.reason) == (ErrorKind.TRANSIENT, "connect_failed")
    assert "certificate" in caught.value.detail.lower()
    assert tls_server.seen == []
