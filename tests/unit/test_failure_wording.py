"""How an incident names its element and says what went wrong: the element quoted in the
error, the sandbox's own reason behind SpiffWorkflow's wrapper (with the expression that
failed), the element's name before the text, and the notes after it."""

from __future__ import annotations

from partnerflow.engine.errors import InstanceError, ScriptError
from partnerflow.engine.runtime import stepping


def test_the_failed_element_is_the_first_quoted_name_and_none_for_a_lone_apostrophe():
    assert stepping.failed_element(ValueError("stopped before 'count_round' ran")) == "count_round"
    # an apostrophe of the French text quotes nothing: no element is made up from the rest
    assert stepping.failed_element(ValueError("l'instance est arrêtée")) is None
    assert stepping.failed_element(ValueError("nothing quoted")) is None
    named = InstanceError("at 'other'")
    named.element_id = "count_round"
    assert stepping.failed_element(named) == "count_round"


def _raised_from(reason: Exception, wrapper: Exception) -> Exception:
    """`wrapper` raised `from reason` away from the handler of `reason`: it has a cause and no
    context."""
    try:
        raise wrapper from reason
    except Exception as exc:  # noqa: BLE001 - caught to be returned
        return exc


def test_the_reason_is_the_sandbox_error_the_wrapper_was_raised_from():
    reason = ScriptError("« trop long » : le script a dépassé 2 s")
    wrapper = _raised_from(reason, RuntimeError("Error evaluating"))
    assert wrapper.__context__ is None
    assert stepping.describe_failure(wrapper) == "« trop long » : le script a dépassé 2 s"


def test_the_reason_is_also_found_in_the_context_of_an_error_raised_while_handling_it():
    try:
        try:
            raise ScriptError("refusé : __class__")
        except ScriptError:
            raise RuntimeError("wrapper") from None  # the cause suppressed, the context kept
    except RuntimeError as exc:
        wrapper = exc
    assert wrapper.__cause__ is None
    assert stepping.describe_failure(wrapper) == "refusé : __class__"


def test_the_expression_that_failed_follows_the_sandbox_reason():
    wrapper = _raised_from(ScriptError("nom inconnu : montant"),
                           RuntimeError("Error evaluating expression 'montant > 10'. Details"))
    assert stepping.describe_failure(wrapper) == \
        "nom inconnu : montant — Error evaluating expression 'montant > 10'"
    # without a sandbox reason the wrapper's own text is the message, said once
    alone = RuntimeError("Error evaluating expression 'montant > 10'. Details")
    assert stepping.describe_failure(alone) == "Error evaluating expression 'montant > 10'. Details"


def test_the_element_name_comes_first_and_the_notes_are_joined_after_the_text():
    exc = InstanceError("la date ne se lit pas")
    exc.element_id, exc.element_name = "wait_two_weeks", "Deux semaines"
    exc.add_note("écrire \"P14D\"")
    exc.add_note("avec les guillemets")
    exc.add_note("la date ne se lit pas")  # already in the text: not repeated
    assert stepping.describe_failure(exc) == \
        "Deux semaines (wait_two_weeks): la date ne se lit pas — écrire \"P14D\" avec les guillemets"
    assert stepping.describe_failure(ValueError("")) == "ValueError"


def test_a_failure_message_is_cut_at_2000_characters():
    # an error that echoes a whole data set stays a readable incident
    assert stepping.describe_failure(ValueError("x" * 100_000)) == "x" * 2000
