"""Traffic benchmark: the portal's Bot API under load, next to the vendor's pybotx echo bot.

    .venv/bin/python bench/traffic.py            # the full run (about 8-10 minutes)
    .venv/bin/python bench/traffic.py --quick    # a smoke run (about a minute or two)
    make bench                                   # installs bench/requirements.txt, then the full run

It starts, as its own subprocesses (stopped on exit or Ctrl-C; logs under var/bench/<run>/):
  * the fake BotX API (bench/fake_botx.py), which records each reply and sends each callback;
  * the portal as in production: ``granian portal.wsgi:application`` (gunicorn with ``--web
    gunicorn``), ``celery -A portal worker`` (and ``celery -A portal beat`` for the sweeper),
    DEBUG=false, on PostgreSQL (database ``portal_bench``, dropped, created and migrated) and Redis
    (database 5, flushed), with one echo bot registered by ``manage.py bots apply`` on a CTS that is
    the fake BotX (auth v2);
  * the reference: pybotx's FastAPI integration under uvicorn (bench/reference_pybotx_echo.py);
  * for each scenario, the load generator (bench/loadgen.py) in its own process.

Scenarios:
  a. ack       /command at full speed from 32 connections (closed loop): requests/s, ack latency, and a
               count of InboundEvent rows for the acknowledged sync_ids;
     ack-held  the same with the Celery worker stopped (SIGSTOP) during the burst and let go after it:
               the web side's own capacity, then how long the workers took to drain the backlog;
  b. latency   open loop (constant arrival rate) at 250/s, then 500/s: command -> reply received by the
               fake BotX, p50/p95/p99/max, replies received / commands acknowledged;
  c. overload  1,000/s: acknowledged, lost (acknowledged, never replied within the wait), time to drain;
  d. b and c again against the pybotx reference.

It prints tables (figures, CPU use per process group, and the portal's own stage timings read from
its ledger rows) and writes them as JSON to var/bench/traffic-<date>.json.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
PORTAL_BOT_ID = "b0000000-be0c-4000-8000-000000000001"
REFERENCE_BOT_ID = "b0000000-be0c-4000-8000-000000000002"
# BENCH_DB_NAME / BENCH_REDIS_URL: run beside another benchmark or test run without sharing its data.
DB_NAME = os.environ.get("BENCH_DB_NAME", "portal_bench")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", DB_NAME):
    raise SystemExit("BENCH_DB_NAME: lower-case letters, digits and _ only")
DB_TEMPLATE = f"{DB_NAME}_template"
PORTAL_PROCESSES = ("web", "celery")
WEB_SERVERS = ("granian", "gunicorn")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"  # the driver's own reads and upkeep
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- options ---------------------------------------------------------------------------------------


@dataclass
class Plan:
    ack_seconds: float = 10.0
    ack_connections: int = 32
    rates: tuple[float, ...] = (250.0, 500.0)
    rate_seconds: float = 15.0
    repeat: int = 1  # runs of each latency rate; a rate is judged by the median of its runs' p99
    overload_rate: float = 1000.0
    overload_seconds: float = 15.0
    latency_wait: float = 60.0  # after a latency run: most seconds to wait for the last replies
    drain_wait: float = 120.0  # after the overload run
    settle_wait: float = 180.0  # before the next scenario: most seconds to wait for the portal to be idle


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 2 s scenarios, 250/s only for b, waits of 5-10 s (about two minutes in all)",
    )
    parser.add_argument("--ack-seconds", type=float)
    parser.add_argument("--ack-connections", type=int)
    parser.add_argument("--rates", help="latency scenario rates, commands/s, comma-separated (default 250,500)")
    parser.add_argument("--rate-seconds", type=float)
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each latency rate, each from a clean state (default 1); the targets take the median p99",
    )
    parser.add_argument("--overload-rate", type=float)
    parser.add_argument("--overload-seconds", type=float)
    parser.add_argument("--latency-wait", type=float)
    parser.add_argument("--drain-wait", type=float)
    parser.add_argument("--settle-wait", type=float)
    parser.add_argument(
        "--only",
        default="ack,ack-held,latency,overload,reference",
        help="scenarios to run, comma-separated, from: ack, ack-held, latency, overload, reference",
    )
    parser.add_argument(
        "--web",
        choices=WEB_SERVERS,
        default="granian",
        help="the web server: granian (as README deploys it) or gunicorn (gthread), to compare",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="web processes: one per core (the GIL)")
    parser.add_argument("--web-threads", type=int, default=16, help="threads per web process that run the application")
    parser.add_argument("--celery-workers", type=int, default=1)
    parser.add_argument("--celery-concurrency", type=int, default=2, help="pool processes: one per core")
    parser.add_argument("--celery-pool", default="prefork")
    parser.add_argument(
        "--celery-nice",
        type=int,
        default=0,
        help="run the Celery worker at this nice level (e.g. 10: the web processes answer BotX first under overload)",
    )
    parser.add_argument("--no-beat", action="store_true", help="run no celery beat (no sweeper)")
    parser.add_argument(
        "--history",
        type=float,
        default=15.0,
        help="seconds of commands at full speed that the portal has served, and analyzed, before the scenarios"
        " (0: each scenario starts from empty tables)",
    )
    parser.add_argument("--log-level", default="INFO", help="the portal's LOG_LEVEL and Celery's --loglevel")
    parser.add_argument("--chats", type=int, default=1000, help="distinct users (personal chats) commands come from")
    parser.add_argument("--token-per-second", action="store_true", help="one JWT per second, not one per request")
    parser.add_argument("--base-port", type=int, default=8910, help="portal; +1 fake BotX; +2 reference")
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="sample the portal's processes with py-spy during one scenario (ack, latency-250, overload, ...); "
        "only threads holding the GIL: where the CPU goes, not the waits on PostgreSQL or for the GIL",
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)

    plan = (
        Plan(
            ack_seconds=2,
            rates=(250.0,),
            rate_seconds=2,
            overload_seconds=2,
            latency_wait=5,
            drain_wait=10,
            settle_wait=10,
        )
        if args.quick
        else Plan()
    )
    for name in ("ack_seconds", "ack_connections", "rate_seconds", "repeat", "overload_rate", "overload_seconds"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    for name in ("latency_wait", "drain_wait", "settle_wait"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    if args.rates:
        plan.rates = tuple(float(rate) for rate in args.rates.split(","))
    if not 1 <= plan.repeat <= 9:
        parser.error("--repeat must be within [1, 9]")
    for seconds in (plan.ack_seconds, plan.rate_seconds, plan.overload_seconds):
        if not 0 < seconds <= 300:
            parser.error("scenario durations must be within (0, 300] seconds")
    for wait in (plan.latency_wait, plan.drain_wait, plan.settle_wait):
        if not 0 <= wait <= 900:
            parser.error("waits must be within [0, 900] seconds")
    args.plan = plan
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    return args


# --- processes -------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    group: str  # the CPU-accounting group
    popen: subprocess.Popen[bytes]
    log: Path


class Stack:
    """The subprocesses of one run. Each has its own session (process group id = its pid), so it is
    stopped with all its children (web and Celery workers) by that id, and nothing else is."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[Proc] = []
        self._stopped = False

    def start(self, name: str, argv: list[str], env: dict[str, str], *, group: str | None = None) -> Proc:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        proc = Proc(name, group or name, popen, log)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")

    def stop(self, proc: Proc, timeout: float = 15.0) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        # A worker that outlived its parent is still in the group: end it too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for proc in reversed(list(self.procs)):
            self.stop(proc)

    def groups(self) -> dict[int, str]:
        return {proc.popen.pid: proc.group for proc in self.procs}

    def signal_group(self, group: str, signum: int) -> None:
        """Send ``signum`` to every process of ``group`` with its children (SIGSTOP / SIGCONT)."""
        for proc in self.procs:
            if proc.group == group and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signum)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no owner
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def wait_http(url: str, *, timeout: float, stack: Stack, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http://127.0.0.1 only)
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s: {last}")


def http_json(url: str, data: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http://127.0.0.1 only)
        return json.loads(response.read())


# --- CPU accounting --------------------------------------------------------------------------------


def _proc_stats() -> Iterable[tuple[int, str, int, int, int, str]]:
    """(pid, comm, pgrp, utime+stime ticks, cutime+cstime ticks (reaped children), cmdline) of every process."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, cutime 16, cstime 17.
        yield (
            int(entry.name),
            comm,
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
            int(fields[13]) + int(fields[14]),
            cmdline,
        )


_BACKEND_TITLE = re.compile(r"postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])")


def cpu_snapshot(groups: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far, per group, and the machine's total busy time.

    Groups: our process groups (with their exited children, e.g. recycled workers), PostgreSQL (live
    backends of the benchmark database, the server's own processes, and the postmaster's exited
    children: backends that ended, of any database), Redis."""
    totals: dict[str, float] = {}
    for _pid, comm, pgrp, ticks, child_ticks, cmdline in _proc_stats():
        group = groups.get(pgrp)
        if group is None and comm == "postgres":
            # A backend's title names its user and database; other databases' backends are other work.
            backend = _BACKEND_TITLE.match(cmdline)
            if backend and backend.group(1) != DB_NAME:
                continue
            group = "postgres"
        elif group is None and comm.startswith("redis-server"):
            group = "redis"
        if group is not None:
            totals[group] = totals.get(group, 0.0) + (ticks + child_ticks) / CLK_TCK
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    totals["machine"] = (sum(values[:8]) - idle) / CLK_TCK
    return totals


def background_load(seconds: float = 3.0) -> float:
    """% of one core the machine is busy with before the benchmark starts anything."""
    before = cpu_snapshot({})["machine"]
    time.sleep(seconds)
    return 100 * (cpu_snapshot({})["machine"] - before) / seconds


def python_speed() -> float:
    """Seconds a 10-million-step Python loop takes here now, the best of three: the same machine ran
    the same code twice as fast one day as another, and a run's figures are compared only with figures
    taken at the same speed."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _step in range(10_000_000):
            pass
        best = min(best, time.perf_counter() - started)
    return best


def round_trip_speed(count: int = 2000) -> float:
    """Microseconds a ``SELECT 1`` on one PostgreSQL connection over loopback takes here now, the mean of
    ``count``: what every request of the portal pays several times over and the Python loop does not
    see (one day the loop took 0.12 s, as on the fastest days, while the benchmark's rates were a sixth
    of theirs: the time went in the kernel, on round trips like these)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT 1").fetchone()  # the connection's own first round trips are not counted
        started = time.perf_counter()
        for _ in range(count):
            conn.execute("SELECT 1").fetchone()
        return 1e6 * (time.perf_counter() - started) / count


OURS = ("web", "celery", "postgres", "redis", "fake_botx", "loadgen", "reference")
WARM_RATE = 20.0  # commands/s of the warm-up before a scenario; a latency run warms up at its own rate


def cpu_between(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Per group, % of one core over the interval (200 % is the whole 2-core machine); ``others`` is
    what the rest of the machine used meanwhile (other people's tests, builds...)."""
    if seconds <= 0:
        return {}
    used = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in set(before) | set(after)}
    shares = {name: round(100 * value / seconds, 1) for name, value in used.items()}
    shares["others"] = round(100 * (used.get("machine", 0.0) - sum(used.get(name, 0.0) for name in OURS)) / seconds, 1)
    return shares


PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "sessions",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
)


def scalar(conn: Any, query: str) -> Any:
    """The first column of the first row of a query with no parameters (fixed text, never input)."""
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def pg_counters() -> dict[str, int]:
    """The benchmark database's cumulative counters (pg_stat_database)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        columns = ", ".join(PG_COUNTERS)  # fixed names above, not input
        row = conn.execute(f"SELECT {columns} FROM pg_stat_database WHERE datname = %s", (DB_NAME,)).fetchone()  # noqa: S608
    return dict(zip(PG_COUNTERS, (int(value or 0) for value in row), strict=True)) if row else {}


# --- figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of the sorted ``values`` (inf stands for 'never')."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


def ms(value: float | None) -> float | None:
    if value is None:
        return None
    if value == float("inf"):
        return float("inf")
    return round(value * 1000, 1)


@dataclass
class Target:
    name: str  # portal / reference
    command_url: str
    bot_id: str
    secret: str
    host: str


@dataclass
class Scenario:
    key: str
    target: str
    kind: str  # ack / latency / overload
    offered: str
    rate: float = 0.0  # commands/s offered, for the open-loop kinds
    figures: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_per_command: dict[str, float] = field(default_factory=dict)
    db_per_command: dict[str, float] = field(default_factory=dict)
    stages: dict[str, dict[str, float | None]] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan: Plan = args.plan
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out_dir: Path = args.out_dir
        self.logs = self.out_dir / f"run-{self.stamp}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stack = Stack(self.logs)
        port = args.base_port
        self.portal_port, self.fake_port, self.reference_port = port, port + 1, port + 2
        self.fake_url = f"http://{LOOPBACK}:{self.fake_port}"
        self.portal_url = f"http://{LOOPBACK}:{self.portal_port}"
        self.reference_url = f"http://{LOOPBACK}:{self.reference_port}"
        self.portal_secret = secrets.token_hex(16)
        self.reference_secret = secrets.token_hex(16)
        self.scenarios: list[Scenario] = []
        self.loadgen_runs = 0
        self.env = self._portal_env()
        self.versions: dict[str, str] = {}
        self.db_users: dict[str, str] = {}
        self.speed: list[float] = []  # python_speed() at the start and at the end
        self.round_trips: list[float] = []  # round_trip_speed() at the start and at the end
        self.history = 0  # commands in the ledger each scenario starts with (seed_history)

    # --- setup -------------------------------------------------------------------------------------

    def _portal_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
        env.update(
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            PORTAL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="false",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            CELERY_BROKER_URL=REDIS_URL,
            PORTAL_VAR_DIR=str(self.logs / "var"),
            LOG_LEVEL=self.args.log_level.upper(),
            BENCH_ECHO_SECRET=self.portal_secret,
            PYTHONUNBUFFERED="1",
        )
        return env

    def prepare_services(self) -> None:
        """A fresh database, migrated, with the bench bot, kept as a template for the resets."""
        import psycopg
        import redis

        for port in (self.portal_port, self.fake_port, self.reference_port):
            if not port_free(port):
                raise RuntimeError(f"port {port} is taken; choose another --base-port")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in (DB_NAME, DB_TEMPLATE):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
            self.versions["postgresql"] = str(scalar(conn, "SHOW server_version"))
            self.versions["synchronous_commit"] = str(scalar(conn, "SHOW synchronous_commit"))
            self.versions["autovacuum"] = str(scalar(conn, "SHOW autovacuum"))
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        self.versions["redis"] = str(client.info("server").get("redis_version"))
        client.close()
        self.manage("migrate", "--noinput")
        spec = {
            "cts": [{"name": "bench-fake-botx", "url": self.fake_url, "auth": "v2", "verify_tls": False}],
            "bots": [
                {
                    "bot_id": PORTAL_BOT_ID,
                    "cts": "bench-fake-botx",
                    "name": "Bench echo",
                    "secret_key": "${BENCH_ECHO_SECRET}",
                    "protocol_version": 4,
                    "handler": "echo",
                    "enabled": True,
                    "jwt_policy": "required",
                    # The model's maximum: the per-bot send limit is not what this benchmark measures.
                    "rate_limit": 1000,
                }
            ],
        }
        spec_path = self.logs / "bots.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        self.manage("bots", "apply", str(spec_path))
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB_TEMPLATE} TEMPLATE {DB_NAME}")

    def seed_history(self) -> None:
        """The template given a ledger in service: ``--history`` seconds of commands from 32 connections,
        every one answered, then the statistics a production server's autovacuum gathers.

        A portal in service has its ledger and statistics on it. Fresh tables that were never analyzed
        (this machine's server runs without autovacuum) are planned as if each column had 200 distinct
        values: the one bot's ID then looks as selective as a sync ID, and a lookup of a callback by its
        sync ID reads every row of the bot. Analyzed while still small, they are planned as tiny
        tables, a foreign key's check by a sequential read. Each scenario starts from this template."""
        import psycopg

        seconds = self.args.history
        if not seconds:
            return
        self.start_portal()
        report = self.loadgen(self.targets()["portal"], mode="closed", duration=seconds, tag="history")
        acked = {row[0] for row in report["results"] if row[4] == 202}
        replies, _ = self.wait_replies(acked, 300)
        if not acked.issubset(replies):
            raise RuntimeError(f"the history's commands were not all answered; see the logs in {self.logs}")
        self.settle(60)
        self.stop_named(PORTAL_PROCESSES)
        with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {DB_TEMPLATE}")
            conn.execute(f"CREATE DATABASE {DB_TEMPLATE} TEMPLATE {DB_NAME}")
        self.history = len(acked)
        print(f"history: {len(acked)} commands served and answered, then analyzed", flush=True)

    def manage(self, *argv: str) -> None:
        log = self.logs / "manage.log"
        with log.open("ab") as handle:
            done = subprocess.run(
                [str(BIN / "python"), "manage.py", *argv],
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed; see {log}")

    def database_url(self, kind: str) -> str:
        """The portal's DATABASE_URL for web processes or workers; bench/probe_costs.py gives each its
        own PostgreSQL role so that the server log tells them apart."""
        user = self.db_users.get(kind, "postgres")
        return f"postgres://{user}@127.0.0.1:5432/{DB_NAME}?application_name=portal-{kind}"

    def start_fake(self) -> None:
        portal_callback = f"{self.portal_url}/botx/{PORTAL_BOT_ID}/notification/callback"
        reference_callback = f"{self.reference_url}/notification/callback"
        self.stack.start(
            "fake_botx",
            [
                str(BIN / "python"),
                str(BENCH / "fake_botx.py"),
                "--port",
                str(self.fake_port),
                "--callback",
                f"{PORTAL_BOT_ID}={portal_callback}",
                "--callback",
                f"{REFERENCE_BOT_ID}={reference_callback}",
            ],
            dict(os.environ),
        )
        wait_http(f"{self.fake_url}/_stats", timeout=30, stack=self.stack)

    def web_argv(self) -> list[str]:
        """The web server's command: granian as README deploys it, or gunicorn's gthread worker to compare."""
        a = self.args
        if a.web == "gunicorn":
            argv = [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"{LOOPBACK}:{self.portal_port}"]
            argv += ["--workers", str(a.web_workers), "--backlog", "2048", "--timeout", "60"]
            return argv + (["--worker-class", "gthread", "--threads", str(a.web_threads)] if a.web_threads > 1 else [])
        argv = [str(BIN / "granian"), "--interface", "wsgi", "--host", LOOPBACK, "--port", str(self.portal_port)]
        argv += ["--workers", str(a.web_workers), "--blocking-threads", str(a.web_threads), "--backlog", "2048"]
        return [*argv, "portal.wsgi:application"]

    def start_portal(self, db_settings: dict[str, str] | None = None, warm_rate: float = WARM_RATE) -> None:
        """A clean portal: the database back to its template, Redis flushed, new processes, warmed up
        (``warm_up``).

        ``db_settings``: PostgreSQL parameters set on the benchmark database for the sessions to come
        (bench/probe_costs.py logs every statement this way)."""
        import psycopg
        import redis

        self.stop_named(PORTAL_PROCESSES)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME} TEMPLATE {DB_TEMPLATE}")
            for name, value in (db_settings or {}).items():
                conn.execute(f"ALTER DATABASE {DB_NAME} SET {name} = '{value}'")
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        client.close()
        a = self.args
        # The processes name themselves to PostgreSQL (pg_stat_activity, connection log lines).
        self.stack.start("web", self.web_argv(), {**self.env, "DATABASE_URL": self.database_url("web")})
        celery_env = {**self.env, "DATABASE_URL": self.database_url("worker")}
        celery_app = "portal"
        for index in range(a.celery_workers):
            self.stack.start(
                f"celery-{index}",
                [
                    *(["nice", "-n", str(a.celery_nice)] if a.celery_nice else []),
                    str(BIN / "celery"),
                    "-A",
                    celery_app,
                    "worker",
                    f"--loglevel={a.log_level.upper()}",
                    f"--concurrency={a.celery_concurrency}",
                    f"--pool={a.celery_pool}",
                    f"--hostname=bench{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                celery_env,
                group="celery",
            )
        if not a.no_beat:
            self.stack.start(
                "celery-beat",
                [
                    str(BIN / "celery"),
                    "-A",
                    "portal",
                    "beat",
                    f"--schedule={self.logs / 'celerybeat-schedule'}",
                    "--loglevel=INFO",
                ],
                self.env,
                group="celery",
            )
        wait_http(f"{self.portal_url}/healthz", timeout=60, stack=self.stack, headers={"Host": "127.0.0.1"})
        self.warm_up(self.targets()["portal"], warm_rate)

    def start_reference(self, warm_rate: float = WARM_RATE) -> None:
        self.stop_named(("reference",))
        env = dict(os.environ)
        env.update(REF_BOT_ID=REFERENCE_BOT_ID, REF_SECRET_KEY=self.reference_secret, REF_CTS_URL=self.fake_url)
        self.stack.start(
            "reference",
            [
                str(BIN / "uvicorn"),
                "reference_pybotx_echo:app",
                "--app-dir",
                str(BENCH),
                "--host",
                LOOPBACK,
                "--port",
                str(self.reference_port),
                "--no-access-log",
            ],
            env,
        )
        wait_http(f"{self.reference_url}/health/", timeout=60, stack=self.stack)
        self.warm_up(self.targets()["reference"], warm_rate)

    def stop_named(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for proc in [proc for proc in self.stack.procs if proc.name in wanted or proc.name.split("-")[0] in wanted]:
            self.stack.stop(proc)

    def targets(self) -> dict[str, Target]:
        return {
            "portal": Target(
                "portal", f"{self.portal_url}/botx/{PORTAL_BOT_ID}/command", PORTAL_BOT_ID, self.portal_secret, LOOPBACK
            ),
            "reference": Target(
                "reference", f"{self.reference_url}/command", REFERENCE_BOT_ID, self.reference_secret, LOOPBACK
            ),
        }

    # --- the load generator and the fake's records -------------------------------------------------

    def loadgen(
        self, target: Target, *, mode: str, duration: float, tag: str, rate: float = 0.0, connections: int = 32
    ) -> dict[str, Any]:
        self.loadgen_runs += 1
        out = self.logs / f"loadgen-{tag}.json"
        argv = [
            str(BIN / "python"),
            str(BENCH / "loadgen.py"),
            "--url",
            target.command_url,
            "--bot-id",
            target.bot_id,
            "--secret",
            target.secret,
            "--host",
            target.host,
            "--mode",
            mode,
            "--duration",
            str(duration),
            "--tag",
            tag,
            "--chats",
            str(self.args.chats),
            "--seed",
            str(self.loadgen_runs),
            "--out",
            str(out),
        ]
        if mode == "closed":
            argv += ["--concurrency", str(connections)]
        else:
            argv += ["--rate", str(rate)]
        if self.args.token_per_second:
            argv.append("--token-per-second")
        proc = self.stack.start(f"loadgen-{tag}", argv, dict(os.environ), group="loadgen")
        try:
            proc.popen.wait(timeout=duration + 120)
        except subprocess.TimeoutExpired:
            self.stack.stop(proc)
            raise RuntimeError(f"the load generator did not finish; see {proc.log}") from None
        self.stack.procs.remove(proc)
        if proc.popen.returncode:
            raise RuntimeError(f"the load generator failed; see {proc.log}")
        report: dict[str, Any] = json.loads(out.read_text())
        return report

    def replies(self) -> dict[str, float]:
        replies: dict[str, float] = http_json(f"{self.fake_url}/_stats")["replies"]
        return replies

    def fake_stats(self) -> dict[str, Any]:
        stats = http_json(f"{self.fake_url}/_stats")
        stats.pop("replies")
        return stats

    def wait_replies(self, texts: set[str], timeout: float) -> tuple[dict[str, float], float]:
        """Poll the fake BotX until every text has its reply or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        replies = self.replies()
        while time.monotonic() < deadline and not texts.issubset(replies):
            self.stack.check_alive()
            time.sleep(1.0)
            replies = self.replies()
        return replies, time.time()

    def settle(self, timeout: float) -> float:
        """Wait until the portal has nothing in flight: no command waiting for a worker, no message
        open, no task in the Redis queue, no callback on its way. Returns the seconds waited."""
        import psycopg
        import redis

        started = time.monotonic()
        client = redis.Redis.from_url(REDIS_URL)
        try:
            with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
                while time.monotonic() - started < timeout:
                    received = scalar(conn, "SELECT count(*) FROM bots_inboundevent WHERE status = 'received'")
                    open_out = scalar(
                        conn, "SELECT count(*) FROM bots_outboundmessage WHERE status IN ('pending', 'sending', 'sent')"
                    )
                    queued = client.llen("celery")
                    in_flight = self.fake_stats()["callbacks"]["in_flight"]
                    if not (received or open_out or queued or in_flight):
                        break
                    time.sleep(1.0)
                else:
                    print(
                        f"  (not idle after {timeout:.0f} s: {received} commands waiting, "
                        f"{open_out} messages open, {queued} tasks queued; the next scenario starts afresh)",
                        flush=True,
                    )
        finally:
            client.close()
        http_json(f"{self.fake_url}/_reset", {})
        return time.monotonic() - started

    # --- scenarios ---------------------------------------------------------------------------------

    def warm_up(self, target: Target, rate: float = WARM_RATE) -> None:
        """Commands for a second at ``rate``, all answered, before a scenario: a latency run measures the
        rate it holds once every process has served it (the portal's web threads and worker processes
        each open their database connection and prepare their statements on first use), not the first
        second of freshly started processes."""
        report = self.loadgen(target, mode="open", rate=rate, duration=1.0, tag=f"warm-{target.name}")
        acked = {row[0] for row in report["results"] if row[4] == 202}
        if len(acked) != len(report["results"]):
            statuses = sorted({row[4] for row in report["results"]})
            raise RuntimeError(f"{target.name}: warm-up commands were not all acknowledged (statuses {statuses})")
        replies, _ = self.wait_replies(acked, 30)
        if not acked.issubset(replies):
            hint = ""
            raise RuntimeError(
                f"{target.name}: {len(acked) - len(acked & set(replies))} of {len(acked)} warm-up replies did not "
                f"reach the fake BotX within 30 s; see the logs in {self.logs}{hint}"
            )
        if target.name == "portal":
            self.settle(30)
        else:
            time.sleep(0.5)
            http_json(f"{self.fake_url}/_reset", {})

    def run_scenario(self, scenario: Scenario, body: Callable[[], None]) -> None:
        print(f"- {scenario.key}: {scenario.target}, {scenario.offered} ...", flush=True)
        profiler = self._profile_start(scenario)
        counters = pg_counters()
        before = cpu_snapshot(self.stack.groups())
        started = time.time()
        body()
        self._profile_stop(profiler)
        print(
            "  " + ", ".join(f"{key} {value}" for key, value in scenario.figures.items() if not key.startswith("_")),
            flush=True,
        )
        # Settling is part of the cost: callbacks and late work caused by this scenario's commands. A
        # portal that did not drain is not waited for again: the next scenario starts from a clean state.
        if scenario.target == "portal":
            if not scenario.figures.get("lost") and scenario.figures.get("drain_s", 0) is not None:
                self.settle(self.plan.settle_wait)
            else:
                http_json(f"{self.fake_url}/_reset", {})
        else:
            time.sleep(1.0)  # the reference's last callbacks
            http_json(f"{self.fake_url}/_reset", {})
        elapsed = time.time() - started
        after = cpu_snapshot(self.stack.groups())
        scenario.cpu = cpu_between(before, after, elapsed)
        loadgen_cpu = scenario.figures.pop("_loadgen_cpu", None)
        if loadgen_cpu is not None:
            scenario.cpu["loadgen"] = round(100 * loadgen_cpu / elapsed, 1)
            scenario.cpu["others"] = round(scenario.cpu["others"] - scenario.cpu["loadgen"], 1)
        scenario.cpu["_seconds"] = round(elapsed, 1)
        acked = scenario.figures.get("acked") or 0
        replied = scenario.figures.get("replied") or 0
        if acked and replied >= 0.99 * acked:
            # CPU milliseconds per replied command: the cost, whatever else the machine did. Only where
            # (nearly) every command was served in the window, or the work of the rest would be missing.
            for name in ("web", "celery", "postgres", "redis", "reference"):
                if scenario.cpu.get(name):
                    scenario.cpu_per_command[name] = round(scenario.cpu[name] * 10 * elapsed / replied, 2)
            if scenario.target == "portal":
                delta = {name: value - counters.get(name, 0) for name, value in pg_counters().items()}
                scenario.db_per_command = {name: round(value / replied, 2) for name, value in delta.items()}
        self.scenarios.append(scenario)

    def ack(self, target: Target, *, workers_held: bool = False) -> None:
        """Scenario a. ``workers_held``: the Celery processes are stopped (SIGSTOP) during the burst and
        let go after it, so the acknowledgement is measured with the machine to the web side alone
        (ingress capacity: what BotX sees while the workers are busy elsewhere), then the backlog drained."""
        scenario = Scenario(
            "a-ack-held" if workers_held else "a-ack",
            target.name,
            "ack-held" if workers_held else "ack",
            f"{self.plan.ack_connections} connections, closed loop, {self.plan.ack_seconds:g} s"
            + (", Celery stopped during the burst" if workers_held else ""),
        )

        def body() -> None:
            if workers_held:
                self.stack.signal_group("celery", signal.SIGSTOP)
            try:
                report = self.loadgen(
                    target,
                    mode="closed",
                    duration=self.plan.ack_seconds,
                    tag=scenario.key,
                    connections=self.plan.ack_connections,
                )
            finally:
                if workers_held:
                    self.stack.signal_group("celery", signal.SIGCONT)
            rows = report["results"]
            ok = [row for row in rows if row[4] == 202]
            latencies = sorted(row[3] - row[2] for row in ok)
            seconds = report["ended"] - report["began"]
            statuses: dict[str, int] = {}
            for row in rows:
                if row[4] != 202:
                    statuses[str(row[4])] = statuses.get(str(row[4]), 0) + 1
            scenario.figures.update(
                requests=len(rows),
                acked=len(ok),
                ack_per_s=round(len(ok) / seconds, 1),
                ack_p50_ms=ms(percentile(latencies, 50)),
                ack_p99_ms=ms(percentile(latencies, 99)),
                ack_max_ms=ms(latencies[-1] if latencies else None),
                not_acked=statuses,
                _loadgen_cpu=report["cpu_seconds"],
            )
            if target.name == "portal":
                scenario.figures["rows_in_db"] = self.rows_for([row[1] for row in ok])
                scenario.figures["rows_match"] = scenario.figures["rows_in_db"] == len(ok)
            # The backlog the burst left behind, drained by the workers (not part of the ack figure).
            texts = {row[0] for row in ok}
            replies, _ = self.wait_replies(texts, self.plan.drain_wait)
            got = texts & set(replies)
            scenario.figures["replied"] = len(got)
            last = max((replies[text] for text in got), default=report["ended"])
            scenario.figures["backlog_drain_s"] = round(last - report["ended"], 1) if got == texts else None
            scenario.figures["lost"] = len(texts) - len(got)
            self._stages(scenario, report, replies)

        self.run_scenario(scenario, body)

    def open_loop(self, target: Target, *, kind: str, rate: float, seconds: float, wait: float, run: int = 0) -> None:
        """``run``: which of the repeated runs of this rate this is (0: not repeated)."""
        key = f"{'b' if kind == 'latency' else 'c'}-{kind}-{rate:g}" + (f"-run{run}" if run else "")
        scenario = Scenario(key, target.name, kind, f"{rate:g}/s open loop, {seconds:g} s", rate=rate)

        def body() -> None:
            # Replies are told apart by their text: each run's texts are its own.
            tag = f"{target.name}-{kind}-{rate:g}" + (f"-run{run}" if run else "")
            report = self.loadgen(target, mode="open", rate=rate, duration=seconds, tag=tag)
            rows = report["results"]
            ok = [row for row in rows if row[4] == 202]
            statuses: dict[str, int] = {}
            for row in rows:
                if row[4] != 202:
                    statuses[str(row[4])] = statuses.get(str(row[4]), 0) + 1
            texts = {row[0] for row in ok}
            send_end = max((row[2] for row in rows), default=report["ended"])
            replies, _ = self.wait_replies(texts, wait)
            # Commands the generator gave up on (no answer within its timeout) may still be served.
            unacked_replied = sum(1 for row in rows if row[4] != 202 and row[0] in replies)
            got = texts & set(replies)
            latencies = sorted(replies[row[0]] - row[2] if row[0] in replies else float("inf") for row in ok)
            acks = sorted(row[3] - row[2] for row in ok)
            last = max((replies[text] for text in got), default=send_end)
            first = min((row[2] for row in rows), default=send_end)
            offered_seconds = max(send_end - min((row[2] for row in rows), default=send_end), 1e-9)
            scenario.figures.update(
                sent=len(rows),
                acked=len(ok),
                sent_per_s=round(len(rows) / offered_seconds, 1) if len(rows) > 1 else None,
                not_acked=statuses,
                ack_p50_ms=ms(percentile(acks, 50)),
                ack_p99_ms=ms(percentile(acks, 99)),
                reply_p50_ms=ms(percentile(latencies, 50)),
                reply_p95_ms=ms(percentile(latencies, 95)),
                reply_p99_ms=ms(percentile(latencies, 99)),
                reply_max_ms=ms(latencies[-1] if latencies else None),
                replied=len(got),
                replied_ratio=round(len(got) / len(ok), 4) if ok else None,
                # Replies per second from the first command to the last reply: what the pipeline served.
                replies_per_s=round(len(got) / max(last - first, 1e-9), 1) if got else 0.0,
                lost=len(ok) - len(got),
                drain_s=round(last - send_end, 1) if got == texts else None,
                waited_s=wait,
                replied_unacked=unacked_replied,
                _loadgen_cpu=report["cpu_seconds"],
            )
            fake = self.fake_stats()
            scenario.figures["duplicates"] = fake["duplicates"]
            scenario.figures["callbacks"] = {key: value for key, value in fake["callbacks"].items() if value}
            if target.name == "portal":
                self._stages(scenario, report, replies)

        self.run_scenario(scenario, body)

    # --- the portal's ledger -----------------------------------------------------------------------

    def rows_for(self, sync_ids: list[str]) -> int:
        import psycopg

        with psycopg.connect(PG_BENCH_URL) as conn:
            row = conn.execute(
                "SELECT count(*) FROM bots_inboundevent WHERE endpoint = 'command' AND http_status = 202 "
                "AND sync_id = ANY(%s::uuid[])",
                (sync_ids,),
            ).fetchone()
        return int(row[0]) if row else 0

    def _stages(self, scenario: Scenario, report: dict[str, Any], replies: dict[str, float]) -> None:
        """Where a command's time went inside the portal, from its ledger rows' timestamps."""
        import psycopg

        sent = {row[1]: row for row in report["results"] if row[4] == 202}
        if not sent:
            return
        query = """
            SELECT ie.sync_id::text,
                   extract(epoch FROM ie.received_at), extract(epoch FROM ie.queued_at),
                   extract(epoch FROM ie.started_at), extract(epoch FROM ie.finished_at),
                   extract(epoch FROM om.created_at), extract(epoch FROM om.sent_at),
                   extract(epoch FROM da.started_at), da.duration_ms, ie.attempts
            FROM bots_inboundevent ie
            LEFT JOIN bots_outboundmessage om ON om.inbound_id = ie.id
            LEFT JOIN bots_deliveryattempt da ON da.message_id = om.id AND da.number = 1
            WHERE ie.endpoint = 'command' AND ie.sync_id = ANY(%s::uuid[])
        """
        with psycopg.connect(PG_BENCH_URL) as conn:
            rows = conn.execute(query, (list(sent),)).fetchall()
        spans: dict[str, list[float]] = {name: [] for name in STAGES}
        for sync_id, received, queued, started, finished, created, claimed, attempt, duration, _ in rows:
            scheduled = sent[sync_id][2]
            reply = replies.get(sent[sync_id][0])
            pairs = {
                "to_view": (scheduled, received),
                "view": (received, queued),
                "queue": (queued, started),
                "handler": (started, finished),
                "to_claim": (created, claimed),
                "claim_to_send": (claimed, attempt),
                "send_to_fake": (attempt, reply),
            }
            for name, (begin, end) in pairs.items():
                if begin is not None and end is not None:
                    spans[name].append(float(end) - float(begin))
            if duration is not None:
                spans["botx_http"].append(duration / 1000)
        for name, values in spans.items():
            values.sort()
            scenario.stages[name] = {"p50_ms": ms(percentile(values, 50)), "p99_ms": ms(percentile(values, 99))}

    # --- profiling ---------------------------------------------------------------------------------

    def _profile_start(self, scenario: Scenario) -> list[subprocess.Popen[bytes]]:
        wanted = self.args.profile
        if not wanted or scenario.target != "portal" or not scenario.key.split("-", 1)[1].startswith(wanted):
            return []
        py_spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
        if py_spy is None:
            print("  (py-spy is not installed: pip install -r bench/requirements.txt)")
            return []
        profilers = []
        for proc in self.stack.procs:
            if proc.name == "web" or (proc.name.startswith("celery-") and proc.name != "celery-beat"):
                out = self.logs / f"profile-{scenario.key}-{proc.name}.txt"
                profilers.append(
                    subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(proc.popen.pid),
                            "--subprocesses",
                            "--rate",
                            "200",
                            "--gil",
                            "--format",
                            "raw",
                            "--output",
                            str(out),
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=(self.logs / f"profile-{proc.name}.log").open("ab"),
                        start_new_session=True,
                    )
                )
        return profilers

    def _profile_stop(self, profilers: list[subprocess.Popen[bytes]]) -> None:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in profilers:
            try:
                profiler.wait(30)
            except subprocess.TimeoutExpired:
                profiler.kill()
        if profilers:
            print(f"  (py-spy profiles: {self.logs}/profile-*.txt)")

    # --- the run -----------------------------------------------------------------------------------

    def run(self) -> None:
        a, plan = self.args, self.plan
        print(self.header(), flush=True)
        self.background_busy = background_load()
        print(f"before the start, the rest of the machine kept {self.background_busy:.0f} % of 200 % busy", flush=True)
        self.speed = [python_speed()]
        print(f"a 10-million-step Python loop takes {self.speed[0]:.2f} s here", flush=True)
        self.round_trips = [round_trip_speed()]
        print(f"a PostgreSQL round trip (SELECT 1 on loopback) takes {self.round_trips[0]:.0f} µs here", flush=True)
        self.prepare_services()
        self.start_fake()
        self.seed_history()
        targets = self.targets()
        # Each scenario starts from a clean state: a restarted system, the template's ledger, an empty queue.
        # Only the system under test runs; the other one is stopped meanwhile.
        if "ack" in a.only:
            self.start_portal()
            self.ack(targets["portal"])
        if "ack-held" in a.only:
            self.start_portal()
            self.ack(targets["portal"], workers_held=True)
        names = ["portal"] + (["reference"] if "reference" in a.only else [])
        for name in names:
            target = targets[name]
            start = self.start_portal if name == "portal" else self.start_reference
            if "latency" in a.only:
                for rate in plan.rates:
                    for run in range(1, plan.repeat + 1):
                        start(warm_rate=rate)
                        self.open_loop(
                            target,
                            kind="latency",
                            rate=rate,
                            seconds=plan.rate_seconds,
                            wait=plan.latency_wait,
                            run=run if plan.repeat > 1 else 0,
                        )
            if "overload" in a.only:
                start()
                self.open_loop(
                    target,
                    kind="overload",
                    rate=plan.overload_rate,
                    seconds=plan.overload_seconds,
                    wait=plan.drain_wait,
                )
            self.stop_named(PORTAL_PROCESSES if name == "portal" else ("reference",))
        self.report()
        self.drop_template()

    def drop_template(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_TEMPLATE} WITH (FORCE)")

    def header(self) -> str:
        a = self.args
        web = f"granian portal.wsgi:application, {a.web_workers} workers x {a.web_threads} threads"
        if a.web == "gunicorn":
            kind = f"x {a.web_threads} threads (gthread)" if a.web_threads > 1 else "(sync)"
            web = f"gunicorn portal.wsgi, {a.web_workers} workers {kind}"
        return "\n".join(
            [
                f"Traffic benchmark {self.stamp}{' (quick)' if a.quick else ''}: {os.cpu_count()} cores; "
                f"logs in {self.logs}",
                f"portal: {web}; celery: {a.celery_workers} worker(s) x {a.celery_concurrency} "
                f"({a.celery_pool}){'' if a.no_beat else ' + beat'}"
                f"{f', nice {a.celery_nice}' if a.celery_nice else ''}; DEBUG=false, LOG_LEVEL={a.log_level.upper()}",
                "bot rate_limit = 1000/s (the model's maximum), so the per-bot send limit is not what is measured.",
                f"load generator: its own process (bench/lean_http.py), a v2 JWT "
                f"{'per second' if a.token_per_second else 'per request'}, a fresh sync_id and a unique text per "
                f"command, {a.chats} users in personal chats.",
                f"warm-up before each scenario: 1 s of commands at {WARM_RATE:.0f}/s (before a latency run: at its "
                "rate), all answered.",
                f"history: each scenario starts from a ledger of {self.history or 'the'} commands served in "
                f"{a.history:g} s from 32 connections, all answered, then analyzed (--history)"
                if a.history
                else "history: none, each scenario starts from empty tables (--history 0)",
            ]
        )

    def report(self) -> None:
        self.speed.append(python_speed())
        self.round_trips.append(round_trip_speed())
        print()
        print(self.header())
        print(f"before the start, the rest of the machine kept {self.background_busy:.0f} % of 200 % busy")
        print(
            f"a 10-million-step Python loop took {self.speed[0]:.2f} s at the start, {self.speed[1]:.2f} s at the end"
            " (figures of runs at different speeds are not comparable)"
        )
        print(
            f"a PostgreSQL round trip took {self.round_trips[0]:.0f} µs at the start, {self.round_trips[1]:.0f} µs"
            " at the end (the same: runs whose round trips differ are not comparable either)"
        )
        print(
            f"PostgreSQL {self.versions.get('postgresql')} "
            f"(synchronous_commit={self.versions.get('synchronous_commit')}, "
            f"autovacuum={self.versions.get('autovacuum')}), Redis {self.versions.get('redis')}"
        )
        print()
        print(format_tables(self.scenarios))
        print(self.verdict())
        path = self.out_dir / f"traffic-{self.stamp}.json"
        path.write_text(
            json.dumps(
                {
                    "stamp": self.stamp,
                    "quick": self.args.quick,
                    "plan": asdict(self.plan),
                    "config": {
                        "web": self.args.web,
                        "web_workers": self.args.web_workers,
                        "web_threads": self.args.web_threads,
                        "celery_workers": self.args.celery_workers,
                        "celery_concurrency": self.args.celery_concurrency,
                        "celery_pool": self.args.celery_pool,
                        "celery_nice": self.args.celery_nice,
                        "beat": not self.args.no_beat,
                        "log_level": self.args.log_level.upper(),
                        "chats": self.args.chats,
                        "token_per_second": self.args.token_per_second,
                        "background_busy_percent": round(self.background_busy, 1),
                        "python_loop_seconds": [round(seconds, 3) for seconds in self.speed],
                        "postgres_round_trip_us": [round(micros, 1) for micros in self.round_trips],
                        "bot_rate_limit": 1000,
                        "cores": os.cpu_count(),
                        **self.versions,
                    },
                    "scenarios": [asdict(scenario) for scenario in self.scenarios],
                    "verdict": self.verdict_data(),
                },
                indent=2,
                default=str,
            )
        )
        print(f"\nJSON: {path}\nlogs: {self.logs}")

    def verdict_data(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for scenario in self.scenarios:
            if scenario.target != "portal":
                continue
            f = scenario.figures
            if scenario.kind in ("ack", "ack-held"):
                found["ack_900_per_s" + ("_workers_held" if scenario.kind == "ack-held" else "")] = {
                    "value": f.get("ack_per_s"),
                    "met": (f.get("ack_per_s") or 0) >= 900 and bool(f.get("rows_match")),
                }
            elif scenario.kind == "overload":
                found["nothing_lost_at_overload"] = {
                    "value": f.get("lost"),
                    "not_acked": sum(f.get("not_acked", {}).values()),
                    "met": f.get("lost") == 0 and not f.get("not_acked"),
                }
        for rate, runs in self.latency_runs().get("portal", {}).items():
            p99 = _median_p99(runs)
            found[f"p99_100ms_at_{rate:g}"] = {
                "value": p99 if len(runs) == 1 else f"median {p99} of {[f.get('reply_p99_ms') for f in runs]}",
                "met": p99 is not None and p99 <= 100,
            }
        held = self.rates_held()
        if "reference" in held:
            # The target itself: p99 within 100 ms at a rate at least the reference's, both from this run.
            portal, reference = held.get("portal", 0), held["reference"]
            # A reference that held none of the rates run holds only a lower one, below any rate the portal
            # held; if the portal held none either, the run cannot tell (None: open).
            found["p99_100ms_at_reference_rate"] = {
                "value": f"portal holds {portal}/s, reference {reference}/s"
                + (": the reference held none of the rates run, so its rate is lower" if not reference else "")
                + ("; add a lower one" if not reference and not portal else ""),
                "met": portal >= reference if reference or portal else None,
            }
        return found

    def latency_runs(self) -> dict[str, dict[float, list[dict[str, Any]]]]:
        """The figures of the latency runs, by system and rate, in the order they ran."""
        runs: dict[str, dict[float, list[dict[str, Any]]]] = {}
        for scenario in self.scenarios:
            if scenario.kind == "latency":
                runs.setdefault(scenario.target, {}).setdefault(scenario.rate, []).append(scenario.figures)
        return runs

    def rates_held(self) -> dict[str, int]:
        """Each system's highest latency rate of this run with every command of every run answered and a
        p99 (the median of the runs' when repeated) within 100 ms (0: none), by system; a system with no
        latency scenario is left out."""
        held: dict[str, int] = {}
        for target, rates in self.latency_runs().items():
            held[target] = 0
            for rate, runs in rates.items():
                p99 = _median_p99(runs)
                answered = all(f.get("lost") == 0 and f.get("replied_ratio") == 1.0 for f in runs)
                if p99 is not None and p99 <= 100 and answered:
                    held[target] = max(held[target], int(rate))
        return held

    def verdict(self) -> str:
        lines = ["Targets (portal):"]
        for name, item in self.verdict_data().items():
            extra = f", not acknowledged {item['not_acked']}" if "not_acked" in item else ""
            verdict = "open  " if item["met"] is None else "met   " if item["met"] else "MISSED"
            lines.append(f"  {name:<28} {verdict}  ({item['value']}{extra})")
        return "\n".join(lines)


STAGES = ("to_view", "view", "queue", "handler", "to_claim", "claim_to_send", "botx_http", "send_to_fake")
STAGE_NOTES = {
    "to_view": "scheduled send -> view starts (client, web server accept queue)",
    "view": "view starts -> row saved (JWT, lookups; commit follows)",
    "queue": "row saved -> a drain starts it (commit, wake, Redis, worker free, earlier events of its batch)",
    "handler": "its turn in the drain: parse, access, handler, outbox rows",
    "to_claim": "outbox row created -> delivery claimed (commit, enqueue, queue, worker free)",
    "claim_to_send": "claimed -> BotX call starts (send slot, request build)",
    "botx_http": "the BotX call (fake BotX)",
    "send_to_fake": "BotX call starts -> reply recorded by the fake",
}


def _median_p99(runs: list[dict[str, Any]]) -> float | None:
    """The median of the runs' p99 (the upper one of an even count); None if a run has none."""
    values = [f.get("reply_p99_ms") for f in runs]
    known = sorted(float(value) for value in values if value is not None)
    if not values or len(known) < len(values):
        return None
    return known[len(known) // 2]


def _fmt(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif value == float("inf"):
        text = "never"
    elif isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) < 100_000 else f"{value:,.0f}"
    elif isinstance(value, dict):
        text = ",".join(f"{k}:{v}" for k, v in value.items()) or "0"
    else:
        text = str(value)
    return text.rjust(width)


def _table(title: str, columns: list[tuple[str, str, int]], rows: list[dict[str, Any]]) -> str:
    lines = [
        title,
        "  " + " ".join(label.rjust(width) if i else label.ljust(width) for i, (label, _, width) in enumerate(columns)),
    ]
    for row in rows:
        cells = []
        for i, (_, key, width) in enumerate(columns):
            cells.append(str(row.get(key, "")).ljust(width) if i == 0 else _fmt(row.get(key), width))
        lines.append("  " + " ".join(cells))
    return "\n".join(lines)


def format_tables(scenarios: list[Scenario]) -> str:
    parts = []
    acks = [{"name": f"{s.key} {s.target}", **s.figures} for s in scenarios if s.kind in ("ack", "ack-held")]
    if acks:
        parts.append(
            _table(
                "a. /command acknowledgement, closed loop (ms)",
                [
                    ("scenario", "name", 18),
                    ("requests", "requests", 9),
                    ("202", "acked", 7),
                    ("202/s", "ack_per_s", 8),
                    ("p50", "ack_p50_ms", 7),
                    ("p99", "ack_p99_ms", 7),
                    ("max", "ack_max_ms", 8),
                    ("other", "not_acked", 8),
                    ("DB rows", "rows_in_db", 8),
                    ("replied", "replied", 8),
                    ("drain s", "backlog_drain_s", 8),
                ],
                acks,
            )
            + "\n  (replied: replies that reached the fake BotX within the wait after the burst; drain s: from the\n"
            "  end of the burst to the last reply, '-' if not all came)"
        )
    loads = [{"name": f"{s.key} {s.target}", **s.figures} for s in scenarios if s.kind in {"latency", "overload"}]
    if loads:
        parts.append(
            _table(
                "b/c/d. open loop: command -> reply received by the fake BotX (ms; 'never' = no reply within the\n"
                "wait; other = answers other than 202 (0: none within 30 s); replied = share of the 202s; repl/s =\n"
                "replies per second from the first command to the last reply; lost = acknowledged, no reply within\n"
                f"the wait (b: {plans_wait(scenarios)}); late = replies to commands the generator gave up on)",
                [
                    ("scenario", "name", 24),
                    ("sent", "sent", 6),
                    ("sent/s", "sent_per_s", 7),
                    ("202", "acked", 6),
                    ("other", "not_acked", 10),
                    ("ack p99", "ack_p99_ms", 8),
                    ("p50", "reply_p50_ms", 8),
                    ("p95", "reply_p95_ms", 8),
                    ("p99", "reply_p99_ms", 8),
                    ("max", "reply_max_ms", 8),
                    ("replied", "replied_ratio", 8),
                    ("repl/s", "replies_per_s", 7),
                    ("lost", "lost", 6),
                    ("drain s", "drain_s", 8),
                    ("late", "replied_unacked", 6),
                ],
                loads,
            )
        )
    groups = ["machine", "others", "web", "celery", "postgres", "redis", "fake_botx", "loadgen", "reference"]
    parts.append(
        _table(
            "CPU use from the start of each scenario until all its work was done or the wait ended (% of one core;\n"
            "the machine has 200 %; others = the rest of the machine meanwhile; postgres includes exited backends of\n"
            "any database)",
            [("scenario", "name", 24), ("seconds", "_seconds", 8)] + [(g, g, 9) for g in groups],
            [{"name": f"{s.key} {s.target}", **s.cpu} for s in scenarios],
        )
    )
    costs = [s for s in scenarios if s.cpu_per_command]
    if costs:
        parts.append(
            _table(
                "Cost per command, where (nearly) all were served within the scenario: CPU ms, and PostgreSQL work\n"
                "(pg_stat_database deltas; 'postgres ms' may include other databases' work on this shared server)",
                [("scenario", "name", 24)]
                + [(f"{g} ms", g, 11) for g in ("web", "celery", "postgres", "redis", "reference")]
                + [
                    ("commits", "xact_commit", 8),
                    ("sessions", "sessions", 9),
                    ("inserts", "tup_inserted", 8),
                    ("updates", "tup_updated", 8),
                ],
                [{"name": f"{s.key} {s.target}", **s.cpu_per_command, **s.db_per_command} for s in costs],
            )
        )
    staged = [s for s in scenarios if s.stages]
    if staged:
        columns = [("scenario", "name", 24)] + [(stage, stage, 14) for stage in STAGES]
        rows = []
        for s in staged:
            row: dict[str, Any] = {"name": f"{s.key} {s.target}"}
            for stage in STAGES:
                spans = s.stages.get(stage, {})
                row[stage] = f"{_short(spans.get('p50_ms'))}/{_short(spans.get('p99_ms'))}"
            rows.append(row)
        notes = "\n".join(f"    {stage}: {note}" for stage, note in STAGE_NOTES.items())
        parts.append(_table("Inside the portal, from its ledger rows (ms, p50/p99)", columns, rows) + "\n" + notes)
    return "\n\n".join(parts) + "\n"


def plans_wait(scenarios: list[Scenario]) -> str:
    waits = {s.kind: s.figures.get("waited_s") for s in scenarios if s.kind in {"latency", "overload"}}
    return f"{waits.get('latency')} s, c: {waits.get('overload')} s"


def _short(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def main() -> None:
    args = parse_args()
    bench = Bench(args)
    atexit.register(bench.stack.stop_all)

    def interrupted(signum: int, frame: object) -> None:
        bench.stack.stop_all()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        bench.run()
    finally:
        bench.stack.stop_all()


if __name__ == "__main__":
    main()
