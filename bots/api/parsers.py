"""A JSON parser that reads at most API_MAX_BODY_BYTES (413 past that) and wants an object at the top.

Not a subclass of DRF's JSONParser on purpose: DRF reads the whole body through Django for those
(``request.body``), where DATA_UPLOAD_MAX_MEMORY_SIZE would refuse it with an HTML 400 first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from bots.api.errors import RequestTooLarge


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        # One byte past the limit tells a body too large without holding it whole.
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(_("The request body is larger than %(limit)d bytes.") % {"limit": limit})
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(_("The body is not valid JSON: %(error)s") % {"error": exc}) from None
        if not isinstance(data, dict):
            raise ParseError(_("The body must be a JSON object."))
        return data
