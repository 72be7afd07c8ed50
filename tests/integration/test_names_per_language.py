"""The method's names in English travel with each deployed version: the catalogue read from the
diagram's name_en properties at deploy, each task's English title stored with its row (its
variables filled), each instance's English label, the audit timeline naming every event and
every gateway's path in both languages with no element id, and the instance's diagrams in the
method's order, drawn in the reader's language."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select

from partnerflow.engine.runtime import auditlog, names, services
from partnerflow.engine.store.models import HumanTask, ProcessInstance, ProcessVersion
from tests.conftest import deploy
from tests.scenarios.method import DELEGATE, PARTNER, Walk, add_people


@pytest.fixture
def method(pf):
    deploy(pf, pf.method_files())
    add_people(pf)
    return pf


@pytest.fixture
def negotiating(method, clock):
    """A partnership in its negotiation: the second version of the draft being written."""
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.complete(DELEGATE, "write_draft")
    walk.complete(PARTNER, "comment_draft")
    walk.complete("claire.martin", "validate_draft", "new_version")
    return walk


def _latest(pf, key: str) -> ProcessVersion:
    with pf.read() as db:
        return db.scalar(select(ProcessVersion).where(ProcessVersion.process_key == key)
                         .order_by(ProcessVersion.version.desc()).limit(1))


def test_each_version_carries_the_names_of_its_elements_in_french_and_english(method):
    negotiation = _latest(method, "stage_negotiation")
    assert negotiation.names["stage_negotiation"] == {"fr": "La négociation", "en": "Negotiation"}
    assert negotiation.names["write_draft"] == {"fr": "Rédiger la version n du projet",
                                               "en": "Write version n of the draft"}
    flows = [entry for entry in negotiation.names.values() if "source" in entry]
    assert flows and all(entry.get("en") for entry in flows)
    for key in ("partnership_cycle", "stage_idea", "stage_elaboration", "stage_action_sheets",
                "stage_realisation", "stage_evaluation", "programme_period", "partnership_plan",
                "convention_renewal", "evaluation_preparation"):
        version = _latest(method, key)
        # every name people read has its English: tasks, events, gateways, flows, lanes, pools
        untranslated = [k for k, entry in version.names.items() if "fr" in entry and "en" not in entry
                        and not k.startswith("message_")]
        assert untranslated == [], (key, untranslated)
        assert names.version_name(version, "en") != version.process_key


def test_a_task_stores_its_english_title_with_its_variables_and_the_instance_its_label(negotiating):
    with negotiating.pf.read() as db:
        draft = db.scalar(select(HumanTask).where(HumanTask.partnership_id == negotiating.pid,
                                                  HumanTask.element_id == "write_draft",
                                                  HumanTask.state == "open"))
        first = db.scalar(select(HumanTask).where(HumanTask.partnership_id == negotiating.pid,
                                                  HumanTask.element_id == "validate_idea"))
        main = db.get(ProcessInstance, negotiating.main_instance_id)
    assert (draft.title, draft.title_en) == ("Rédiger la version 2 du projet",
                                             "Write version 2 of the draft")
    assert (first.title, first.title_en) == ("Valider l'idée", "Validate the idea")
    assert (main.label, main.label_en) == ("Cycle de partenariat", "Partnership cycle")


def test_the_timeline_names_every_event_and_each_gateway_s_path_without_an_id(negotiating):
    with negotiating.pf.read() as db:
        events = auditlog.timeline(db, negotiating.pid)
    gateways = [e for e in events if e.type == "gateway_taken"]
    assert gateways
    new_version = [e for e in gateways if e.names.get("fr") == "Version validée ?"][-1]
    assert new_version.names == {"fr": "Version validée ?", "en": "Version validated?"}
    assert new_version.path == [{"fr": "Nouvelle version → Nouvelle version du projet",
                                 "en": "New version → New version of the draft"}]
    merge = [e for e in gateways if e.names.get("fr") == "Nouvelle version du projet"][-1]
    assert merge.path == [{"fr": "Rédiger → Numéroter la version n", "en": "Write → Number version n"}]
    created = [e for e in events if e.type == "task_created"][-1]
    assert created.names == {"fr": "Rédiger la version 2 du projet", "en": "Write version 2 of the draft"}
    started = next(e for e in events if e.type == "instance_started")
    assert started.names == {"fr": "Cycle de partenariat", "en": "Partnership cycle"}
    ids = {e.element_id for e in events if e.element_id}
    for event in events:
        for words in [event.names, *event.path]:
            assert not set(words.values()) & ids, event


def test_the_instance_s_diagrams_follow_the_method_s_order_and_speak_english(negotiating):
    with negotiating.pf.uow(write=False) as uow:
        states = services.instance_element_states(uow, instance_id=negotiating.main_instance_id)
        diagrams = auditlog.instance_diagrams(uow.session, uow.catalog, negotiating.main_instance_id,
                                              states)
    assert [d["process_key"] for d in diagrams] == ["partnership_cycle", "stage_idea",
                                                    "stage_elaboration", "stage_negotiation"]
    assert [d["names"].get("en") for d in diagrams] == ["Partnership cycle", "The first idea",
                                                        "Elaboration", "Negotiation"]
    negotiation = _latest(negotiating.pf, "stage_negotiation")
    english = etree.fromstring(names.localized_source(negotiation.source, negotiation.names,
                                                      "en").encode())
    drawn = {el.get("id"): el.get("name") for el in english.iter() if el.get("id")}
    assert drawn["write_draft"] == "Write version n of the draft"
    assert drawn["stage_negotiation"] == "Negotiation"


def test_the_stages_are_called_in_the_method_s_order():
    cycle = _source("partnership_cycle")
    assert auditlog.calls_in_flow_order(cycle, "partnership_cycle") == [
        "stage_idea", "stage_elaboration", "stage_negotiation", "stage_action_sheets",
        "stage_realisation", "stage_evaluation"]


def _source(key: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "bpmn" / f"{key}.bpmn").read_text(encoding="utf-8")
