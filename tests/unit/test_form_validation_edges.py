"""Edges of form validation that mutation testing found unchecked (docs/testing.md): the
minimum-length messages, the box that must be ticked, characters no database stores, the
form files read from disk and the definitions shared by the registry's cache."""

from __future__ import annotations

import dataclasses
import json

import pytest

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime import forms


def _errors(schema: dict, data: dict) -> dict[str, list[str]]:
    with pytest.raises(FormValidationError) as refused:
        forms.validate_against(schema, data)
    return refused.value.errors


def test_a_minimum_length_of_one_reads_as_required_and_longer_ones_give_the_length():
    schema = {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "code": {"type": "string", "minLength": 3}}}
    errors = _errors(schema, {"tags": ["santé", ""], "code": "ab"})
    assert errors == {"tags.1": ["Ce champ est obligatoire."], "code": ["Au moins 3 caractères."]}
    assert forms.validate_against(schema, {"tags": ["santé"], "code": "abc"}) == \
        {"tags": ["santé"], "code": "abc"}


def test_a_box_that_must_be_ticked_is_refused_unticked_and_taken_ticked():
    schema = {"type": "object", "properties": {"consent": {"type": "boolean"}},
              "x-rules": [{"rule": "true", "field": "consent", "message": "Cochez la case."}]}
    assert _errors(schema, {"consent": False}) == {"consent": ["Cochez la case."]}
    assert _errors(schema, {}) == {"consent": ["Cochez la case."]}
    assert forms.validate_against(schema, {"consent": True}) == {"consent": True}


def test_a_character_no_database_stores_is_refused_where_it_is_and_clean_data_passes():
    forms.check_data_size({"comment": "relu", "rows": [{"note": "é€"}]})
    with pytest.raises(FormValidationError) as refused:
        forms.check_data_size({"comment": "relu", "rows": [{"note": "a\x00b"}]})
    assert list(refused.value.errors) == ["rows.0.note"]


def test_a_form_file_is_read_from_disk_by_its_key_and_nothing_else(tmp_path):
    (tmp_path / "review.json").write_text(json.dumps(
        {"type": "object", "title": "Relecture", "properties": {"note": {"type": "string"}}}),
        encoding="utf-8")
    registry = forms.FormRegistry(tmp_path)
    assert registry.file_schema("review")["title"] == "Relecture"
    assert registry.file_schema("absent") is None
    assert registry.file_schema("../review") is None
    assert registry.get("review") is registry.get("review")  # cached while the file is unchanged


def test_a_form_definition_shared_by_the_cache_cannot_be_changed():
    definition = forms.FormDefinition("review", {"type": "object"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.key = "other"


def test_a_task_shows_the_methods_form_by_its_key_and_the_generic_form_for_a_camunda_key():
    assert forms.task_form("idea_validation") == ("idea_validation", None)
    key, schema = forms.task_form("embedded:app:forms/review.html")
    assert key is None and schema == forms.GENERIC_FORM and schema is not forms.GENERIC_FORM
    assert forms.task_form(None, form_ref="review") == (None, forms.GENERIC_FORM)
    assert forms.task_form(None) == (None, None)


def test_fields_come_in_their_declared_order_then_in_the_files_order():
    definition = forms.FormDefinition("k", {"type": "object", "properties": {
        "c": {"type": "string"}, "b": {"type": "string", "x-order": 2},
        "a": {"type": "string", "x-order": 1}}})
    assert [name for name, _ in definition.ordered_fields()] == ["a", "b", "c"]


def test_a_rule_over_rows_must_name_the_rows_field_as_text():
    rule = {"rule": "after", "field": "end", "other": "start"}
    schema = {"type": "object", "properties": {}}
    forms.check_schema({**schema, "x-rules": [{**rule, "in": "rows"}]}, "plan")
    with pytest.raises(FormValidationError, match="in must name a field"):
        forms.check_schema({**schema, "x-rules": [{**rule, "in": 3}]}, "plan")
