"""Server-side form validation: French messages, every error at once, HTML strings coerced."""

from __future__ import annotations

import pytest

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime.forms import check_schema, schema_from_form_fields, validate_against

SCHEMA = {
    "type": "object",
    "required": ["title", "kind", "start"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "kind": {"type": "string", "oneOf": [{"const": "network", "title": "Réseau"},
                                             {"const": "partnership", "title": "Partenariat"}]},
        "start": {"type": "string", "format": "date"},
        "siret": {"type": "string", "pattern": "^[0-9]{14}$",
                  "x-pattern-message": "Le SIRET compte 14 chiffres."},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "budget": {"type": "number", "minimum": 0},
        "people": {"type": "integer"},
        "agreed": {"type": "boolean"},
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"},
            "begin": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date"}}}},
    },
    "x-rules": [{"rule": "after", "field": "end", "other": "begin", "in": "rows",
                 "message": "La fin doit suivre le début."}],
}
VALID = {"title": "Réseau santé", "kind": "network", "start": "2026-03-02"}


def errors_of(data: dict, schema: dict = SCHEMA) -> dict[str, list[str]]:
    with pytest.raises(FormValidationError) as caught:
        validate_against(schema, data)
    assert str(caught.value) == "Le formulaire contient des erreurs."
    return caught.value.errors


def test_valid_data_comes_back_cleaned():
    assert validate_against(SCHEMA, {**VALID, "title": "  Réseau santé  "}) == VALID


def test_every_missing_required_field_is_reported_at_once_in_french():
    assert errors_of({}) == {"title": ["Ce champ est obligatoire."],
                             "kind": ["Ce champ est obligatoire."],
                             "start": ["Ce champ est obligatoire."]}


def test_a_blank_string_counts_as_missing():
    assert errors_of({**VALID, "title": "   "}) == {"title": ["Ce champ est obligatoire."]}


def test_every_field_error_is_returned_at_once():
    errors = errors_of({"title": "x", "kind": "cartel", "start": "02/03/2026",
                        "siret": "123", "budget": "beaucoup"})
    assert errors == {
        "kind": ["Choisissez une des valeurs proposées."],
        "start": ["Date attendue au format AAAA-MM-JJ."],
        "siret": ["Le SIRET compte 14 chiffres."],
        "budget": ["Valeur attendue : un nombre."],
    }


def test_an_unknown_choice_is_refused():
    assert errors_of({**VALID, "kind": "cartel"}) == {
        "kind": ["Choisissez une des valeurs proposées."]}


def test_a_pattern_without_its_own_message_gets_the_generic_french_one():
    assert errors_of({**VALID, "code": "abc"}) == {
        "code": ["Le format de cette valeur est incorrect."]}


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "20260302", "2 mars 2026"])
def test_a_date_must_be_a_real_iso_date(bad):
    assert errors_of({**VALID, "start": bad}) == {"start": ["Date attendue au format AAAA-MM-JJ."]}


@pytest.mark.parametrize("text, number", [
    ("1 234,50", 1234.5),
    ("1\u00a0234,50", 1234.5),  # no-break space, as French number formatting pastes it
    ("1\u202f234,50", 1234.5),  # narrow no-break space
    ("12.5", 12.5),
    (" 7 ", 7),
])
def test_numbers_typed_the_french_way_are_coerced(text, number):
    assert validate_against(SCHEMA, {**VALID, "budget": text})["budget"] == number


def test_an_integer_field_gets_an_int_from_a_string():
    cleaned = validate_against(SCHEMA, {**VALID, "people": "12"})
    assert cleaned["people"] == 12 and isinstance(cleaned["people"], int)


def test_a_fractional_value_in_an_integer_field_is_refused():
    assert errors_of({**VALID, "people": "2,5"}) == {"people": ["Valeur attendue : un nombre entier."]}


def test_a_negative_amount_is_refused_with_the_bound():
    assert errors_of({**VALID, "budget": "-3"}) == {
        "budget": ["La valeur doit être supérieure ou égale à 0."]}


def test_an_empty_optional_number_is_dropped():
    assert "budget" not in validate_against(SCHEMA, {**VALID, "budget": ""})


def test_checkbox_strings_become_booleans():
    assert validate_against(SCHEMA, {**VALID, "agreed": "on"})["agreed"] is True
    assert validate_against(SCHEMA, {**VALID, "agreed": "non"})["agreed"] is False


def test_an_after_rule_is_checked_in_each_row_and_names_the_row():
    rows = [{"label": "a", "begin": "2026-03-01", "end": "2026-04-01"},
            {"label": "b", "begin": "2026-03-01", "end": "2026-02-01"},
            {"label": "c", "begin": "2026-05-01", "end": "2026-05-01"}]
    assert errors_of({**VALID, "rows": rows}) == {"rows.1.end": ["La fin doit suivre le début."]}


def test_rule_errors_and_schema_errors_are_reported_together():
    rows = [{"begin": "2026-03-01", "end": "2026-02-01"}]
    errors = errors_of({"kind": "network", "start": "2026-03-02", "rows": rows})
    assert errors == {"title": ["Ce champ est obligatoire."],
                      "rows.0.end": ["La fin doit suivre le début."]}


def test_an_after_rule_at_the_root_uses_its_default_french_message():
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
              "x-rules": [{"rule": "after", "field": "b", "other": "a"}]}
    assert errors_of({"a": "2026-03-02", "b": "2026-03-01"}, schema) == {
        "b": ["Cette date doit suivre la précédente."]}
    assert validate_against(schema, {"a": "2026-03-02", "b": "2026-03-02"})["b"] == "2026-03-02"


def test_data_that_is_not_an_object_is_refused():
    with pytest.raises(FormValidationError) as caught:
        validate_against(SCHEMA, ["not", "a", "dict"])
    assert "_form" in caught.value.errors


def test_a_form_must_be_an_object_schema():
    with pytest.raises(FormValidationError, match='"type": "object"'):
        check_schema({"type": "array"}, "bad.json")
    with pytest.raises(FormValidationError, match="invalid JSON Schema"):
        check_schema({"type": "object", "properties": {"a": {"type": 12}}}, "bad.json")


def test_inline_camunda_form_fields_become_a_schema_that_validates():
    schema = schema_from_form_fields([
        {"id": "decision", "type": "enum", "label": "Décision", "required": True,
         "options": [{"id": "yes", "name": "Oui"}, {"id": "no", "name": "Non"}]},
        {"id": "when", "type": "date", "label": "Quand", "required": False, "options": []},
        {"id": "count", "type": "long", "label": "Nombre", "required": False, "options": []},
    ])
    assert validate_against(schema, {"decision": "yes", "count": "3"}) == {"decision": "yes",
                                                                            "count": 3}
    assert errors_of({"when": "demain"}, schema) == {
        "decision": ["Ce champ est obligatoire."],
        "when": ["Date attendue au format AAAA-MM-JJ."]}


COMMITTEE = {"type": "object", "properties": {"members": {
    "type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "side": {"type": "string", "enum": ["ours", "partner"]}}}}},
    "x-rules": [{"rule": "distinct", "field": "members", "key": "side", "min": 2,
                 "message": "Des membres de chaque partie."}]}


def test_a_distinct_rule_asks_for_rows_spanning_enough_values():
    one_side = {"members": [{"name": "A", "side": "ours"}, {"name": "B", "side": "ours"}]}
    with pytest.raises(FormValidationError) as error:
        validate_against(COMMITTEE, one_side)
    assert error.value.errors == {"members": ["Des membres de chaque partie."]}
    both = {"members": [{"name": "A", "side": "ours"}, {"name": "B", "side": "partner"}]}
    assert validate_against(COMMITTEE, both) == both


@pytest.mark.parametrize("least", ["2", 0, 101, True, 1.5])
def test_a_distinct_rule_with_a_bad_minimum_is_refused_at_load(least):
    rules = [{"rule": "distinct", "field": "members", "key": "side", "min": least}]
    with pytest.raises(FormValidationError, match="min must be a whole number"):
        check_schema({**COMMITTEE, "x-rules": rules}, "committee.json")
