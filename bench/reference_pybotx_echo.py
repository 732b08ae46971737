"""The vendor reference: the echo bot as a pybotx 0.77.1 user writes it, on FastAPI and uvicorn.

It follows pybotx's README (its minimal FastAPI example bot): one ``HandlerCollector``,
one ``Bot`` with a static account, ``create_fastapi_bot_app``; the only change is that the default
message handler answers every message with its own body. Everything else is pybotx's defaults: JWT v2
on both sides, incoming tokens verified, handlers run in-process after the 202 (up to 100 at once,
1,000 queued, newer ones refused), ``answer_message`` waits for BotX's callback.

Run by bench/traffic.py as::

    REF_BOT_ID=… REF_SECRET_KEY=… REF_CTS_URL=http://127.0.0.1:8911 \
        uvicorn reference_pybotx_echo:app --app-dir bench --host 127.0.0.1 --port 8912 --no-access-log

(uvicorn's access log is off, as granian's is for the portal: a log line per request costs the same
in both and is not what is compared.)
"""

from __future__ import annotations

import os
from uuid import UUID

os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")  # keep pybotx from taking over loguru's sinks

import sys

from fastapi import FastAPI
from loguru import logger
from pybotx import (
    Bot,
    BotAccountWithSecret,
    FastAPIBotAppConfig,
    HandlerCollector,
    IncomingMessage,
    create_fastapi_bot_app,
)

# pybotx is silent unless enabled; its warnings (a refused command, a callback nobody waited for) say
# why a reply went missing, so they go to the log (uvicorn's, under var/bench/) at WARNING and above.
logger.remove()
logger.add(sys.stderr, level=os.environ.get("REF_LOG_LEVEL", "WARNING"))
logger.enable("pybotx")

collector = HandlerCollector()


@collector.default_message_handler
async def echo(message: IncomingMessage, bot: Bot) -> None:
    await bot.answer_message(message.body)


bot = Bot(
    collectors=[collector],
    bot_accounts=[
        BotAccountWithSecret(
            id=UUID(os.environ["REF_BOT_ID"]),
            cts_url=os.environ["REF_CTS_URL"],  # type: ignore[arg-type]  # a string, as in pybotx's README
            secret_key=os.environ["REF_SECRET_KEY"],
        ),
    ],
)

app: FastAPI = create_fastapi_bot_app(bot=bot, title="pybotx echo (benchmark reference)", config=FastAPIBotAppConfig())
