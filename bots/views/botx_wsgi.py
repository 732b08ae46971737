"""The two Bot API endpoints BotX calls for every message, served in front of Django's request cycle.

``POST .../command`` and ``POST .../notification/callback`` carry all of a bot's traffic: each command
is one of each. Through Django's handler a request costs more CPU in the middleware stack (sessions,
CSRF, locale, authentication, messages), URL resolving and the per-request database health check than
in the ingress service itself, and none of those apply to a machine-to-machine call checked by its
JWT. So ``FastBotApi`` wraps the Django WSGI application (portal/wsgi.py): these two requests go
straight to the same ingress services the views call (bots/views/botx.py), and everything else,
including any request they would treat differently (another method, a host not allowed, plain HTTP
that must be redirected), goes to Django unchanged.

What Django's request cycle would have done for them is done here in its lean form: the answers are
in ``LANGUAGE_CODE``; the database connection is not checked before each request, but after one that
hit a database error, and closed if it no longer works (that request was answered 503, so BotX sends
it again, and the next request reconnects) or once it is older than ``CONN_MAX_AGE``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import connection
from django.http.request import split_domain_port, validate_host
from django.utils import translation

from bots.services import ingress

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_PATH = re.compile(r"^/botx/(?:(?P<bot_id>[0-9a-fA-F-]{36})/)?(?P<endpoint>command|notification/callback)$")
_SERVICES: dict[str, tuple[str, Callable[[ingress.BotxHttpRequest], ingress.Answer]]] = {
    "command": ("command", ingress.command_receive),
    "notification/callback": ("callback", ingress.callback_receive),
}


class FastBotApi:
    """A WSGI application: the hot Bot API endpoints here, every other request to ``django_app``."""

    def __init__(self, django_app: WsgiApp) -> None:
        self.django_app = django_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = _route(environ)
        if route is None:
            return self.django_app(environ, start_response)
        endpoint, service, bot_id = route
        answer = _serve(environ, endpoint, service, bot_id)
        body = json.dumps(answer.body, ensure_ascii=False).encode()
        start_response(
            f"{answer.status} {HTTPStatus(answer.status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _route(
    environ: dict[str, Any],
) -> tuple[str, Callable[[ingress.BotxHttpRequest], ingress.Answer], uuid.UUID | None] | None:
    """The endpoint, its service and the bot ID in the URL; None when Django should take the request."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    match = _PATH.match(environ.get("PATH_INFO", ""))
    if match is None or not _host_allowed(environ) or _needs_https_redirect(environ):
        return None
    bot_id = None
    if match["bot_id"]:
        try:
            bot_id = uuid.UUID(match["bot_id"])
        except ValueError:
            return None  # Django answers it (404), as for any other unknown path
    endpoint, service = _SERVICES[match["endpoint"]]
    return endpoint, service, bot_id


def _host_allowed(environ: dict[str, Any]) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _needs_https_redirect(environ: dict[str, Any]) -> bool:
    if not settings.SECURE_SSL_REDIRECT or environ.get("wsgi.url_scheme") == "https":
        return False
    header = settings.SECURE_PROXY_SSL_HEADER
    return not (header and environ.get(header[0], "").split(",")[0].strip() == header[1])


def _serve(
    environ: dict[str, Any],
    endpoint: str,
    service: Callable[[ingress.BotxHttpRequest], ingress.Answer],
    bot_id: uuid.UUID | None,
) -> ingress.Answer:
    try:
        with translation.override(settings.LANGUAGE_CODE):
            try:
                return service(_request(environ, endpoint, bot_id))
            except Exception:
                # The services answer every expected failure themselves; this is a bug. It is logged as
                # Django would log it, and BotX is asked to try again rather than given a bare 500.
                logger.exception("the Bot API endpoint %s failed", endpoint)
                return ingress.unavailable()
    finally:
        _connection_release()


def _request(environ: dict[str, Any], endpoint: str, bot_id: uuid.UUID | None) -> ingress.BotxHttpRequest:
    limit = settings.BOTX_MAX_BODY_BYTES
    try:
        length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        length = 0  # as Django reads it: no body
    # Read at most one byte past the limit, as the view does: a body far too large is not held whole.
    body = environ["wsgi.input"].read(min(length, limit + 1)) if length else b""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return ingress.BotxHttpRequest(
        endpoint=endpoint,
        body=body[:limit],
        headers=headers,
        url_bot_id=bot_id,
        remote_addr=environ.get("REMOTE_ADDR"),
        too_large=len(body) > limit,
    )


def _connection_release() -> None:
    """Django's request_finished for this thread's connection, less the health check of every request.

    After a database error the connection is kept only if it still works; past ``CONN_MAX_AGE`` it is
    closed. Never inside a transaction (a caller's, or a test's): that one decides.
    """
    if connection.connection is None or connection.in_atomic_block:
        return
    if connection.errors_occurred:
        if not connection.is_usable():
            connection.close()
            return
        connection.errors_occurred = False
    close_at = connection.close_at
    if close_at is not None and time.monotonic() >= close_at:
        connection.close()
