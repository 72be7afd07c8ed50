"""What changed between two versions of a process: elements added, removed and changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .xmlsafe import parse_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class VersionDiff:
    added: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (id, name): not drawable
    changed: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def _elements(source: str, filename: str) -> dict[str, etree._Element]:
    """Every semantic element with an id (the diagram's drawing is left out)."""
    root = parse_xml(source.encode("utf-8"), filename)
    found = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN:
            continue
        element_id = element.get("id")
        if element_id and etree.QName(element).localname not in ("definitions", "laneSet"):
            found[element_id] = element
    return found


def _signature(element: etree._Element) -> bytes:
    """The element's own content: its attributes and children, ids of nested elements aside."""
    copy = etree.fromstring(etree.tostring(element))
    for child in list(copy):
        if isinstance(child.tag, str) and child.get("id") and etree.QName(child).localname not in (
                "conditionExpression", "timerEventDefinition", "messageEventDefinition"):
            copy.remove(child)  # nested flow elements are compared on their own
    return etree.tostring(copy, method="c14n")


def diff_sources(old: str, new: str, filename: str) -> VersionDiff:
    before, after = _elements(old, filename), _elements(new, filename)
    result = VersionDiff()
    for element_id, element in after.items():
        result.names[element_id] = element.get("name") or element_id
        if element_id not in before:
            result.added.append(element_id)
        elif _signature(before[element_id]) != _signature(element):
            result.changed.append(element_id)
    result.removed = [(eid, el.get("name") or eid) for eid, el in before.items() if eid not in after]
    return result
