"""BotX look-ups for handlers: chat info, users, file downloads, as synchronous calls through the one
client. They are reads, so they bypass the outbox; a failure reaches the handler as ``LookupFailed``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bots.botx import lookups as wire
from bots.botx.errors import BotxError
from bots.botx.lookups import ChatInfo, LookupRequest, UserInfo
from bots.handlers.api.ports import LookupFailed
from bots.models import Bot
from bots.services.botx_clients import client_for

logger = logging.getLogger(__name__)


class BotxLookups:
    """The look-ups of one bot, made with its credentials on its CTS."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def chat_info(self, chat_id: uuid.UUID) -> ChatInfo | None:
        result = self._call("chat info", wire.chat_info_request(chat_id), not_found=True)
        return None if result is _NOT_FOUND else self._parse("chat info", wire.parse_chat_info, result)

    def personal_chat(self, user_huid: uuid.UUID) -> ChatInfo | None:
        result = self._call("personal chat", wire.personal_chat_request(user_huid), not_found=True)
        return None if result is _NOT_FOUND else self._parse("personal chat", wire.parse_chat_info, result)

    def user_by_huid(self, huid: uuid.UUID) -> UserInfo | None:
        result = self._call("user by HUID", wire.user_by_huid_request(huid), not_found=True)
        return None if result is _NOT_FOUND else self._parse("user by HUID", wire.parse_user, result)

    def users_by_email(self, emails: list[str]) -> list[UserInfo]:
        if not emails:
            return []
        result = self._call("users by e-mail", wire.users_by_email_request(emails), not_found=False)
        users: list[UserInfo] = self._parse("users by e-mail", wire.parse_users, result)
        return users

    def user_by_login(self, ad_login: str, ad_domain: str) -> UserInfo | None:
        result = self._call("user by AD login", wire.user_by_login_request(ad_login, ad_domain), not_found=True)
        return None if result is _NOT_FOUND else self._parse("user by AD login", wire.parse_user, result)

    def file_download(self, chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes:
        request = wire.file_download_request(chat_id, file_id)
        try:
            content = client_for(self.bot).request(request.http_method, request.path, params=request.params, raw=True)
        except BotxError as exc:
            raise self._failed("file download", exc) from exc
        if not isinstance(content, bytes):  # an ok envelope where bytes were expected
            raise LookupFailed("file download", "unexpected_result")
        return content

    def _call(self, what: str, request: LookupRequest, *, not_found: bool) -> Any:
        try:
            return client_for(self.bot).request(
                request.http_method, request.path, params=request.params, json=request.json
            )
        except BotxError as exc:
            if not_found and exc.status_code == 404 and exc.reason in wire.NOT_FOUND_REASONS:
                return _NOT_FOUND
            raise self._failed(what, exc) from exc

    def _parse(self, what: str, parser: Any, result: Any) -> Any:
        try:
            return parser(result)
        except wire.UnexpectedLookupResult as exc:
            raise LookupFailed(what, f"unexpected_result: {exc}") from exc

    def _failed(self, what: str, exc: BotxError) -> LookupFailed:
        logger.warning("look-up %s of bot %s failed: %s (%s)", what, self.bot.bot_id, exc.reason, exc.kind)
        return LookupFailed(what, exc.reason)


_NOT_FOUND = object()
