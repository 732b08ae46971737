"""A minimal fake BotX API for the benchmarks: one asyncio process (aiohttp.web; callbacks by bench/lean_http.py).

What a bot calls:
  GET  /api/v2/botx/bots/<bot_id>/token          -> {"status": "ok", "result": "<token>"} (auth v1)
  POST /api/v4/botx/notifications/direct         -> 202 {"status": "ok", "result": {"sync_id": <new>}}
       The arrival time and the notification's body text are recorded (the echo bots reply with the
       command's own text, and the load generator makes each text unique, so a reply names its
       command). Then, without holding up the 202, the callback {"sync_id", "status": "ok",
       "result": {}} is POSTed to the sending bot's callback URL (the bot is the JWT's ``iss``).

What the driver calls:
  GET  /_stats   -> {"replies": {text: arrival time}, "notifications", "duplicates", "callbacks": {...}}
  POST /_reset   -> forget the replies and counters
  POST /_config  -> {"callbacks": {bot_id: url}} adds or replaces callback URLs

Times are ``time.time()`` (the load generator's clock is the same machine's). Callbacks are sent
without a token (BotX is not known to sign them; pybotx does not check them) by at most
``--callback-concurrency`` requests at once to each server (bench/lean_http.py: the fake shares the
machine with the system it serves, so it spends as little CPU as it can), and retried twice on
failure, as counted in /_stats.

    python bench/fake_botx.py --port 8911 --callback BOT_ID=http://127.0.0.1:8910/botx/BOT_ID/notification/callback
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from urllib.parse import urlsplit

from aiohttp import web
from lean_http import Client  # beside this file, which Python puts first on sys.path

logger = logging.getLogger("fake_botx")

CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_SECONDS = 0.5


class FakeBotx:
    def __init__(self, callbacks: dict[str, str], *, callback_concurrency: int, callback_delay: float) -> None:
        self.callback_urls = {key.lower(): url for key, url in callbacks.items()}
        self.callback_delay = callback_delay
        self.callback_concurrency = callback_concurrency
        self.clients: dict[str, Client] = {}  # by the callback URL's scheme and authority
        self.tasks: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        self.replies: dict[str, float] = {}
        self.notifications = 0
        self.duplicates = 0
        self.unknown_bot = 0
        self.callbacks = {"sent": 0, "failed": 0, "retried": 0, "no_url": 0}

    # --- the BotX API -------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "result": f"fake-token-{request.match_info['bot_id']}"})

    async def notification_direct(self, request: web.Request) -> web.Response:
        arrived = time.time()
        raw = await request.read()
        try:
            body = json.loads(raw)
            text = str(body["notification"]["body"])
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                {"status": "error", "reason": "bad_request", "errors": [], "error_data": {}}, status=400
            )
        self.notifications += 1
        if text in self.replies:
            self.duplicates += 1
        else:
            self.replies[text] = arrived
        sync_id = str(uuid.uuid4())
        bot_id = _token_issuer(request.headers.get("Authorization", ""))
        url = self.callback_urls.get(bot_id or "") or (
            next(iter(self.callback_urls.values())) if len(self.callback_urls) == 1 else None
        )
        if url is None:
            self.callbacks["no_url"] += 1
        else:
            task = asyncio.get_running_loop().create_task(self._callback(url, sync_id))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return web.json_response({"status": "ok", "result": {"sync_id": sync_id}}, status=202)

    async def _callback(self, url: str, sync_id: str) -> None:
        if self.callback_delay:
            await asyncio.sleep(self.callback_delay)
        payload = json.dumps({"sync_id": sync_id, "status": "ok", "result": {}}).encode()
        parts = urlsplit(url)
        server = f"{parts.scheme}://{parts.netloc}"
        client = self.clients.get(server)
        if client is None:
            client = self.clients[server] = Client(server, connections=self.callback_concurrency, timeout=30)
        for attempt in range(CALLBACK_ATTEMPTS):
            if attempt:
                self.callbacks["retried"] += 1
                await asyncio.sleep(CALLBACK_RETRY_SECONDS * attempt)
            status, _body = await client.post(parts.path + (f"?{parts.query}" if parts.query else ""), payload)
            if 0 < status < 500:
                self.callbacks["sent"] += 1
                return
        self.callbacks["failed"] += 1

    # --- for the driver ----------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "replies": self.replies,
                "notifications": self.notifications,
                "duplicates": self.duplicates,
                "callbacks": {**self.callbacks, "in_flight": len(self.tasks)},
            }
        )

    async def reset_view(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"status": "ok"})

    async def config(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.callback_urls.update({key.lower(): url for key, url in data.get("callbacks", {}).items()})
        return web.json_response({"callbacks": self.callback_urls})

    # --- lifecycle ---------------------------------------------------------------------------------

    async def cleanup(self, app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        for client in self.clients.values():
            await client.close()


def _token_issuer(authorization: str) -> str | None:
    """The ``iss`` of a bearer JWT, unverified: which bot is calling (the fake does not check tokens)."""
    token = authorization.rpartition(" ")[2]
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return str(issuer).lower() if issuer else None


def build_app(fake: FakeBotx) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/api/v2/botx/bots/{bot_id}/token", fake.token)
    app.router.add_post("/api/v4/botx/notifications/direct", fake.notification_direct)
    app.router.add_get("/_stats", fake.stats)
    app.router.add_post("/_reset", fake.reset_view)
    app.router.add_post("/_config", fake.config)
    app.on_cleanup.append(fake.cleanup)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8911)
    parser.add_argument(
        "--callback",
        action="append",
        default=[],
        metavar="BOT_ID=URL",
        help="where the callbacks of a bot's notifications go (repeatable)",
    )
    parser.add_argument("--callback-concurrency", type=int, default=64)
    parser.add_argument("--callback-delay", type=float, default=0.0, help="seconds between the 202 and its callback")
    args = parser.parse_args()
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the fake BotX listens on loopback only")
    callbacks = dict(item.split("=", 1) for item in args.callback)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    fake = FakeBotx(callbacks, callback_concurrency=args.callback_concurrency, callback_delay=args.callback_delay)
    web.run_app(build_app(fake), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
