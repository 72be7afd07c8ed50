"""The three vectors of the article (management, innovation, communication) at each stage's
decision: what the direction decides, what is tried, who is told what (the teams, the CVS,
the CSE, the partner's own bodies). Optional fields of the stage's decision forms, kept per
stage so that one stage's plan never pre-fills the next; the final evaluation shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime.forms import check_schema, validate_against

FORMS = Path(__file__).resolve().parents[2] / "forms"
STAGES = {"idea_validation": "idea", "action_sheets_validation": "action_sheets",
          "elaboration_validation": "elaboration", "draft_validation": "negotiation",
          "realisation_record": "realisation", "period_review": "period",
          "intermediate_evaluation": "intermediate_evaluation",
          "final_evaluation": "final_evaluation"}


def schema(name: str) -> dict:
    return json.loads((FORMS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_decision_carries_the_three_vectors_optional_and_internal(name):
    prefix = STAGES[name]
    loaded = schema(name)
    check_schema(loaded, name)  # a form the registry accepts (raises otherwise)
    props = loaded["properties"]
    management, innovation = props[f"{prefix}_management"], props[f"{prefix}_innovation"]
    communication = props[f"{prefix}_communication"]
    assert management["title"].startswith("Management")
    assert innovation["title"].startswith("Innovation")
    assert communication["title"].startswith("Communication")
    audiences = {o["const"]: o["title"] for o in
                 communication["items"]["properties"]["audience"]["oneOf"]}
    assert {"equipes", "cvs", "cse", "partner_bodies"} <= set(audiences)
    assert "Conseil de la vie sociale (CVS)" in audiences.values()
    # optional: a stage can be decided without them; internal: a partner never reads them
    required = set(loaded.get("required", []))
    assert not required & {f"{prefix}_management", f"{prefix}_innovation", f"{prefix}_communication"}
    for field in (management, innovation, communication):
        assert field.get("x-audience", "internal") == "internal"


def test_a_communication_line_needs_its_public_and_what_is_said():
    loaded = schema("elaboration_validation")
    with pytest.raises(FormValidationError) as refused:
        validate_against(loaded, {"elaboration_decision": "validate",
                                  "elaboration_communication": [{"audience": "cvs"}]})
    assert "elaboration_communication.0.message" in refused.value.errors
    with pytest.raises(FormValidationError) as refused:
        validate_against(loaded, {"elaboration_decision": "validate", "elaboration_communication": [
            {"audience": "la presse", "message": "Annonce"}]})
    assert "elaboration_communication.0.audience" in refused.value.errors
    kept = validate_against(loaded, {
        "elaboration_decision": "validate",
        "elaboration_management": "La direction engage une demi-journée par mois.",
        "elaboration_communication": [{"audience": "cvs", "message": "Présentation du projet",
                                       "when": "2027-01-12"}]})
    assert kept["elaboration_communication"][0]["audience"] == "cvs"


def test_the_prefixes_keep_one_stage_from_prefilling_the_next():
    names = [set(k for k in schema(name)["properties"] if k.endswith(
        ("_management", "_innovation", "_communication"))) for name in STAGES]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not a & b


def test_the_final_evaluation_shows_the_vectors_of_the_earlier_stages():
    shows = schema("final_evaluation")["x-shows"]
    declared = {s["form"]: s.get("fields") for s in shows}
    assert "elaboration_communication" in declared["elaboration_validation"]
    assert "negotiation_communication" in declared["draft_validation"]
    assert declared["realisation_record"] is None  # the whole step, its vectors included
