"""Hostile and broken diagrams are refused at deploy time with a precise problem, nothing is
deployed; scripts that fail or never end stop their instance cleanly at run time."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from partnerflow.engine.errors import DeploymentRejected, Forbidden
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import AuditEvent, HumanTask, ProcessInstance, ProcessVersion
from tests.conftest import FIXTURES, deploy, make_user

HOSTILE = FIXTURES / "hostile"
REVIEW_NAME = "review_loop.bpmn"
REVIEW = (FIXTURES / REVIEW_NAME).read_text(encoding="utf-8")
SCRIPT = "rounds = rounds + 1"
CONDITION = 'decision == "again"'
ROUTE = (HOSTILE / "route.dmn").read_text(encoding="utf-8")
RULE = (HOSTILE / "rule_task.bpmn").read_bytes()
TIMER = (HOSTILE / "timer_wait.bpmn").read_text(encoding="utf-8")
CALL = (HOSTILE / "call_parent.bpmn").read_text(encoding="utf-8")
ESCAPES = ["__import__('os').system('id')", "().__class__.__base__.__subclasses__()"]


def review(*edits: tuple[str, str]) -> bytes:
    text = REVIEW
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def xml_text(expression: str) -> str:
    return expression.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")


def versions(pf: Partnerflow) -> list[tuple[str, int, str]]:
    with pf.read() as session:
        rows = session.execute(select(ProcessVersion.process_key, ProcessVersion.version,
                                      ProcessVersion.content_hash).order_by(ProcessVersion.id))
        return [tuple(row) for row in rows]


@pytest.fixture
def deployed(fixture_pf):
    """review_loop v1 is deployed and active."""
    deploy(fixture_pf, [FIXTURES / REVIEW_NAME])
    return fixture_pf


def refused(pf: Partnerflow, files: list[tuple[str, bytes]]) -> list:
    """Deploy, expect a rejection, check that nothing changed; return the problems."""
    before = versions(pf)
    with pytest.raises(DeploymentRejected) as caught:
        deploy(pf, files)
    assert versions(pf) == before
    problems = caught.value.problems
    assert problems
    names = {name for name, _ in files}
    for problem in problems:
        assert problem.file in names or problem.file.startswith("forms/")
    return problems


def only(problems: list):
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ---------------------------------------------------------------- unsafe XML


def test_an_external_entity_to_etc_passwd_is_refused_and_nothing_is_deployed(deployed):
    xxe = review(('<?xml version="1.0" encoding="UTF-8"?>',
                  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE bpmn:definitions '
                  '[<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
                 ('name="Relire le document"', 'name="&xxe;"'))
    problem = only(refused(deployed, [(REVIEW_NAME, xxe)]))
    assert problem.file == REVIEW_NAME
    assert "DOCTYPE" in problem.message
    assert "root:" not in str(problem)


def test_the_billion_laughs_is_refused(deployed):
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10))
    bomb = review(('<?xml version="1.0" encoding="UTF-8"?>',
                   f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [{entities}]>'),
                  ('name="Relire le document"', 'name="&lol9;"'))
    started = time.monotonic()
    problem = only(refused(deployed, [(REVIEW_NAME, bomb)]))
    assert time.monotonic() - started < 5
    assert "DOCTYPE" in problem.message


def test_any_doctype_is_refused(deployed):
    plain = review(('<?xml version="1.0" encoding="UTF-8"?>',
                    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>'))
    assert "DOCTYPE" in only(refused(deployed, [(REVIEW_NAME, plain)])).message


def test_a_50_mb_file_is_refused_by_size_before_parsing_and_fast(deployed):
    huge = review() + b"<!--" + b"A" * (50 * 1024 * 1024) + b"-->"
    started = time.monotonic()
    problem = only(refused(deployed, [("huge.bpmn", huge)]))
    assert time.monotonic() - started < 2.0
    assert problem.file == "huge.bpmn"
    assert "limite" in problem.message and "Kio" in problem.message


def test_a_non_bpmn_xml_document_is_refused(deployed):
    problem = only(refused(deployed, [("notes.bpmn", b'<?xml version="1.0"?><notes><a/></notes>')]))
    assert problem.file == "notes.bpmn"
    assert "n’est pas un document BPMN 2.0 ou DMN" in problem.message


def test_malformed_xml_is_refused_with_its_line(deployed):
    broken = review(("</bpmn:process>", "</bpmn:proces>"))
    problem = only(refused(deployed, [(REVIEW_NAME, broken)]))
    assert "mal formé" in problem.message
    assert problem.line is not None and problem.line > 30


# ---------------------------------------------------------------- sandbox escapes


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_script_escape_in_a_script_task_is_refused(deployed, escape):
    hostile = review((SCRIPT, xml_text(f"x = {escape}")))
    problem = only(refused(deployed, [(REVIEW_NAME, hostile)]))
    assert problem.element_id == "count_round"
    assert "script" in problem.message and "refusé" in problem.message


def test_a_bare_dunder_attribute_in_a_script_is_refused_at_deploy(deployed):
    problem = only(refused(deployed, [(REVIEW_NAME, review((SCRIPT, "x = ().__class__")))]))
    assert problem.element_id == "count_round"
    assert "__class__" in problem.message


def test_an_import_in_a_script_is_refused_at_deploy(deployed):
    problem = only(refused(deployed, [(REVIEW_NAME, review((SCRIPT, "import os")))]))
    assert problem.element_id == "count_round"
    assert "import" in problem.message


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_script_escape_in_a_gateway_condition_is_refused(deployed, escape):
    hostile = review((CONDITION, xml_text(escape)))
    problem = only(refused(deployed, [(REVIEW_NAME, hostile)]))
    assert problem.element_id == "flow_again"
    assert "condition" in problem.message


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_script_escape_in_a_timer_expression_is_refused(fixture_pf, escape):
    hostile = TIMER.replace('"P14D"', xml_text(escape)).encode()
    problem = only(refused(fixture_pf, [("timer_wait.bpmn", hostile)]))
    assert problem.element_id == "wait_two_weeks"
    assert "minuteur" in problem.message


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("cell, element", [("&gt;= 3", "InputEntry_many"),
                                           ('"escalate"', "OutputEntry_many"),
                                           ("<text>rounds</text>", "InputExpression_rounds")])
def test_a_script_escape_in_a_dmn_cell_is_refused(fixture_pf, escape, cell, element):
    replacement = xml_text(escape)
    if cell.startswith("<text>"):
        replacement = f"<text>{replacement}</text>"
    hostile = ROUTE.replace(cell, replacement).encode()
    problem = only(refused(fixture_pf, [("route.dmn", hostile), ("rule_task.bpmn", RULE)]))
    assert problem.file == "route.dmn"
    assert problem.element_id == element


def test_the_clean_dmn_and_rule_task_deploy(fixture_pf):
    result = deploy(fixture_pf, [("route.dmn", ROUTE.encode()), ("rule_task.bpmn", RULE)])
    assert sorted((i.process_key, i.version) for i in result.created) == [
        ("route_decision", 1), ("rule_process", 1)]


# ---------------------------------------------------------------- broken references


def test_a_dangling_sequence_flow_names_the_flow_not_a_form(deployed):
    broken = review(('sourceRef="review" targetRef="count_round"',
                     'sourceRef="review" targetRef="count_rounds"'))
    problem = only(refused(deployed, [(REVIEW_NAME, broken)]))
    assert problem.element_id == "flow_review"
    assert "flow_review" in str(problem) and "count_rounds" in problem.message
    assert "perhaps a form has the same ID" not in str(problem)


def test_an_unknown_form_key_is_refused_with_the_list_of_forms(deployed):
    broken = review(('camunda:formKey="review"', 'camunda:formKey="relecture"'))
    problem = only(refused(deployed, [(REVIEW_NAME, broken)]))
    assert problem.element_id == "review"
    assert "« relecture »" in problem.message
    assert "review" in problem.hint


def test_an_unknown_lane_name_is_refused(deployed):
    broken = review(('name="Direction"', 'name="Cuisine"'))
    problem = only(refused(deployed, [(REVIEW_NAME, broken)]))
    assert problem.element_id == "Lane_direction"
    assert "Cuisine" in problem.message and "direction" in problem.hint


def test_an_unknown_candidate_group_is_refused(deployed):
    broken = review(('camunda:formKey="review"',
                     'camunda:formKey="review" camunda:candidateGroups="direction,chefs"'))
    problem = only(refused(deployed, [(REVIEW_NAME, broken)]))
    assert problem.element_id == "review"
    assert "« chefs »" in problem.message and "direction" in problem.hint


def test_a_called_element_that_does_not_exist_is_refused(deployed):
    broken = CALL.replace('calledElement="review_loop"', 'calledElement="ghost_process"')
    problem = only(refused(deployed, [("call_parent.bpmn", broken.encode())]))
    assert problem.element_id == "call_review"
    assert "ghost_process" in problem.message


def test_a_called_element_deployed_earlier_resolves(deployed):
    result = deploy(deployed, [("call_parent.bpmn", CALL.encode())])
    assert [(i.process_key, i.version) for i in result.created] == [("call_parent", 1)]


def test_a_decision_ref_that_does_not_exist_is_refused(fixture_pf):
    broken = RULE.replace(b'camunda:decisionRef="route_decision"',
                          b'camunda:decisionRef="ghost_decision"')
    problem = only(refused(fixture_pf, [("route.dmn", ROUTE.encode()),
                                        ("rule_task.bpmn", broken)]))
    assert problem.file == "rule_task.bpmn" and problem.element_id == "decide_route"
    assert "ghost_decision" in problem.message


def test_an_unquoted_timer_duration_is_refused_with_the_quoted_fix(fixture_pf):
    problem = only(refused(fixture_pf, [("timer_wait.bpmn",
                                         TIMER.replace('"P14D"', "P14D").encode())]))
    assert problem.element_id == "wait_two_weeks"
    assert "entre guillemets" in problem.message and '"P14D"' in problem.hint


def test_the_quoted_timer_deploys(fixture_pf):
    assert deploy(fixture_pf, [("timer_wait.bpmn", TIMER.encode())]).created


def test_a_syntax_error_in_a_condition_is_refused(deployed):
    problem = only(refused(deployed, [(REVIEW_NAME, review((CONDITION, "decision == ")))]))
    assert problem.element_id == "flow_again"
    assert "decision ==" in problem.message


def test_every_problem_of_a_file_is_reported_at_once(deployed):
    broken = review((CONDITION, "decision == "), ('name="Direction"', 'name="Cuisine"'),
                    ('camunda:formKey="review"', 'camunda:formKey="relecture"'))
    problems = refused(deployed, [(REVIEW_NAME, broken)])
    assert {p.element_id for p in problems} == {"flow_again", "Lane_direction", "review"}


def test_one_bad_file_keeps_the_good_ones_of_the_upload_out_too(fixture_pf):
    bad = TIMER.replace('"P14D"', "P14D").encode()
    problems = refused(fixture_pf, [(REVIEW_NAME, review()), ("timer_wait.bpmn", bad)])
    assert {p.file for p in problems} == {"timer_wait.bpmn"}
    assert versions(fixture_pf) == []


# ---------------------------------------------------------------- versions


def test_the_same_content_twice_creates_no_new_version(deployed):
    before = versions(deployed)
    result = deploy(deployed, [FIXTURES / REVIEW_NAME])
    assert result.created == []
    assert [(i.process_key, i.version) for i in result.items] == [("review_loop", 1)]
    assert versions(deployed) == before


def _start(pf: Partnerflow, partnership_id: int) -> int:
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=partnership_id,
                                       process_key="review_loop", actor="dir",
                                       data={"rounds": 0})


def _open_task(pf: Partnerflow, instance_id: int) -> HumanTask:
    with pf.read() as session:
        return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                       HumanTask.state == "open")).one()


def _complete(pf: Partnerflow, task_id: int, decision: str, actor: str = "dir"):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor=actor,
                                      data={"decision": decision})


@pytest.fixture
def partnership(deployed):
    make_user(deployed, "dir", "direction")
    make_user(deployed, "root", "admin")
    with deployed.uow() as uow:
        return services.create_partnership(uow, title="Réseau santé", actor="dir")


def test_a_changed_file_makes_version_2_and_running_instances_keep_version_1(deployed,
                                                                              partnership):
    pf = deployed
    old = _start(pf, partnership)
    changed = review(('name="Relire le document"', 'name="Relire la convention"'))
    result = deploy(pf, [(REVIEW_NAME, changed)])
    assert [(i.process_key, i.version) for i in result.created] == [("review_loop", 2)]
    with pf.read() as session:
        v1, v2 = (session.scalar(select(ProcessVersion.id).where(
            ProcessVersion.process_key == "review_loop", ProcessVersion.version == n))
            for n in (1, 2))

    completion = _complete(pf, _open_task(pf, old).id, "again")
    assert completion.instance_status == "running"
    again = _open_task(pf, old)
    assert again.title == "Relire le document"  # the v1 diagram's name
    with pf.read() as session:
        assert session.get(ProcessInstance, old).version_id == v1

    new = _start(pf, partnership)
    with pf.read() as session:
        assert session.get(ProcessInstance, new).version_id == v2
    assert _open_task(pf, new).title == "Relire la convention"

    assert _complete(pf, again.id, "done").instance_status == "completed"
    with pf.read() as session:
        assert session.get(ProcessInstance, old).version_id == v1
        assert session.scalar(select(func.count()).select_from(ProcessVersion)) == 2


# ---------------------------------------------------------------- run-time failures


def _failing(pf: Partnerflow, partnership_id: int, script: str) -> int:
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, script)))])
    instance = _start(pf, partnership_id)
    completion = _complete(pf, _open_task(pf, instance).id, "done")
    assert completion.instance_status == "error"
    return instance


def test_a_script_failing_at_run_time_stops_the_instance_on_that_element(deployed, partnership):
    pf = deployed
    instance_id = _failing(pf, partnership, "rounds = undefined_name + 1")
    with pf.read() as session:
        instance = session.get(ProcessInstance, instance_id)
        assert instance.status == "error"
        assert instance.error_element == "count_round"
        # the element by its name and id, then what went wrong
        assert instance.error_message.startswith("Compter le tour (count_round): ")
        assert "undefined_name" in instance.error_message
        failed = session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.type == "instance_failed")).all()
        assert [e.element_id for e in failed] == ["count_round"]
        assert "undefined_name" in failed[0].payload["error"]
        open_tasks = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "open"))
        assert open_tasks == 0


def test_retrying_an_unfixed_instance_fails_again_on_the_same_element(deployed, partnership):
    pf = deployed
    instance_id = _failing(pf, partnership, "rounds = undefined_name + 1")
    with pf.uow() as uow:
        status = services.retry_instance(uow, instance_id=instance_id, actor="root")
    assert status == "error"
    with pf.read() as session:
        instance = session.get(ProcessInstance, instance_id)
        assert (instance.status, instance.error_element) == ("error", "count_round")
        types = list(session.scalars(select(AuditEvent.type).where(
            AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)))
    assert types[-3:] == ["instance_failed", "instance_retried", "instance_failed"]


def test_only_an_administrator_or_designer_may_retry(deployed, partnership):
    pf = deployed
    instance_id = _failing(pf, partnership, "rounds = undefined_name + 1")
    with pf.uow() as uow, pytest.raises(Forbidden):
        services.retry_instance(uow, instance_id=instance_id, actor="dir")
    with pf.read() as session:
        instance = session.get(ProcessInstance, instance_id)
        assert (instance.status, instance.error_element) == ("error", "count_round")
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.type == "instance_retried")) == 0


def test_an_infinite_loop_stops_the_instance_at_the_time_limit(deployed, partnership):
    deploy(deployed, [(REVIEW_NAME, review((SCRIPT, "while True:\n    pass")))])
    fast = Partnerflow(deployed.settings.with_(step_time_limit_s=0.5), clock=deployed.clock)
    try:
        instance_id = _start(fast, partnership)
        started = time.monotonic()
        completion = _complete(fast, _open_task(fast, instance_id).id, "done")
        elapsed = time.monotonic() - started
        assert completion.instance_status == "error"
        assert elapsed < 5
        with fast.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            assert instance.error_element == "count_round"
            assert "0.5 s" in instance.error_message
            assert "trop long" in instance.error_message
    finally:
        fast.dispose()


def test_a_diagram_with_xml_comments_deploys_and_runs(fixture_pf):
    """A designer's notes (XML comments) anywhere are no elements: deploy and run ignore them."""
    commented = review(("<bpmn:startEvent", "<!-- à relire --><bpmn:startEvent"),
                       ("<bpmn:process ", "<!-- le processus --><bpmn:process "))
    deploy(fixture_pf, [(REVIEW_NAME, commented)])
    make_user(fixture_pf, "claire", "direction")
    with fixture_pf.uow() as uow:
        pid = services.create_partnership(uow, title="Notes", actor="claire")
    with fixture_pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="review_loop", actor="claire",
                                data={"rounds": 0})
    with fixture_pf.read() as session:
        assert session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.partnership_id == pid, HumanTask.state == "open")) == 1
