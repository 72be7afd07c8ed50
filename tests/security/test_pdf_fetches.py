"""PDF rendering fetches nothing it was not given: a hostile convention title, a hostile Host
header or hostile HTML reach no listener and open no file outside the package."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, update

from partnerflow.engine.method import convention_text
from partnerflow.engine.runtime import connectors, documents, services
from partnerflow.engine.store.models import HumanTask, Partnership, ProcessInstance
from partnerflow.web import create_app
from tests.conftest import FIXTURES, deploy, make_user
from tests.integration.test_convention import CONVENTION
from tests.web.support import login

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FILES = (str(ROOT / "engine" / "method" / "templates"), str(ROOT / "web" / "static"))


class Listener:
    """A real TCP server on a free loopback port that records every connection it gets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(4096) or b"<connected>")
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/css\r\n\r\nbody{color:red}")
                except OSError:
                    self.received.append(b"<connected>")

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


# `open` audit events (io.open, os.open) while `recording()` is active; the hook stays
# installed for the session (audit hooks cannot be removed) but does nothing otherwise
_OPENED: list[str] | None = None


def _audit(event, args):
    if event == "open" and _OPENED is not None and args and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextmanager
def recording():
    global _OPENED
    _OPENED = opened = []
    try:
        yield opened
    finally:
        _OPENED = None


def outside_package(opened: list[str]) -> list[str]:
    """Files opened that are neither the package's documents nor Python's own modules."""
    interpreter = tuple({sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix)})
    return [p for p in opened
            if not os.path.realpath(p).startswith(PACKAGE_FILES)
            and not (p.startswith(interpreter) and p.endswith((".py", ".pyc", ".so")))]


@pytest.fixture
def secret_file(tmp_path):
    target = tmp_path / "secret.css"
    target.write_text("h1 { color: red }")
    return target


def hostile_title(port: int, target: Path) -> str:
    return (f"C\n;}}}} body{{background:url(http://127.0.0.1:{port}/title)}} "
            f"html{{background:url({target.as_uri()})}} @import url(http://127.0.0.1:{port}/i.css);")


def _warm_up():
    """The first rendering imports modules and reads the font cache; not what is measured."""
    documents.render_pdf("<p>x</p>")


@pytest.fixture
def convention_task(pf):
    """A partnership whose convention task (form key `convention`) is open."""
    deploy(pf, [FIXTURES / "signing.bpmn"])
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    make_user(pf, "paul", "partner", password="mot-de-passe-paul")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor="claire")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username="paul", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="signing", actor="claire")
    with pf.read() as db:
        task = db.scalar(select(HumanTask).where(HumanTask.partnership_id == pid,
                                                 HumanTask.element_id == "write_convention"))
    return pf, pid, task


def test_a_hostile_convention_title_reaches_no_listener_and_opens_no_outside_file(
        convention_task, listener, secret_file, caplog):
    pf, pid, task = convention_task
    _warm_up()
    data = {**CONVENTION, "convention_title": hostile_title(listener.port, secret_file)}
    with recording() as opened, pf.uow() as uow:
        # what the "Générer la convention" service task runs after the form: HTML and PDF
        # stored (called directly: the form itself would refuse the line break in the title)
        generate = connectors.REGISTRY["convention.generate"]
        context = connectors.ConnectorContext(
            uow, uow.session.get(ProcessInstance, task.instance_id), uow.session.get(Partnership, pid),
            "claire", "generate", "Générer la convention", data)
        generate.function(context, {"uploaded_document": None, "form_key": "convention"})
        uow.commit()
    assert listener.received == []
    assert str(secret_file) not in opened
    assert outside_package(opened) == []


def test_the_convention_style_sheet_holds_no_data(tmp_path):
    marker = "MARQUEUR-DONNEE"
    data = {key: f"{marker} {key}" for key, value in CONVENTION.items() if isinstance(value, str)}
    html = convention_text.render_html(data, partnership_title=marker, level=marker, version=1,
                                  sheets=[{"title": marker, "place": marker}])
    styles = re.findall(r"<style.*?</style>", html, flags=re.S | re.I)
    assert styles and not any(marker in s for s in styles)
    assert not re.search(r"style\s*=", html, flags=re.I)
    # the footer still carries the title: WeasyPrint takes it from the heading
    path = tmp_path / "c.pdf"
    path.write_bytes(documents.render_pdf(html, root=convention_text.TEMPLATES))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(rf"{marker} convention_title — page 1 / \d", text), text


def test_downloading_a_signed_convention_with_a_stored_hostile_title_fetches_nothing(
        convention_task, listener, secret_file):
    """The signed file is served as stored; its signatures' certificate, which names the
    convention's title stored before any input rule existed, is rendered on every download."""
    pf, pid, task = convention_task
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor="claire", data=CONVENTION)
    with pf.read() as db:
        sign = db.scalar(select(HumanTask).where(HumanTask.partnership_id == pid,
                                                 HumanTask.element_id == "sign"))
    with pf.uow() as uow:
        services.complete_task(uow, task_id=sign.id, actor="claire", password="mot-de-passe-claire",
                               data={"signatory_full_name": "Claire Martin",
                                     "signatory_quality": "Directrice", "signature_consent": True})
    with pf.db.begin() as conn:
        conn.execute(update(HumanTask).where(HumanTask.id == task.id).values(
            result={**CONVENTION, "convention_title": hostile_title(listener.port, secret_file)}))
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    assert login(client, "paul", "mot-de-passe-paul").status_code == 302
    _warm_up()
    with recording() as opened:
        signed = client.get(f"/partenariats/{pid}/convention-signee.pdf")
        certificate = client.get(f"/partenariats/{pid}/certificat-signatures.pdf")
    assert signed.status_code == 200 and signed.data.startswith(b"%PDF-")
    assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF-")
    assert listener.received == []
    assert str(secret_file) not in opened


def _page_size(tmp_path, body: bytes) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return re.search(r"Page size:\s+(.*)", info).group(1)


def test_the_audit_report_pdf_ignores_a_hostile_host_header(convention_task, listener, tmp_path):
    pf, pid, _task = convention_task
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    assert login(client, "paul", "mot-de-passe-paul").status_code == 302
    # the partner's own session cookie, sent to the same server under a hostile Host name
    hostile = f"127.0.0.1:{listener.port}"
    client.set_cookie("session", client.get_cookie("session").value, domain="127.0.0.1")
    with recording() as opened:
        response = client.get(f"/partenariats/{pid}/rapport.pdf", base_url=f"http://{hostile}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert listener.received == []
    assert str(ROOT / "web" / "static" / "report.css") in opened
    # report.css (A4 landscape) came through the package fetcher
    assert _page_size(tmp_path, response.data).startswith("841.89 x 595.2")
    # the page for the browser links the style sheet by path, never by a URL of the request
    page = client.get(f"/partenariats/{pid}/rapport", base_url=f"http://{hostile}")
    assert page.status_code == 200 and 'href="/static/report.css"' in page.get_data(as_text=True)
    assert hostile not in page.get_data(as_text=True)


def test_trusted_hosts_turn_other_host_headers_away(pf, listener):
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    app = create_app(pf.settings.with_(trusted_hosts=("partenariats.example.org",)),
                     partnerflow=pf, TESTING=True)
    assert app.config["TRUSTED_HOSTS"] == ["partenariats.example.org"]
    client = app.test_client()
    refused = client.get("/connexion", headers={"Host": f"127.0.0.1:{listener.port}"})
    assert refused.status_code == 400 and "nom d'hôte" in refused.get_data(as_text=True)
    assert client.get("/connexion", headers={"Host": "partenariats.example.org"}).status_code == 200
    assert listener.received == []


def test_the_fetcher_serves_package_files_and_data_only_and_logs_each_refusal(
        listener, secret_file, tmp_path, caplog):
    templates = convention_text.TEMPLATES
    port = listener.port
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
             "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    hostile = f"""<html><head>
<link rel="stylesheet" href="http://127.0.0.1:{port}/link.css">
<link rel="attachment" href="http://127.0.0.1:{port}/attachment">
<style>@import url(http://127.0.0.1:{port}/import.css); @import url({secret_file.as_uri()});
@font-face {{ font-family: X; src: url(http://127.0.0.1:{port}/font.woff); }}
h1 {{ background: url(ftp://127.0.0.1:{port}/ftp.png); font-family: X; }}
h2 {{ background: url({templates.as_uri()}/../../../web/static/report.css); }}</style></head>
<body><h1>titre</h1><h2>b</h2><img src="http://127.0.0.1:{port}/img.png">
<img src="https://127.0.0.1:{port}/tls.png"><img src="{secret_file.as_uri()}">
<img src="file://127.0.0.1{secret_file}"><object data="http://127.0.0.1:{port}/object"></object>
<img src="../convention.py"><img src="{pixel}"></body></html>"""
    _warm_up()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="partnerflow.pdf"), recording() as opened:
        body = documents.render_pdf(hostile, root=templates)
    assert body.startswith(b"%PDF-")
    assert listener.received == []
    assert str(secret_file) not in opened
    assert outside_package(opened) == []
    refused = [r.getMessage() for r in caplog.records if r.name == "partnerflow.pdf"]
    for url in ("/link.css", "/import.css", "/font.woff", "/ftp.png", "/img.png", "/tls.png",
                "/object", str(secret_file), "report.css", "convention.py"):
        assert any(url in line and "refused" in line for line in refused), (url, refused)
    assert not any(line.startswith("PDF rendering refused to fetch data:") for line in refused)
