"""The built-in session key never serves: the WSGI entry point and `partnerflow run` refuse
it and short keys, `make run` gets a random key file, `/ready` says so, and the session
cookie is Secure whenever the request came over HTTPS."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partnerflow.engine import config
from partnerflow.engine.config import Settings
from partnerflow.web import create_app
from tests.conftest import make_user
from tests.web.support import login

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUILT_IN = "dev-only-change-me"
GOOD_KEY = "k" * 32


def clean_env(tmp_path: Path, **variables: str) -> dict:
    """Nothing of the caller's environment but PATH: a server started without configuration."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
            "PARTNERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'pf.db'}", **variables}


def wsgi(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import partnerflow.web.wsgi"], cwd=tmp_path,
                          env=clean_env(tmp_path, **variables), capture_output=True, text=True,
                          timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_run(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "partnerflow"), *args, "run", "--port", str(free_port())],
                          cwd=tmp_path, env=clean_env(tmp_path, **variables),
                          capture_output=True, text=True, timeout=60)


def _refused(result: subprocess.CompletedProcess, reason: str) -> bool:
    lines = result.stderr.strip().splitlines()
    return (result.returncode != 0 and len(lines) == 1 and reason in lines[0]
            and "refusing to start" in lines[0])


@pytest.mark.parametrize("variables, reason", [
    ({}, "built-in development key"),
    ({"PARTNERFLOW_SECRET_KEY": BUILT_IN}, "built-in development key"),
    ({"PARTNERFLOW_SECRET_KEY_FILE": "/nonexistent/secret_key"}, "cannot be read"),
])
def test_the_wsgi_entry_point_refuses_a_weak_key_with_one_line(tmp_path, variables, reason):
    result = wsgi(tmp_path, **variables)
    assert _refused(result, reason), result.stderr


def test_the_wsgi_entry_point_refuses_31_bytes_and_starts_with_32(tmp_path):
    result = wsgi(tmp_path, PARTNERFLOW_SECRET_KEY="x" * 31)
    assert _refused(result, "31 bytes long"), result.stderr
    result = wsgi(tmp_path, PARTNERFLOW_SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variables, reason", [
    ({}, "built-in development key"),
    ({"PARTNERFLOW_SECRET_KEY": "y" * 16}, "16 bytes long"),
])
def test_partnerflow_run_refuses_a_weak_key_outside_debug(tmp_path, variables, reason):
    result = cli_run(tmp_path, **variables)
    assert result.returncode == 1 and _refused(result, reason), result.stderr


def test_partnerflow_run_serves_with_the_key_file_make_run_creates(tmp_path):
    key_file = tmp_path / "instance" / "secret_key"
    made = subprocess.run([str(BIN / "partnerflow"), "secret-key", str(key_file)], cwd=tmp_path,
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and "created" in made.stdout
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "partnerflow"), "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=clean_env(tmp_path, PARTNERFLOW_SECRET_KEY_FILE=str(key_file)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read().decode()
    finally:
        server.terminate()
        server.wait(30)


def test_the_key_file_is_created_once_private_random_and_then_reused(tmp_path):
    path = tmp_path / "instance" / "secret_key"
    key, created = config.ensure_key_file(path)
    assert created and config.problem(key) is None and len(key.encode()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = config.ensure_key_file(path)
    assert (again, created_again) == (key, False)
    other, _ = config.ensure_key_file(tmp_path / "elsewhere")
    assert other != key
    settings = Settings.from_env({"PARTNERFLOW_SECRET_KEY_FILE": str(path)})
    assert settings.secret_key == key and key not in repr(settings)


def test_make_run_creates_the_key_before_serving_and_serves_with_it():
    recipe = subprocess.run(["make", "-n", "run"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60).stdout
    lines = recipe.splitlines()
    creates = next(i for i, line in enumerate(lines) if "partnerflow secret-key" in line)
    serves = next(i for i, line in enumerate(lines) if "partnerflow run" in line)
    assert creates < serves and "instance/secret_key" in lines[creates]
    assert "PARTNERFLOW_SECRET_KEY_FILE=" in lines[serves]


@pytest.mark.parametrize("key, reason", [(BUILT_IN, "built-in development key"),
                                         ("z" * 20, "20 bytes long")])
def test_ready_reports_a_key_unfit_to_serve(fixture_pf, key, reason):
    app = create_app(fixture_pf.settings.with_(secret_key=key), partnerflow=fixture_pf,
                     TESTING=True)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert any(reason in r for r in response.get_json()["reasons"])


def _session_cookie(response) -> str:
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return cookie


def test_the_session_cookie_is_secure_over_https_or_when_the_settings_ask(pf):
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    secure = {}
    for base_url, secure_setting in (("https://localhost", False), ("http://localhost", False),
                                     ("http://localhost", True)):
        app = create_app(pf.settings.with_(secure_cookies=secure_setting), partnerflow=pf,
                         TESTING=True, WTF_CSRF_ENABLED=False)
        response = app.test_client().post("/connexion", base_url=base_url, data={
            "username": "claire", "password": "mot-de-passe-claire"})
        assert response.status_code == 302
        secure[base_url, secure_setting] = "; Secure" in _session_cookie(response)
    assert secure == {("https://localhost", False): True, ("http://localhost", False): False,
                      ("http://localhost", True): True}


def test_behind_the_proxy_an_https_request_gets_a_secure_cookie(pf):
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    app = create_app(pf.settings.with_(proxy_fix=True), partnerflow=pf, TESTING=True)
    client = app.test_client()
    # (over HTTPS the CSRF check also wants a Referer of the same site)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
               "Referer": "https://localhost/connexion"}
    client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    response = login(client, "claire", "mot-de-passe-claire")
    assert response.status_code == 302 and "; Secure" in _session_cookie(response)
