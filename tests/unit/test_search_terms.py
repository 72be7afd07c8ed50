"""The words the inbox search finds a task by (engine.store.terms): pure functions."""

from partnerflow.engine.store import terms


def test_words_fold_accents_case_and_ligatures_and_drop_single_letters():
    assert terms.words("Évaluation finale : l’Œuvre d'A. Dupré, 23 000 €") == [
        "evaluation", "finale", "oeuvre", "dupre", "23", "000"]
    assert terms.words(None) == [] and terms.words("") == []
    assert terms.words("x" * 80) == ["x" * terms.MAX_TERM]


def test_a_search_keeps_its_words_once_even_of_one_letter():
    assert terms.query_words("  Lycée, lycee  a ") == ["lycee", "a"]
    assert terms.query_words(" ; , ") == []
    assert len(terms.query_words("a b c d e f g h")) == 6


def test_values_read_texts_and_numbers_of_nested_rows_never_booleans():
    data = {"ok": True, "amount": 1200, "rows": [{"label": "Atelier"}, "Visite"], "none": None}
    assert sorted(terms.values(data)) == ["1200", "Atelier", "Visite"]


def test_titles_are_shared_and_an_internal_value_stays_internal_unless_also_shared():
    found = terms.task_terms("Relire la convention", None, "EHPAD et lycée", ["Mairie de Bagnolet"],
                             {"public_note": "Atelier"},
                             {"public_note": "Atelier", "our_budget": "Confidentiel relire"})
    assert found["relire"] == found["ehpad"] == found["bagnolet"] == found["atelier"] == "shared"
    assert found["confidentiel"] == "internal"


def test_the_upper_bound_is_past_every_word_with_the_prefix_and_before_the_next():
    bound = terms.upper_bound("rel")
    assert "rel" < "relire" < "relzzz" < bound <= "rem"
    assert terms.upper_bound("az") > "az" and "az9" < terms.upper_bound("az9") < "aza"
