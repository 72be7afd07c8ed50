"""Files drawn in Camunda Modeler 5 (desktop) and uploaded as they are: through
engine.modelling.deploy_files and through POST /modeleur/televerser.

tests/fixtures/desktop/ holds what the desktop modeller writes: the `modeler:` execution
platform attributes, random element ids, BPMNDI with labels, a collaboration with lanes, a
text annotation and its association, camunda:formKey / candidateGroups / asyncBefore /
dueDate / priority, extensionElements with camunda:properties and camunda:inputOutput, and
a DMN 1.3 table with DMNDI and biodi column widths. The shipped forms (`pf`) are used."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from partnerflow.engine.errors import DeploymentRejected
from partnerflow.engine.runtime import modelling, services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import AuditEvent, HumanTask, ProcessVersion
from partnerflow.web import create_app
from tests.conftest import FIXTURES, make_user
from tests.web.support import PASSWORD, fast_passwords, login, post, text_of

DESKTOP = FIXTURES / "desktop"
BPMN = DESKTOP / "intern_welcome.bpmn"
DMN = DESKTOP / "desktop_priority.dmn"
PROCESS = "Process_intern_welcome"


def desktop_files(**replace: tuple[str, str]) -> list[tuple[str, bytes]]:
    """The two desktop files; `replace={"intern_welcome.bpmn": (old, new)}` edits one of them."""
    files = []
    for path in (BPMN, DMN):
        content = path.read_bytes()
        if path.name in replace:
            old, new = replace[path.name]
            assert old.encode() in content
            content = content.replace(old.encode(), new.encode())
        files.append((path.name, content))
    return files


def versions(pf) -> dict[str, int]:
    with pf.read() as db:
        return dict(db.execute(select(ProcessVersion.process_key, func.count())
                               .group_by(ProcessVersion.process_key)).all())


def deploy_files(pf, files):
    with pf.uow() as uow:
        return modelling.deploy_files(uow, files=files, actor="denis")


@pytest.fixture
def designer(pf, monkeypatch):
    fast_passwords(monkeypatch)
    make_user(pf, "denis", "designer", password=PASSWORD)
    make_user(pf, "claire", "direction")
    return "denis"


@pytest.fixture
def client(pf, designer):
    app = create_app(partnerflow=pf, TESTING=True)
    with app.test_client() as c:
        assert login(c, designer).status_code == 302
        yield c


def upload(client, *files: tuple[str, bytes]):
    return post(client, "/modeleur/televerser", token_from="/modeleur/",
                data={"files": [(io.BytesIO(content), name) for name, content in files]},
                content_type="multipart/form-data")


# ---------------------------------------------------------------- the fixtures are desktop files


def test_the_fixtures_carry_what_camunda_modeler_5_writes():
    bpmn, dmn = BPMN.read_text(), DMN.read_text()
    for text in (bpmn, dmn):
        assert 'xmlns:modeler="http://camunda.org/schema/modeler/1.0"' in text
        assert 'modeler:executionPlatform="Camunda Platform"' in text
        assert 'modeler:executionPlatformVersion="7.21.0"' in text
        assert 'exporter="Camunda Modeler" exporterVersion="5.' in text
    for needle in ("<bpmndi:BPMNLabel>", 'camunda:formKey="idea_validation"',
                   'camunda:candidateGroups="direction"', 'camunda:asyncBefore="true"',
                   "<camunda:inputOutput>", "<camunda:properties>", "<bpmn:documentation>",
                   "<bpmn:textAnnotation", "<bpmn:association", "<bpmn:laneSet"):
        assert needle in bpmn, needle
    for needle in ('xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"', "<dmndi:DMNDI>",
                   'xmlns:biodi="http://bpmn.io/schema/dmn/biodi/2.0"', 'biodi:width="220"'):
        assert needle in dmn, needle


# ---------------------------------------------------------------- through the engine


def test_desktop_files_deploy_through_the_engine_and_run(pf, designer):
    result = deploy_files(pf, desktop_files())
    assert sorted((i.process_key, i.kind, i.version, i.created) for i in result.items) == [
        (PROCESS, "bpmn", 1, True), ("desktop_priority", "dmn", 1, True)]
    with pf.read() as db:
        stored = db.scalar(select(ProcessVersion).where(ProcessVersion.process_key == PROCESS))
        assert stored.name == "Accueil d'un stagiaire du partenaire"
        assert stored.source == BPMN.read_text()  # kept byte for byte, desktop attributes and all
        assert stored.dependencies == {"desktop_priority": result.items[0].version_id}

    # what was drawn runs: the decision, then the task offered to the lane's role
    with pf.uow() as uow:
        partnership = services.create_partnership(uow, title="Stagiaire du lycée", actor="claire")
    with pf.uow() as uow:
        instance = services.start_instance(uow, partnership_id=partnership, process_key=PROCESS,
                                           actor="claire", data={"interns_already_welcomed": 0})
    with pf.read() as db:
        decision = db.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance,
                                                       AuditEvent.type == "decision_evaluated")).one()
        assert decision.payload["outputs"] == {"priority": "haute"}
        [task] = db.scalars(select(HumanTask).where(HumanTask.instance_id == instance)).all()
        assert (task.title, task.form_key, task.role, task.state) == (
            "Examiner la proposition", "idea_validation", "direction", "open")


def test_the_same_desktop_files_twice_make_no_new_version(pf, designer):
    first = deploy_files(pf, desktop_files())
    again = deploy_files(pf, desktop_files())
    assert [i.created for i in again.items] == [False, False]
    assert {i.process_key: i.version_id for i in again.items} == {
        i.process_key: i.version_id for i in first.items}
    assert versions(pf) == {PROCESS: 1, "desktop_priority": 1}


@pytest.mark.parametrize(("edit", "element_id", "words"), [
    (('camunda:formKey="idea_validation"', 'camunda:formKey="accueil_stagiaire"'),
     "Activity_0pq4n7s", "accueil_stagiaire"),
    (('name="Professionnel(le)"', 'name="Service des stages"'), "Lane_1l6v2dm", "Service des stages"),
], ids=["unknown form key", "lane that is not a role"])
def test_a_desktop_file_with_an_unknown_form_or_lane_is_refused_naming_the_element(
        pf, designer, edit, element_id, words):
    with pytest.raises(DeploymentRejected) as refused:
        deploy_files(pf, desktop_files(**{BPMN.name: edit}))
    [problem] = refused.value.problems
    assert (problem.file, problem.element_id) == (BPMN.name, element_id)
    assert words in problem.message and problem.hint
    assert versions(pf) == {}  # the DMN of the same upload is not deployed either


def test_a_desktop_file_over_the_size_limit_is_refused(pf, settings, clock, designer):
    small = Partnerflow(settings.with_(max_upload_bytes=BPMN.stat().st_size - 1), clock=clock)
    try:
        with small.uow() as uow, pytest.raises(DeploymentRejected) as refused:
            modelling.deploy_files(uow, files=desktop_files(), actor="denis")
    finally:
        small.dispose()
    assert [p.file for p in refused.value.problems] == [BPMN.name]
    assert versions(pf) == {}


# ---------------------------------------------------------------- through POST /modeleur/televerser


def test_desktop_files_upload_through_the_modeller_page(pf, client):
    response = upload(client, *desktop_files())
    assert response.status_code == 302 and response.headers["Location"].endswith("/modeleur/")
    page = text_of(client.get("/modeleur/"))
    # the versions deployed, by their names
    assert "Accueil d&#39;un stagiaire du partenaire v1" in page and "Priorité de l&#39;accueil v1" in page
    assert versions(pf) == {PROCESS: 1, "desktop_priority": 1}

    # the same files again: a message, no version
    response = upload(client, *desktop_files())
    assert response.status_code == 302
    assert "Rien de nouveau" in text_of(client.get("/modeleur/"))
    assert versions(pf) == {PROCESS: 1, "desktop_priority": 1}

    # what was uploaded opens in the modeller and downloads unchanged
    assert client.get(f"/modeleur/{PROCESS}").status_code == 200
    assert client.get(f"/modeleur/{PROCESS}/versions/1/telecharger").data == BPMN.read_bytes()


def test_an_upload_with_an_unknown_form_is_refused_naming_the_element(pf, client):
    edit = ('camunda:formKey="idea_completion"', 'camunda:formKey="formulaire_du_stage"')
    response = upload(client, *desktop_files(**{BPMN.name: edit}))
    assert response.status_code == 422
    html = text_of(response)
    assert "Déploiement refusé" in html
    assert "<code>Activity_09zq1hb</code>" in html and BPMN.name in html
    assert versions(pf) == {}


def test_an_upload_with_a_lane_named_after_no_group_asks_for_its_group(pf, client):
    response = upload(client, *desktop_files(**{BPMN.name: ('name="Direction"', 'name="Secrétariat"')}))
    assert response.status_code == 200
    html = text_of(response)
    assert "Associer les couloirs aux groupes" in html
    assert "<code>Lane_0f9s1ad</code> Secrétariat" in html and 'name="lane:Secrétariat"' in html
    assert versions(pf) == {}


def test_an_upload_over_the_size_limit_is_refused(pf, client):
    limit = pf.settings.max_upload_bytes
    padding = b"<!-- " + b"x" * limit + b" -->\n"
    big = BPMN.read_bytes().replace(b"<bpmn:collaboration", padding + b"  <bpmn:collaboration", 1)
    assert len(big) > limit
    response = upload(client, (BPMN.name, big))
    # the file is over the per-file limit: refused by name, before any parsing
    assert response.status_code == 422
    page = text_of(response)
    assert BPMN.name in page and "limit" in page
    assert versions(pf) == {}
    # a request far over the whole-request limit is cut off by Flask itself
    huge = b" " * (2 * limit + 2 * 1024 * 1024)
    response = upload(client, (BPMN.name, huge))
    assert response.status_code == 413
    assert "Fichier trop volumineux" in text_of(response)


def test_an_upload_is_for_designers_only(pf, client):
    make_user(pf, "sophie", "professional", password=PASSWORD)
    app = create_app(partnerflow=pf, TESTING=True)
    with app.test_client() as other:
        login(other, "sophie")
        response = post(other, "/modeleur/televerser", token_from="/",
                        data={"files": [(io.BytesIO(BPMN.read_bytes()), BPMN.name)]},
                        content_type="multipart/form-data")
    assert response.status_code == 403
    assert versions(pf) == {}
