"""Echo and help: the smallest useful bot, and a working example of each part of the handler API.

It repeats text, answers files with their name and size, shows bubbles and a keyboard, edits its own
message on a button press, mentions the sender (or everyone), sends a file, and ``/help`` lists the
commands the asking user may run.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bots.handlers.api import Markup, file_from_bytes, mention_all, mention_user
from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo

router = Router()

PRESS_COMMAND = "/pressed"
DEMO_FILE_NAME = "echo.txt"


@router.command("/help", description=gettext_lazy("What this bot can do"))
def help_command(ctx: Context) -> None:
    lines = [_("I repeat what you write, and answer a file with its name and size. Commands:")]
    lines += [f"{command.name} — {command.description}" for command in ctx.commands()]
    ctx.reply("\n".join(lines))


def _counter_bubbles(count: int) -> Markup:
    return Markup().button(_("Press me"), PRESS_COMMAND, data={"count": count})


@router.command("/buttons", description=gettext_lazy("Buttons that edit their own message"))
def buttons(ctx: Context) -> None:
    ctx.reply(
        _("Press the button below."),
        bubbles=_counter_bubbles(0),
        keyboard=Markup().button("/help", "/help"),
    )


@router.button(PRESS_COMMAND)
def pressed(ctx: Context) -> None:
    """A bubble press: the message the button belongs to is edited in place, with the count raised."""
    raw = ctx.message.data.get("count", 0)
    count = (raw if isinstance(raw, int) and raw >= 0 else 0) + 1
    body = ngettext("Pressed %(count)d time.", "Pressed %(count)d times.", count) % {"count": count}
    if ctx.button is None:  # typed by hand rather than pressed: there is no message to edit
        ctx.reply(body)
        return
    ctx.edit(ctx.button.source_sync_id, body=body, bubbles=_counter_bubbles(count))


@router.command("/keyboard", description=gettext_lazy("A keyboard of this bot's commands"))
def keyboard(ctx: Context) -> None:
    board = Markup()
    for index, command in enumerate(ctx.commands()):
        # Two to a row; the keyboard replaces the phone's until the next message brings another.
        board.button(command.name, command.name, new_row=index % 2 == 0)
    ctx.reply(_("Choose a command on the keyboard."), keyboard=board)


@router.command("/mention", description=gettext_lazy("Mentions you; /mention all mentions everyone"))
def mention(ctx: Context) -> None:
    if ctx.argument.lower() == "all":
        if ctx.message.chat_type not in ("group_chat", "channel"):
            ctx.reply(_("Everyone can be mentioned only in a group chat or a channel."))
            return
        everyone = mention_all()
        ctx.reply(_("Attention, %(everyone)s!") % {"everyone": everyone}, mentions=[everyone])
        return
    if ctx.sender.user_huid is None:
        ctx.reply(_("I do not know who you are."))
        return
    you = mention_user(ctx.sender.user_huid)
    ctx.reply(_("Hello, %(you)s!") % {"you": you}, mentions=[you])


@router.command("/file", description=gettext_lazy("Sends a small text file"))
def send_file(ctx: Context) -> None:
    text = _("A file from the echo bot, made at %(time)s UTC.") % {"time": timezone.now().strftime("%Y-%m-%d %H:%M:%S")}
    ctx.reply(_("Here is a file."), file=file_from_bytes(DEMO_FILE_NAME, (text + "\n").encode("utf-8")))


@router.default_message
def echo(ctx: Context) -> None:
    text = ctx.message.body
    if text:
        ctx.reply(text)
    for incoming in ctx.files:
        size = incoming.size if incoming.size is not None else len(incoming.read())
        ctx.reply(
            ngettext("Got %(name)s, %(size)d byte.", "Got %(name)s, %(size)d bytes.", size)
            % {"name": incoming.name, "size": size}
        )


HANDLER = HandlerInfo(
    key="echo",
    name=gettext_lazy("Echo and help"),
    description=gettext_lazy("Answers every message with its own text; /help lists the commands."),
    router=router,
)
