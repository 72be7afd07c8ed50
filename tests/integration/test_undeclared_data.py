"""The engine is the one guard of task data: a form takes the fields it declares and nothing
else, whoever submits it (the web, the command line, any caller of the use case), so that
process variables no form declares, such as the formalisation level, are set by the diagram
alone."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime import services, stepping
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from tests.conftest import FIXTURES, _wipe, deploy, make_user

HOSTILE = {"decision": "done", "formalisation_level": "L0", "partnership_status": "ended"}


@pytest.fixture
def review(settings, clock, tmp_path):
    pf = Partnerflow(settings.with_(forms_dir=FIXTURES / "forms", bpmn_dir=FIXTURES,
                                    audit_key_file=tmp_path / "audit_key",
                                    audit_seal_key_file=tmp_path / "audit_seal_key"), clock=clock)
    _wipe(pf)
    deploy(pf, [FIXTURES / "review_loop.bpmn"])
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    with pf.read() as db:
        task_id = db.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    yield pf, iid, task_id
    pf.dispose()


def _variables(pf, iid) -> dict:
    with pf.uow(write=False) as uow:
        run = stepping.restore(uow, uow.session.get(ProcessInstance, iid))
        return {k: v for t in run.workflow.get_tasks() for k, v in t.data.items()}


def test_the_use_case_refuses_keys_the_form_does_not_declare(review):
    pf, iid, task_id = review
    with pytest.raises(FormValidationError) as refused, pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="claire", data=HOSTILE)
    assert set(refused.value.errors) == {"formalisation_level", "partnership_status"}
    assert "n'existe pas dans ce formulaire" in refused.value.errors["formalisation_level"][0]
    with pf.read() as db:
        assert db.get(HumanTask, task_id).state == "open"
    assert "formalisation_level" not in _variables(pf, iid)


def test_the_command_line_is_refused_the_same_way(review, monkeypatch, tmp_path):
    from partnerflow.web.cli import main

    pf, iid, task_id = review
    monkeypatch.setenv("PARTNERFLOW_DATABASE_URL", pf.settings.database_url)
    monkeypatch.setenv("PARTNERFLOW_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.setenv("PARTNERFLOW_AUDIT_KEY_FILE", str(tmp_path / "audit_key"))
    result = CliRunner().invoke(main, ["complete", str(task_id), "--user", "claire",
                                       "--data", json.dumps(HOSTILE)])
    assert result.exit_code != 0
    assert "formalisation_level" in result.output
    assert "formalisation_level" not in _variables(pf, iid)


def test_a_task_without_a_form_takes_no_data(review):
    pf, iid, task_id = review
    with pf.uow() as uow:
        task = uow.session.get(HumanTask, task_id)
        task.form_key = None
        task.inline_schema = None
        uow.commit()
    with pytest.raises(FormValidationError) as refused, pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="claire", data={"rounds": 99})
    assert set(refused.value.errors) == {"rounds"}
