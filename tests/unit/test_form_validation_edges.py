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


def test_a_key_the_form_does_not_declare_is_refused_by_name():
    schema = {"type": "object", "properties": {"comment": {"type": "string"}}}
    assert _errors(schema, {"comment": "relu", "formalisation_level": "L0"}) == \
        {"formalisation_level": [forms.UNDECLARED]}
    # a form that says what else it takes keeps its own rule
    open_schema = {**schema, "additionalProperties": {"type": "string"}}
    assert forms.validate_against(open_schema, {"comment": "relu", "x": "y"}) == \
        {"comment": "relu", "x": "y"}


def test_minimum_rows_messages():
    schema = {"type": "object", "properties": {
        "one": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "two": {"type": "array", "minItems": 2, "items": {"type": "string"}}}}
    assert _errors(schema, {"one": [], "two": ["a"]}) == {
        "one": ["Ajoutez au moins une ligne."], "two": ["Ajoutez au moins 2 ligne(s)."]}


def test_a_field_required_when_another_has_a_value():
    schema = {"type": "object", "properties": {"decision": {"type": "string"},
                                               "reason": {"type": "string"}},
              "x-rules": [{"rule": "required_if", "field": "reason", "other": "decision",
                           "equals": "refuse"}]}
    assert _errors(schema, {"decision": "refuse"}) == {"reason": ["Ce champ est obligatoire."]}
    assert forms.validate_against(schema, {"decision": "accept"}) == {"decision": "accept"}
    assert forms.validate_against(schema, {"decision": "refuse", "reason": "coût"})["reason"] == "coût"


def test_refused_characters_are_named_by_kind_and_clean_text_passes():
    assert forms.refused_text("un avis", "avis") is None
    assert "de contrôle interdit (U+0007)" in forms.refused_text("a\x07b", "avis")
    assert "invalide (U+DFFF)" in forms.refused_text("a\udfffb", "avis")
    assert "invalide (U+D800)" in forms.refused_text("a\ud800b", "avis")


def test_strings_get_a_default_bound_a_long_text_a_larger_one():
    schema = {"type": "object", "properties": {
        "title": {"type": "string"}, "body": {"type": "string", "x-widget": "textarea"},
        "either": {"type": ["string", "null"]}}}
    assert _errors(schema, {"title": "x" * 301, "body": "x" * 301, "either": "x" * 301}) == {
        "title": ["Au plus 300 caractères."], "either": ["Au plus 300 caractères."]}
    assert len(forms.validate_against(schema, {"body": "x" * 20_000})["body"]) == 20_000


def test_a_field_emptied_on_purpose_is_kept_as_none_only_when_it_held_a_value():
    schema = {"type": "object", "properties": {"note": {"type": "string"}}}
    assert forms.validate_against(schema, {"note": " "}, previous={"note": "ancienne"}) == \
        {"note": None}
    assert forms.validate_against(schema, {"note": ""}, previous={"note": "ancienne"}) == \
        {"note": None}
    assert forms.validate_against(schema, {"note": None}, previous={"note": "ancienne"}) == \
        {"note": None}  # a JSON null (the command line, an API) empties it too
    assert forms.validate_against(schema, {"note": ""}, previous={}) == {}
    assert forms.validate_against(schema, {"note": "neuve"}, previous={"note": "ancienne"}) == \
        {"note": "neuve"}


def test_the_generic_form_asks_for_its_box_to_be_ticked():
    assert _errors(forms.GENERIC_FORM, {"confirmed": False}) == \
        {"confirmed": ["Cette case doit être cochée."]}
    assert forms.validate_against(forms.GENERIC_FORM, {"confirmed": True})["confirmed"] is True


def test_data_of_exactly_the_limit_passes_and_one_byte_more_is_refused():
    limit = forms.DEFAULT_MAX_DATA_BYTES
    assert limit == 1024 * 1024
    overhead = forms.data_size({"t": ""})
    forms.check_data_size({"t": "x" * (limit - overhead)})
    with pytest.raises(FormValidationError):
        forms.check_data_size({"t": "x" * (limit - overhead + 1)})


def test_the_registry_reloads_a_changed_file_prefers_a_saved_form_and_names_bad_json(tmp_path):
    import os

    path = tmp_path / "review.json"
    path.write_text(json.dumps({"type": "object", "title": "Avant"}), encoding="utf-8")
    registry = forms.FormRegistry(tmp_path)
    first = registry.get("review")
    assert first.title == "Avant" and registry.get("review") is first
    path.write_text(json.dumps({"type": "object", "title": "Après"}), encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    assert registry.get("review").title == "Après"
    saved = forms.FormRegistry(tmp_path, saved=lambda: {"review": {"type": "object",
                                                                   "title": "Enregistré"}})
    assert saved.get("review").title == "Enregistré"
    path.write_text("{ pas du JSON", encoding="utf-8")
    with pytest.raises(FormValidationError, match="not readable JSON"):
        forms.load_schema(path)


def test_instructions_come_from_x_instructions_else_the_description():
    assert forms.FormDefinition("k", {"x-instructions": "Lisez", "description": "D"}).instructions \
        == "Lisez"
    assert forms.FormDefinition("k", {"description": "D"}).instructions == "D"
    assert forms.FormDefinition("k", {}).instructions is None


def test_a_rule_over_rows_names_the_row_it_refuses():
    schema = {"type": "object", "properties": {"rows": {"type": "array", "items": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}}}},
        "x-rules": [{"rule": "true", "field": "ok", "in": "rows"}]}
    assert _errors(schema, {"rows": [{"ok": True}, {"ok": False}]}) == \
        {"rows.1.ok": ["Cette case doit être cochée."]}


def test_a_reference_must_point_inside_the_form():
    defs = {"$defs": {"when": {"type": "string", "format": "date"}},
            "prefixItems": [{"type": "string"}]}
    schema = {"type": "object", **defs, "properties": {
        "start": {"$ref": "#/$defs/when"}, "first": {"$ref": "#/prefixItems/0"}}}
    assert forms.check_schema(schema, "plan") is schema
    for ref in ("#/$defs/missing", "https://example.org/schema.json", "#/prefixItems/3"):
        bad = {"type": "object", **defs, "properties": {"start": {"$ref": ref}}}
        with pytest.raises(FormValidationError, match="does not point inside the form"):
            forms.check_schema(bad, "plan")


def test_a_form_exists_saved_or_as_a_file_under_a_valid_key(tmp_path):
    (tmp_path / "review.json").write_text(json.dumps({"type": "object"}), encoding="utf-8")
    registry = forms.FormRegistry(tmp_path, saved=lambda: {"drawn": {"type": "object"}})
    assert registry.exists("review") and registry.exists("drawn")
    assert not registry.exists("absent") and not registry.exists("../review")
    assert not registry.exists(None)
    with pytest.raises(FormValidationError, match="not readable JSON"):
        forms.load_schema(tmp_path / "absent.json")
