"""The words a task is found by in the inbox search: accents and case folded, split on
anything but letters and digits. Pure functions: the projection (engine.runtime.search) and
the migration that indexes the existing tasks share them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_TERM = 40  # the column's width: a longer word is kept by its first 40 characters
MAX_TERMS = 400  # words kept per task (a long text variable does not flood the index)
MAX_VALUE = 2000  # characters read of one value
SHARED, INTERNAL = "shared", "internal"
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents or ligatures: « Évaluation » -> « evaluation »."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "oe")
                                       .replace("æ", "ae").replace("Æ", "ae"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str | None) -> list[str]:
    """The indexed words of a text, in order (two characters or more)."""
    if not text:
        return []
    return [w[:MAX_TERM] for w in _WORD.findall(fold(str(text)[:MAX_VALUE])) if len(w) >= 2]


def query_words(text: str | None, limit: int = 6) -> list[str]:
    """What a search box asks for: its words (one character is enough), at most `limit`;
    each is matched as the beginning of an indexed word."""
    if not text:
        return []
    found = [w[:MAX_TERM] for w in _WORD.findall(fold(text[:500]))]
    return list(dict.fromkeys(found))[:limit]


def values(data) -> Iterable[str]:
    """The texts and numbers of a variable's value, nested rows included (never booleans or
    keys)."""
    if isinstance(data, bool) or data is None:
        return
    if isinstance(data, str | int | float):
        yield str(data)
    elif isinstance(data, dict):
        for value in data.values():
            yield from values(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from values(value)


def task_terms(title: str | None, title_en: str | None, partnership_title: str | None,
               organisation_names: Iterable[str], shared_data: dict, data: dict) -> dict[str, str]:
    """Word -> audience for one task: its titles, its partnership and its organisations are
    shared (a partner reads them in their inbox), its variables' values are shared when a
    partner may read the variable (`shared_data`), internal otherwise."""
    found: dict[str, str] = {}

    def add(texts: Iterable[str], audience: str) -> None:
        for text in texts:
            for word in words(text):
                if len(found) >= MAX_TERMS and word not in found:
                    return
                if found.get(word) != SHARED:
                    found[word] = audience

    add([title or "", title_en or "", partnership_title or "", *organisation_names], SHARED)
    add(values(shared_data or {}), SHARED)
    add(values(data or {}), INTERNAL)
    return found


def upper_bound(prefix: str) -> str:
    """The first string after every word beginning with `prefix` (terms are [a-z0-9]: the
    next character code is past them all in byte order)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
