"""A Babel extractor for the JSON Schema form definitions in forms/*.json.

The forms carry French text the interface shows (field titles, help, instructions, option
titles, rule messages); `pybabel extract` calls `extract_forms` for them through babel.cfg:

    [extractors]
    forms = partnerflow.web.i18n_extract:extract_forms
    [forms: forms/**.json]
"""

from __future__ import annotations

import json
from collections.abc import Iterator

# Keys whose string value is shown to people.
TEXT_KEYS = ("title", "description", "x-help", "x-instructions", "x-pattern-message")
# Keys whose content is data, never text to translate.
DATA_KEYS = frozenset({"const", "default", "enum", "examples", "$schema", "$id", "$ref", "pattern",
                       "format", "type", "x-widget", "x-role", "x-order", "required"})


def form_strings(schema) -> Iterator[tuple[str, str]]:
    """(path, text) for every translatable string of a form schema, in document order."""
    yield from _walk(schema, "")


def _walk(node, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = f"{path}.{key}" if path else key
        if key in TEXT_KEYS:
            yield from _texts([(here, value)])
        elif key == "x-enum-labels" and isinstance(value, dict):
            yield from _texts((f"{here}.{sub}", label) for sub, label in value.items())
        elif key == "x-rules" and isinstance(value, list):
            yield from _texts((f"{here}[{i}].message", rule.get("message"))
                              for i, rule in enumerate(value) if isinstance(rule, dict))
        elif key == "properties" and isinstance(value, dict):
            # property names are identifiers (one may well be called "title"): walk their schemas only
            for name, prop in value.items():
                yield from _walk(prop, f"{here}.{name}")
        elif key not in DATA_KEYS:
            yield from _walk(value, here)


def _texts(pairs) -> Iterator[tuple[str, str]]:
    for path, text in pairs:
        if isinstance(text, str) and text.strip():
            yield path, text


def _line_of(text: str, message: str, start: int) -> tuple[int, int]:
    """The 1-based line where `message` appears as a JSON string, searching from `start`."""
    for encoded in (json.dumps(message, ensure_ascii=False), json.dumps(message)):
        found = text.find(encoded, start)
        if found < 0:
            found = text.find(encoded)
        if found >= 0:
            return text.count("\n", 0, found) + 1, found
    return 1, start


def extract_forms(fileobj, keywords, comment_tags, options) -> Iterator[tuple[int, None, str, list[str]]]:
    """Babel extraction method: (lineno, funcname, message, comments) for one JSON form."""
    raw = fileobj.read()
    text = raw.decode(options.get("encoding", "utf-8")) if isinstance(raw, bytes) else raw
    schema = json.loads(text)
    position = 0
    for path, message in form_strings(schema):
        lineno, position = _line_of(text, message, position)
        yield lineno, None, message, [f"form: {path}"]
