"""Collaborative-editing benchmark: N docs x M clients typing K keys/s, Sparkroom against the reference Node server.

    python bench/collab.py --docs 50 --clients 20 --rate 1 --duration 20

Targets, in one run, under the same load (bench/collab_loadgen.py processes, asyncio + websockets + pycrdt):
- sparkroom: production mode, two Daphne processes on PostgreSQL + the Redis channel layer, clients assigned
  round-robin to the two ports (there is no load balancer);
- embedded (with --embedded): one Daphne process on SQLite + the in-memory channel layer;
- reference: y-websocket 1.5.4's bin/server.js (yjs 13, in-memory, no persistence).
Prints p50/p99 end-to-end edit latency (until every other client of the doc has the keystroke), the delivered
throughput (edits that reached every other client of their doc inside the measured window, per second), CPU of the
server process tree and of the load generator, and the p99 ratio; with --gc-pauses also the garbage collector's
pauses in each Sparkroom server during the measured window. Everything it starts is stopped when it ends.

With --servers daphne,uvicorn (also daphne-plain, daphne-nagle, uvicorn-asyncio) the sparkroom target runs once per
server, under the same load in this run: Daphne (`workspace.serve`, the edge's shortcuts on) and the /ws/yjs process
type on uvicorn (`workspace.serve_ws`); --rounds N repeats every target, reversing the order each round, and prints
medians:

    python bench/collab.py --daphne-procs 1 --layers pubsub --servers daphne,uvicorn --docs 10 --clients 10 --rounds 3

With --topology it compares instead, under the same load in one run: one Sparkroom process with its clients
connected directly, --daphne-procs processes behind HAProxy with the single-host configuration
(deploy/haproxy.cfg.template as workspace.host renders it: every client of a document on one process), and the
reference; --rounds N repeats the three, alternating their order, and prints the medians:

    python bench/collab.py --topology --docs 20 --clients 10 --rate 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).with_name("collab_loadgen.py")
GC_LOGGED_SERVE = Path(__file__).with_name("serve_gc_logged.py")
SERVE_WITHOUT_STORE = Path(__file__).with_name("serve_without_store.py")
REFERENCE_SERVER = ROOT / "frontend" / "node_modules" / "y-websocket-legacy-server" / "bin" / "server.js"
# The servers run in production mode, which needs a SECRET_KEY; they and this process (which signs the
# room tokens and sessions) share one made for this run. bench/spark.py imports this module, so shares it too.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


@contextmanager
def process(cmd: list[str], env: dict[str, str], port: int, cwd: Path = ROOT):
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        tail = log.read()[-int(os.environ.get("BENCH_LOG_TAIL", "1500")) :].decode(errors="replace").strip()
        if tail:
            print(f"--- log tail of {cmd[-1] if 'node' not in cmd[0] else 'node'}:\n{tail}", file=sys.stderr)
        log.close()


def sparkroom_env(db_url: str, redis_url: str, layer: str = "pubsub") -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SPARKROOM_TEST_RUN_ID", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
            "BENCH_CHANNEL_LAYER": layer,
            "ROOMS_CHANNEL_LAYER": "list" if layer == "list" else "pubsub",
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url or "memory://",
            "CELERY_EMBEDDED_WORKER": "0",
            "CHANNEL_PREFIX": "sparkroombench",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if not redis_url:
        env.pop("REDIS_URL")
    return env


@contextmanager
def daphne(env: dict[str, str], gc_log: Path | None = None, without_store: bool = False, server: str = "daphne"):
    """A Sparkroom server process: Daphne (`workspace.serve`), with `server="daphne-plain"` a Daphne without the edge's
    shortcuts (WS_EDGE_SHORTCUTS=0), with `server="uvicorn"` the /ws/yjs process type (`workspace.serve_ws`; with
    "uvicorn-asyncio" on asyncio's loop instead of uvloop); with
    `gc_log`, a Daphne that times its collector's pauses into that file; with `without_store`, a Daphne that skips the
    database write of each update (a diagnostic)."""
    port = free_port()
    if server == "daphne-plain":
        env = {**env, "WS_EDGE_SHORTCUTS": "0"}
    if server == "daphne-nagle":
        env = {**env, "WS_TCP_NODELAY": "0"}
    serve = ["-m", "workspace.serve", "-v", "0"]
    if server.startswith("uvicorn"):
        serve = ["-m", "workspace.serve_ws"] + (["--loop", "asyncio"] if server == "uvicorn-asyncio" else [])
    elif gc_log is not None:
        serve = [str(GC_LOGGED_SERVE), "-v", "0"]
    elif without_store:
        serve = [str(SERVE_WITHOUT_STORE), "-v", "0"]
    cmd = [sys.executable, *serve, "-b", "127.0.0.1", "-p", str(port)]
    if gc_log is not None:
        env = {**env, "BENCH_GC_LOG": str(gc_log)}
    with process(cmd, env, port) as proc:
        yield proc, f"ws://127.0.0.1:{port}/ws/yjs"


@contextmanager
def reference_server():
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port))
    with process(["node", str(REFERENCE_SERVER)], env, port, cwd=ROOT / "frontend") as proc:
        yield proc, f"ws://127.0.0.1:{port}"


@contextmanager
def haproxy_in_front(ports: list[int]):
    """HAProxy with the single-host configuration (workspace.host.render_config) in front of web processes."""
    sys.path.insert(0, str(ROOT))
    from workspace.host import TEMPLATE, render_config

    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        raise SystemExit("--topology needs HAProxy: run scripts/ensure_proxy.sh")
    port = free_port()
    runtime_dir = Path(tempfile.mkdtemp(prefix="sparkroom-bench-proxy-"))
    config = runtime_dir / "haproxy.cfg"
    servers = {"web": ports}
    config.write_text(
        render_config(
            TEMPLATE.read_text(),
            listen=f"127.0.0.1:{port}",
            runtime_dir=runtime_dir,
            check_host="127.0.0.1",
            servers=servers,
        )
    )
    try:
        with process([haproxy, "-W", "-db", "-f", str(config)], dict(os.environ), port) as proc:
            yield proc, f"ws://127.0.0.1:{port}/ws/yjs"
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)


def prepare_documents(db_url: str, docs: int) -> list[tuple[int, str]]:
    """Migrate the bench database, create a user, a workspace and `docs` files; (file id, token) for each."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from workspace.collab.files import create_file_with_text
    from workspace.collab.tokens import issue_token
    from workspace.projects.services import create_workspace

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    workspace = create_workspace(user, f"bench {time.strftime('%H:%M:%S')}")
    files = [create_file_with_text(workspace, f"doc{i}.py", "# bench\n") for i in range(docs)]
    return [(node.id, issue_token(user.id, node.id)) for node in files]


def tree_cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
    return total


def tree_rss(procs: list[psutil.Process]) -> float:
    """Resident memory of the server process trees, in bytes, with every client still connected."""
    total = 0.0
    for proc in procs:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return total


def named_cpu(names: tuple[str, ...]) -> float:
    total = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        if p.info["name"] and p.info["name"].startswith(names) and p.info["cpu_times"]:
            total += p.info["cpu_times"].user + p.info["cpu_times"].system
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run_load(
    doc_urls: list[list[str]],
    servers: list[subprocess.Popen],
    args,
    backing: tuple[str, ...],
    on_ready: Callable[[], None] | None = None,
) -> dict:
    """Start the load generator processes, run one measured window, return the aggregated figures.

    `on_ready` runs once every client is connected, before the typing starts."""
    shards = [doc_urls[i :: args.loadgen_procs] for i in range(args.loadgen_procs)]
    job = {"rate": args.rate, "warmup": args.warmup, "duration": args.duration, "drain": args.drain}
    gens = []
    try:
        for shard in shards:
            gen = subprocess.Popen(
                [sys.executable, str(LOADGEN)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            gen.stdin.write(json.dumps({**job, "docs": shard}) + "\n")
            gen.stdin.flush()
            gens.append(gen)
        for gen in gens:
            line = gen.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"load generator failed to connect: {line!r}")
        if on_ready is not None:
            on_ready()
        server_procs = [psutil.Process(s.pid) for s in servers]
        cpu_servers, cpu_backing, started = tree_cpu(server_procs), named_cpu(backing) if backing else 0.0, time.time()
        for gen in gens:
            gen.stdin.write("GO\n")
            gen.stdin.flush()
        results = [json.loads(gen.stdout.readline()) for gen in gens]
        wall = time.time() - started
        server_cpu = tree_cpu(server_procs) - cpu_servers
        server_rss = tree_rss(server_procs)
        backing_cpu = (named_cpu(backing) - cpu_backing) if backing else 0.0
    finally:
        for gen in gens:
            if gen.poll() is None:
                gen.kill()
            gen.wait()
    latencies = [x for r in results for x in r["latencies_ms"]]
    measured = sum(r["measured_sent"] for r in results)
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")),
        "edits": measured,
        "delivered": len(latencies),
        "incomplete": sum(r["incomplete"] for r in results),
        "throughput": sum(r["completed_in_window"] for r in results) / args.duration,
        "server_cpu": 100 * server_cpu / wall,
        "server_rss_mb": server_rss / 2**20,
        "backing_cpu": 100 * backing_cpu / wall,
        "loadgen_cpu": 100 * sum(r["cpu_seconds"] for r in results) / wall,
        "errors": [e for r in results for e in r["errors"]],
        "window": (started + args.warmup, started + wall),
    }


def client_urls(bases: list[str], files: list[tuple[int, str]], clients: int, with_token: bool) -> list[list[str]]:
    """Per document, one URL per client; clients are spread round-robin over the server ports."""
    urls, counter = [], 0
    for file_id, token in files:
        doc = []
        for _ in range(clients):
            base = bases[counter % len(bases)]
            counter += 1
            doc.append(f"{base}/{file_id}" + (f"?token={token}" if with_token else ""))
        urls.append(doc)
    return urls


def report(name: str, figures: dict) -> None:
    print(
        f"{name:<22} p50 {figures['p50']:8.1f} ms  p99 {figures['p99']:8.1f} ms  max {figures['max']:8.1f} ms  "
        f"edits {figures['edits']:6d} (incomplete {figures['incomplete']})  delivered {figures['throughput']:7.1f}/s  "
        f"server CPU {figures['server_cpu']:5.0f}%  RSS {figures['server_rss_mb']:5.0f} MB  "
        f"Redis+PG CPU {figures['backing_cpu']:4.0f}%  load-gen CPU {figures['loadgen_cpu']:4.0f}%",
        flush=True,
    )
    if figures["errors"]:
        print(f"  client errors: {figures['errors']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20, help="clients per document")
    parser.add_argument("--rate", type=float, default=1.0, help="keystrokes per second per client")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait for the last deliveries")
    parser.add_argument("--loadgen-procs", type=int, default=1)
    parser.add_argument("--daphne-procs", type=int, default=2)
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/sparkroom_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--embedded", action="store_true", help="also run the single-process embedded mode")
    parser.add_argument(
        "--layers",
        default="pubsub,list",
        help="layers for the rooms' traffic, comma-separated: pubsub (shipped: workspace.pubsub_layer), "
        "list (channels_redis RedisChannelLayer), channels-redis-pubsub (channels_redis RedisPubSubChannelLayer)",
    )
    parser.add_argument("--only", choices=["sparkroom", "reference", "embedded"], action="append")
    parser.add_argument(
        "--servers",
        default="daphne",
        help="the servers of the sparkroom target, comma-separated, each measured under the same load in this run: "
        "daphne (workspace.serve), daphne-plain (the same without the edge's shortcuts: WS_EDGE_SHORTCUTS=0), "
        "daphne-nagle (the same with Nagle's algorithm left on: WS_TCP_NODELAY=0), "
        "uvicorn (workspace.serve_ws, the /ws/yjs process type), uvicorn-asyncio (the same on asyncio's loop)",
    )
    parser.add_argument(
        "--topology",
        action="store_true",
        help="compare 1 process direct, --daphne-procs processes behind HAProxy (deploy/haproxy.cfg.template) and the "
        "reference under the same load (pubsub layer)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the targets (or with --topology the three), alternating the order"
    )
    parser.add_argument(
        "--gc-pauses",
        action="store_true",
        help="time every garbage-collector pause in the Sparkroom servers (bench/serve_gc_logged.py) and print "
        "those in the measured window; with BENCH_GC_NO_FREEZE=1 the start-up heap is not frozen",
    )
    parser.add_argument(
        "--without-store",
        action="store_true",
        help="diagnostic, not a mode to run: Sparkroom's servers skip the database write of every update "
        "(bench/serve_without_store.py), to show what storing before fan-out costs; not with --gc-pauses",
    )
    args = parser.parse_args()
    if args.without_store and args.gc_pauses:
        parser.error("--without-store and --gc-pauses do not combine")
    servers = args.servers.split(",")
    if not set(servers) <= {"daphne", "daphne-plain", "daphne-nagle", "uvicorn", "uvicorn-asyncio"}:
        parser.error("--servers takes daphne, daphne-plain, uvicorn and/or uvicorn-asyncio")
    if any(server.startswith("uvicorn") for server in servers) and (args.without_store or args.gc_pauses):
        parser.error("--without-store and --gc-pauses are Daphne diagnostics: not with --servers uvicorn")
    targets = args.only or ["sparkroom", "reference"] + (["embedded"] if args.embedded else [])

    print(
        f"{args.docs} docs x {args.clients} clients, {args.rate:g} keys/s each "
        f"({args.docs * args.clients * args.rate:g} edits/s), {args.duration:g}s measured "
        f"after {args.warmup:g}s warm-up; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if args.topology:
        run_topology(args)
        return
    results: dict[str, list[dict]] = {}
    for index in range(args.rounds):
        order = targets if index % 2 == 0 else targets[::-1]
        for target in order:
            if target == "sparkroom":
                for server in servers if index % 2 == 0 else servers[::-1]:
                    run_sparkroom(args, server, results)
            elif target == "reference":
                with reference_server() as (proc, base):
                    files = [(100_000 + i, "") for i in range(args.docs)]
                    figures = run_load(client_urls([base], files, args.clients, False), [proc], args, ())
                results.setdefault("reference", []).append(figures)
                report("reference y-websocket", figures)
            elif target == "embedded":
                run_embedded(args, results)
    if args.rounds > 1:
        print(f"medians over {args.rounds} rounds, load average now {os.getloadavg()[0]:.2f}:", flush=True)
        for name, runs in results.items():
            keys = ("p50", "p99", "throughput", "server_cpu", "server_rss_mb")
            m = {key: statistics.median(r[key] for r in runs) for key in keys}
            print(
                f"  {name:<26} p50 {m['p50']:7.1f} ms  p99 {m['p99']:7.1f} ms  delivered {m['throughput']:7.1f}/s  "
                f"server CPU {m['server_cpu']:4.0f}%  RSS {m['server_rss_mb']:4.0f} MB",
                flush=True,
            )
    if "reference" in results:
        reference_p99 = statistics.median(r["p99"] for r in results["reference"])
        for name, runs in results.items():
            if name != "reference":
                ratio = statistics.median(r["p99"] for r in runs) / reference_p99
                print(f"p99 ratio {name}/reference: {ratio:.2f}x", flush=True)


def run_sparkroom(args, server: str, results: dict[str, list[dict]]) -> None:
    """The production target on `server`: --daphne-procs processes of it, for each of --layers."""
    ensure_database(args.db_url)
    for layer in args.layers.split(","):
        files = prepare_documents(args.db_url, args.docs)
        env = sparkroom_env(args.db_url, args.redis_url, layer)
        gc_logs = gc_log_paths(args.gc_pauses, args.daphne_procs)
        with ExitStack() as stack:
            procs = [stack.enter_context(daphne(env, log, args.without_store, server)) for log in gc_logs]
            urls = client_urls([url for _, url in procs], files, args.clients, with_token=True)
            figures = run_load(urls, [p for p, _ in procs], args, ("redis-server", "postgres"))
        results.setdefault(f"sparkroom-{server}-{layer}", []).append(figures)
        unstored = ", updates NOT stored" if args.without_store else ""
        report(f"sparkroom {server} {layer} ({args.daphne_procs}p{unstored})", figures)
        report_gc_pauses(gc_logs, figures["window"])
    drop_queued_tasks(args.redis_url)


def run_embedded(args, results: dict[str, list[dict]]) -> None:
    """One Daphne process in embedded mode (SQLite, in-memory layers)."""
    sqlite_path = ROOT / "bench" / "collab-bench.sqlite3"
    db_url = f"sqlite:///{sqlite_path}"
    files = run_in_subprocess_prepare(db_url, args.docs)
    [gc_log] = gc_log_paths(args.gc_pauses, 1)
    with daphne(sparkroom_env(db_url, ""), gc_log, args.without_store) as (proc, base):
        figures = run_load(client_urls([base], files, args.clients, True), [proc], args, ())
    results.setdefault("embedded", []).append(figures)
    report("embedded (1 daphne" + (", updates NOT stored)" if args.without_store else ")"), figures)
    report_gc_pauses([gc_log], figures["window"])
    sqlite_path.unlink(missing_ok=True)


def run_topology(args) -> None:
    """One process direct, N behind the proxy, the reference: same load, alternating order, medians at the end."""
    ensure_database(args.db_url)
    env = sparkroom_env(args.db_url, args.redis_url)
    proxied = f"{args.daphne_procs}p behind HAProxy"
    names = ["1p direct", proxied, "reference"]
    results: dict[str, list[dict]] = {name: [] for name in names}

    def direct() -> dict:
        files = prepare_documents(args.db_url, args.docs)
        with daphne(env) as (proc, url):
            return run_load(client_urls([url], files, args.clients, True), [proc], args, ("redis-server", "postgres"))

    def behind_proxy() -> dict:
        files = prepare_documents(args.db_url, args.docs)
        with ExitStack() as stack:
            servers = [stack.enter_context(daphne(env)) for _ in range(args.daphne_procs)]
            ports = [int(url.rsplit(":", 1)[1].split("/", 1)[0]) for _, url in servers]
            proxy, url = stack.enter_context(haproxy_in_front(ports))
            split: list[int] = []

            def count_clients() -> None:  # how the proxy spread the clients over the processes
                for (proc, _), port in zip(servers, ports, strict=True):
                    sockets = psutil.Process(proc.pid).net_connections(kind="tcp")
                    split.append(sum(1 for c in sockets if c.status == "ESTABLISHED" and c.laddr.port == port))

            procs = [proc for proc, _ in servers] + [proxy]
            urls = client_urls([url], files, args.clients, True)
            figures = run_load(urls, procs, args, ("redis-server", "postgres"), on_ready=count_clients)
        figures["split"] = split
        return figures

    def reference() -> dict:
        with reference_server() as (proc, base):
            files = [(100_000 + i, "") for i in range(args.docs)]
            return run_load(client_urls([base], files, args.clients, False), [proc], args, ())

    runs = {"1p direct": direct, proxied: behind_proxy, "reference": reference}
    for index in range(args.rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            figures = runs[name]()
            results[name].append(figures)
            report(name, figures)
            if "split" in figures:
                print(f"  clients per process (behind the proxy): {figures['split']}", flush=True)
        drop_queued_tasks(args.redis_url)
    print(f"medians over {args.rounds} round(s), load average now {os.getloadavg()[0]:.2f}:", flush=True)
    medians = {}
    for name in names:
        medians[name] = {key: statistics.median(r[key] for r in results[name]) for key in ("p50", "p99", "throughput")}
        m = medians[name]
        print(f"  {name:<22} p50 {m['p50']:7.1f} ms  p99 {m['p99']:7.1f} ms  delivered {m['throughput']:7.1f}/s")
    direct_m, proxy_m = medians["1p direct"], medians[proxied]
    print(
        f"  {proxied} / 1p direct: p99 {proxy_m['p99'] / direct_m['p99']:.2f}x, "
        f"delivered {proxy_m['throughput'] / direct_m['throughput']:.2f}x",
        flush=True,
    )


def gc_log_paths(enabled: bool, count: int) -> list[Path | None]:
    if not enabled:
        return [None] * count
    return [Path(tempfile.mkstemp(prefix="sparkroom-gc-", suffix=".json")[1]) for _ in range(count)]


def report_gc_pauses(logs: list[Path | None], window: tuple[float, float]) -> None:
    """The collector's pauses inside the measured window (warm-up excluded, drain included), per server process."""
    for index, log in enumerate(logs):
        if log is None:
            continue
        try:
            data = json.loads(log.read_text() or "{}")
        finally:
            log.unlink(missing_ok=True)
        if "pauses" not in data:
            print(f"  gc pauses, process {index + 1}: no log written", flush=True)
            continue
        inside = [(gen, ms) for at, gen, ms in data["pauses"] if window[0] <= at <= window[1]]
        parts = []
        for gen in (0, 1, 2):
            times = [ms for g, ms in inside if g == gen]
            if times:
                parts.append(f"gen{gen} {len(times)}x max {max(times):.1f} ms")
        summary = ", ".join(parts) or "none"
        full = [ms for _, gen, ms in data["pauses"] if gen == 2]
        print(
            f"  gc pauses, process {index + 1} ({data['frozen']} objects frozen at start-up): {summary}; "
            f"all generations {sum(ms for _, ms in inside):.0f} ms in the window; whole run (start-up, connecting, "
            f"closing too): gen2 {len(full)}x max {max(full, default=0):.1f} ms",
            flush=True,
        )


def drop_queued_tasks(redis_url: str) -> None:
    """No Celery worker runs in the bench: drop the compaction tasks the servers queued on the bench's Redis db."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(redis_url).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


def ensure_database(db_url: str) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    admin_url = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def run_in_subprocess_prepare(db_url: str, docs: int) -> list[tuple[int, str]]:
    """Django is set up once per process on one database, so the SQLite target prepares in a child process."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.collab import prepare_documents; "
        f"print(json.dumps(prepare_documents({db_url!r}, {docs})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return [tuple(item) for item in json.loads(out.stdout.strip().splitlines()[-1])]


if __name__ == "__main__":
    main()
