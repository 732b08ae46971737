"""Bridge: forwards every message and button press to an external HTTPS endpoint and posts its answer.

The endpoint (URL, shared secret, timeout, attempts) is set per bot in the admin; the request, its
signature and the answer's shape are in docs/builtin-bots.md. The handler only records the call; a
worker makes the HTTP request after the message is committed (bots/integrations/services/bridge.py).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from bots.handlers.framework import Context, Router
from bots.handlers.registry import HandlerInfo
from bots.integrations.services import bridge
from bots.integrations.services.common import bot_and_request, language_of

router = Router()


@router.default_message
def forward(ctx: Context) -> None:
    bot, request = bot_and_request(bot_id=ctx.bot.bot_id, sync_id=ctx.message.sync_id)
    call = bridge.bridge_forward(
        bot=bot, inbound=request, command=ctx.message, language=language_of(ctx.message.sender.locale)
    )
    if call.status == call.Status.FAILED:
        if ctx.chat_id is not None:
            ctx.reply(bridge.not_set_up_text())
        return
    # The answer comes from elsewhere and may take a moment; the user sees the bot typing meanwhile.
    ctx.typing()


HANDLER = HandlerInfo(
    key="bridge",
    name=gettext_lazy("Bridge to an external service"),
    description=gettext_lazy(
        "Forwards every message and button press to an HTTPS endpoint set in the admin and posts its answer back."
    ),
    router=router,
)
