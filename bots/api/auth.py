"""Who is calling: a bearer token (authentication), what it may do (permission), how often (throttling)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from bots.api.models import ApiToken
from bots.api.services.tokens import token_authenticate, token_touch


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``. The request's user is the token's owner, ``request.auth`` the token."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Give the token as: Authorization: Bearer <token>."))
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The token is not valid.")) from None
        token = token_authenticate(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is not valid, has expired or was revoked."))
        token_touch(token)
        return token.owner, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when the token is missing or bad.
        return f'{self.keyword} realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "bots.api.auth.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token, shown once when it is made."}


def request_token(request: Request) -> ApiToken:
    token = request.auth
    if not isinstance(token, ApiToken):
        raise exceptions.NotAuthenticated()
    return token


class HasScope(BasePermission):
    """The token has the view's ``required_scope`` (for this HTTP method, when a dict)."""

    message: Any = _("The token does not have the scope this needs.")

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = view.required_scope
        if isinstance(scope, dict):
            scope = scope.get(request.method or "GET")
        if scope is None:
            return False
        self.message = _("The token does not have the scope %(scope)s.") % {"scope": scope}
        return scope in token.scopes


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per token per period: the token's own rate, else API_RATE_LIMIT. Counters in the "api" cache."""

    scope = "api_token"

    def __init__(self) -> None:
        # The rate depends on the token; it is read per request in allow_request.
        self.cache = caches["api"]

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # unauthenticated requests are refused before anything is done for them
        self.rate = token.rate_limit or settings.API_RATE_LIMIT
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        return f"api-throttle-{token.pk}" if isinstance(token, ApiToken) else None
