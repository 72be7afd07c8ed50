"""Hardened XML parsing for uploaded diagrams: no DTD, no entities, no network."""

from __future__ import annotations

from lxml import etree

from .errors import Problem

MAX_XML_BYTES = 5 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)


class UnsafeXml(ValueError):
    """The document was refused before any of it was interpreted."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
    )


def parse_xml(content: bytes, filename: str, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse a BPMN or DMN document, refusing anything that could expand or fetch."""
    if len(content) > max_bytes:
        raise UnsafeXml(
            Problem(
                filename,
                f"the file is {len(content) // 1024} KiB; the limit is {max_bytes // 1024} KiB",
                hint="split the model or remove embedded data",
            )
        )
    head = content[:4096].lstrip()
    if b"<!DOCTYPE" in content.upper() or b"<!ENTITY" in content.upper():
        raise UnsafeXml(
            Problem(
                filename,
                "a DOCTYPE or ENTITY declaration is not allowed in a process file",
                hint="remove the <!DOCTYPE ...> block; BPMN and DMN files never need one",
            )
        )
    if not head:
        raise UnsafeXml(Problem(filename, "the file is empty"))
    try:
        root = etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise UnsafeXml(
            Problem(filename, f"not well-formed XML: {exc.msg}", line=line,
                    hint="open the file in a BPMN modeller and save it again")
        ) from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise UnsafeXml(Problem(filename, "a DOCTYPE is not allowed in a process file"))
    return root


def document_kind(root: etree._Element) -> str | None:
    """'bpmn' or 'dmn' from the root element's namespace, else None."""
    ns = etree.QName(root).namespace
    local = etree.QName(root).localname
    if local != "definitions":
        return None
    if ns == BPMN_NS:
        return "bpmn"
    if ns in DMN_NAMESPACES:
        return "dmn"
    return None
