"""Giving a handler its context, and running it within its time limit.

The context gets the bot's state in the database, look-ups through the bot's BotX client, and the
list of commands the sender may run (the handler's menu less what the command rules forbid them).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import transaction

from bots.botx.incoming import IncomingCommand
from bots.handlers.api.ports import NoChatState
from bots.handlers.framework import BotRef, Command, Context, Handler, HandlerTimeout, Router
from bots.models import Bot
from bots.services import menu
from bots.services.handler_state import DatabaseState
from bots.services.lookups import BotxLookups


def context_build(*, bot: Bot, command: IncomingCommand, router: Router) -> Context:
    return Context(
        bot=BotRef(bot.bot_id, bot.name, bot.handler),
        message=command,
        state=DatabaseState(bot=bot, chat_id=command.chat_id) if command.chat_id is not None else NoChatState(),
        bot_state=DatabaseState(bot=bot, chat_id=None),
        lookups=BotxLookups(bot),
        menu=lambda: commands_allowed(bot=bot, router=router, command=command),
    )


def commands_allowed(*, bot: Bot, router: Router, command: IncomingCommand) -> list[Command]:
    """The commands of ``router`` the sender of ``command`` sees in the menu and may run."""
    who = command.sender
    return menu.commands_allowed(
        bot=bot,
        router=router,
        user_huid=who.user_huid,
        ad_login=who.ad_login,
        ad_domain=who.ad_domain,
        is_admin=who.is_admin,
        chat_type=command.chat_type,
    )


@contextmanager
def savepoint_when_used() -> Iterator[None]:
    """``transaction.atomic()`` for a handler inside the caller's transaction, its savepoint taken just
    before the handler's first statement.

    What a failing handler wrote is undone, as with ``atomic()``; a handler that never touches the
    database (most answer from the message alone) costs no SAVEPOINT and RELEASE round trips, two of
    the few statements a command costs a worker. Outside a transaction it is ``atomic()``.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    block = transaction.atomic()
    entered = False

    def enter_first(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal entered
        if not entered:
            entered = True  # first: entering runs the SAVEPOINT statement through this wrapper
            block.__enter__()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(enter_first):
        try:
            yield
        except BaseException:
            if entered:
                block.__exit__(*sys.exc_info())
            raise
    if entered:
        block.__exit__(None, None, None)


def handler_run(handler: Handler, context: Context) -> None:
    """Run ``handler`` for at most HANDLER_TIME_LIMIT_SECONDS; past it, ``HandlerTimeout`` is raised."""
    limit = float(settings.HANDLER_TIME_LIMIT_SECONDS)
    context.deadline = time.monotonic() + limit
    with _alarm(limit):
        handler(context)
    # A handler that blocked where no alarm could reach it is still held to its limit.
    context.check_time()


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt the code inside after ``seconds``, where a timer signal can: the main thread of a
    process not using the real-time timer for something else (a prefork or solo worker). Elsewhere
    (a thread pool) the context's own checks and Celery's limits are the bound."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise HandlerTimeout(f"the handler ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
