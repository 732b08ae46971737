"""What a bot's handler code is written against: a router of commands and events, and a context.

A handler is a plain synchronous function taking a :class:`Context`. It never speaks HTTP and never
touches the database: what it sends is collected by the context and written to the outbox by the
service that ran it, in the same transaction that marks the request processed, so a handler run
either happens completely or not at all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise

if TYPE_CHECKING:  # the registry is imported by models; the wire types are not needed to load it
    from bots.botx.incoming import IncomingCommand

Handler = Callable[["Context"], None]
COMMAND_NAME = re.compile(r"^/[^\s/]+\Z")


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


class SmartAppError(Exception):
    """Raised by a Smart App method: the front end gets these errors (the RPC convention's error items)."""

    def __init__(self, reason: str, error_id: str = "APPLICATION_ERROR", meta: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.items = [{"reason": reason, "id": error_id, "meta": meta or {}}]


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


class Router:
    """Maps a message to its handler: by command (the first word), by system event, else the default."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.events: dict[str, Handler] = {}
        self.default: Handler | None = None
        self.smartapp_methods: dict[str, SmartAppMethod] = {}

    def smartapp(self, method: str) -> Callable[[SmartAppMethod], SmartAppMethod]:
        """A method the Smart App front end calls synchronously; it returns the result's data."""

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
        names = (name, *aliases)
        for each in names:
            if not COMMAND_NAME.match(each):
                raise ValueError(f"A command is a slash and a word: {each!r}")
            if each in self.commands:
                raise ValueError(f"Command {each} is registered twice.")
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

    def default_message(self, handler: Handler) -> Handler:
        if self.default is not None:
            raise ValueError("Only one default message handler.")
        self.default = handler
        return handler

    def event(self, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.events:
                raise ValueError(f"Event {name} has a handler already.")
            self.events[name] = handler
            return handler

        return register

    def resolve(self, message: IncomingCommand) -> Handler | None:
        if message.is_system:
            return self.events.get(message.event or "")
        command = self.commands.get(message.command_name or "")
        if command is not None:
            return command.handler
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


@dataclass
class Context:
    """What a handler gets: the message, the bot, and ways to answer. Sending only records the wish."""

    bot: BotRef
    message: IncomingCommand
    outgoing: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def chat_id(self) -> uuid.UUID | None:
        return self.message.chat_id

    @property
    def sender(self) -> Any:
        return self.message.sender

    def send(self, *, chat_id: uuid.UUID | str, body: str = "", **fields: Any) -> None:
        """A message to any chat the bot is in. ``fields``: see bots/botx/outgoing.py (notification)."""
        self.outgoing.append(("notification", {"chat_id": str(chat_id), "body": body, **fields}))

    def reply(self, body: str = "", **fields: Any) -> None:
        """A message to the chat this one came from."""
        if self.chat_id is None:
            raise ValueError("This event came from no chat; use send(chat_id=...).")
        self.send(chat_id=self.chat_id, body=body, **fields)

    def edit(self, sync_id: uuid.UUID | str, **fields: Any) -> None:
        self.outgoing.append(("edit", {"sync_id": str(sync_id), **fields}))

    def delete(self, sync_id: uuid.UUID | str) -> None:
        self.outgoing.append(("delete", {"sync_id": str(sync_id)}))

    def typing(self) -> None:
        if self.chat_id is not None:
            self.outgoing.append(("typing", {"chat_id": str(self.chat_id)}))
