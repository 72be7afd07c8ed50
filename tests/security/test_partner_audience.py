"""Nothing internal reaches a partner. The real method is walked with a marker value in every
internal field of every form (the idea, the mission letter with the delegate's margin and
budget, "nos intérêts", the direction's comments, the formalisation criteria, the board's
conditions...); at three moments the partner's representative opens every page, export and
notification they can reach, and no marker is in any of them. The direction, on the same
pages, reads the markers: the check can fail."""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine.runtime import views
from partnerflow.engine.store.models import Document, HumanTask, Notification, ProcessInstance
from partnerflow.web import create_app
from tests.conftest import deploy
from tests.scenarios.method import (
    BOARD,
    DELEGATE,
    DIRECTION,
    IDEA,
    PARTNER,
    STEERING,
    Walk,
    add_people,
    ensure_our_organisation,
)
from tests.web.support import login

MARK = "SECRET"
BUDGET = 313373  # the mission letter's budget, an internal amount
BUDGET_WRITTEN = re.compile(r"313\D{0,3}373")
PLAIN = {"text", "textarea", None}


def _mark_object(props: dict, data: dict, prefix: str, row_internal: bool | None) -> dict:
    """`row_internal`: None at the top level, else whether the enclosing row field is internal
    (a row's field inherits it unless it declares itself internal)."""
    marked = dict(data)
    for key, prop in props.items():
        if row_internal is None:
            internal = views.audience_of(prop) == views.INTERNAL
        else:
            internal = row_internal or prop.get("x-audience") == views.INTERNAL
        widget = prop.get("x-widget")
        items = (prop.get("items") or {}).get("properties") if prop.get("type") == "array" else None
        if items and isinstance(marked.get(key), list):
            marked[key] = [_mark_object(items, row, f"{prefix}-{key}", internal)
                           if isinstance(row, dict) else row for row in marked[key]]
        elif (internal and prop.get("type") == "string" and widget in PLAIN
              and not (set(prop) & {"format", "pattern", "enum", "oneOf", "readOnly"})):
            marked[key] = f"{MARK}-{prefix}-{key}"[: prop.get("maxLength", 300)]
    return marked


def marked(pf, form_key: str, data: dict) -> dict:
    """The answers with a marker in every internal plain-text field (rows included)."""
    schema = pf.forms.get(form_key).schema
    out = _mark_object(schema.get("properties", {}), data, form_key, None)
    if form_key == "mission_letter":
        out["mission_budget_eur"] = BUDGET
    return out


class MarkedWalk(Walk):
    def complete(self, username, element_id, choice=None, *, data=None, task_id=None, **overrides):
        task = self.task(username, element_id, task_id)
        if data is None:
            data = self.samples.data(element_id, choice, task.context)
        data = marked(self.pf, task.form_key, {**data, **overrides})
        return super().complete(username, element_id, data=data, task_id=task_id)


@pytest.fixture
def method(pf, monkeypatch):
    from tests.web.support import fast_passwords

    fast_passwords(monkeypatch)
    deploy(pf, pf.method_files())
    add_people(pf)
    ensure_our_organisation(pf)
    return pf


def _text(response) -> str:
    if response.mimetype == "application/pdf":
        with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
            Path(pdf.name).write_bytes(response.data)
            return subprocess.run(["pdftotext", pdf.name, "-"], capture_output=True, text=True,
                                  check=True, timeout=60).stdout
    return html.unescape(response.get_data(as_text=True))


def reachable(pf, walk: Walk, username: str) -> list[str]:
    """Every page, export and download of the partnership a user may try."""
    with pf.read() as db:
        tasks = db.scalars(select(HumanTask).where(HumanTask.partnership_id == walk.pid)).all()
        instances = db.scalars(select(ProcessInstance.id).where(
            ProcessInstance.partnership_id == walk.pid)).all()
        docs = db.scalars(select(Document.sha256).where(Document.partnership_id == walk.pid)).all()
    pid = walk.pid
    paths = ["/", "/notifications/", "/partenariats/", f"/partenariats/{pid}",
             f"/partenariats/{pid}/audit", f"/partenariats/{pid}/audit.jsonl",
             f"/partenariats/{pid}/audit.csv", f"/partenariats/{pid}/rapport",
             f"/partenariats/{pid}/rapport.pdf"]
    paths += [f"/instances/{i}/diagramme" for i in instances]
    paths += [f"/instances/{i}/executions.json" for i in instances]
    paths += [f"/taches/{t.id}" for t in tasks] + [f"/taches/{t.id}/historique" for t in tasks]
    paths += [f"/partenariats/{pid}/documents/{sha}" for sha in docs]
    paths += [f"/taches/{t.id}/document/{sha}" for t in tasks if t.state == "open" for sha in docs]
    return paths


def read_everything(client, paths: list[str]) -> dict[str, str]:
    seen = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        if response.status_code == 200:
            seen[path] = _text(response)
    return seen


def assert_nothing_internal(pf, app, walk: Walk) -> dict[str, str]:
    client = app.test_client()
    assert login(client, PARTNER, "demo").status_code == 302
    seen = read_everything(client, reachable(pf, walk, PARTNER))
    leaks = {path: re.findall(rf"{MARK}-[\w-]+", text) for path, text in seen.items()
             if MARK in text}
    assert leaks == {}, leaks
    budget = {path for path, text in seen.items() if BUDGET_WRITTEN.search(text)}
    assert budget == set(), budget
    with pf.read() as db:
        told = db.scalars(select(Notification).where(Notification.username == PARTNER)).all()
    assert told, "the partner was told of their tasks"
    assert [n.id for n in told if MARK in n.subject + n.body] == []
    return seen


def test_no_page_export_or_notification_shows_an_internal_field_to_the_partner(method, clock):
    pf = method
    app = create_app(partnerflow=pf, TESTING=True)
    idea = marked(pf, "idea", dict(IDEA))
    idea["idea_title"] = IDEA["idea_title"]  # the partnership's title, shared by nature
    walk = MarkedWalk.propose(pf, clock, idea=idea)
    walk.to_negotiation()
    walk.complete(DIRECTION, "fill_formalisation_inputs", "L3")
    walk.complete(DELEGATE, "write_draft")

    # 1. the partner comments version 1: the draft is on the page, nothing internal
    seen = assert_nothing_internal(pf, app, walk)
    comment = walk.task(PARTNER, "comment_draft")
    page = seen[f"/taches/{comment.id}"]
    assert "Organiser des consultations gériatriques avancées à l'EHPAD." in page
    walk.complete(PARTNER, "comment_draft")
    walk.complete(DIRECTION, "validate_draft", "validate")

    # 2. level L3 (criteria given at the start): the final negotiation, the convention, the
    # board's deliberation, our legal representative's signature; the partner is to sign
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention")
    walk.complete(BOARD, "deliberate_board", "approve")
    walk.complete(BOARD, "sign_convention_legal_representative")
    seen = assert_nothing_internal(pf, app, walk)
    sign = walk.task(PARTNER, "sign_convention_partner")
    signing = seen[f"/taches/{sign.id}"]
    assert "Convention de consultations avancées EHPAD Les Tilleuls" in signing  # shared
    assert "Rédiger la convention" in signing and "Délibérer" not in signing  # the board's is not

    # the board's register extract is an internal document: not downloadable by the partner
    board = walk.tasks("deliberate_board")[-1]
    extract = board.result["deliberation_extract"]
    partner, direction = app.test_client(), app.test_client()
    login(partner, PARTNER, "demo")
    login(direction, DIRECTION, "demo")
    assert partner.get(f"/partenariats/{walk.pid}/documents/{extract}").status_code == 404
    assert direction.get(f"/partenariats/{walk.pid}/documents/{extract}").status_code == 200

    # 3. signed, the action sheets, the realisation, an intermediate evaluation
    walk.complete(PARTNER, "sign_convention_partner")
    walk.write_sheets("single_plan", [walk.samples.action_sheet(1, -30, -10)])
    walk.complete(STEERING, "record_realisation")
    walk.complete(STEERING, "evaluate_intermediate")
    assert_nothing_internal(pf, app, walk)

    # the direction reads the same pages with the markers: the check above can fail
    internal = read_everything(direction, reachable(pf, walk, DIRECTION))
    assert MARK in internal[f"/partenariats/{walk.pid}/audit.jsonl"]
    assert BUDGET_WRITTEN.search(internal[f"/partenariats/{walk.pid}/audit.jsonl"])
    validate = walk.tasks("validate_elaboration")[-1]
    assert f"{MARK}-elaboration-our_interests" in internal[f"/taches/{validate.id}"]


def test_the_partners_export_says_what_it_masks_and_still_chains(method, clock):
    from partnerflow.engine.runtime import auditlog

    pf = method
    app = create_app(partnerflow=pf, TESTING=True)
    walk = MarkedWalk.propose(pf, clock)
    walk.to_negotiation()
    client = app.test_client()
    login(client, PARTNER, "demo")
    exported = client.get(f"/partenariats/{walk.pid}/audit.jsonl").get_data(as_text=True)
    rows = [json.loads(line) for line in exported.splitlines() if line.strip()]
    masked = [r for r in rows if r.get("redacted")]
    assert any("payload.data.our_interests" in r["redacted"] for r in masked)
    assert rows[-2]["redacted"] is True  # the head line says the export is masked
    assert rows[-1]["export_trailer"]["redacted"] is True  # and so does the signed trailer
    assert MARK not in exported
    # the standard check says which events cannot be checked; the chain itself still holds
    problems = auditlog.verify_jsonl(exported)
    assert problems and all("values masked in this export" in p for p in problems)
    assert auditlog.verify_jsonl(exported, allow_redacted=True) == []
    # a masked export whose rows were reordered is still caught
    lines = exported.splitlines()
    assert auditlog.verify_jsonl("\n".join([lines[1], lines[0], *lines[2:]]),
                                 allow_redacted=True) != []
    header = client.get(f"/partenariats/{walk.pid}/audit.csv").get_data(as_text=True).splitlines()[0]
    assert header.endswith(",redacted")
