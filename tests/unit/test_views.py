"""Task views without a database: declarations read and refused, audiences filtered, and an
emptied field kept empty by the validation."""

from __future__ import annotations

import pytest

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime import views
from partnerflow.engine.runtime.forms import check_schema, validate_against

SCHEMA = {
    "type": "object",
    "properties": {
        "purpose": {"type": "string", "x-audience": "everyone"},
        "our_interests": {"type": "string"},
        "rows": {"type": "array", "x-audience": "partner", "items": {"type": "object", "properties": {
            "party": {"type": "string"}, "budget": {"type": "number", "x-audience": "internal"}}}},
    },
}


def test_shows_read_from_a_form_and_from_a_diagram_property():
    assert views.parse_shows([{"form": "draft", "fields": ["draft_purposes"]}, {"element": "t1"}]) == [
        views.Show("draft", None, ("draft_purposes",)), views.Show(None, "t1", None)]
    assert views.parse_shows("draft: draft_purposes, draft_document; draft_comments") == [
        views.Show("draft", None, ("draft_purposes", "draft_document")),
        views.Show("draft_comments", None, None)]
    assert views.parse_shows('[{"element": "comment_draft"}]') == [views.Show(None, "comment_draft")]


@pytest.mark.parametrize("shows, says", [
    ({"form": "draft"}, "must be a list"),
    ([{"fields": ["x"]}], "must name a \"form\" or an \"element\""),
    ([{"form": "draft", "fields": "x"}], "fields must be a list"),
    ([{"form": "draft", "colour": "red"}], "unknown entry colour"),
])
def test_a_wrong_declaration_is_refused_when_the_form_is_saved(shows, says):
    with pytest.raises(FormValidationError, match=says):
        check_schema({"type": "object", "properties": {}, "x-shows": shows}, "f.json")
    with pytest.raises(FormValidationError, match="x-audience must be one of"):
        check_schema({"type": "object", "properties": {"a": {"type": "string",
                                                             "x-audience": "partners"}}}, "f.json")


def test_a_partner_reads_only_partner_and_everyone_fields_and_rows_inherit():
    data = {"purpose": "p", "our_interests": "secret", "unknown": "?",
            "rows": [{"party": "CH", "budget": 10}]}
    kept, removed = views.filter_object(SCHEMA["properties"], data, {})
    assert kept == {"purpose": "p", "rows": [{"party": "CH"}]}
    assert sorted(removed) == ["our_interests", "rows.0.budget", "unknown"]


def test_an_emptied_field_is_stored_empty_only_when_it_held_a_value():
    schema = {"type": "object", "properties": {"risks": {"type": "string"},
                                               "notes": {"type": "string"}}}
    cleaned = validate_against(schema, {"risks": "", "notes": ""}, previous={"risks": "old"})
    assert cleaned == {"risks": None}  # emptied on purpose; `notes` never held anything
    assert validate_against(schema, {"risks": ""}) == {}


class _Reader:
    def __init__(self, *roles: str):
        self.username, self.roles, self.partnership_ids = "someone", frozenset(roles), frozenset({1})


MIXED = {"type": "object", "required": ["decision", "notes"], "properties": {
    "decision": {"type": "string", "x-audience": "everyone"},
    "notes": {"type": "string"},  # internal when not said
    "rows": {"type": "array", "x-audience": "partner", "items": {"type": "object", "properties": {
        "what": {"type": "string"}, "cost": {"type": "number", "x-audience": "internal"}},
        "required": ["what", "cost"]}}},
    "x-rules": [{"rule": "required_if", "field": "notes", "other": "decision", "equals": "no"},
                {"rule": "required_if", "field": "what", "other": "what", "in": "rows"},
                {"rule": "true", "field": "decision"}]}


def test_a_partner_fills_only_the_shared_fields_of_a_form():
    form = views.fillable(MIXED, _Reader("partner"))
    assert list(form["properties"]) == ["decision", "rows"]
    assert form["required"] == ["decision"]
    assert list(form["properties"]["rows"]["items"]["properties"]) == ["what"]
    assert form["properties"]["rows"]["items"]["required"] == ["what"]
    # a rule on a field the partner does not get goes with it
    assert [r["field"] for r in form["x-rules"]] == ["what", "decision"]
    # what the partner may not fill is refused, not kept
    with pytest.raises(FormValidationError) as error:
        validate_against(form, {"decision": "yes", "notes": "interne"})
    assert "notes" in str(error.value.errors)


def test_staff_fill_the_whole_form():
    for roles in (("direction",), ("partner", "steering"), ("auditor",)):
        assert views.fillable(MIXED, _Reader(*roles)) is MIXED
def test_a_named_widget_reads_by_its_label_and_an_unknown_value_as_written_with_a_note(monkeypatch):
    reads = []

    def objectives(session):
        reads.append(session)
        return views.Naming({"hors plan": "Aucun / hors plan", "O1": "O1 — Ouvrir l'EHPAD"},
                            unlisted="absent du plan")

    monkeypatch.setitem(views.NAMINGS, "objective", objectives)
    prop = {"type": "string", "x-widget": "objective"}
    lookups = views._Lookups("session", None)
    known, none, unknown = (views.typed(prop, value, lookups, False)
                            for value in ("O1", "hors plan", "O7"))
    assert (known.kind, known.text, known.note) == ("choice", "O1 — Ouvrir l'EHPAD", None)
    assert (none.text, none.note) == ("Aucun / hors plan", None)
    assert (unknown.kind, unknown.raw, unknown.text, unknown.note) == ("choice", "O7", "O7",
                                                                       "absent du plan")
    assert reads == ["session"]  # read once per page
    # inside rows too: the same rule wherever the value is shown
    table = views.typed({"type": "array", "items": {"type": "object", "properties": {
        "objective": prop}}}, [{"objective": "O1"}], lookups, False).table
    assert table.rows[0][0].text == "O1 — Ouvrir l'EHPAD"
    assert views.typed(prop, ["O1", "O7"], lookups, False).items == ["O1 — Ouvrir l'EHPAD", "O7"]
    # a widget nobody named is typed as before
    assert views.typed({"type": "string", "x-widget": "text"}, "O1", lookups, False).kind == "text"


def test_an_erased_value_is_shown_as_erased_whatever_its_field():
    lookups = views._Lookups("session", None)
    for prop in ({"type": "string"}, {"type": "string", "x-widget": "user"},
                 {"type": "string", "enum": ["a"]}, {"type": "string", "format": "date"}):
        value = views.typed(prop, {"$erased": "2026-03-02"}, lookups, False)
        assert (value.kind, value.text) == ("erased", "2026-03-02"), prop
    assert views.typed({"type": "string"}, "[effacé le 2026-03-02]", lookups, False).kind == "erased"
