"""CSV cells that a spreadsheet program never runs as formulas.

A cell starting with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed is read as a formula by
spreadsheet programs (`=HYPERLINK(...)`, `=cmd|...`, `@SUM(...)`); such a cell is written with a
leading single quote, which makes it text. A cell that already starts with a quote gets one
more, so that `unquote` gives back exactly the value that was exported."""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTE = "'"


def cell(value) -> str:
    """The text of one CSV cell: None is empty, a formula-like text is quoted."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(TRIGGERS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


def row(values) -> list[str]:
    return [cell(value) for value in values]


def unquote(text: str) -> str:
    """The value a `cell` came from (for re-reading an export)."""
    return text[1:] if text.startswith(QUOTE) else text
