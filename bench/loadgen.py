"""The load generator: POSTs /command as BotX does, in its own process (bench/traffic.py starts it).

Every command is a real-shaped body (tests/botx/payloads.py ``command``) with a fresh ``sync_id``, a
unique text ``<tag>-<n>`` (the echo bots send it back, so the fake BotX can tell which command a reply
answers), and a user and personal chat drawn from ``--chats`` of them. Each request carries a v2 JWT
made exactly as BotX makes it (``bots.botx.auth.jwt_v2_build``: iss = bot ID, aud = CTS host), a new
one per request unless ``--token-per-second``.

Two modes:
  closed  ``--concurrency`` connections each send their next command as soon as the last is answered,
          for ``--duration`` seconds (throughput of the acknowledgement);
  open    commands start at a constant ``--rate`` for ``--duration`` seconds whatever the answers do
          (bodies are built beforehand); each latency is counted from the command's scheduled start,
          so a server that falls behind is charged for the queue it builds (no coordinated omission).

HTTP goes through bench/lean_http.py, a minimal keep-alive client: the generator shares the machine
with the system it measures, and the less CPU it takes, the less it takes from that system.

Writes a JSON report to ``--out``: per command [text, sync_id, scheduled, answered, http status],
times as ``time.time()``, plus the generator's own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lean_http import Client  # beside this file, which Python puts first on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bots.botx.auth import jwt_v2_build  # noqa: E402  (no Django needed: the standard library only)
from tests.botx.payloads import command  # noqa: E402  (stdlib only: the saved fixture)

Result = list[Any]  # [text, sync_id, scheduled, answered or None, status (0: no answer)]


class Signer:
    def __init__(self, *, bot_id: str, host: str, secret: str, per_second: bool) -> None:
        self.bot_id, self.host, self.secret, self.per_second = bot_id, host, secret, per_second
        self._second = -1
        self._token = ""

    def header(self) -> str:
        if not self.per_second:
            return "Bearer " + jwt_v2_build(bot_id=self.bot_id, host=self.host, secret_key=self.secret)
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._token = jwt_v2_build(bot_id=self.bot_id, host=self.host, secret_key=self.secret, now=second)
        return "Bearer " + self._token


class Commands:
    """Bodies for one run: unique texts, fresh sync_ids, users and chats from a fixed pool.

    Every body is the fixture's, serialised once with markers where the four varying fields go; a
    command fills them in (copying and serialising the whole fixture per command cost the generator
    more CPU than its HTTP did).
    """

    def __init__(self, *, tag: str, bot_id: str, host: str, chats: int, seed: int) -> None:
        self.tag = tag
        rng = random.Random(seed)
        self.people = [
            (str(uuid.UUID(int=rng.getrandbits(128), version=4)), str(uuid.UUID(int=rng.getrandbits(128), version=4)))
            for _ in range(chats)
        ]
        self.rng = rng
        self.count = 0
        marked = command(
            body=_MARK % "text", sync_id=_MARK % "sync_id", bot_id=bot_id, host=host,
            user_huid=_MARK % "user", group_chat_id=_MARK % "chat",
        )  # fmt: skip
        template = json.dumps(marked).replace("%", "%%")
        for name in ("text", "sync_id", "user", "chat"):
            template = template.replace(_MARK % name, f"%({name})s")
        self.template = template

    def next(self) -> tuple[str, str, bytes]:
        text = f"{self.tag}-{self.count}"
        self.count += 1
        sync_id = str(uuid.uuid4())
        user, chat = self.people[self.rng.randrange(len(self.people))]
        body = self.template % {"text": text, "sync_id": sync_id, "user": user, "chat": chat}
        return text, sync_id, body.encode()


_MARK = "@@%s@@"  # JSON-safe, and found nowhere in the fixture


class Sender:
    """POSTs a body to the /command URL with a token; its HTTP status (0: no answer)."""

    def __init__(self, client: Client, url: str, signer: Signer) -> None:
        self.client, self.path, self.signer = client, urlsplit(url).path, signer

    async def post(self, data: bytes) -> int:
        status, _body = await self.client.post(self.path, data, {"Authorization": self.signer.header()})
        return status


async def closed_loop(args: argparse.Namespace, sender: Sender, commands: Commands) -> list[Result]:
    results: list[Result] = []
    deadline = time.time() + args.duration

    async def connection() -> None:
        while time.time() < deadline and len(results) < args.max_requests:
            text, sync_id, data = commands.next()
            started = time.time()
            status = await sender.post(data)
            results.append([text, sync_id, started, time.time() if status else None, status])

    await asyncio.gather(*(connection() for _ in range(args.concurrency)))
    return results


async def open_loop(args: argparse.Namespace, sender: Sender, commands: Commands) -> list[Result]:
    total = min(int(args.rate * args.duration), args.max_requests)
    prepared = [commands.next() for _ in range(total)]
    results: list[Result] = [[text, sync_id, 0.0, None, 0] for text, sync_id, _ in prepared]
    tasks: list[asyncio.Task[None]] = []

    async def one(index: int, scheduled: float) -> None:
        status = await sender.post(prepared[index][2])
        row = results[index]
        row[2] = scheduled
        row[3] = time.time() if status else None
        row[4] = status

    start = time.time() + 0.1
    sent = 0
    while sent < total:
        now = time.time()
        while sent < total and start + sent / args.rate <= now:
            tasks.append(asyncio.create_task(one(sent, start + sent / args.rate)))
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, start + sent / args.rate - time.time()))
    await asyncio.gather(*tasks)
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    signer = Signer(bot_id=args.bot_id, host=args.host, secret=args.secret, per_second=args.token_per_second)
    commands = Commands(tag=args.tag, bot_id=args.bot_id, host=args.host, chats=args.chats, seed=args.seed)
    connections = args.concurrency if args.mode == "closed" else args.connections
    client = Client(args.url, connections=connections, timeout=args.timeout)
    sender = Sender(client, args.url, signer)
    try:
        began = time.time()
        if args.mode == "closed":
            results = await closed_loop(args, sender, commands)
        else:
            results = await open_loop(args, sender, commands)
        ended = time.time()
    finally:
        await client.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mode": args.mode,
        "url": args.url,
        "began": began,
        "ended": ended,
        "rate": args.rate if args.mode == "open" else None,
        "concurrency": connections,
        "token_per_second": args.token_per_second,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the bot's /command URL")
    parser.add_argument("--bot-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--host", required=True, help="the CTS host: the token's aud and the body's from.host")
    parser.add_argument("--mode", choices=("closed", "open"), required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--concurrency", type=int, default=32, help="closed: connections")
    parser.add_argument("--rate", type=float, default=250.0, help="open: commands per second")
    parser.add_argument("--connections", type=int, default=512, help="open: most connections at once")
    parser.add_argument("--max-requests", type=int, default=200_000, help="a hard bound on commands sent")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as unanswered")
    parser.add_argument("--chats", type=int, default=1000, help="distinct users, each in a personal chat")
    parser.add_argument("--tag", default=f"cmd{int(time.time())}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--token-per-second", action="store_true", help="one JWT per second instead of per request")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.duration <= 0 or args.duration > 600:
        parser.error("--duration must be within (0, 600] seconds")
    report = asyncio.run(run(args))
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
