"""Names in the reader's language.

French is the source language: an element's `name` is French, and its translations are
extension properties of the element (`name_en`, and `title_en` beside a task's `title`),
read from the deployed file into the version's catalogue (`ProcessVersion.names`, see
spiff.read_names) and into each task row (`HumanTask.title_en`). Wherever a name is shown it
is chosen here: the reader's language when the diagram gives it, else the French name; an
element's id is never shown in its place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnerflow.engine.store.models import ProcessInstance, ProcessVersion

SOURCE = "fr"
LANGUAGES = ("fr", "en")


def language(locale: object | None) -> str:
    """'en' for an English locale ('en', 'en_GB', 'en-US'), else the source, French."""
    text = str(locale or "").strip().lower().replace("-", "_")
    return "en" if text.split("_")[0] == "en" else SOURCE


def pick(names: Mapping | None, locale: object | None, default: str | None = None) -> str | None:
    """The name in the reader's language, else the French one, else `default`."""
    if names:
        for lang in dict.fromkeys((language(locale), SOURCE)):
            value = names.get(lang)
            if isinstance(value, str) and value.strip():
                return value
    return default


def in_language(french: str | None, english: str | None, locale: object | None) -> str | None:
    """A text stored in both languages (a task's title, an instance's label)."""
    return english if language(locale) == "en" and english else french


def version_name(version: ProcessVersion, locale: object | None) -> str:
    """What a process or decision is called: its name in the reader's language, else its
    French name, else (a file that names nothing) its key."""
    names = (version.names or {}).get(version.process_key)
    return pick(names, locale, version.name or version.process_key)


Catalogue = dict[str, dict]


def version_catalogue(session: Session, version: ProcessVersion) -> Catalogue:
    """The names of a version's elements and of those of what it calls (its own win)."""
    catalogue: Catalogue = {}
    stack, seen, ordered = [version], set(), []
    while stack:
        current = stack.pop()
        if current is None or current.id in seen:
            continue
        seen.add(current.id)
        ordered.append(current)
        stack.extend(session.get(ProcessVersion, vid) for vid in (current.dependencies or {}).values())
    for current in reversed(ordered):
        catalogue.update(current.names or {})
    return catalogue


def instance_catalogues(session: Session, instance_ids: Iterable[int]) -> dict[int, Catalogue]:
    """Instance id -> the catalogue of its version, each version read once."""
    ids = sorted({i for i in instance_ids if i})
    if not ids:
        return {}
    by_version: dict[int, Catalogue] = {}
    result: dict[int, Catalogue] = {}
    for instance_id, version_id in session.execute(
            select(ProcessInstance.id, ProcessInstance.version_id).where(ProcessInstance.id.in_(ids))):
        if version_id not in by_version:
            version = session.get(ProcessVersion, version_id)
            by_version[version_id] = version_catalogue(session, version) if version else {}
        result[instance_id] = by_version[version_id]
    return result


def path_names(catalogue: Catalogue, gateway_id: str | None, next_ids: Iterable[str]) -> list[dict]:
    """Where a gateway went, in words, per language: for each element taken next, the name of
    the flow that leads there and the element's name ("Renvoyer au délégué → Reprendre
    l'élaboration"); an element and a flow that have no name are left out."""
    flows = {(entry.get("source"), entry.get("target")): entry for entry in catalogue.values()
             if "source" in entry}
    path = []
    for next_id in next_ids:
        flow = flows.get((gateway_id, next_id)) or {}
        target = catalogue.get(next_id) or {}
        words = {}
        for lang in LANGUAGES:
            if lang != SOURCE and not (flow.get(lang) or target.get(lang)):
                continue  # nothing in that language: the French words are shown
            parts = [p for p in (pick(_names_only(flow), lang), pick(_names_only(target), lang)) if p]
            if parts:
                words[lang] = " → ".join(parts)
        if words:
            path.append(words)
    return path


def _names_only(entry: Mapping) -> dict:
    return {lang: entry[lang] for lang in LANGUAGES if lang in entry}


_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def localized_source(source: str, names: Catalogue, locale: object | None) -> str:
    """A version's BPMN drawn in the reader's language: each element whose catalogue entry
    has a name in that language shows it (the French file itself is unchanged)."""
    lang = language(locale)
    if lang == SOURCE or not any(lang in entry for entry in names.values()):
        return source
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(source.encode("utf-8"), parser=parser)
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != _BPMN:
            continue
        entry = names.get(element.get("id") or "")
        if entry and entry.get(lang):
            element.set("name", entry[lang])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
