"""Hardened XML parsing for uploaded diagrams: no DTD, no entities, no network."""

from __future__ import annotations

import re

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


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


def _as_utf8(content: bytes) -> bytes:
    """The bytes to scan for declarations: a UTF-16 or UTF-32 file decoded first."""
    if not (content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in content[:4096]):
        return content
    for codec in ("utf-32", "utf-16", "utf-16-le", "utf-16-be"):
        try:
            return content.decode(codec).encode("utf-8", "replace")
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
    return content.replace(b"\x00", b"")


def _check_utf8(content: bytes, filename: str) -> None:
    """Process files are UTF-8 (every BPMN modeller writes them so, and they are stored as
    text): UTF-16 or UTF-32, with or without a byte order mark, another declared encoding or
    bytes that are not UTF-8 are refused before the parser guesses anything."""
    hint = "save the file again as UTF-8 (the default of every BPMN modeller)"
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in content:
        raise UnsafeXml(Problem(filename, "the file is encoded in UTF-16 or UTF-32; only UTF-8 is "
                                          "accepted", hint=hint))
    declared = _DECLARED_ENCODING.match(content[:200])
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES:
        name = declared.group(1).decode("ascii", "replace")
        raise UnsafeXml(Problem(filename, f"the file declares the encoding {name!r}; only UTF-8 is "
                                          "accepted", hint=hint))
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise UnsafeXml(Problem(filename, f"the file is not valid UTF-8 (byte {exc.start + 1})",
                                line=line, hint=hint)) from None


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
    scanned = _as_utf8(content).upper()
    if b"<!DOCTYPE" in scanned or b"<!ENTITY" in scanned:
        raise UnsafeXml(
            Problem(
                filename,
                "a DOCTYPE or ENTITY declaration is not allowed in a process file",
                hint="remove the <!DOCTYPE ...> block; BPMN and DMN files never need one",
            )
        )
    if not head:
        raise UnsafeXml(Problem(filename, "the file is empty"))
    _check_utf8(content, filename)
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
