"""The audit pages: who may read them, the chain status, exports, history, diagrams."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from partnerflow.engine.runtime import auditlog
from partnerflow.engine.store.models import AuditEvent
from tests.web.support import complete


def _paths(world):
    own = world.own
    return [f"/partenariats/{own}/audit", f"/partenariats/{own}/audit.jsonl",
            f"/partenariats/{own}/audit.csv", f"/partenariats/{own}/rapport"]


@pytest.mark.parametrize(("username", "expected"), [
    ("alice", 200), ("claire", 200), ("ines", 200), ("paul", 200),
    ("sophie", 403), ("karim", 403), ("anne", 403), ("lucas", 403), (None, 302),
])
def test_the_audit_of_a_partnership_is_readable_by_auditors_direction_and_its_partners(
        as_user, world, username, expected):
    client = as_user(username)
    for path in _paths(world):
        assert client.get(path).status_code == expected, path


def test_a_partner_cannot_read_another_partnerships_audit(as_user, world):
    client = as_user("paul")
    for path in _paths(world):
        assert client.get(path.replace(f"/{world.own}/", f"/{world.other}/")).status_code == 403


def test_the_page_shows_the_last_verification_and_verifies_on_request(as_user, world):
    from tests.web.support import post

    client = as_user("alice")
    audit_page = f"/partenariats/{world.own}/audit"
    page = client.get(audit_page).get_data(as_text=True)
    assert "pas encore été vérifiée" in page  # a view never verifies the whole chain
    assert client.post(audit_page + "/verifier").status_code == 400  # no CSRF token
    done = post(client, audit_page + "/verifier", token_from=audit_page, follow_redirects=True)
    assert "Chaîne intacte" in done.get_data(as_text=True)
    complete(world.pf, world.task_own, "claire", {"decision": "done", "comment": "RAS"})
    page = client.get(audit_page).get_data(as_text=True)
    assert "Chaîne intacte" in page and "ajouté(s) depuis" in page
    with world.pf.db.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.chain == f"p{world.own}",
                                              AuditEvent.seq == 2).values(actor="mallory"))
    done = post(client, audit_page + "/verifier", token_from=audit_page, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Chaîne rompue" in page and "n° 2" in page
    # the page then keeps saying so until a verification finds the chain intact again
    assert "Chaîne rompue" in client.get(audit_page).get_data(as_text=True)


def test_the_timeline_is_paginated(as_user, world):
    from partnerflow.engine import audit
    from partnerflow.web import audit as audit_views

    with world.pf.uow() as uow:
        for i in range(audit_views.PAGE_SIZE + 5):
            audit.append(uow.session, type="comment_added", actor="claire", at=uow.clock(),
                         partnership_id=world.own, payload={"n": i})
        uow.commit()
    client = as_user("alice")
    first = client.get(f"/partenariats/{world.own}/audit").get_data(as_text=True)
    assert first.count("<tr><td>") == audit_views.PAGE_SIZE and "Page 1 sur 2" in first
    second = client.get(f"/partenariats/{world.own}/audit?page=2").get_data(as_text=True)
    assert "Page 2 sur 2" in second and 0 < second.count("<tr><td>") < audit_views.PAGE_SIZE
    assert "Page 2 sur 2" in client.get(f"/partenariats/{world.own}/audit?page=99").get_data(as_text=True)


def test_the_downloaded_export_reverifies_and_filters_narrow_the_timeline(as_user, world):
    complete(world.pf, world.task_own, "claire", {"decision": "done", "comment": "RAS"})
    client = as_user("alice")
    exported = client.get(f"/partenariats/{world.own}/audit.jsonl").get_data(as_text=True)
    assert auditlog.verify_jsonl(exported) == []
    everything = client.get(f"/partenariats/{world.own}/audit").get_data(as_text=True)
    only_completions = client.get(f"/partenariats/{world.own}/audit?type=task_completed"
                                  ).get_data(as_text=True)
    assert only_completions.count("<tr><td>") < everything.count("<tr><td>")
    assert "RAS" in only_completions


def test_the_printable_report_and_its_pdf_carry_the_hashes(as_user, world):
    client = as_user("claire")
    html = client.get(f"/partenariats/{world.own}/rapport").get_data(as_text=True)
    with world.pf.read() as session:
        events = auditlog.timeline(session, world.own)
    assert all(e.hash in html for e in events)
    pdf = client.get(f"/partenariats/{world.own}/rapport.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")


def test_a_task_history_shows_the_data_before_and_after(as_user, world):
    complete(world.pf, world.task_own, "claire", {"decision": "again", "comment": "à revoir"})
    page = as_user("alice").get(f"/taches/{world.task_own}/historique").get_data(as_text=True)
    assert "à revoir" in page and "diff-added" in page


def test_the_instance_diagram_and_its_executions_for_readers_only(as_user, world):
    with world.pf.read() as session:
        instance_id = next(e.instance_id for e in auditlog.timeline(session, world.own)
                           if e.type == "instance_started")
    auditor = as_user("alice")
    page = auditor.get(f"/instances/{instance_id}/diagramme")
    assert page.status_code == 200
    assert 'data-active="review"' in page.get_data(as_text=True)
    assert "review" in auditor.get(f"/instances/{instance_id}/executions.json").get_json()
    assert as_user("sophie").get(f"/instances/{instance_id}/diagramme").status_code == 403


def test_the_timeline_shows_the_sites_time_zone_to_the_second_in_the_readers_language(
        as_user, world, clock):
    from partnerflow.engine.runtime.host import Partnerflow
    from partnerflow.web import create_app
    from tests.web.support import login

    # the test clock stands at 2 March 2026, 09:00 UTC: 10:00 in Paris (UTC+1 in winter)
    page = as_user("alice").get(f"/partenariats/{world.own}/audit").get_data(as_text=True)
    assert "Quand (heure : France)" in page and "2 mars 2026 10:00:00" in page
    assert "UTC" not in page.split("<table")[-1]
    elsewhere = Partnerflow(world.pf.settings.with_(timezone="America/Cayenne"), clock=clock)
    try:
        client = create_app(partnerflow=elsewhere, TESTING=True).test_client()
        login(client, "alice")
        client.post("/langue", data={"lang": "en", "csrf_token": _token(client)})
        page = client.get(f"/partenariats/{world.own}/audit").get_data(as_text=True)
        assert "Mar 2, 2026, 06:00:00" in page and "French Guiana" in page
        report = client.get(f"/partenariats/{world.own}/rapport").get_data(as_text=True)
        assert "Mar 2, 2026, 06:00:00" in report
    finally:
        elsewhere.dispose()


def _token(client) -> str:
    from tests.web.support import csrf_from

    return csrf_from(client.get("/").get_data(as_text=True))
