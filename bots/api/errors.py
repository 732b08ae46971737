"""Every API error is JSON of one shape: ``{"error": code, "detail": sentence, "fields": {path: [messages]}}``.

``fields`` is there for invalid input only; nested fields are flattened to paths such as
``bubbles[0][1].label``, the same paths the outbox's own checks name.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = gettext_lazy("The request body is too large.")


class BotNotServed(exceptions.APIException):
    """The bot is disabled or cannot send now; the message was not taken."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "bot_disabled"
    default_detail = gettext_lazy("The bot is turned off.")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = gettext_lazy("The request conflicts with the current state.")


def field_errors(path: str, detail: Any) -> dict[str, list[str]]:
    """DRF's nested error structure as flat ``{path: [messages]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            child = str(key) if not path else (f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
            for name, messages in field_errors(child, value).items():
                flat.setdefault(name, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat.setdefault(path or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    for name, messages in field_errors(f"{path}[{index}]", item).items():
                        flat.setdefault(name, []).extend(messages)
    else:
        flat.setdefault(path or "non_field_errors", []).append(str(detail))
    return flat


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    request = context.get("request")
    if response is None:
        # A bug, not bad input: logged with its traceback, answered in the API's format.
        logger.error(
            "api failed on %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"), exc_info=exc
        )
        return Response(
            {"error": "server_error", "detail": _("Something went wrong on our side; it has been logged.")},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {
            "error": "invalid",
            "detail": _("Some fields are not valid."),
            "fields": field_errors("", exc.detail),
        }
    else:
        detail = getattr(exc, "detail", None)
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        body = {
            "error": codes if isinstance(codes, str) else "error",
            "detail": str(detail) if detail is not None else str(exc),
        }
    # Refused requests are recorded (who, what, why), without the body: it may carry a file.
    auth = getattr(request, "auth", None) if request is not None else None
    logger.info(
        "api refused %s %s with %s (%s) for token %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        response.status_code,
        body["error"],
        getattr(auth, "prefix", "-"),
    )
    response.data = body
    return response
