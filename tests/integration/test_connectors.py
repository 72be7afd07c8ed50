"""Connectors: a service task with a connector topic runs its Python connector inside the step,
with its inputs from the diagram and its outputs into the data; a failure is an incident on the
element; deploy refuses what could never run; the element templates match the registry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from partnerflow.engine import spiff
from partnerflow.engine.errors import DeploymentRejected, InstanceError
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import connectors, queries, services
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Incident,
    Organisation,
    Partnership,
    ProcessInstance,
    Relationship,
    Signature,
)
from tests.conftest import FIXTURES, ROOT, deploy, make_user
from tests.integration.test_convention import CONVENTION

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">')


def diagram(service: str, key: str = "with_service", before: str = "") -> bytes:
    """start -> a user task (form inline: one field `note`) -> the service task -> end."""
    return (HEAD + f'''
  <bpmn:process id="{key}" name="Avec une tâche de service" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="lane" name="Direction">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>ask</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>act</bpmn:flowNodeRef><bpmn:flowNodeRef>done</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="ask" name="Demander">
      <bpmn:extensionElements>{before}<camunda:formData>
        <camunda:formField id="note" label="Note" type="string" />
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>
    {service}
    <bpmn:endEvent id="done" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask" />
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="act" />
    <bpmn:sequenceFlow id="f3" sourceRef="act" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>''').encode()


def service_task(topic: str | None, inputs: dict | None = None, outputs: dict | None = None,
                 extra: str = 'camunda:type="external"', tag: str = "serviceTask") -> str:
    io = "".join(f'<camunda:inputParameter name="{k}">{v}</camunda:inputParameter>'
                 for k, v in (inputs or {}).items())
    io += "".join(f'<camunda:outputParameter name="{k}">{v}</camunda:outputParameter>'
                  for k, v in (outputs or {}).items())
    topic_attr = f' camunda:topic="{topic}"' if topic else ""
    return (f'<bpmn:{tag} id="act" name="Agir" {extra}{topic_attr}><bpmn:extensionElements>'
            f'<camunda:inputOutput>{io}</camunda:inputOutput></bpmn:extensionElements></bpmn:{tag}>')


def deploy_bytes(pf, content: bytes, name: str = "with_service.bpmn"):
    from partnerflow.engine.runtime import deployment

    with pf.uow() as uow:
        result = deployment.deploy(uow.session, [(name, content)], actor="ines", at=uow.clock(),
                                   forms=pf.forms, max_bytes=pf.settings.max_upload_bytes)
        uow.commit()
    return result


def refused(pf, content: bytes) -> list:
    with pytest.raises(DeploymentRejected) as error:
        deploy_bytes(pf, content)
    return error.value.problems


@pytest.fixture
def office(pf):
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    make_user(pf, "ines", "admin", "designer")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor="claire")
    return pf, pid


def start_and_complete(pf, pid, data=None, key="with_service", password=None):
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key=key, actor="claire")
    with pf.read() as db:
        [task] = [t for t in queries.tasks_of_partnership(db, pid) if t.state == "open"]
    with pf.uow() as uow:
        done = services.complete_task(uow, task_id=task.id, actor="claire", data=data or {},
                                      password=password)
    return iid, done


@pytest.fixture
def echo(monkeypatch):
    """A connector that records what it received and answers with an output."""
    seen: list[dict] = []

    def run(context, values):
        seen.append({"values": values, "actor": context.actor, "element": context.element_id,
                     "partnership": context.partnership.id})
        return {"answer": f"vu : {values['text']}", "count": values["count"]}

    monkeypatch.setitem(connectors.REGISTRY, "test.echo", connectors.Connector(
        "test.echo", "Écho", "Renvoie ce qu'il reçoit.", run,
        inputs=(connectors.Input("text", "Texte", "string", True),
                connectors.Input("count", "Nombre", "integer"),
                connectors.Input("flag", "Drapeau", "boolean")),
        outputs=(connectors.Output("answer", "Réponse"), connectors.Output("count", "Nombre"))))
    return seen


# ---------------------------------------------------------------- running


def test_a_service_task_runs_its_connector_in_the_completion_with_inputs_and_outputs(office, echo):
    pf, pid = office
    deploy_bytes(pf, diagram(service_task(
        "test.echo", {"text": "Note : ${note}", "count": "${missing_or_three}", "flag": "true"},
        {"reply": "${answer}"})))
    iid, done = start_and_complete(pf, pid, {"note": "bonjour"})
    assert done.error is None and done.instance_status == "completed"
    [call] = echo
    assert call == {"values": {"text": "Note : bonjour", "count": None, "flag": True},
                    "actor": "claire", "element": "act", "partnership": pid}
    with pf.read() as db:
        ran = db.scalar(select(AuditEvent).where(AuditEvent.instance_id == iid,
                                                 AuditEvent.type == "connector_ran"))
        assert ran.element_id == "act" and ran.payload["topic"] == "test.echo"


def test_without_output_parameters_the_declared_outputs_keep_their_names(office, echo):
    pf, pid = office
    content = diagram(service_task("test.echo", {"text": "${note}", "count": "7"})).replace(
        b'<bpmn:endEvent id="done" />', b'<bpmn:userTask id="after" name="Ensuite" />').replace(
        b'<bpmn:flowNodeRef>done</bpmn:flowNodeRef>', b'<bpmn:flowNodeRef>after</bpmn:flowNodeRef>').replace(
        b'targetRef="done"', b'targetRef="after"')
    deploy_bytes(pf, content)
    start_and_complete(pf, pid, {"note": "salut"})
    after = _open(pf, pid, "after")
    assert (after.context["answer"], after.context["count"]) == ("vu : salut", 7)


def test_a_failing_connector_is_an_incident_on_its_element_and_leaves_nothing_of_its_own(
        office, monkeypatch):
    pf, pid = office

    def half_done_then_fail(context, values):
        context.partnership.title = "changé par le connecteur"
        context.session.flush()
        raise RuntimeError("le service distant ne répond pas")

    monkeypatch.setitem(connectors.REGISTRY, "test.fail", connectors.Connector(
        "test.fail", "Échoue", "", half_done_then_fail))
    deploy_bytes(pf, diagram(service_task("test.fail")))
    iid, done = start_and_complete(pf, pid, {"note": "x"})
    assert done.instance_status == "error" and done.error_element == "act"
    assert "le service distant ne répond pas" in done.error
    with pf.read() as db:
        assert db.get(Partnership, pid).title == "Consultations avancées"  # rolled back to the savepoint
        incident = db.scalar(select(Incident).where(Incident.instance_id == iid))
        assert incident.element_id == "act" and incident.resolved_at is None
        # the answers of the user task are kept; the service task is what failed
        task = db.scalar(select(HumanTask).where(HumanTask.instance_id == iid,
                                                 HumanTask.element_id == "ask"))
        assert task.state == "completed"


def test_a_required_input_missing_at_run_time_stops_with_its_name(office, echo):
    pf, pid = office
    deploy_bytes(pf, diagram(service_task("test.echo", {"text": "${note}"})))
    _iid, done = start_and_complete(pf, pid, {})
    assert done.instance_status == "error" and done.error_element == "act"
    assert "« text »" in done.error and "obligatoire" in done.error


def test_a_service_task_never_stays_started_without_a_connector_runner():
    root = spiff.model.etree.fromstring(diagram(service_task("partnership.update", {"status": "ended"})))
    compiled = spiff.compile_process("with_service", [("with_service.bpmn", root)])
    run = spiff.WorkflowRun.start(compiled, {}, clock=lambda: None, time_limit_s=5, max_depth=800)
    run.run_engine_steps()
    [view] = run.ready_user_tasks()
    run.complete_user_task(view.uuid, {"note": "x"})
    with pytest.raises(InstanceError) as error:
        run.run_engine_steps()
    assert getattr(error.value, "element_id", None) == "act" or "act" in str(error.value)


def test_the_runner_leaves_an_unknown_topic_to_external_workers_and_refuses_no_topic(office):
    pf, pid = office
    deploy_bytes(pf, diagram(service_task("partnership.update", {"status": "ended"})))
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="with_service", actor="claire")
        runner = connectors.Runner(uow, uow.session.get(ProcessInstance, iid), "claire")
        call = spiff.ServiceCall("no.such.topic", "act", "Agir", "with_service", (), (), {})
        assert runner(call) is None and runner.external == [call]
        with pytest.raises(connectors.ConnectorError) as error:
            runner(spiff.ServiceCall(None, "act", "Agir", "with_service", (), (), {}))
    assert "Agir (act)" in str(error.value) and "pas de sujet" in str(error.value)


def test_partnership_update_sets_the_status_the_diagram_says(office):
    pf, pid = office
    deploy_bytes(pf, diagram(service_task("partnership.update", {"status": "archived",
                                                                 "formalisation_level": "L1"})))
    _iid, done = start_and_complete(pf, pid, {"note": "x"})
    assert done.error is None
    with pf.read() as db:
        partnership = db.get(Partnership, pid)
        assert (partnership.status, partnership.formalisation_level) == ("archived", "L1")
        event = db.scalar(select(AuditEvent).where(AuditEvent.type == "partnership_updated"))
        assert event.payload["changes"]["status"] == ["active", "archived"]


def test_a_process_that_ends_without_saying_so_leaves_the_partnership_active(office):
    # no variable name (idea_decision, partnership_status) decides any more
    pf, pid = office
    deploy_bytes(pf, diagram(service_task("notify", {"kind": "reminder", "audience": "direction"})))
    _iid, done = start_and_complete(pf, pid, {"note": "x"})
    assert done.instance_status == "completed"
    with pf.read() as db:
        assert db.get(Partnership, pid).status == "active"


def test_map_update_creates_then_updates_the_relationship_with_each_partner(office):
    pf, pid = office
    with pf.uow() as uow:
        own = registry.create_organisation(uow, actor="claire", data={
            "name": "Association Les Tilleuls", "kind": "association", "is_own": "1"})
        hospital = registry.create_organisation(uow, actor="claire", data={
            "name": "Centre hospitalier de Montreuil", "kind": "hospital"})
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Avec l'hôpital", actor="claire",
                                          partner_organisation_ids=(hospital,))
    deploy_bytes(pf, diagram(service_task("map.update", {
        "formalisation_level": "L2", "convention_start": "2026-04-01", "convention_end": "${note}",
        "convention_document": "a" * 64}, {"relationships": "${relationship_ids}"})))
    start_and_complete(pf, pid, {"note": "2027-03-31"})
    with pf.read() as db:
        [rel] = db.scalars(select(Relationship).where(Relationship.partnership_id == pid)).all()
        assert (rel.organisation_id, rel.partner_id, rel.kind, rel.formalisation_level) == (
            own, hospital, "partnership", "L2")
        assert registry.as_day(rel.convention_end).isoformat() == "2027-03-31"
        assert rel.convention_document == "a" * 64 and rel.agreement == "written"
    start_and_complete(pf, pid, {"note": "2028-03-31"})
    with pf.read() as db:
        [rel] = db.scalars(select(Relationship).where(Relationship.partnership_id == pid)).all()
        assert registry.as_day(rel.convention_end).isoformat() == "2028-03-31"


PARTIES = [
    {"legal_name": "Centre hospitalier de Montreuil", "siret": "26930001100012",
     "finess": "930110051", "legal_representative": "Paul Lefèvre",
     "representative_quality": "Directeur adjoint", "mandate": "Délégation de signature."},
    {"legal_name": "Mairie de Bagnolet", "siret": "21930006000017",
     "legal_representative": "Marie Lambert", "representative_quality": "Adjointe au maire",
     "mandate": "Arrêté de délégation."},
]


def start_with(pf, pid, data: dict):
    """Start the diagram with this process data, then complete its one user task."""
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="with_service",
                                      actor="claire", data=data)
    with pf.read() as db:
        [task] = [t for t in queries.tasks_of_partnership(db, pid) if t.state == "open"]
    with pf.uow() as uow:
        done = services.complete_task(uow, task_id=task.id, actor="claire", data={"note": "x"})
    return iid, done


@pytest.fixture
def unmapped(office):
    """Our organisation on the map, a partnership that names no partner organisation, and
    map.update as its diagram calls it (no partner input declared)."""
    pf, pid = office
    with pf.uow() as uow:
        own = registry.create_organisation(uow, actor="claire", data={
            "name": "Association Les Tilleuls", "is_own": "1", "siret": "77567227200017"})
    deploy_bytes(pf, diagram(service_task("map.update", {"kind": "partnership",
                                                         "formalisation_level": "L2"})))
    return pf, pid, own


def _partners(pf, pid):
    with pf.read() as db:
        rels = db.scalars(select(Relationship).where(Relationship.partnership_id == pid)
                          .order_by(Relationship.partner_id)).all()
        names = {o.id: o.name for o in queries.organisations(db)}
        linked = [o.name for o in queries.partnership_organisations(db, pid)]
    return [(names[r.partner_id], r.formalisation_level) for r in rels], linked


def test_map_update_draws_the_convention_s_partner_parties_when_the_partnership_names_none(
        unmapped):
    pf, pid, own = unmapped
    with pf.uow() as uow:  # the town hall is on the map already, under another name
        town = registry.create_organisation(uow, actor="claire", data={
            "name": "Ville de Bagnolet", "kind": "town_hall", "siret": "21930006000017"})
    # ours is no partner, even listed (by its SIRET); the others: by SIRET, else created
    ours = {"legal_name": "Association Les Tilleuls (EHPAD et IME)", "siret": "77567227200017"}
    with pf.read() as db:
        first = db.scalar(select(func.max(AuditEvent.id)))
    iid, done = start_with(pf, pid, {"partner_parties": [ours, *PARTIES]})
    assert done.instance_status == "completed", done.error
    drawn, linked = _partners(pf, pid)
    assert drawn == [("Ville de Bagnolet", "L2"), ("Centre hospitalier de Montreuil", "L2")]
    assert sorted(linked) == ["Centre hospitalier de Montreuil", "Ville de Bagnolet"]
    with pf.read() as db:
        hospital = db.scalar(select(Organisation).where(
            Organisation.name == "Centre hospitalier de Montreuil"))
        events = db.scalars(select(AuditEvent).where(AuditEvent.type.in_((
            "organisation_created", "partnership_organisation_added")), AuditEvent.id > first)
            .order_by(AuditEvent.id)).all()
    assert (hospital.siret, hospital.finess, hospital.kind, hospital.is_own) == (
        "26930001100012", "930110051", "other", False)
    assert hospital.contacts == "Paul Lefèvre, Directeur adjoint"
    # the organisation added in the map's chain, each link in the partnership's
    assert [(e.type, e.partnership_id, e.payload.get("matched_by"), e.payload.get("source"))
            for e in events] == [
        ("organisation_created", None, None, "process"),
        ("partnership_organisation_added", pid, "created", None),
        ("partnership_organisation_added", pid, "siret", None)]
    assert events[0].payload["partnership_id"] == pid
    assert {e.payload["from_task"] for e in events} == {"act"}
    assert town != own

    # once linked, they are the partnership's: the next map step finds them, creates nothing
    start_with(pf, pid, {})
    assert _partners(pf, pid)[0] == drawn
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(Organisation)) == 3


def test_map_update_finds_a_party_by_finess_then_by_name_and_reads_network_members(unmapped):
    pf, pid, _own = unmapped
    with pf.uow() as uow:
        by_finess = registry.create_organisation(uow, actor="claire", data={
            "name": "CH Montreuil", "kind": "hospital", "finess": "930110051"})
        by_name = registry.create_organisation(uow, actor="claire", data={
            "name": "CLIC de Montreuil", "kind": "social_service"})
    members = [{"organisation_name": "clic  de MONTREUIL", "contact_name": "Mme Leroy"}]
    party = {"legal_name": "Centre hospitalier", "finess": "930110051", "siret": "123"}
    _iid, done = start_with(pf, pid, {"partner_parties": [party], "network_members": members})
    assert done.instance_status == "completed", done.error
    with pf.read() as db:
        rels = db.scalars(select(Relationship.partner_id).where(Relationship.partnership_id == pid)
                          .order_by(Relationship.partner_id)).all()
    assert rels == [by_finess, by_name]


def test_map_update_with_no_partner_known_stops_on_an_incident_saying_what_to_do(unmapped):
    pf, pid, _own = unmapped
    iid, done = start_with(pf, pid, {})
    assert done.instance_status == "error" and done.error_element == "act"
    assert done.error == (
        "Agir (act) : aucune organisation partenaire n'est connue pour ce partenariat (aucune n'y "
        "est rattachée, aucun contact partenaire rattaché n'a d'organisation, et le processus ne "
        "nomme aucune partie) : rattachez l'organisation partenaire au partenariat (sur sa page, "
        "« Rattacher une organisation partenaire »), puis relancez le processus depuis les "
        "incidents")
    with pf.read() as db:
        assert db.scalars(select(Relationship)).all() == []
        assert db.get(ProcessInstance, iid).status == "error"


def test_map_update_says_when_our_own_organisation_is_not_on_the_map(office):
    pf, pid = office
    deploy_bytes(pf, diagram(service_task("map.update", {"kind": "partnership"})))
    _iid, done = start_with(pf, pid, {"partner_parties": PARTIES})
    assert done.instance_status == "error"
    assert "notre organisation n'est pas sur la carte : enregistrez-la" in done.error
    with pf.read() as db:  # nothing of the step was kept
        assert db.scalars(select(Organisation)).all() == []


def test_an_implicit_input_declared_by_the_task_reads_what_the_task_says(unmapped):
    pf, pid, _own = unmapped
    # the task names its own variable; declared empty, no party is read at all
    deploy_bytes(pf, diagram(service_task("map.update", {
        "kind": "network", "partner_parties": "${signed_by}", "network_members": ""})))
    _iid, done = start_with(pf, pid, {"signed_by": PARTIES[:1], "partner_parties": PARTIES[1:],
                                      "network_members": [{"organisation_name": "CLIC"}]})
    assert done.instance_status == "completed", done.error
    assert _partners(pf, pid)[0] == [("Centre hospitalier de Montreuil", None)]
    deploy_bytes(pf, diagram(service_task("map.update", {"partner_parties": "${note}"})))
    _iid, done = start_with(pf, pid, {})
    assert done.instance_status == "error"
    assert "l'entrée « partner_parties » doit être une liste de lignes" in done.error


# ---------------------------------------------------------------- signatures


@pytest.fixture
def signing(office):
    pf, pid = office
    deploy(pf, [FIXTURES / "signing.bpmn"])
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="signing", actor="claire")
    return pf, pid


def _open(pf, pid, element_id):
    with pf.read() as db:
        return db.scalar(select(HumanTask).where(HumanTask.partnership_id == pid,
                                                 HumanTask.element_id == element_id,
                                                 HumanTask.state == "open"))


SIGN = {"signatory_full_name": "Claire Martin", "signatory_quality": "Directrice",
        "signature_consent": True}


def test_the_signature_task_asks_the_password_and_signs_the_prepared_hash(signing):
    pf, pid = signing
    with pf.uow() as uow:
        services.complete_task(uow, task_id=_open(pf, pid, "write_convention").id, actor="claire",
                               data=CONVENTION)
    sign = _open(pf, pid, "sign")
    assert sign.confirm_password is True
    prepared = sign.context["document_sha256"]
    # the browser sends another hash back: the process keeps the one it prepared
    with pf.uow() as uow:
        done = services.complete_task(uow, task_id=sign.id, actor="claire", password="mot-de-passe-claire",
                                      data={**SIGN, "document_sha256": "f" * 64})
    assert done.error is None
    with pf.read() as db:
        [signature] = db.scalars(select(Signature)).all()
        assert (signature.username, signature.document_sha256, signature.task_id) == (
            "claire", prepared, sign.id)


def test_a_signature_connector_reached_without_a_confirmed_password_stops(office):
    # a diagram that forgets confirm_password on the user task is refused at deploy ...
    pf, pid = office
    content = (FIXTURES / "signing.bpmn").read_bytes().replace(
        b'<camunda:property name="confirm_password" value="true" />', b"")
    problems = refused(pf, content)
    assert any(p.element_id == "record" and "confirm_password" in p.hint for p in problems)
    # ... and at run time the connector refuses to record anything without it
    deploy(pf, [FIXTURES / "signing.bpmn"])
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="signing", actor="claire")
    with pf.uow() as uow:
        context = connectors.ConnectorContext(uow, uow.session.get(ProcessInstance, iid),
                                              uow.session.get(Partnership, pid), "claire", "record",
                                              "Enregistrer la signature", {}, identity=None)
        with pytest.raises(connectors.ConnectorError) as error:
            connectors.REGISTRY["signature.record"].function(context, {
                "document_sha256": "a" * 64, "full_name": "X", "quality": "Y", "consent": True})
        assert uow.session.scalars(select(Signature)).all() == []
    assert "mot de passe" in str(error.value)


# ---------------------------------------------------------------- deploy checks


@pytest.mark.parametrize("service,expected", [
    (service_task(None, extra='camunda:class="org.example.Mailer"'),
     "camunda:class est une implémentation Java"),
    (service_task(None, extra='camunda:delegateExpression="${mailer}"'),
     "camunda:delegateExpression est une implémentation Java"),
    (service_task(None, extra='camunda:expression="${mailer.send()}"'),
     "camunda:expression est une implémentation Java"),
    (service_task(None, extra=""), "n’a pas de connecteur : elle ne se terminerait jamais"),
    (service_task(None, extra="", tag="sendTask"), "cette tâche d’envoi (sendTask) n’a pas de connecteur"),
    (service_task("notify", {"kind": "reminder"}), "a besoin de l’entrée « audience »"),
    (service_task("notify", {"kind": "shout", "audience": "task"}), "l’entrée « kind » vaut « shout »"),
    (service_task("partnership.update", {"colour": "red"}), "n’a pas d’entrée « colour »"),
])
def test_deploy_refuses_what_no_connector_can_run(office, service, expected):
    pf, _pid = office
    problems = refused(pf, diagram(service))
    [problem] = [p for p in problems if p.element_id == "act"]
    assert expected in problem.message
    assert problem.hint  # says what to use instead


def test_a_java_implementation_is_refused_with_the_topics_to_use_instead(office):
    pf, _pid = office
    [problem] = refused(pf, diagram(service_task(None, extra='camunda:class="org.example.Mailer"')))
    assert "Externe" in problem.hint and "convention.generate" in problem.hint


def test_the_shipped_method_deploys_with_its_connectors(pf):
    deploy(pf, sorted((ROOT / "bpmn").glob("*.bpmn")) + sorted((ROOT / "bpmn").glob("*.dmn")))
    with pf.read() as db:
        assert db.scalar(select(ProcessInstance)) is None  # deployed only
    topics = set()
    for path in sorted((ROOT / "bpmn").glob("*.bpmn")):
        root = spiff.model.etree.fromstring(path.read_bytes())
        for process in root.iterfind("{http://www.omg.org/spec/BPMN/20100524/MODEL}process"):
            topics |= {s.topic for s in spiff.read_service_tasks(process)}
    assert topics == set(connectors.REGISTRY) - {"test.echo", "test.fail"}


# ---------------------------------------------------------------- element templates


def test_the_shipped_element_templates_are_the_registry_written_out():
    shipped = json.loads((ROOT / "bpmn" / "templates" / "partnerflow.json").read_text(encoding="utf-8"))
    assert shipped == connectors.element_templates(), (
        "regenerate bpmn/templates/partnerflow.json: .venv/bin/python -c \"import json, "
        "partnerflow.engine.method; from partnerflow.engine.runtime.connectors import "
        "element_templates; open('bpmn/templates/partnerflow.json',"
        " 'w').write(json.dumps(element_templates(), ensure_ascii=False, indent=2) + '\\n')\"")
    assert connectors.shipped_templates() == shipped


def test_the_element_templates_follow_the_camunda_7_schema():
    import jsonschema

    schema = json.loads((FIXTURES / "camunda-element-templates-schema.json").read_text(encoding="utf-8"))
    templates = connectors.element_templates()
    assert list(jsonschema.Draft7Validator(schema).iter_errors(templates)) == []
    for template in templates:
        topic = next(p["value"] for p in template["properties"]
                     if p["binding"] == {"type": "property", "name": "camunda:topic"})
        found = connectors.REGISTRY[topic]
        inputs = {p["binding"]["name"] for p in template["properties"]
                  if p["binding"]["type"] == "camunda:inputParameter"}
        assert inputs == {i.name for i in found.inputs}
        assert template["id"] == f"partnerflow.{topic}"
    broken = [{**templates[0], "properties": [{"type": "Nope", "binding": {"type": "property",
                                                                             "name": "camunda:topic"}}]}]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_the_time_a_connector_takes_does_not_count_against_the_diagrams_budget(
        office, monkeypatch):
    """The step budget (2 s in the tests) bounds scripts and loops; a connector doing the
    engine's own work (rendering a convention) for longer does not stop the step."""
    import time

    pf, pid = office
    assert pf.settings.step_time_limit_s == 2.0

    def slow(context, values):
        time.sleep(2.3)
        return {"answer": "rendu"}

    monkeypatch.setitem(connectors.REGISTRY, "test.slow", connectors.Connector(
        "test.slow", "Lent", "Prend son temps.", slow,
        outputs=(connectors.Output("answer", "Réponse"),)))
    deploy_bytes(pf, diagram(service_task("test.slow", {}, {"reply": "${answer}"})))
    iid, done = start_and_complete(pf, pid, {"note": "x"})
    assert done.error is None and done.instance_status == "completed"
