"""Benchmark 5: HTTP load on gunicorn (4 workers) and PostgreSQL, measured with wrk.

Three endpoints in the same run, one after the other, each for the same duration and
concurrency: the trivial `/health` (one small query), the inbox page `/` of a signed-in
direction user (session cookie), and the task-completion endpoint `POST /taches/<id>`
(each request completes a different open review task; a Lua script walks the ids).
Throughput and p99 latency are reported as ratios to `/health`.

Needs PostgreSQL (PARTNERFLOW_BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres;
a temporary database is created and dropped), gunicorn (a dependency) and `wrk`
(apt-get install wrk). Not in the default `make bench` run: `python -m bench --only load`.
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

from partnerflow.engine.access import accounts
from partnerflow.engine.config import Settings
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade

from .common import ACTOR, FIXTURES, Row, deploy, new_partnership, open_task, start

PG = os.environ.get("PARTNERFLOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-mot-de-passe"
GOAL_INBOX = 0.5
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
COMPLETE_LUA = """
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


def _wrk(url: str, seconds: int, connections: int, headers: dict | None = None,
         script: str | None = None) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", script]
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


def _prepare(url: str, tasks: int) -> list[int]:
    settings = Settings(database_url=url, bpmn_dir=FIXTURES, forms_dir=FIXTURES / "forms",
                        step_time_limit_s=30.0)
    pf = Partnerflow(settings)
    try:
        with pf.uow() as uow:
            accounts.create_user(uow, username=ACTOR, full_name="Bench Direction", roles=["direction"],
                                 actor=None, password=PASSWORD)
        deploy(pf, "review_loop.bpmn")
        partnerships = [new_partnership(pf, f"Charge {n}") for n in range(20)]
        ids = [open_task(pf, start(pf, partnerships[n % 20], "review_loop", {"rounds": 0}))
               for n in range(tasks)]
        with pf.uow() as uow:  # keep the planner's statistics current, as autovacuum would
            uow.session.connection().exec_driver_sql("ANALYZE")
            uow.commit()
    finally:
        pf.dispose()
    assert services  # the engine's use cases prepared the data
    return ids


def run(quick: bool = False) -> list[Row]:
    if shutil.which("wrk") is None:
        return [Row("5 load", "skipped: wrk is not installed (apt-get install wrk)", "-")]
    seconds, connections = (5, 16) if quick else (15, 16)
    tasks = 1200 if quick else 3000
    with _database() as url:
        ids = _prepare(url, tasks)
        with _gunicorn(url) as base:
            cookie, token = _session(base)
            folder = tempfile.mkdtemp(prefix="partnerflow-bench-load-")
            script = os.path.join(folder, "complete.lua")
            Path(script).write_text(COMPLETE_LUA % (",".join(map(str, ids)), cookie, token))
            _wrk(base + "/health", 2, connections)  # warm-up of every worker
            _wrk(base + "/", 2, connections, {"Cookie": cookie})
            health = _wrk(base + "/health", seconds, connections)
            inbox = _wrk(base + "/", seconds, connections, {"Cookie": cookie})
            complete = _wrk(base, seconds, connections, script=script)
            health2 = _wrk(base + "/health", seconds, connections)
            shutil.rmtree(folder, ignore_errors=True)
    trivial = {"rps": (health["rps"] + health2["rps"]) / 2, "p99": (health["p99"] + health2["p99"]) / 2}
    return _rows(trivial, health, health2, inbox, complete, len(ids), seconds, connections)


def _rows(trivial, health, health2, inbox, complete, ids, seconds, connections) -> list[Row]:
    ratio = inbox["rps"] / trivial["rps"]
    setting = f"gunicorn -w 4, PostgreSQL, wrk -t1 -c{connections} -d{seconds}s"
    rows = [
        Row("5 load", f"/health req/s (before, after) [{setting}]",
            f"{health['rps']:.0f}, {health2['rps']:.0f}"),
        Row("5 load", "/health p50 / p99", f"{health['p50'] * 1000:.1f} / {trivial['p99'] * 1000:.1f} ms"),
        Row("5 load", "inbox / req/s", f"{inbox['rps']:.0f}"),
        Row("5 load", "inbox p50 / p99", f"{inbox['p50'] * 1000:.1f} / {inbox['p99'] * 1000:.1f} ms"),
        Row("5 load", "completion POST /taches/<id> req/s", f"{complete['rps']:.0f}"),
        Row("5 load", "completion p50 / p99",
            f"{complete['p50'] * 1000:.1f} / {complete['p99'] * 1000:.1f} ms"),
        Row("5 load", "ratio inbox / trivial throughput", f"{ratio:.2f}", f">= {GOAL_INBOX}",
            "yes" if ratio >= GOAL_INBOX else "NO"),
        Row("5 load", "ratio completion / trivial throughput", f"{complete['rps'] / trivial['rps']:.3f}"),
        Row("5 load", "ratio p99 inbox / trivial, completion / trivial",
            f"{inbox['p99'] / trivial['p99']:.1f}x, {complete['p99'] / trivial['p99']:.1f}x"),
        Row("5 load", "errors (non-2xx/3xx + socket), all endpoints",
            str(health["errors"] + health2["errors"] + inbox["errors"] + complete["errors"]), "0",
            "yes" if not (health["errors"] + health2["errors"] + inbox["errors"] + complete["errors"])
            else "NO",
            [f"completions sent {complete['requests']} of {ids} prepared tasks"
             + (" (ids reused: conflicts counted as errors)" if complete["requests"] > ids else "")]),
    ]
    return rows
