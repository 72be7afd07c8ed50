#!/usr/bin/env python3
"""A small external worker for Partnerflow, with the Python standard library only.

It fetches and locks the external tasks of one topic, runs `handle` on each, and completes
it with the variables `handle` returns; an exception is reported as a failure (with the
retries left and a delay before the next attempt), a `BpmnError` as a BPMN error that the
task's error boundary event catches. Replace `handle` with what your software does.

    python3 external_worker.py --url https://partnerflow.example.org --topic finance.invoice \\
        --client-id pf-0123456789abcdef --client-secret pfc_...      # OAuth2 client credentials
    PARTNERFLOW_TOKEN=pfp_... python3 external_worker.py --url ... --topic ...   # or a personal token

The account acting (the client's service account) must be in the « Travailleur externe » group.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime


class BpmnError(Exception):
    """A business error the process models (an error boundary event with this code)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


def handle(task: dict) -> dict:
    """The work: receives the locked task (its variables as {"name": {"value": ...}}) and
    returns the variables to set in the process (plain values)."""
    variables = {name: typed.get("value") for name, typed in task["variables"].items()}
    if variables.get("refuse"):
        raise BpmnError("REFUSED", "refusé par le logiciel externe")
    return {"handled_by": task["workerId"], "handled_at": datetime.now(UTC).isoformat(),
            "handled_topic": task["topicName"]}


class Client:
    def __init__(self, url: str, token: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.client_id, self.client_secret = client_id, client_secret
        self.expires = 0.0
        self.timeout = timeout

    def _token(self) -> str:
        if self.client_id and time.monotonic() >= self.expires:
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "write"}).encode()
            request = urllib.request.Request(f"{self.url}/api/oauth/token", data=body, method="POST",
                                             headers={"Authorization": f"Basic {basic}"})
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                granted = json.load(response)
            self.token = granted["access_token"]
            self.expires = time.monotonic() + granted["expires_in"] - 30
        if not self.token:
            raise SystemExit("no token: give --client-id/--client-secret or PARTNERFLOW_TOKEN")
        return self.token

    def post(self, path: str, body: dict):
        request = urllib.request.Request(
            f"{self.url}/api/external-task{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            problem = error.read().decode(errors="replace")
            raise RuntimeError(f"{error.code} on {path}: {problem}") from None
        return json.loads(raw) if raw else None


def work_once(client: Client, *, topic: str, worker_id: str, lock_ms: int, max_tasks: int,
              retries: int, retry_ms: int) -> int:
    """One round: fetch, lock and handle; returns how many tasks were handled."""
    locked = client.post("/fetchAndLock", {"workerId": worker_id, "maxTasks": max_tasks,
                                           "topics": [{"topicName": topic, "lockDuration": lock_ms}]})
    for task in locked:
        left = retries if task.get("retries") is None else task["retries"] - 1
        try:
            result = handle(task)
        except BpmnError as error:
            client.post(f"/{task['id']}/bpmnError", {"workerId": worker_id, "errorCode": error.code,
                                                     "errorMessage": str(error)})
        except Exception as error:  # noqa: BLE001 - every failure is reported, none kills the worker
            client.post(f"/{task['id']}/failure", {
                "workerId": worker_id, "errorMessage": str(error)[:2000] or type(error).__name__,
                "errorDetails": repr(error), "retries": max(left, 0), "retryTimeout": retry_ms})
        else:
            client.post(f"/{task['id']}/complete", {
                "workerId": worker_id, "variables": {k: {"value": v} for k, v in result.items()}})
    return len(locked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}:{os.getpid()}")
    parser.add_argument("--client-id", default=os.environ.get("PARTNERFLOW_CLIENT_ID"))
    parser.add_argument("--client-secret", default=os.environ.get("PARTNERFLOW_CLIENT_SECRET"))
    parser.add_argument("--lock-ms", type=int, default=60_000)
    parser.add_argument("--max-tasks", type=int, default=10)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--retry-ms", type=int, default=60_000)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between empty rounds")
    parser.add_argument("--rounds", type=int, default=0, help="stop after this many rounds (0: never)")
    args = parser.parse_args(argv)
    client = Client(args.url, os.environ.get("PARTNERFLOW_TOKEN"), args.client_id, args.client_secret)
    done = 0
    while True:
        handled = work_once(client, topic=args.topic, worker_id=args.worker_id, lock_ms=args.lock_ms,
                            max_tasks=args.max_tasks, retries=args.retries, retry_ms=args.retry_ms)
        print(f"{handled} task(s) handled", flush=True)
        done += 1
        if args.rounds and done >= args.rounds:
            return 0
        if not handled:
            time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
