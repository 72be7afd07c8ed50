"""Diagrams drawn for Camunda 7 in Camunda Modeler, uploaded as they are: each either works
(with a warning saying what Partnerflow does instead) or is refused with one problem naming
the element and what to do. Every diagram that deploys is started and walked.

tests/fixtures/camunda/ holds diagrams as Camunda Modeler 5 saves them, one per case;
tests/fixtures/camunda/platform/ holds real test resources of camunda/camunda-bpm-platform
(see the README there)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from partnerflow.engine.errors import DeploymentRejected, FormValidationError
from partnerflow.engine.runtime import diagrams, modelling, services
from partnerflow.engine.store.models import AuditEvent, HumanTask, ProcessInstance, ProcessVersion
from partnerflow.web import create_app
from tests.conftest import FIXTURES, make_user
from tests.web.support import PASSWORD, csrf_token, fast_passwords, login, post, text_of

CAMUNDA = FIXTURES / "camunda"
PLATFORM = CAMUNDA / "platform"


def files(*names: str, edit: tuple[str, str] | None = None, times: int = 1) -> list[tuple[str, bytes]]:
    """Fixture files as uploads; `edit=(old, new)` changes the first file (`old` must be there)."""
    out = []
    for index, name in enumerate(names):
        content = (CAMUNDA / name).read_text(encoding="utf-8")
        if edit and index == 0:
            assert content.count(edit[0]) >= times, edit[0]
            content = content.replace(edit[0], edit[1])
        out.append((name, content.encode("utf-8")))
    return out


def deploy(pf, payload):
    with pf.uow() as uow:
        return modelling.deploy_files(uow, files=payload, actor="denis")


def refused(pf, payload) -> list:
    with pytest.raises(DeploymentRejected) as caught:
        deploy(pf, payload)
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(ProcessVersion)) == 0
    return caught.value.problems


def only(problems):
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def open_tasks(pf, **where) -> list[HumanTask]:
    with pf.read() as db:
        query = select(HumanTask).where(HumanTask.state == "open")
        for key, value in where.items():
            query = query.where(getattr(HumanTask, key) == value)
        return db.scalars(query.order_by(HumanTask.id)).all()


def complete(pf, task: HumanTask, actor: str, data: dict):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task.id, actor=actor, data=data)


def start(pf, pid: int, key: str, data: dict | None = None) -> int:
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=pid, process_key=key, actor="claire",
                                       data=data or {})


def instance(pf, iid: int) -> ProcessInstance:
    with pf.read() as db:
        return db.get(ProcessInstance, iid)


def fire(pf) -> int:
    with pf.uow() as uow:
        return services.fire_due_timers(uow)


@pytest.fixture
def people(pf, monkeypatch):
    fast_passwords(monkeypatch)
    make_user(pf, "denis", "designer", password=PASSWORD)
    make_user(pf, "claire", "direction")
    make_user(pf, "karim", "professional")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Lycée et hôpital", actor="claire")
    return pid


# ---------------------------------------------------------------- Camunda forms


CAMUNDA_FORM_ELEMENTS = {"StartEvent_1", "Activity_0s7d1mq", "Activity_1x2kq9b", "Activity_0w3h6ly"}


def test_camunda_form_keys_and_form_refs_deploy_with_a_warning_each_and_fall_back(pf, people):
    result = deploy(pf, files("camunda_forms.bpmn"))
    assert [(i.process_key, i.created) for i in result.items] == [("Process_camunda_forms", True)]
    warnings = {w.element_id: w for w in result.warnings}
    assert set(warnings) == CAMUNDA_FORM_ELEMENTS
    assert "embedded:app:forms/start-form.html" in warnings["StartEvent_1"].message
    assert "sans formulaire de démarrage" in warnings["StartEvent_1"].message
    assert "formulaire générique" in warnings["Activity_0s7d1mq"].message
    assert "camunda-forms:app:forms/decision.form" in warnings["Activity_1x2kq9b"].message
    assert "à la place ses champs camunda:formData" in warnings["Activity_1x2kq9b"].message
    assert "« convention-signature »" in warnings["Activity_0w3h6ly"].message
    assert all(w.hint and w.file == "camunda_forms.bpmn" for w in result.warnings)

    # the start form key names no form: the instance starts without one
    iid = start(pf, people, "Process_camunda_forms", {"origin": "desktop"})

    # an embedded form: the generic form, a comment and a required confirmation
    [review] = open_tasks(pf)
    assert (review.element_id, review.form_key) == ("Activity_0s7d1mq", None)
    assert set(review.inline_schema["properties"]) == {"comment", "confirmed"}
    with pytest.raises(FormValidationError) as error:
        complete(pf, review, "claire", {"comment": "lu"})
    assert "confirmed" in error.value.errors
    complete(pf, review, "claire", {"comment": "Dossier complet", "confirmed": "on"})

    # a Camunda Forms key with camunda:formData: the fields are the form
    [decide] = open_tasks(pf)
    assert (decide.element_id, decide.form_key) == ("Activity_1x2kq9b", None)
    assert set(decide.inline_schema["properties"]) == {"decision", "places"}
    with pytest.raises(FormValidationError) as error:
        complete(pf, decide, "claire", {"places": "2"})
    assert "decision" in error.value.errors
    complete(pf, decide, "claire", {"decision": "accept", "places": "2"})

    # a camunda:formRef: the generic form again
    [sign] = open_tasks(pf)
    assert sign.element_id == "Activity_0w3h6ly" and set(sign.inline_schema["properties"]) == {
        "comment", "confirmed"}
    assert sign.context["decision"] == "accept" and sign.context["places"] == 2
    complete(pf, sign, "claire", {"confirmed": "on"})
    assert instance(pf, iid).status == "completed"


def test_a_plain_form_key_that_names_no_form_is_still_refused(pf, people):
    problem = only(refused(pf, files("camunda_forms.bpmn", edit=(
        'camunda:formKey="embedded:app:forms/review-request.html"',
        'camunda:formKey="relire_demande"'))))
    assert (problem.file, problem.element_id) == ("camunda_forms.bpmn", "Activity_0s7d1mq")
    assert "relire_demande" in problem.message and "forms/relire_demande.json" in problem.hint


def test_real_camunda_form_refs_and_embedded_forms_are_warned_about_by_element():
    docs, problems = diagrams.read_documents([
        (p.name, p.read_bytes()) for p in (
            PLATFORM / "FormServiceTest.shouldSubmitTaskFormUsingFormRefAndCamundaFormDefinition.bpmn",
            PLATFORM / "invoice.v2.bpmn")], max_bytes=1024 * 1024)
    assert problems == []
    form_ref, invoice = (diagrams.warnings_for(doc) for doc in docs)
    [warning] = form_ref
    assert warning.element_id == "Activity_16evqjj" and "« myStartForm »" in warning.message
    assert {w.element_id for w in invoice} == {"StartEvent_1", "approveInvoice", "prepareBankTransfer"}
    assert all("embedded:app:forms/" in w.message for w in invoice)


# ---------------------------------------------------------------- DMN inputs


def test_an_empty_decision_input_reads_the_variable_its_label_names(pf, people):
    result = deploy(pf, files("grant_rule.bpmn", "grant_level.dmn"))
    [warning] = result.warnings
    assert (warning.file, warning.element_id) == ("grant_level.dmn", "Input_1")
    assert "« amount » n’a pas d’expression" in warning.message
    for amount, level in ((1500, "board"), (200, "direction")):
        iid = start(pf, people, "Process_grant_rule", {"amount": amount})
        with pf.read() as db:
            decision = db.scalars(select(AuditEvent).where(
                AuditEvent.instance_id == iid, AuditEvent.type == "decision_evaluated")).one()
        assert decision.payload["outputs"] == {"level": level}
        [task] = open_tasks(pf, instance_id=iid)
        assert task.context["level"] == level


def test_a_missing_label_variable_stops_the_instance_naming_it(pf, people):
    deploy(pf, files("grant_rule.bpmn", "grant_level.dmn"))
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=people, process_key="Process_grant_rule",
                                      actor="claire", data={"montant": 1500})
    stopped = instance(pf, iid)
    assert stopped.status == "error" and "amount" in stopped.error_message


@pytest.mark.parametrize(("label", "words"), [
    ('label="Montant demandé"', "l’entrée « Montant demandé » n’a pas d’expression"),
    ('label=""', "l’entrée n’a ni expression ni libellé"),
], ids=["label that is no variable name", "no label"])
def test_an_empty_decision_input_without_a_usable_label_is_refused(pf, people, label, words):
    payload = files("grant_level.dmn", edit=('label="amount"', label)) + files("grant_rule.bpmn")
    problem = only(refused(pf, payload))
    assert (problem.file, problem.element_id) == ("grant_level.dmn", "Input_1")
    assert problem.message == words and "Expression" in problem.hint


def test_a_real_camunda_table_with_an_empty_input_and_no_label_names_the_input(pf, people):
    problems = refused(pf, [("input-rule.dmn", (PLATFORM / "input-rule.dmn").read_bytes())])
    [empty] = [p for p in problems if p.element_id == "InputClause_1fiwsn3"]
    assert empty.message == "l’entrée n’a ni expression ni libellé"


# ---------------------------------------------------------------- messages


def test_a_message_result_variable_reaches_the_receiving_instance(pf, people):
    deploy(pf, files("message_result.bpmn"))
    sender = start(pf, people, "Process_intern_request")
    [prepare] = open_tasks(pf)
    complete(pf, prepare, "karim", {"weeks": "6", "subject": "Accueil en pédiatrie"})

    # the message starts the review; the payload is one variable, named by the thrower
    [review] = open_tasks(pf)
    assert review.element_id == "Activity_1y8f0ou" and review.instance_id != sender
    assert review.context["request"] == {"weeks": 6, "subject": "Accueil en pédiatrie"}
    assert "weeks" not in review.context and "subject" not in review.context
    receiver = instance(pf, review.instance_id)
    assert receiver.process_key == "Process_intern_review" and receiver.parent_instance_id == sender

    # the reply (a plain value) reaches the waiting sender under its result variable
    complete(pf, review, "claire", {"decision": "accept"})
    [ack] = open_tasks(pf)
    assert (ack.instance_id, ack.element_id) == (sender, "Activity_0f7d2mb")
    assert ack.context["reply"] == "accept" and "payload" not in ack.context
    assert instance(pf, receiver.id).status == "completed"


def test_a_result_variable_that_is_no_variable_name_is_refused(pf, people):
    problem = only(refused(pf, files("message_result.bpmn", edit=(
        'camunda:resultVariable="reply"', 'camunda:resultVariable="la réponse"'))))
    assert problem.element_id == "Event_1a6r3hz" and "« la réponse »" in problem.message


# ---------------------------------------------------------------- event-based gateways


def test_a_timer_behind_an_event_based_gateway_fires_when_the_clock_moves(pf, people, clock):
    deploy(pf, files("event_gateway.bpmn"))
    iid = start(pf, people, "Process_offer_wait")
    assert open_tasks(pf) == []
    waiting = instance(pf, iid)
    assert waiting.waiting_messages == ["partner_answer"]
    assert waiting.next_timer_at is not None
    due = waiting.next_timer_at.replace(tzinfo=clock.now.tzinfo)
    assert due - clock.now == timedelta(days=14)
    clock.advance(days=13)
    assert fire(pf) == 0
    clock.advance(days=1, minutes=1)
    assert fire(pf) == 1
    [remind] = open_tasks(pf)
    assert (remind.instance_id, remind.element_id) == (iid, "Activity_1h9e2uc")
    assert instance(pf, iid).waiting_messages == []


def test_a_message_behind_an_event_based_gateway_wins_and_its_timer_never_fires(pf, people, clock):
    deploy(pf, files("event_gateway.bpmn"))
    iid = start(pf, people, "Process_offer_wait")
    start(pf, people, "Process_offer_answer")
    [note] = open_tasks(pf)
    complete(pf, note, "claire", {"answer": "Oui, en septembre"})
    [read] = open_tasks(pf)
    assert (read.instance_id, read.element_id) == (iid, "Activity_0n1f6ak")
    assert read.context["answer"] == "Oui, en septembre"
    assert instance(pf, iid).next_timer_at is None
    clock.advance(days=30)
    assert fire(pf) == 0
    assert [t.element_id for t in open_tasks(pf)] == ["Activity_0n1f6ak"]


TIMER_P7D = ('<bpmn:timerEventDefinition id="TimerEventDefinition_0k7x2ab"><bpmn:timeDuration '
             'xsi:type="bpmn:tFormalExpression">"P7D"</bpmn:timeDuration></bpmn:timerEventDefinition>')


@pytest.mark.parametrize(("edit", "element_id", "words"), [
    (('<bpmn:messageEventDefinition id="MessageEventDefinition_0f1y6lh" messageRef="Message_2h1v0pe" />',
      TIMER_P7D), "Gateway_0d5s1yl", "attend 2 minuteurs"),
    (('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P14D"</bpmn:timeDuration>',
      '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">"R3/P7D"</bpmn:timeCycle>'),
     "Event_0r8n3jw", "minuteur cyclique"),
], ids=["two timers", "a cycle timer"])
def test_timers_an_event_based_gateway_cannot_wait_for_are_refused(pf, people, edit, element_id, words):
    problem = only(refused(pf, files("event_gateway.bpmn", edit=edit)))
    assert problem.element_id == element_id and words in problem.message and problem.hint


# ---------------------------------------------------------------- refused with their own message


def test_a_data_store_is_refused_naming_it(pf, people):
    problem = only(refused(pf, files("data_store.bpmn")))
    assert (problem.file, problem.element_id) == ("data_store.bpmn", "DataStoreReference_0w5e9kd")
    assert problem.message.startswith("le magasin de données « Annuaire des partenaires » n’est pas "
                                      "pris en charge")
    assert "retirez le magasin de données" in problem.hint


def test_the_data_store_of_the_camunda_invoice_example_is_named(pf, people):
    problems = refused(pf, [("invoice.v2.bpmn", (PLATFORM / "invoice.v2.bpmn").read_bytes())])
    [store] = [p for p in problems if "magasin de données" in p.message]
    assert store.element_id == "DataStoreReference_1"
    assert "« Financial Accounting System »" in store.message


def test_a_call_to_a_process_that_is_not_executable_is_refused_naming_the_call(pf, people):
    problem = only(refused(pf, files("archive_call.bpmn")))
    assert (problem.file, problem.element_id) == ("archive_call.bpmn", "Activity_1b5n0rk")
    assert problem.message == "le processus appelé « Process_archive » n’est pas exécutable"
    assert "isExecutable" in problem.hint


def test_a_pool_that_is_not_executable_is_left_out_with_a_warning(pf, people):
    # the call activity becomes a user task: nothing calls the archive's pool any more
    text = (CAMUNDA / "archive_call.bpmn").read_text(encoding="utf-8")
    text = (text.replace('<bpmn:callActivity id="Activity_1b5n0rk" name="Archiver la convention" '
                         'calledElement="Process_archive">',
                         '<bpmn:userTask id="Activity_1b5n0rk" name="Archiver la convention">')
            .replace("</bpmn:callActivity>", "</bpmn:userTask>"))
    assert "callActivity" not in text
    result = deploy(pf, [("archive_call.bpmn", text.encode("utf-8"))])
    assert [i.process_key for i in result.items] == ["Process_convention_end"]
    [warning] = result.warnings
    assert warning.element_id == "Process_archive" and "n’est pas exécutable" in warning.message
    iid = start(pf, people, "Process_convention_end")
    [task] = open_tasks(pf)
    assert (task.instance_id, task.element_id) == (iid, "Activity_1b5n0rk")


def test_a_file_with_no_executable_process_is_refused(pf, people):
    payload = files("data_store.bpmn", edit=('isExecutable="true"', 'isExecutable="false"'))
    problems = refused(pf, payload)
    assert "le fichier n’a aucun processus exécutable" in [p.message for p in problems]


def test_a_form_field_with_the_id_of_its_task_is_refused_naming_the_task(pf, people):
    problem = only(refused(pf, files("form_field_id.bpmn")))
    assert (problem.file, problem.element_id) == ("form_field_id.bpmn", "budget_review")
    assert problem.message == ("le champ de formulaire « budget_review » a le même identifiant que "
                               "l’élément « Revoir le budget » (userTask)")
    assert "budget_review_answer" in problem.hint


# ---------------------------------------------------------------- where the warnings show


@pytest.fixture
def client(pf, people):
    app = create_app(partnerflow=pf, TESTING=True)
    with app.test_client() as c:
        assert login(c, "denis").status_code == 302
        yield c


def test_the_modeller_shows_the_warnings_of_an_upload_and_of_a_deployment(pf, client):
    [(name, content)] = files("camunda_forms.bpmn")
    response = post(client, "/modeleur/televerser", token_from="/modeleur/",
                    data={"files": [(io.BytesIO(content), name)]},
                    content_type="multipart/form-data")
    assert response.status_code == 302
    page = text_of(client.get("/modeleur/"))
    assert "Convention de stage v1" in page
    assert page.count("Avertissement") == 4
    for element_id in CAMUNDA_FORM_ELEMENTS:
        assert f"[{element_id}]" in page

    edited = content.replace(b"Relire la demande", b"Relire le dossier")
    response = client.post("/modeleur/Process_camunda_forms/deployer", json={"xml": edited.decode()},
                           headers={"X-CSRFToken": csrf_token(client, "/modeleur/")})
    assert response.status_code == 200
    body = response.get_json()
    assert body["deployed"] is True and body["items"][0]["version"] == 2
    assert {w["element_id"] for w in body["warnings"]} == CAMUNDA_FORM_ELEMENTS
    assert body["message"] == "Déployé, avec des avertissements."
    assert 'id="modeller-warnings"' in client.get("/modeleur/Process_camunda_forms").get_data(
        as_text=True)


def test_the_generic_form_shows_on_the_task_page_and_completes_from_it(pf, people):
    deploy(pf, files("camunda_forms.bpmn"))
    start(pf, people, "Process_camunda_forms")
    [review] = open_tasks(pf)
    make_user(pf, "chloe", "direction", password=PASSWORD)
    app = create_app(partnerflow=pf, TESTING=True)
    with app.test_client() as web:
        assert login(web, "chloe").status_code == 302
        page = text_of(web.get(f"/taches/{review.id}"))
        assert "Le formulaire prévu pour cette tâche n’est pas disponible" in page
        assert 'name="comment"' in page and 'name="confirmed"' in page
        response = post(web, f"/taches/{review.id}", token_from=f"/taches/{review.id}",
                        data={"comment": "Relu au téléphone", "confirmed": "on"})
        assert response.status_code == 302
    with pf.read() as db:
        done = db.get(HumanTask, review.id)
    assert (done.state, done.completed_by) == ("completed", "chloe")
    [decide] = open_tasks(pf)
    assert decide.context["comment"] == "Relu au téléphone" and decide.context["confirmed"] is True


def test_the_deploy_command_prints_the_warnings(pf, people, monkeypatch):
    from partnerflow.web.cli import main

    monkeypatch.setenv("PARTNERFLOW_DATABASE_URL", pf.settings.database_url)
    monkeypatch.setenv("PARTNERFLOW_SECRET_KEY", pf.settings.secret_key)
    monkeypatch.setenv("PARTNERFLOW_AUDIT_KEY_FILE", str(pf.settings.audit_key_file))
    monkeypatch.setenv("PARTNERFLOW_AUDIT_SEAL_KEY_FILE", str(pf.settings.audit_seal_key_file))
    result = CliRunner().invoke(main, ["deploy", str(CAMUNDA / "camunda_forms.bpmn")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Process_camunda_forms" in result.stdout and "new version" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 4
    assert any("camunda_forms.bpmn [Activity_0w3h6ly]" in line for line in lines)
