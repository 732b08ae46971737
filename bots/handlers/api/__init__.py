"""The building blocks handlers use besides the router and the context (bots/handlers/framework.py):
button rows, mentions, files, markdown, and the typed shapes of events and look-ups."""

from bots.botx.events import (
    ChatCreated,
    ChatDeletedByUser,
    ChatMember,
    Conference,
    ConferenceChanged,
    CtsSession,
    EventData,
    EventDeleted,
    EventEdit,
    InternalBotNotification,
    MembersChanged,
    SmartappEvent,
)
from bots.botx.lookups import ChatInfo, ChatInfoMember, UserInfo
from bots.handlers.api import markdown
from bots.handlers.api.files import FileTooLarge, IncomingFile, file_from_bytes, file_from_path
from bots.handlers.api.markup import Bubbles, Keyboard, Markup
from bots.handlers.api.mentions import (
    MentionRef,
    mention_all,
    mention_channel,
    mention_chat,
    mention_contact,
    mention_user,
)
from bots.handlers.api.ports import KeyValueState, LookupFailed, Lookups, MemoryState, StateError

__all__ = [
    "Bubbles",
    "ChatCreated",
    "ChatDeletedByUser",
    "ChatInfo",
    "ChatInfoMember",
    "ChatMember",
    "Conference",
    "ConferenceChanged",
    "CtsSession",
    "EventData",
    "EventDeleted",
    "EventEdit",
    "FileTooLarge",
    "IncomingFile",
    "InternalBotNotification",
    "KeyValueState",
    "Keyboard",
    "LookupFailed",
    "Lookups",
    "Markup",
    "MembersChanged",
    "MemoryState",
    "MentionRef",
    "SmartappEvent",
    "StateError",
    "UserInfo",
    "file_from_bytes",
    "file_from_path",
    "markdown",
    "mention_all",
    "mention_channel",
    "mention_chat",
    "mention_contact",
    "mention_user",
]
