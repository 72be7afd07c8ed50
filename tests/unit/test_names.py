"""Which name a reader sees: the English one when the reader uses English and the diagram gives
it, else the French one; never an element's id when a name exists. The names are read from the
diagram's extension properties (name_en, title_en) by the adapter."""

from __future__ import annotations

from types import SimpleNamespace

from lxml import etree

from partnerflow.engine import spiff
from partnerflow.engine.runtime import names
from partnerflow.engine.runtime.stepping import task_title, task_title_en

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="review" name="Relecture" isExecutable="true">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="name_en" value="Review" />
    </camunda:properties></bpmn:extensionElements>
    <bpmn:startEvent id="start" name="Demande reçue"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="write" name="Rédiger la version n">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="title" value="Rédiger la version ${n}" />
        <camunda:property name="name_en" value="Write version n" />
        <camunda:property name="title_en" value="Write version ${n}" />
      </camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="again" name="Encore ?" />
    <bpmn:exclusiveGateway id="merge" />
    <bpmn:endEvent id="done" name="Terminé" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="write" />
    <bpmn:sequenceFlow id="f2" sourceRef="write" targetRef="again" />
    <bpmn:sequenceFlow id="yes" name="Oui" sourceRef="again" targetRef="merge">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="name_en" value="Yes" />
      </camunda:properties></bpmn:extensionElements>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" sourceRef="again" targetRef="done" />
    <bpmn:sequenceFlow id="f3" sourceRef="merge" targetRef="write" />
  </bpmn:process>
  <bpmn:message id="m" name="routing_name" />
</bpmn:definitions>""".encode()


def test_the_reader_s_language_then_french_then_the_default():
    both = {"fr": "Valider l'idée", "en": "Validate the idea"}
    assert names.pick(both, "en") == "Validate the idea"
    assert names.pick(both, "en_GB") == names.pick(both, "en-US") == "Validate the idea"
    assert names.pick(both, "fr") == names.pick(both, None) == "Valider l'idée"
    assert names.pick({"fr": "Valider l'idée"}, "en") == "Valider l'idée"  # no English: French
    assert names.pick({"fr": "Valider", "en": "  "}, "en") == "Valider"
    assert names.pick({}, "en", "validate_idea") == "validate_idea"
    assert names.pick(None, "fr") is None
    assert names.language("de") == "fr"  # any other language reads the source


def test_a_text_stored_in_both_languages():
    assert names.in_language("Cycle de partenariat", "Partnership cycle", "en") == "Partnership cycle"
    assert names.in_language("Cycle de partenariat", None, "en") == "Cycle de partenariat"
    assert names.in_language("Cycle de partenariat", "Partnership cycle", "fr") == "Cycle de partenariat"


def test_a_version_is_named_by_its_process_never_by_its_key_when_it_has_a_name():
    version = SimpleNamespace(process_key="review", name="Relecture",
                              names={"review": {"fr": "Relecture", "en": "Review"}})
    assert names.version_name(version, "en") == "Review"
    assert names.version_name(version, "fr") == "Relecture"
    unnamed = SimpleNamespace(process_key="review", name=None, names={})
    assert names.version_name(unnamed, "en") == "review"


def test_the_adapter_reads_every_name_and_its_english_from_the_extension_properties():
    catalogue = spiff.read_names(etree.fromstring(DIAGRAM))
    assert catalogue["review"] == {"fr": "Relecture", "en": "Review"}
    assert catalogue["write"] == {"fr": "Rédiger la version n", "en": "Write version n"}
    assert catalogue["start"] == {"fr": "Demande reçue"}
    assert catalogue["yes"] == {"fr": "Oui", "en": "Yes", "source": "again", "target": "merge"}
    assert "merge" not in catalogue and "no" not in catalogue  # nothing to name
    assert "m" not in catalogue  # a message's name routes it


def test_the_task_meta_carries_the_english_name_and_title():
    info = spiff.read_processes(etree.fromstring(DIAGRAM), "review.bpmn")["review"]
    meta = info.user_tasks["write"]
    assert info.name_en == "Review"
    assert (meta.title_en, meta.title_template_en) == ("Write version n", "Write version ${n}")
    assert task_title(meta, {"n": 2}, "write") == "Rédiger la version 2"
    assert task_title_en(meta, {"n": 2}) == "Write version 2"
    plain = SimpleNamespace(title_template_en=None, title_en="Write it")
    assert task_title_en(plain, {}) == "Write it"
    assert task_title_en(SimpleNamespace(title_template_en=None, title_en=None), {}) is None


def test_where_a_gateway_went_in_words_per_language():
    catalogue = spiff.read_names(etree.fromstring(DIAGRAM))
    # to an unnamed merge through a named flow; to a named end through an unnamed flow
    assert names.path_names(catalogue, "again", ["merge"]) == [{"fr": "Oui", "en": "Yes"}]
    assert names.path_names(catalogue, "again", ["done"]) == [{"fr": "Terminé"}]
    assert names.path_names(catalogue, "merge", ["write"]) == [
        {"fr": "Rédiger la version n", "en": "Write version n"}]
    assert names.path_names(catalogue, "again", ["nowhere"]) == []  # no id in place of a name


def test_a_diagram_is_drawn_in_english_and_left_as_it_is_in_french():
    catalogue = spiff.read_names(etree.fromstring(DIAGRAM))
    source = DIAGRAM.decode()
    assert names.localized_source(source, catalogue, "fr") == source
    english = etree.fromstring(names.localized_source(source, catalogue, "en").encode())
    by_id = {el.get("id"): el.get("name") for el in english.iter() if el.get("id")}
    assert by_id["write"] == "Write version n" and by_id["review"] == "Review"
    assert by_id["start"] == "Demande reçue"  # no English given: the French name stays
    assert names.localized_source(source, {"start": {"fr": "Demande reçue"}}, "en") == source
