"""Where a command's time goes in the portal, measured at a low rate where nothing queues.

    .venv/bin/python bench/probe_costs.py                                 # 10 commands/s for 10 s
    .venv/bin/python bench/probe_costs.py --rate 20 --seconds 15 --no-profile

It starts the same stack as bench/traffic.py (same options: --web, --web-workers, --celery-concurrency,
...), then sends a few commands and reports, per acknowledged command:
  * CPU milliseconds of every process (web server main process and workers, Celery parent and pool
    processes, beat, PostgreSQL, Redis), read from /proc;
  * PostgreSQL's side: every statement of the benchmark database is logged for the probe
    (log_min_duration_statement = 0 on that database only) and counted per client (web processes and
    workers connect as two probe-only roles, members of postgres, dropped afterwards): statements by
    kind, their summed server time, and the backends used. The server log is read from --pg-log;
  * with py-spy (bench/requirements.txt), sampled only while a process holds its GIL (so roughly
    CPU): the share of samples under each of a few named frames, and the top functions of bots/.
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import traffic

# Frames whose inclusive share of samples is reported: (label, regular expression on "function (file)").
FRAMES = [
    ("the /command service", r"^command_receive \(bots/services/ingress\.py\)"),
    ("the callback service", r"^callback_receive \(bots/services/ingress\.py\)"),
    ("the group commit of commands", r"^_write_queue \(bots/services/inbound_writer\.py\)"),
    ("JWT check (verify_incoming)", r"^verify_incoming \("),
    ("bot secret decryption", r"valid_secrets|Fernet\.decrypt|MultiFernet\.decrypt"),
    ("task inbound_process", r"^inbound_process \(bots/tasks\.py\)"),
    ("task inbound_drain", r"^inbound_drain \(bots/tasks\.py\)"),
    ("  its batches (claim, handlers, outbox)", r"^_drain_batch \(bots/services/dispatch\.py\)"),
    ("  its deliveries (claim, send, record)", r"^messages_deliver \(bots/services/delivery\.py\)"),
    ("the wake-up gate (wake)", r"^wake \(bots/services/wake\.py\)"),
    ("task outbound_deliver", r"^outbound_deliver \(bots/tasks\.py\)"),
    ("task callback_match", r"^callback_match \(bots/tasks\.py\)"),
    ("task sweep", r"^sweep \(bots/tasks\.py\)"),
    ("DB connect (new connection)", r"^BaseDatabaseWrapper\.connect \("),
    ("DB close (Celery's Django fixup)", r"^DjangoWorkerFixup\._close_database \("),
    ("DB health check (CONN_HEALTH_CHECKS)", r"^BaseDatabaseWrapper\.close_if_health_check_failed \("),
    (
        "ORM: building SQL (SQLCompiler.as_sql)",
        r"^SQLCompiler\.as_sql \(|^SQLInsertCompiler\.as_sql \(|^SQLUpdateCompiler\.as_sql \(",
    ),
    ("DB: executing (CursorWrapper.execute)", r"^CursorWrapper\._execute \("),
    ("transaction commit", r"^BaseDatabaseWrapper\.commit \(|^Atomic\.__exit__ \("),
    ("enqueue a task (apply_async)", r"^Task\.apply_async \("),
    ("BotX HTTP call (BotxClient.request)", r"^BotxClient\.request \("),
    ("logging (Logger.handle)", r"^Logger\.handle \("),
    ("Celery worker loop (kombu hub)", r"^Hub\.create_loop \("),
    (
        "Celery pool IPC (billiard)",
        r"^Worker\._make_child_methods|^ResultHandler|^Pool\._poll_result|send_offset|^Connection\._recv \(billiard",
    ),
    # A request as the web server runs it, the application included: under granian only its call of the
    # application is Python (its HTTP is native code, not sampled); under gunicorn, the whole cycle.
    (
        "a request in the web server (the application included)",
        r"^_callback_wrapper\.<locals>\._runner \(granian|^SyncWorker\.handle \(|^ThreadWorker\.handle \(",
    ),
]


def parse_args() -> tuple[argparse.Namespace, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg-log", type=Path, default=Path("/var/log/postgresql/postgresql-15-main.log"))
    parser.add_argument("--no-profile", action="store_true")
    own, rest = parser.parse_known_args()
    if not 0 < own.rate <= 100 or not 0 < own.seconds <= 60:
        parser.error("a probe is small: --rate within (0, 100], --seconds within (0, 60]")
    return own, traffic.parse_args(["--only", "latency", *rest])


def per_process(bench: traffic.Bench) -> dict[int, tuple[str, str, float]]:
    """pid -> (group, short name, CPU seconds incl. reaped children) for the portal's processes."""
    groups = bench.stack.groups()
    found = {}
    for pid, _comm, pgrp, ticks, child_ticks, cmdline in traffic._proc_stats():
        group = groups.get(pgrp)
        if group in {"web", "celery"}:
            if pid == pgrp:
                role = "main" if group == "web" else ("beat" if " beat " in cmdline else "parent")
            else:
                role = "worker" if group == "web" else "pool process"
            found[pid] = (group, role, (ticks + child_ticks) / traffic.CLK_TCK)
    return found


LOG_LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S*)@(\S*) (?:LOG|STATEMENT):\s+(.*)$")
DURATION = re.compile(r"^duration: ([\d.]+) ms\s+(?:statement|execute [^:]*): (.*)$")


def statements(
    log_path: Path, offset: int
) -> tuple[dict[str, collections.Counter[str]], dict[str, float], collections.Counter[str]]:
    """From the server log after ``offset``: statements by client (the role that the log line names)
    and kind, their summed time (ms), and the connections (backend pids) each client used."""
    pid_app: dict[str, str] = {}
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    server_ms: dict[str, float] = collections.defaultdict(float)
    connections: collections.Counter[str] = collections.Counter()
    with log_path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if not match or match.group(3) != traffic.DB_NAME:
            continue
        pid, user, message = match.group(1), match.group(2), match.group(4)
        app = {ROLES[0]: "portal-web", ROLES[1]: "portal-worker"}.get(user, user)
        if pid_app.get(pid) != app:
            pid_app[pid] = app  # a backend's first statement: a connection that this client opened
            connections[app] += 1
        duration = DURATION.match(message)
        if duration:
            kind = duration.group(2).split(None, 1)[0].upper() if duration.group(2).strip() else "?"
            counts[app][kind] += 1
            server_ms[app] += float(duration.group(1))
    return counts, server_ms, connections


def profile_summary(path: Path) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    inclusive: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")[1:]]
        unique = set(frames)
        for label, pattern in FRAMES:
            if any(re.search(pattern, frame) for frame in unique):
                inclusive[label] += samples
        for frame in unique:
            if "(bots/" in frame:
                ours[frame] += samples
    named = [(label, 100 * inclusive[label] / total) for label, _ in FRAMES if inclusive[label]] if total else []
    top = [(frame, 100 * n / total) for frame, n in ours.most_common(12)] if total else []
    return total, named, top


def main() -> None:
    own, args = parse_args()
    bench = traffic.Bench(args)
    if not own.pg_log.is_file():
        raise SystemExit(f"no PostgreSQL log at {own.pg_log}: give --pg-log")
    try:
        bench.background_busy = traffic.background_load(2)
        bench.prepare_services()
        bench.start_fake()
        bench.seed_history()  # before the probe's roles: the history's statements are not the probe's
        roles_create()
        bench.db_users = {"web": ROLES[0], "worker": ROLES[1]}
        bench.start_portal({"log_min_duration_statement": "0"})
        target = bench.targets()["portal"]
        offset = own.pg_log.stat().st_size
        profilers: list[subprocess.Popen[bytes]] = []
        py_spy = traffic.BIN / "py-spy"
        if not own.no_profile and py_spy.exists():
            for proc in bench.stack.procs:
                if proc.name in {"web", "celery-0"}:
                    profilers.append(
                        subprocess.Popen(
                            [
                                str(py_spy),
                                "record",
                                "--pid",
                                str(proc.popen.pid),
                                "--subprocesses",
                                "--gil",
                                "--rate",
                                "250",
                                "--format",
                                "raw",
                                "--output",
                                str(bench.logs / f"probe-{proc.name}.txt"),
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                    )
            time.sleep(1.0)
        before, cpu_before = per_process(bench), traffic.cpu_snapshot(bench.stack.groups())
        started = time.time()
        report = bench.loadgen(target, mode="open", rate=own.rate, duration=own.seconds, tag="probe")
        acked = [row for row in report["results"] if row[4] == 202]
        texts = {row[0] for row in acked}
        replies, _ = bench.wait_replies(texts, 120)
        bench.settle(60)
        elapsed = time.time() - started
        after, cpu_after = per_process(bench), traffic.cpu_snapshot(bench.stack.groups())
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in profilers:
            profiler.wait(60)
        time.sleep(1.0)  # the server log
        n = len(acked)
        latencies = sorted(replies[row[0]] - row[2] for row in acked if row[0] in replies)
        print(bench.header())
        print(
            f"probe: {n} commands acknowledged at {own.rate:g}/s over {own.seconds:g} s, {len(latencies)} replied, "
            f"reply latency p50 {traffic.ms(traffic.percentile(latencies, 50))} ms, "
            f"p99 {traffic.ms(traffic.percentile(latencies, 99))} ms; "
            f"{elapsed:.0f} s until idle"
        )
        print("\nCPU ms per command, by process:")
        roles: dict[str, float] = collections.defaultdict(float)
        for pid, (group, role, seconds) in after.items():
            roles[f"{group} {role}"] += seconds - before.get(pid, (group, role, 0.0))[2]
        for name, seconds in sorted(roles.items()):
            print(f"  {name:<24} {1000 * seconds / n:8.2f}")
        for name in ("postgres", "redis", "fake_botx", "machine"):
            used = cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)
            label = "machine (everything)" if name == "machine" else name
            print(f"  {label:<24} {1000 * used / n:8.2f}")
        counts, server_ms, connections = statements(own.pg_log, offset)
        print("\nPostgreSQL, per command (statements of the benchmark database, by client):")
        for app in sorted(set(counts) | set(connections)):
            kinds = counts[app]
            total = sum(kinds.values())
            detail = ", ".join(f"{kind} {count / n:.1f}" for kind, count in kinds.most_common())
            print(
                f"  {app:<14} {total / n:6.1f} statements ({detail}); server time {server_ms[app] / n:.2f} ms; "
                f"{connections[app] / n:.2f} new connections"
            )
        for proc_name in ("web", "celery-0"):
            path = bench.logs / f"probe-{proc_name}.txt"
            if not path.exists():
                continue
            total, named, top = profile_summary(path)
            print(f"\npy-spy --gil, {proc_name}: {total} samples; share under:")
            for label, share in named:
                print(f"  {share:5.1f}%  {label}")
            print("  top functions of bots/:")
            for frame, share in top:
                print(f"  {share:5.1f}%  {frame}")
        print(f"\nlogs and profiles: {bench.logs}")
    finally:
        bench.stack.stop_all()
        try:
            bench.drop_template()
            roles_drop()
        except Exception as exc:  # cleanup: say so, do not hide the real error
            print(f"cleanup: {exc}", file=sys.stderr)


# Login roles for the probe only, members of postgres (so they own what it owns): the server log's
# line prefix names the user, which tells web processes from workers.
ROLES = ("bench_portal_web", "bench_portal_worker")


def roles_create() -> None:
    import psycopg

    with psycopg.connect(traffic.PG_ADMIN_URL, autocommit=True) as conn:
        for role in ROLES:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE postgres")


def roles_drop() -> None:
    import psycopg

    with psycopg.connect(traffic.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {traffic.DB_NAME} WITH (FORCE)")
        for role in ROLES:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


if __name__ == "__main__":
    main()
