"""What the inbox calls a task and an instance: the diagram's title with `${variable}`
replaced from the task's data, a placeholder kept when the data lacks it, and a period's
number in both languages."""

from __future__ import annotations

from types import SimpleNamespace

from partnerflow.engine.runtime import stepping
from partnerflow.engine.store.models import HumanTask, ProcessInstance


def _meta(title=None, title_en=None):
    return SimpleNamespace(title_template=title, title=None, title_template_en=title_en,
                           title_en=None)


def test_a_title_takes_its_variables_from_the_data_and_keeps_those_it_lacks():
    meta = _meta("Signer la convention pour ${signing_party_name} (${missing})",
                 "Sign the convention for ${signing_party_name} (${missing})")
    data = {"signing_party_name": "Mairie de Bagnolet"}
    assert stepping.task_title(meta, data, "sign") == \
        "Signer la convention pour Mairie de Bagnolet (${missing})"
    assert stepping.task_title_en(meta, data) == \
        "Sign the convention for Mairie de Bagnolet (${missing})"
    assert stepping.task_title(None, data, "sign_convention") == "sign_convention"
    assert stepping.task_title_en(_meta("Signer"), data) is None  # no English: the French shows


def test_an_instance_of_a_period_is_labelled_with_its_number_in_both_languages():
    version = SimpleNamespace(name="Période de programme", process_key="programme_period",
                              names={"programme_period": {"en": "Programme period"}})
    assert stepping._label(version, {"period_number": 2}) == "Période de programme — période 2"
    assert stepping._label_en(version, {"period_number": 2}) == "Programme period — period 2"
    assert stepping._label_en(version, {}) == "Programme period"
    assert stepping._label_en(SimpleNamespace(name="x", process_key="p", names=None), {}) is None


def test_a_long_title_and_label_fill_their_column_and_no_more():
    # the inbox's title and the instance's labels are cut to what their columns hold
    title_size = HumanTask.__table__.c.title.type.length
    title_en_size = HumanTask.__table__.c.title_en.type.length
    label_size = ProcessInstance.__table__.c.label.type.length
    label_en_size = ProcessInstance.__table__.c.label_en.type.length
    long_fr, long_en = "Relire " + "é" * 400, "Review " + "e" * 400
    assert stepping.task_title(_meta(long_fr, long_en), {}, "x") == long_fr[:title_size]
    assert stepping.task_title_en(_meta(long_fr, long_en), {}) == long_en[:title_en_size]
    version = SimpleNamespace(name=long_fr, process_key="p", names={"p": {"en": long_en}})
    assert stepping._label(version, {}) == long_fr[:label_size]
    assert stepping._label_en(version, {}) == long_en[:label_en_size]
