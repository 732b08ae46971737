"""Mentions: of a user (with a push), a contact (a card, no push), a chat, a channel, or everyone.

A mention has two parts: a marker in the body where it shows, and an entry in ``mentions``. A
:class:`MentionRef` is both: put it in the text (``str()`` gives the marker) and in ``mentions=``::

    who = mention_user(ctx.sender.user_huid)
    ctx.reply(_("Hello, %(who)s!") % {"who": who}, mentions=[who])
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bots.botx.outgoing import Mention, MentionType, mention_marker


@dataclass(frozen=True)
class MentionRef:
    type: MentionType
    target: uuid.UUID | None  # the user's HUID or the chat's id; None for everyone
    name: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def marker(self) -> str:
        return mention_marker(str(self.id))

    def __str__(self) -> str:
        return self.marker

    def payload(self) -> Mention:
        mention: Mention = {"type": self.type, "id": str(self.id)}
        if self.type in ("user", "contact"):
            mention["user_huid"] = str(self.target)
        elif self.type in ("chat", "channel"):
            mention["chat_id"] = str(self.target)
        if self.name and self.type != "all":
            mention["name"] = self.name
        return mention


def _target(value: uuid.UUID | str | None, what: str) -> uuid.UUID:
    if value is None:
        raise ValueError(f"A mention of a {what} needs its id.")
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def mention_user(huid: uuid.UUID | str | None, name: str | None = None) -> MentionRef:
    """A user, notified even in a muted chat. ``name``: shown instead of the user's own name."""
    return MentionRef("user", _target(huid, "user"), name)


def mention_contact(huid: uuid.UUID | str | None, name: str | None = None) -> MentionRef:
    """A user's contact card, without a notification."""
    return MentionRef("contact", _target(huid, "contact"), name)


def mention_chat(chat_id: uuid.UUID | str | None, name: str | None = None) -> MentionRef:
    """A link to a chat (useful only to those who may open it)."""
    return MentionRef("chat", _target(chat_id, "chat"), name)


def mention_channel(chat_id: uuid.UUID | str | None, name: str | None = None) -> MentionRef:
    return MentionRef("channel", _target(chat_id, "channel"), name)


def mention_all() -> MentionRef:
    """Everyone in the chat (``@all``), notified even in a muted chat."""
    return MentionRef("all", None)


def mention_payloads(value: Any) -> Any:
    """``mentions=`` as the outbox stores it: refs become dicts; dicts pass as they are."""
    if not isinstance(value, list | tuple):
        return value
    return [item.payload() if isinstance(item, MentionRef) else item for item in value]
