"""Benchmark 5: the HTTP pass, gunicorn (4 workers) on PostgreSQL, driven by wrk.

Endpoints measured one after the other, each for the same duration, concurrency and
request cap (a Lua script stops wrk after `cap` responses, so a pass is bounded in time and
in requests): `/health` (the trivial endpoint), `GET /api/tasks?limit=25` with a bearer
token (the inbox as JSON, a logged-in endpoint of the same app), then with the session
cookie of a signed-in direction user the inbox page `/`, a task page `/taches/<id>`, a
partnership page `/partenariats/<id>`, the completion `POST /taches/<id>` (each request
completes a different open review task), and `/health` again. Throughput and p99 latency
are reported as ratios to the JSON endpoint and to the mean of the two `/health` runs.

wrk is a C event loop: one thread on one core keeps 16 connections busy at a fraction of
the core, so the figures are the server's, not the client's (a Python client on this 2-core
machine would take a core from gunicorn). `make bench` installs it with apt-get when missing.

PostgreSQL: PARTNERFLOW_BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres;
a temporary database is created and dropped.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from partnerflow.engine.access import accounts, tokens
from partnerflow.engine.config import Settings
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade

from .common import ACTOR, FIXTURES, Row, deploy, median, new_partnership, open_task, start

PG = os.environ.get("PARTNERFLOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-mot-de-passe"
GOAL_PAGE_API = 0.5  # a page's throughput / the logged-in JSON endpoint's
GOAL_PAGE_HEALTH = 0.3  # a page's throughput / /health's
PAGES = ("inbox", "task", "partnership")  # the pages those goals apply to
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# every script stops its thread after `cap` responses (the duration bounds it too)
CAP_LUA = """
cap = %d
done = 0
response = function(status, headers, body)
  done = done + 1
  if done >= cap then wrk.thread:stop() end
end
"""
COMPLETE_LUA = CAP_LUA + """
ids = {%s}
i = 0
request = function()
  i = i + 1
  local id = ids[((i - 1) %% #ids) + 1]
  return wrk.format("POST", "/taches/" .. id, {["Content-Type"] = "application/x-www-form-urlencoded",
                    ["Cookie"] = "%s"}, "csrf_token=%s&action=complete&decision=done")
end
"""


@contextmanager
def _database():
    import psycopg

    name = f"partnerflow_bench_{uuid.uuid4().hex[:8]}"
    admin = PG.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _gunicorn(url: str, workers: int = 4):
    port = _port()
    env = dict(os.environ, PARTNERFLOW_DATABASE_URL=url, PARTNERFLOW_FORMS_DIR=str(FIXTURES / "forms"),
               PARTNERFLOW_BPMN_DIR=str(FIXTURES), PARTNERFLOW_SECRET_KEY="bench-session-key-" + "b" * 32,
               PARTNERFLOW_LOG_JSON="1")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen([str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                                "--log-level", "warning", "partnerflow.web.wsgi:app"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _session(base: str) -> tuple[str, str]:
    """Sign in through the login form; the session cookie and a CSRF token for it."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def token(path: str) -> str:
        html = opener.open(base + path, timeout=30).read().decode()
        match = CSRF.search(html)
        return match.group(1) or match.group(2)

    body = urllib.parse.urlencode({"csrf_token": token("/connexion"), "username": ACTOR,
                                   "password": PASSWORD}).encode()
    opener.open(urllib.request.Request(base + "/connexion", data=body), timeout=30)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token("/")


def _drain(base: str, fast: float = 0.1, limit: float = 20.0) -> None:
    """Wait until the server is idle again: two /health calls in a row under `fast` seconds
    (gunicorn still serves the requests a pass left in its queue when wrk hung up)."""
    began, quick = time.perf_counter(), 0
    while quick < 2 and time.perf_counter() - began < limit:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/health", timeout=limit):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        quick = quick + 1 if time.perf_counter() - start < fast else 0


def _wrk(url: str, seconds: int, connections: int, cap: int, folder: str,
         headers: dict | None = None, script: str | None = None) -> dict:
    """One wrk pass: `seconds` at most, `cap` responses at most."""
    path = os.path.join(folder, f"pass-{uuid.uuid4().hex[:8]}.lua")
    Path(path).write_text(script or (CAP_LUA % cap))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
               "-s", path]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    return _parse_wrk(out)


def _seconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def _parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = _seconds(re.search(r"\s99%\s+(\S+)", out).group(1))
    p50 = _seconds(re.search(r"\s50%\s+(\S+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_ok.group(1)) if non_ok else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return {"rps": rps, "p99": p99, "p50": p50, "requests": requests, "errors": errors}


def _prepare(url: str, tasks: int) -> tuple[list[int], int, str]:
    """`tasks` open review tasks in 20 partnerships, started through the engine's use cases
    for a direction user with a password; a read token for the same user."""
    settings = Settings(database_url=url, bpmn_dir=FIXTURES, forms_dir=FIXTURES / "forms",
                        step_time_limit_s=30.0)
    pf = Partnerflow(settings)
    try:
        with pf.uow() as uow:
            accounts.create_user(uow, username=ACTOR, full_name="Bench Direction", roles=["direction"],
                                 actor=None, password=PASSWORD)
        with pf.uow() as uow:
            token = tokens.create_personal_token(uow, username=ACTOR, name="bench", scope="read",
                                                 days=1)
        deploy(pf, "review_loop.bpmn")
        partnerships = [new_partnership(pf, f"Charge {n}") for n in range(20)]
        ids = [open_task(pf, start(pf, partnerships[n % 20], "review_loop", {"rounds": 0}))
               for n in range(tasks)]
        with pf.uow() as uow:  # keep the planner's statistics current, as autovacuum would
            uow.session.connection().exec_driver_sql("ANALYZE")
            uow.commit()
    finally:
        pf.dispose()
    return ids, partnerships[0], token


def run(quick: bool = False) -> list[Row]:
    if shutil.which("wrk") is None:
        return [Row("5 http", "skipped: wrk is not installed (make bench installs it; "
                    "apt-get install wrk)", "-", "", "not run")]
    # interleaved: every endpoint for `seconds`, in turn, `rounds` times; ratios per round
    # the cap is a safety bound (wrk would divide a capped pass by the whole duration)
    rounds, seconds, connections, cap = (1, 1, 8, 5000) if quick else (3, 2, 8, 20000)
    tasks = 60 if quick else 300
    try:
        import psycopg

        psycopg.connect(PG.replace("+psycopg", ""), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL cannot be reached
        return [Row("5 http", f"not run: PostgreSQL unreachable at {PG} ({type(exc).__name__})",
                    "-", "", "not run")]
    began = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="partnerflow-bench-load-")
    try:
        with _database() as url:
            ids, partnership, token = _prepare(url, tasks)
            prepared = time.perf_counter() - began
            with _gunicorn(url) as base:
                cookie, csrf = _session(base)
                session = {"Cookie": cookie}
                endpoints = {
                    "health": ("/health", None),
                    "api": ("/api/tasks?limit=25", {"Authorization": f"Bearer {token}"}),
                    "inbox": ("/", session),
                    "task": (f"/taches/{ids[-1]}", session),
                    "partnership": (f"/partenariats/{partnership}", session),
                }

                def measure(path, headers=None, script=None, limit=cap, duration=seconds):
                    found = _wrk(base + path, duration, connections, limit, folder, headers, script)
                    found["capped"] = found["requests"] >= limit
                    _drain(base)  # what wrk left queued is served before the next pass
                    return found

                measure("/health", limit=300, duration=1)  # warm-up of every worker
                measure("/", session, limit=100, duration=1)
                results: dict[str, list[dict]] = {key: [] for key in [*endpoints, "complete"]}
                pool = ids[:-1]  # the task page's task stays open
                for turn in range(rounds):
                    order = list(endpoints) if turn % 2 == 0 else list(endpoints)[::-1]
                    for key in order:
                        results[key].append(measure(*endpoints[key]))
                    if len(pool) > connections:
                        # each request completes another task, at most one per task left
                        done = measure("/", script=COMPLETE_LUA % (
                            len(pool) - connections, ",".join(map(str, pool)), cookie, csrf))
                        results["complete"].append(done)
                        pool = pool[done["requests"] + connections:]  # none sent twice
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _rows(results, len(ids) - 1, rounds, seconds, connections, cap, prepared,
                 time.perf_counter() - began)


def _rows(r: dict[str, list[dict]], ids: int, rounds: int, seconds: int, connections: int,
          cap: int, prepared: float, total: float) -> list[Row]:
    """Per round, each endpoint's throughput as a ratio to the JSON endpoint's and to
    /health's of the same round; the medians of those ratios, of throughputs and of p99."""
    def med(key: str, field: str) -> float:
        return median([m[field] for m in r[key]])

    def ratio(key: str, to: str) -> float:
        return median([m["rps"] / t["rps"] for m, t in zip(r[key], r[to], strict=False)])

    setting = (f"gunicorn -w 4, PostgreSQL, wrk -t1 -c{connections}; {rounds} rounds of {seconds} s "
               f"(or {cap} responses) per endpoint, interleaved; {total:.0f} s with "
               f"{prepared:.0f} s of preparation")
    rows = [Row("5 http", "setting", setting),
            Row("5 http", "/health req/s / p99", f"{med('health', 'rps'):.0f} / "
                f"{med('health', 'p99') * 1000:.1f} ms"),
            Row("5 http", "GET /api/tasks?limit=25 (bearer token: the inbox as JSON) req/s / p99",
                f"{med('api', 'rps'):.0f} / {med('api', 'p99') * 1000:.1f} ms",
                notes=[f"JSON endpoint / /health throughput: {ratio('api', 'health'):.2f}"])]
    names = {"inbox": "inbox page /", "task": "task page /taches/<id>",
             "partnership": "partnership page /partenariats/<id>",
             "complete": "completion POST /taches/<id>"}
    for key, name in names.items():
        if not r[key]:
            continue
        to_api, to_health = ratio(key, "api"), ratio(key, "health")
        goals = key in PAGES
        rows += [
            Row("5 http", f"{name} req/s / p50 / p99",
                f"{med(key, 'rps'):.0f} / {med(key, 'p50') * 1000:.1f} ms / {med(key, 'p99') * 1000:.1f} ms",
                notes=[f"p99 / JSON endpoint's {med(key, 'p99') / med('api', 'p99'):.1f}x, "
                       f"/ /health's {med(key, 'p99') / med('health', 'p99'):.1f}x"]),
            Row("5 http", f"{name}: throughput / JSON endpoint's", f"{to_api:.2f}",
                f">= {GOAL_PAGE_API}" if goals else "",
                ("yes" if to_api >= GOAL_PAGE_API else "NO") if goals else ""),
            Row("5 http", f"{name}: throughput / /health's", f"{to_health:.2f}",
                f">= {GOAL_PAGE_HEALTH}" if goals else "",
                ("yes" if to_health >= GOAL_PAGE_HEALTH else "NO") if goals else ""),
        ]
    capped = [k for k, v in r.items() if any(m.get("capped") for m in v)]
    if capped:
        rows.append(Row("5 http", "passes stopped by the response cap (throughput understated)",
                        ", ".join(capped)))
    errors = sum(m["errors"] for passes in r.values() for m in passes)
    sent = sum(m["requests"] for m in r["complete"])
    rows.append(Row("5 http", "errors (non-2xx/3xx + socket), every endpoint", str(errors), "0",
                    "yes" if not errors else "NO",
                    [f"completions sent: {sent} of {ids} prepared tasks; requests per endpoint: "
                     + ", ".join(f"{k} {sum(m['requests'] for m in v)}" for k, v in r.items())]))
    return rows
