"""Groups through the web: the lane mapping step of the modeller's upload, the administrator's
groups page, and a task waiting for a partner contact on the partnership page."""

from __future__ import annotations

import io

from sqlalchemy import select

from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import AuditEvent, ProcessVersion
from tests.conftest import FIXTURES, deploy
from tests.web.support import element, elements, inbox_ids, post, start, task_row, text_of

LEAVE = FIXTURES / "lanes" / "leave_request.bpmn"


def _upload(client, *files):
    return post(client, "/modeleur/televerser", token_from="/modeleur/",
                data={"files": [(io.BytesIO(content), name) for name, content in files]},
                content_type="multipart/form-data")


def test_lanes_named_after_no_group_get_a_mapping_step_then_deploy(world, as_user):
    designer = as_user("denis")
    response = _upload(designer, (LEAVE.name, LEAVE.read_bytes()))
    assert response.status_code == 200
    page = text_of(response)
    assert "Associer les couloirs aux groupes" in page and "Déploiement refusé" not in page
    manager = element(page, "select", name="lane:Manager")
    assert manager and element(page, "select", name="lane:Employee")
    [doc] = elements(page, "input", name="doc_content")
    with world.pf.read() as db:
        assert db.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == "Process_leave_request")) is None

    response = post(designer, "/modeleur/televerser", token_from="/modeleur/", data={
        "doc_name": LEAVE.name, "doc_content": doc["value"],
        "lane:Manager": "direction", "lane:Employee": "professional"})
    assert response.status_code == 302
    with world.pf.read() as db:
        version = db.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == "Process_leave_request"))
        assert version.lane_mapping == {"Employee": "professional", "Manager": "direction"}
        assert version.source.encode() == LEAVE.read_bytes()  # the bytes uploaded, line ends too
    [task_id] = start(world.pf, world.own, "Process_leave_request")
    assert task_id in inbox_ids(world.pf, "claire") and task_id not in inbox_ids(world.pf, "sophie")


def test_a_mapping_step_with_a_damaged_file_says_so(world, as_user):
    response = post(as_user("denis"), "/modeleur/televerser", token_from="/modeleur/",
                    data={"doc_name": LEAVE.name, "doc_content": "pas du base64 !"})
    assert response.status_code == 400
    assert "Un fichier renvoyé est abîmé" in text_of(response)


def test_the_administrator_creates_a_group_and_manages_its_members(world, as_user):
    admin = as_user("ines")
    page = text_of(admin.get("/admin/groupes"))
    for label in ("Direction", "Partenaire", "Auditeur", "Comité de pilotage"):
        assert label in page
    response = post(admin, "/admin/groupes", {"key": "cuisine", "label_fr": "Cuisine",
                                              "label_en": "Kitchen staff"}, token_from="/admin/groupes")
    assert response.status_code == 302
    response = post(admin, "/admin/groupes", {"key": "cuisine2", "label_fr": "cuisine",
                                              "label_en": "Cooks"}, token_from="/admin/groupes")
    assert response.status_code == 422
    assert "« cuisine » désigne déjà le groupe Cuisine." in text_of(response)
    response = post(admin, "/admin/groupes/cuisine/membres", {"username": "sophie"},
                    token_from="/admin/groupes")
    assert response.status_code == 302
    page = text_of(admin.get("/admin/groupes"))
    row = element(page, "tr", id="groupe-cuisine")
    assert row is not None and "sophie" in page
    assert "Cuisine" in text_of(admin.get("/admin/utilisateurs"))
    response = post(admin, "/admin/groupes/cuisine/membres/sophie/retirer", {},
                    token_from="/admin/groupes")
    assert response.status_code == 302
    assert "Aucun membre" in text_of(admin.get("/admin/groupes"))
    assert admin.post("/admin/groupes/inconnu/membres", data={"username": "sophie"}).status_code == 400


def test_a_partner_task_with_no_contact_waits_and_the_direction_attaches_one(world, as_user):
    pf = world.pf
    deploy(pf, [FIXTURES / "lanes" / "partner_comment.bpmn"])
    [task_id] = start(pf, world.other, "partner_comment")  # paul is not attached to `other`
    assert task_id not in inbox_ids(pf, "paul")
    with pf.read() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.type == "task_waiting_for_contact",
                                                  AuditEvent.partnership_id == world.other))
    claire = as_user("claire")
    # the direction's inbox says which task waits, and links to where it is unblocked
    inbox = text_of(claire.get("/"))
    waiting = element(inbox, "section", class_="waiting")
    assert waiting is not None and "<small>(1)</small>" in inbox.split('id="waiting-title"')[1][:80]
    [link] = [a for a in elements(inbox, "a") if a.get("href") == f"/partenariats/{world.other}#attente"]
    page = text_of(claire.get(f"/partenariats/{world.other}"))
    assert "en attente d’un interlocuteur" in page
    assert element(page, "form", class_="attach-contact")
    assert element(page, "div", id="attente")
    # who may not attach a contact is not told in the inbox: a professional, the partner
    assert not elements(text_of(as_user("sophie").get("/")), "section", class_="waiting")
    assert not elements(text_of(as_user("paul").get("/")), "section", class_="waiting")
    # a professional sees the task waiting but may not attach anyone
    page = text_of(as_user("sophie").get(f"/partenariats/{world.other}"))
    assert "en attente d’un interlocuteur" in page and not elements(page, "form", class_="attach-contact")
    assert post(as_user("sophie"), f"/partenariats/{world.other}/interlocuteurs",
                {"username": "paul"}).status_code == 403
    # only a partner contact of the list
    refused = post(claire, f"/partenariats/{world.other}/interlocuteurs", {"username": "sophie"})
    assert refused.status_code == 400 and "Choisissez un contact partenaire" in text_of(refused)
    response = post(claire, f"/partenariats/{world.other}/interlocuteurs", {"username": "paul"})
    assert response.status_code == 302
    assert task_id in inbox_ids(pf, "paul")
    assert "en attente d’un interlocuteur" not in text_of(claire.get(f"/partenariats/{world.other}"))
    assert not elements(text_of(claire.get("/")), "section", class_="waiting")
    with pf.read() as db:
        attached = db.scalar(select(AuditEvent).where(AuditEvent.type == "member_attached",
                                                      AuditEvent.partnership_id == world.other))
        assert attached.actor == "claire" and attached.payload["user"] == "paul"
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="paul", data={})
    assert task_row(pf, task_id).completed_by == "paul"
