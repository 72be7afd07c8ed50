"""A reader who uses Partnerflow in English reads the method's names in English, from the
diagram's name_en and title_en properties: inbox titles, task headings, notifications, the
stage history, audit lines and the diagrams; in French, the French names. No element id stands
in for a name in any sentence."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from partnerflow.engine.store.models import HumanTask
from partnerflow.web import create_app
from tests.conftest import deploy
from tests.scenarios.method import DELEGATE, DIRECTION, PARTNER, Walk, add_people
from tests.scenarios.method import PASSWORD as DEMO
from tests.web.support import csrf_from, login, text_of

EN = {"Accept-Language": "en"}


@pytest.fixture
def walk(pf, clock):
    """The shipped method; a partnership in its negotiation, the second draft to write."""
    deploy(pf, pf.method_files())
    add_people(pf)
    walk = Walk.propose(pf, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft")
    walk.complete(DIRECTION, "validate_draft", "new_version")
    return walk


@pytest.fixture
def app(pf):
    return create_app(partnerflow=pf, TESTING=True)


def _client(app, username: str, headers: dict | None = None):
    client = app.test_client()
    if headers:
        client.environ_base.update({"HTTP_ACCEPT_LANGUAGE": headers["Accept-Language"]})
    assert login(client, username, DEMO).status_code == 302
    return client


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html.unescape(text_of(response))


def _task(pf, pid: int, element_id: str, state: str = "open") -> HumanTask:
    with pf.read() as db:
        return db.scalar(select(HumanTask).where(HumanTask.partnership_id == pid,
                                                 HumanTask.element_id == element_id,
                                                 HumanTask.state == state).order_by(HumanTask.id.desc()))


def test_the_partner_s_inbox_task_and_notifications_name_the_task_in_english(walk, app):
    comment = _task(walk.pf, walk.pid, "write_draft")
    assert comment.title_en == "Write version 2 of the draft"
    english = _client(app, DIRECTION, EN)
    # the direction reads the delegate's task on the partnership page; the partner's own inbox
    partner = _client(app, PARTNER, EN)
    walk.complete(DELEGATE, "write_draft")
    inbox = _page(partner, "/")
    assert "Comment on version 2" in inbox and "Commenter la version 2" not in inbox
    task = _task(walk.pf, walk.pid, "comment_draft")
    page = _page(partner, f"/taches/{task.id}")
    assert re.search(r"<h1>Comment on version 2</h1>", page)
    notes = _page(partner, "/notifications/")
    assert "New task: Comment on version 2" in notes or "Comment on version 2" in notes
    partnership = _page(english, f"/partenariats/{walk.pid}")
    assert "Write version 2 of the draft" in partnership  # the stage history
    assert "Validate the idea" in partnership and "Valider l'idée" not in partnership
    assert "Partnership cycle" in partnership


def test_the_same_pages_in_french_keep_the_french_names(walk, app):
    french = _client(app, DIRECTION)
    partnership = _page(french, f"/partenariats/{walk.pid}")
    assert "Valider l'idée" in partnership and "Validate the idea" not in partnership
    assert "Cycle de partenariat" in partnership


def test_the_language_switch_turns_the_names_english(walk, app):
    client = _client(app, DIRECTION)
    page = text_of(client.get(f"/partenariats/{walk.pid}"))
    client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": csrf_from(page)})
    assert "Validate the idea" in _page(client, f"/partenariats/{walk.pid}")


def test_audit_lines_name_tasks_gateways_and_paths_without_ids(walk, app):
    english = _client(app, DIRECTION, EN)
    audit = _page(english, f"/partenariats/{walk.pid}/audit")
    assert "Version validated?" in audit
    assert "New version → New version of the draft" in audit
    assert "Write → Number version n" in audit
    # the element ids of the gateways' targets are no longer the line's words
    assert "number_draft_version" not in audit and "draft_loop_merge" not in audit
    french = _page(_client(app, DIRECTION), f"/partenariats/{walk.pid}/audit")
    assert "Nouvelle version → Nouvelle version du projet" in french


def test_the_instance_diagram_and_its_executions_speak_english(walk, app):
    english = _client(app, DIRECTION, EN)
    page = _page(english, f"/instances/{walk.main_instance_id}/diagramme")
    assert "Partnership cycle" in page and "Negotiation" in page
    headings = re.findall(r"<h2>([^<]+) <small>", page)
    assert [h.strip() for h in headings] == ["Partnership cycle", "The first idea", "Elaboration",
                                             "Negotiation"]
    sources = re.findall(r'data-source-url="([^"]+)"', page)
    negotiation = english.get(sources[-1]).get_data(as_text=True)
    assert 'name="Write version n of the draft"' in negotiation
    french = _client(app, DIRECTION).get(sources[-1]).get_data(as_text=True)
    assert "Rédiger la version n du projet" in french
    runs = english.get(f"/instances/{walk.main_instance_id}/executions.json").get_json()
    labels = {run["label"] for element_runs in runs.values() for run in element_runs}
    assert "Task completed" in labels or "Tâche terminée" in labels
