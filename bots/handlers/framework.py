"""What a bot's handler code is written against: a router of commands, buttons and events, and a context.

A handler is a plain synchronous function taking a :class:`Context`. It never speaks HTTP: what it
sends is collected by the context and written to the outbox by the service that ran it, in the same
transaction that marks the request processed, so a handler run either happens completely or not at
all. Its state (``ctx.state``, ``ctx.bot_state``) is written in that transaction too. Look-ups
(``ctx.chat_info()``, ``ctx.user_by_huid()``...) are synchronous BotX reads made through what the
service gave the context. docs/writing-bots.md walks through all of it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.utils.functional import Promise

from bots.botx.events import EventData, event_data
from bots.botx.incoming import SYSTEM_EVENTS, IncomingCommand, Sender
from bots.botx.lookups import ChatInfo, UserInfo
from bots.botx.outgoing import OutgoingPayloadError, validate_payload
from bots.handlers.api.files import IncomingFile, incoming_files
from bots.handlers.api.markup import markup_rows
from bots.handlers.api.mentions import mention_payloads
from bots.handlers.api.ports import KeyValueState, Lookups, MemoryState, NoLookups

Handler = Callable[["Context"], None]
COMMAND_NAME = re.compile(r"^/[^\s/]+\Z")
EVENT_NAMES: frozenset[str] = SYSTEM_EVENTS
_T = TypeVar("_T")


@dataclass(frozen=True)
class MenuRecipient:
    """Who asks for the command menu (``/status``): enough to decide what they see."""

    user_huid: uuid.UUID | None
    ad_login: str | None
    ad_domain: str | None
    is_admin: bool | None
    chat_type: str | None


Visibility = bool | Callable[[MenuRecipient], bool]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    description: str | Promise = ""
    visible: Visibility = True
    aliases: tuple[str, ...] = ()

    def shown_to(self, recipient: MenuRecipient) -> bool:
        return self.visible(recipient) if callable(self.visible) else bool(self.visible)


@dataclass(frozen=True)
class BotRef:
    """The bot a handler serves, as the handler may see it."""

    bot_id: uuid.UUID
    name: str
    handler_key: str


@dataclass(frozen=True)
class ChatRef:
    """The chat a message or event came from."""

    chat_id: uuid.UUID
    chat_type: str | None


@dataclass(frozen=True)
class ButtonPress:
    """A press of a button of one of the bot's messages: the button's data, the message's metadata, and
    the message itself (``source_sync_id``), which a self-updating widget edits."""

    command: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    source_sync_id: uuid.UUID


class SmartAppError(Exception):
    """Raised by a Smart App method: the front end gets these errors (the RPC convention's error items)."""

    def __init__(self, reason: str, error_id: str = "APPLICATION_ERROR", meta: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.items = [{"reason": reason, "id": error_id, "meta": meta or {}}]


class HandlerTimeout(Exception):
    """A handler ran past its time limit (``HANDLER_TIME_LIMIT_SECONDS``)."""


@dataclass(frozen=True)
class SmartAppCall:
    """A synchronous Smart App request as its method sees it."""

    bot: BotRef
    method: str
    params: Any
    user_huid: uuid.UUID | None
    chat_id: uuid.UUID | None
    platform: str | None


SmartAppMethod = Callable[[SmartAppCall], Any]


class _EventDecorators:
    """``router.on.chat_created``: the decorator for one system event, by attribute."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def __getattr__(self, name: str) -> Callable[[Handler], Handler]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._router.event(name)

    def __dir__(self) -> list[str]:
        return sorted(EVENT_NAMES)


class Router:
    """Maps a message to its handler: by command (the first word), a button by its command, a system
    event by its name, anything else to the default handler."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.buttons: dict[str, Handler] = {}
        self.events: dict[str, Handler] = {}
        self.default: Handler | None = None
        self.smartapp_methods: dict[str, SmartAppMethod] = {}
        self.on = _EventDecorators(self)

    def smartapp(self, method: str) -> Callable[[SmartAppMethod], SmartAppMethod]:
        """A method the Smart App front end calls synchronously; it returns the result's data, or raises
        :class:`SmartAppError` for the front end's error items."""

        def register(function: SmartAppMethod) -> SmartAppMethod:
            if method in self.smartapp_methods:
                raise ValueError(f"Smart App method {method} is registered twice.")
            self.smartapp_methods[method] = function
            return function

        return register

    def command(
        self,
        name: str,
        *,
        description: str | Promise = "",
        visible: Visibility = True,
        aliases: Iterable[str] = (),
    ) -> Callable[[Handler], Handler]:
        """A command: ``/name`` as the first word of a message. ``visible``: shown in the ``/status``
        menu, or a function of the asking user (:class:`MenuRecipient`) that says whether it is."""
        names = (name, *aliases)
        for each in names:
            self._check_free(each)
        if visible is True and not description:
            raise ValueError(f"Command {name} is shown in the menu and needs a description.")

        def register(handler: Handler) -> Handler:
            command = Command(
                name=name, handler=handler, description=description, visible=visible, aliases=tuple(aliases)
            )
            for each in names:
                self.commands[each] = command
            return handler

        return register

    def button(self, command: str) -> Callable[[Handler], Handler]:
        """A button's command: the handler reads ``ctx.button`` (data, metadata, source message). It is
        never in the menu; typed by hand it runs too, with ``ctx.button`` None."""
        self._check_free(command)

        def register(handler: Handler) -> Handler:
            self.buttons[command] = handler
            return handler

        return register

    def default_message(self, handler: Handler) -> Handler:
        """Every message that is not a known command or button."""
        if self.default is not None:
            raise ValueError("Only one default message handler.")
        self.default = handler
        return handler

    def event(self, name: str) -> Callable[[Handler], Handler]:
        """A system event (``chat_created``...; see EVENT_NAMES); the handler reads ``ctx.event``."""
        name = name.removeprefix("system:")
        if name not in EVENT_NAMES:
            raise ValueError(f"Unknown system event {name!r}; known: {', '.join(sorted(EVENT_NAMES))}.")
        if name in self.events:
            raise ValueError(f"Event {name} has a handler already.")

        def register(handler: Handler) -> Handler:
            if name in self.events:
                raise ValueError(f"Event {name} has a handler already.")
            self.events[name] = handler
            return handler

        return register

    def include(self, *routers: Router) -> None:
        """Take in the handlers of other routers (a bot made of parts); a clash is an error."""
        for other in routers:
            for name, command in other.commands.items():
                self._check_free(name)
                self.commands[name] = command
            for name, handler in other.buttons.items():
                self._check_free(name)
                self.buttons[name] = handler
            for name, handler in other.events.items():
                if name in self.events:
                    raise ValueError(f"Event {name} has a handler already.")
                self.events[name] = handler
            for method, function in other.smartapp_methods.items():
                if method in self.smartapp_methods:
                    raise ValueError(f"Smart App method {method} is registered twice.")
                self.smartapp_methods[method] = function
            if other.default is not None:
                self.default_message(other.default)

    def resolve(self, message: IncomingCommand) -> Handler | None:
        if message.is_system:
            return self.events.get(message.event or "")
        name = message.command_name or ""
        command = self.commands.get(name)
        if command is not None:
            return command.handler
        button = self.buttons.get(name)
        if button is not None:
            return button
        return self.default

    def command_of(self, message: IncomingCommand) -> Command | None:
        if message.is_system:
            return None
        return self.commands.get(message.command_name or "")

    def menu(self) -> list[Command]:
        """Each command once (aliases folded), in registration order."""
        seen: dict[str, Command] = {}
        for command in self.commands.values():
            seen.setdefault(command.name, command)
        return list(seen.values())

    def _check_free(self, name: str) -> None:
        if not COMMAND_NAME.match(name):
            raise ValueError(f"A command is a slash and a word: {name!r}")
        if name in self.commands or name in self.buttons:
            raise ValueError(f"Command {name} is registered twice.")


def _no_commands() -> list[Command]:
    return []


# Friendlier names for the delivery options of bots/botx/outgoing.py.
_FIELD_ALIASES = {"stealth": "stealth_mode"}


@dataclass
class Context:
    """What a handler gets: the message, the bot, and ways to answer. Sending only records the wish.

    ``state`` is the bot's state in this chat, ``bot_state`` the bot's own; ``lookups`` answers BotX
    reads; ``menu`` lists the commands the sender may run. The service that runs the handler provides
    them; a context made by hand keeps state in memory and cannot look anything up.
    """

    bot: BotRef
    message: IncomingCommand
    outgoing: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    state: KeyValueState = field(default_factory=MemoryState)
    bot_state: KeyValueState = field(default_factory=MemoryState)
    lookups: Lookups = field(default_factory=NoLookups)
    menu: Callable[[], list[Command]] = _no_commands
    deadline: float | None = None  # time.monotonic() after which the handler has overrun

    # --- what came in ----------------------------------------------------------------------------------

    @property
    def chat_id(self) -> uuid.UUID | None:
        return self.message.chat_id

    @property
    def chat(self) -> ChatRef | None:
        if self.message.chat_id is None:
            return None
        return ChatRef(self.message.chat_id, self.message.chat_type)

    @property
    def sender(self) -> Sender:
        return self.message.sender

    @property
    def argument(self) -> str:
        """The text after the command (``/remind 10 tea`` → ``10 tea``)."""
        return self.message.argument

    @property
    def button(self) -> ButtonPress | None:
        """The button press this message is; None for typed text and events."""
        message = self.message
        if message.is_system or message.source_sync_id is None:
            return None
        return ButtonPress(
            command=message.command_name or message.body,
            data=message.data,
            metadata=message.metadata,
            source_sync_id=message.source_sync_id,
        )

    @property
    def event(self) -> EventData | None:
        """The typed data of a system event (``ChatCreated``, ``MembersChanged``...), else None."""
        return event_data(self.message)

    @property
    def files(self) -> list[IncomingFile]:
        """The files of the message; ``read()`` gives their bytes (downloading CTS files)."""
        return incoming_files(self.message, self._download)

    def commands(self) -> list[Command]:
        """The commands the sender may run: visible to them, and allowed by the bot's command rules."""
        return self.menu()

    # --- answering -------------------------------------------------------------------------------------

    def send(
        self,
        *,
        chat_id: uuid.UUID | str,
        body: str = "",
        recipients: Iterable[uuid.UUID | str] | None = None,
        **fields: Any,
    ) -> None:
        """A message to any chat the bot is in; ``recipients``: only these users of it see it.

        ``fields``: ``bubbles``/``keyboard`` (rows or a Markup), ``mentions`` (MentionRefs or dicts),
        ``file``, ``metadata``, ``stealth``, ``push``, ``force_dnd``, ``silent_response``,
        ``buttons_auto_adjust`` (see bots/botx/outgoing.py, NotificationPayload).
        """
        payload: dict[str, Any] = {"chat_id": str(chat_id), "body": str(body), **_message_fields(fields)}
        if recipients is not None:
            payload["recipients"] = [str(item) for item in recipients]
        self._add("notification", payload)

    def reply(self, body: str = "", **fields: Any) -> None:
        """A message to the chat this one came from (same fields as ``send``, ``recipients`` too)."""
        if self.chat_id is None:
            raise ValueError("This event came from no chat; use send(chat_id=...).")
        self.send(chat_id=self.chat_id, body=body, **fields)

    def quote(self, body: str = "", **fields: Any) -> None:
        """An answer shown as a reply to (quoting) the message being handled."""
        if self.message.is_system:
            raise ValueError("A system event is no message to quote; use reply().")
        self._add("reply", {"source_sync_id": str(self.message.sync_id), "body": str(body), **_message_fields(fields)})

    def edit(self, sync_id: uuid.UUID | str, **fields: Any) -> None:
        """Change one of the bot's messages: only the fields given change (``file=None`` removes it)."""
        self._add("edit", {"sync_id": str(sync_id), **_message_fields(fields)})

    def delete(self, sync_id: uuid.UUID | str) -> None:
        self._add("delete", {"sync_id": str(sync_id)})

    def typing(self) -> None:
        """Show "typing…" in this chat until the next message (or ``stop_typing``)."""
        if self.chat_id is not None:
            self._add("typing", {"chat_id": str(self.chat_id)})

    def stop_typing(self) -> None:
        if self.chat_id is not None:
            self._add("stop_typing", {"chat_id": str(self.chat_id)})

    # --- look-ups (synchronous BotX reads) -------------------------------------------------------------

    def chat_info(self, chat_id: uuid.UUID | str | None = None) -> ChatInfo | None:
        """A chat's name, type and members (this chat unless another is named); None if not found."""
        target = _uuid(chat_id) if chat_id is not None else self.chat_id
        if target is None:
            raise ValueError("This event came from no chat; name one.")
        return self._lookup(lambda: self.lookups.chat_info(target))

    def personal_chat(self, user_huid: uuid.UUID | str) -> ChatInfo | None:
        """The bot's personal chat with a user (to write to them alone); None if they never had one."""
        return self._lookup(lambda: self.lookups.personal_chat(_uuid(user_huid)))

    def user_by_huid(self, huid: uuid.UUID | str) -> UserInfo | None:
        return self._lookup(lambda: self.lookups.user_by_huid(_uuid(huid)))

    def users_by_email(self, *emails: str) -> list[UserInfo]:
        """The users with these e-mail addresses (addresses nobody has are left out)."""
        return self._lookup(lambda: self.lookups.users_by_email(list(emails)))

    def user_by_login(self, ad_login: str, ad_domain: str) -> UserInfo | None:
        return self._lookup(lambda: self.lookups.user_by_login(ad_login, ad_domain))

    # --- internals -------------------------------------------------------------------------------------

    def _add(self, method: str, payload: dict[str, Any]) -> None:
        self.check_time()
        try:
            # Checked here so the error points at the handler's line, not at the outbox later.
            validate_payload(method, payload)
        except OutgoingPayloadError as exc:
            raise ValueError(f"the handler asked to send an invalid {method}: {exc}") from exc
        self.outgoing.append((method, payload))

    def _download(self, chat_id: uuid.UUID, file_id: uuid.UUID) -> bytes:
        return self._lookup(lambda: self.lookups.file_download(chat_id, file_id))

    def _lookup(self, call: Callable[[], _T]) -> _T:
        self.check_time()
        result = call()
        self.check_time()
        return result

    def check_time(self) -> None:
        """Raise :class:`HandlerTimeout` once the handler is past its time limit."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise HandlerTimeout("the handler ran past its time limit")


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _message_fields(fields: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in fields.items():
        key = _FIELD_ALIASES.get(key, key)
        if key in ("bubbles", "keyboard"):
            value = markup_rows(value)
        elif key == "mentions":
            value = mention_payloads(value)
        elif key == "body":
            value = str(value)
        result[key] = value
    return result
