"""Input the engine refuses before the database sees it, whoever calls (web, command line):
NUL characters and lone surrogates (PostgreSQL rejects them with a DataError; SQLite would
store them), task data past the overall cap, a map import past its row limit, a UTF-16
diagram. Run on both databases (`--db=postgresql`)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from partnerflow.engine.errors import DeploymentRejected, FormValidationError, InvalidInput
from partnerflow.engine.method import map_io, registry
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import Document, HumanTask
from tests.conftest import FIXTURES, deploy, make_user
from tests.web.support import build_world, complete, fast_passwords


@pytest.fixture
def world(fixture_pf, monkeypatch):
    fast_passwords(monkeypatch)
    return build_world(fixture_pf)


def _task(pf, task_id: int) -> HumanTask:
    with pf.read() as db:
        return db.get(HumanTask, task_id)


@pytest.mark.parametrize("data", [
    {"decision": "done", "comment": "vu\x00"},          # a declared field
    {"decision": "done", "annexe": "\x00"},              # a field the form does not declare
    {"decision": "done", "note\x00": "x"},               # a field name
    {"decision": "done", "comment": "demi \ud83d paire"},  # a lone surrogate
])
def test_a_completion_with_a_character_no_database_stores_is_refused_by_field(world, data):
    with pytest.raises(FormValidationError) as refused:
        complete(world.pf, world.task_own, "claire", data)
    messages = [m for ms in refused.value.errors.values() for m in ms]
    assert messages and all(m.startswith("Caractère") and "retirez-le" in m for m in messages)
    assert _task(world.pf, world.task_own).state == "open"


def test_a_draft_with_a_nul_is_refused_and_nothing_is_kept(world):
    with world.pf.uow() as uow, pytest.raises(FormValidationError) as refused:
        services.save_draft(uow, task_id=world.task_own, actor="claire",
                            data={"comment": "brouillon\x00"})
    assert "comment" in refused.value.errors
    assert _task(world.pf, world.task_own).draft is None


def test_task_data_past_the_cap_is_refused_and_the_task_stays_open(world):
    with pytest.raises(FormValidationError) as refused:
        complete(world.pf, world.task_own, "claire",
                 {"decision": "done", "pieces": ["p" * 1000] * 1100})
    assert "trop volumineuses" in refused.value.errors["_form"][0]
    assert _task(world.pf, world.task_own).state == "open"


def test_a_map_import_past_the_row_limit_stores_nothing(pf):
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        registry.create_organisation(uow, actor="claire", data={"name": "Nous", "is_own": True})
    lines = ["Partenaire;Relation"] + [f"Mairie {n};réseau" for n in range(6)]
    content = ("\n".join(lines) + "\n").encode()
    pf.settings = pf.settings.with_(import_max_rows=5)
    with pf.uow() as uow, pytest.raises(InvalidInput) as refused:
        map_io.store_upload(uow, filename="carte.csv", content=content, actor="claire",
                            max_bytes=pf.settings.max_upload_bytes)
    assert "au plus 5" in refused.value.errors["file"][0]
    with pf.read() as db:
        assert db.scalar(select(func.count()).select_from(Document)) == 0


def test_a_utf16_diagram_is_refused_naming_its_encoding(fixture_pf):
    source = (FIXTURES / "review_loop.bpmn").read_text("utf-8").replace(
        'encoding="UTF-8"', 'encoding="UTF-16"')
    for encoded in (source.encode("utf-16"), source.encode("utf-16-le")):
        with pytest.raises(DeploymentRejected) as refused:
            deploy(fixture_pf, [("review_loop.bpmn", encoded)])
        [problem] = refused.value.problems
        assert "UTF-16" in problem.message and "UTF-8" in problem.hint
