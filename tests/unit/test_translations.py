"""The English catalog is complete, compiled, and covers every string the code and forms show.

When this fails because a msgid is missing: run `make translations`, translate the new entries
in web/translations/en/LC_MESSAGES/messages.po, and run `make translations` again (it compiles).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from partnerflow.engine.access.groups import ROLES, STAGES
from partnerflow.web import formatting
from partnerflow.web.i18n_extract import extract_forms, form_strings

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "web" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
FIXTURE_FORMS = ROOT / "tests" / "fixtures" / "forms"


@pytest.fixture(scope="module")
def catalog():
    with PO.open("rb") as f:
        return read_po(f, locale="en")


def _messages(catalog):
    return [m for m in catalog if m.id]


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def test_every_entry_is_translated_and_none_is_fuzzy(catalog):
    untranslated = [_key(m) for m in _messages(catalog)
                    if not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [_key(m) for m in _messages(catalog) if m.fuzzy]
    assert not untranslated, f"untranslated msgids: {untranslated}"
    assert not fuzzy, f"fuzzy msgids: {fuzzy}"
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    assert not catalog.obsolete or all(m.id for m in catalog.obsolete.values())


def test_placeholders_match(catalog):
    """`%(n)s` in a msgid is in its msgstr too (the babel python-format checker)."""
    problems = [(_key(m), [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems


def test_mo_is_compiled_from_the_current_po(catalog):
    assert MO.exists(), "run `make translations` to compile the catalog"
    with MO.open("rb") as f:
        compiled = read_mo(f)
    expected = io.BytesIO()
    write_mo(expected, catalog)
    expected.seek(0)
    fresh = read_mo(expected)

    def table(cat):
        return {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in cat if m.id}

    assert table(compiled) == table(fresh), "messages.mo is stale: run `make translations`"


def test_re_extraction_finds_no_msgid_missing_from_the_po(catalog):
    """What `pybabel extract -F babel.cfg .` finds today is all in the English catalog."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, f"{filename}:{lineno}")
    assert len(found) > 100, "extraction found almost nothing: is babel.cfg right?"
    known = {_key(m) for m in _messages(catalog)}
    missing = {msgid: where for msgid, where in found.items() if msgid not in known}
    assert not missing, f"msgids not in {PO.relative_to(ROOT)} (run `make translations`): {missing}"


def test_engine_and_formatting_label_tables_are_in_the_catalog(catalog):
    """Labels passed to `_()` dynamically: a new role, stage, kind, status or level needs a msgid."""
    known = {_key(m) for m in _messages(catalog)}
    labels = [*ROLES.values(), *STAGES.values(), *formatting.KINDS.values(),
              *formatting.STATUSES.values(), *formatting.LEVELS.values()]
    missing = [label for label in labels if label not in known]
    assert not missing, f"add them to formatting.ENGINE_LABELS (or the tables) and translate: {missing}"
    assert set(formatting.ENGINE_LABELS) == {*ROLES.values(), *STAGES.values()}


def test_the_domain_vocabulary(catalog):
    expected = {"Délégué(e) aux échanges": "Exchange delegate", "Comité de pilotage": "Steering committee",
                "Conseil d'administration": "Board of directors", "L'idée première": "The first idea",
                "L'élaboration": "Elaboration", "La négociation": "Negotiation",
                "L'écriture de fiches action": "Writing action sheets", "La réalisation": "Realisation",
                "L'évaluation": "Evaluation", "Fiches action": "Action sheets"}
    for msgid, msgstr in expected.items():
        assert catalog.get(msgid).string == msgstr


def test_the_forms_extractor_yields_every_text_of_a_form():
    path = FIXTURE_FORMS / "review.json"
    with path.open("rb") as f:
        extracted = list(extract_forms(f, DEFAULT_KEYWORDS.keys(), [], {}))
    assert [message for _line, _func, message, _comments in extracted] == [
        "Relecture", "Décision", "Encore un tour", "Terminé", "Commentaire"]
    text = path.read_text(encoding="utf-8").splitlines()
    for lineno, funcname, message, comments in extracted:
        assert funcname is None
        assert f'"{message}"' in text[lineno - 1]
        assert comments and comments[0].startswith("form: ")


def test_the_forms_extractor_knows_help_instructions_rules_and_enum_labels():
    schema = {
        "title": "Fiche action", "x-instructions": "Décrivez l'action.", "description": "",
        "properties": {
            "title": {"type": "string", "title": "Intitulé", "x-help": "Court et clair."},
            "kind": {"type": "string", "enum": ["a", "b"], "default": "a",
                     "x-enum-labels": {"a": "Atelier", "b": "Sortie"}},
            "rows": {"type": "array", "items": {"type": "object", "properties": {
                "start": {"type": "string", "format": "date", "description": "Date de début"},
                "kind": {"oneOf": [{"const": "x", "title": "Interne"}]}}}},
            "code": {"type": "string", "pattern": "^[A-Z]+$", "x-pattern-message": "Majuscules seulement."},
        },
        "x-rules": [{"rule": "after", "field": "end", "other": "start", "message": "Fin après début."},
                    {"rule": "true", "field": "ok"}],
    }
    assert [text for _path, text in form_strings(schema)] == [
        "Fiche action", "Décrivez l'action.", "Intitulé", "Court et clair.", "Atelier", "Sortie",
        "Date de début", "Interne", "Majuscules seulement.", "Fin après début."]
