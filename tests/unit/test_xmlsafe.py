"""The hardened XML reader refuses what could expand, fetch or hide, before parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from partnerflow.engine.runtime.diagrams import MAX_XML_BYTES, UnsafeXml, document_kind, parse_xml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REVIEW = (FIXTURES / "review_loop.bpmn").read_bytes()

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</definitions>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</definitions>"""


def refusal(content: bytes, name: str = "hostile.bpmn", **kwargs) -> str:
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(content, name, **kwargs)
    assert caught.value.problem.file == name
    return caught.value.problem.message


def test_a_valid_bpmn_file_parses_and_is_recognised_as_bpmn():
    root = parse_xml(REVIEW, "review_loop.bpmn")
    assert document_kind(root) == "bpmn"
    assert root.find(".//{http://www.omg.org/spec/BPMN/20100524/MODEL}process").get("id") == (
        "review_loop")


def test_an_external_entity_to_etc_passwd_is_refused_before_parsing():
    message = refusal(XXE)
    assert "DOCTYPE" in message


def test_the_billion_laughs_is_refused():
    assert "DOCTYPE" in refusal(LAUGHS)


def test_a_doctype_is_refused_before_parsing():
    harmless = REVIEW.replace(b"<bpmn:definitions", b"<!DOCTYPE whatever>\n<bpmn:definitions", 1)
    assert "DOCTYPE" in refusal(harmless)


def test_a_lowercase_doctype_is_refused_too():
    sneaky = REVIEW.replace(b"<bpmn:definitions", b"<!doctype whatever>\n<bpmn:definitions", 1)
    assert "DOCTYPE" in refusal(sneaky)


def test_a_doctype_hidden_in_utf16_is_refused_after_parsing():
    # The byte scan cannot see an UTF-16 DOCTYPE; the parsed tree's docinfo must catch it.
    text = XXE.decode().replace('version="1.0"?>', 'version="1.0" encoding="UTF-16"?>')
    message = refusal(text.encode("utf-16"))
    assert "DOCTYPE" in message
    assert "root" not in message  # the entity was not resolved into anything


def test_a_file_over_the_size_limit_is_refused_by_size_and_quickly():
    huge = REVIEW + b"<!--" + b"x" * (50 * 1024 * 1024) + b"-->"
    started = time.monotonic()
    message = refusal(huge)
    assert time.monotonic() - started < 1.0
    assert "limite" in message and f"{MAX_XML_BYTES // 1024} Kio" in message


def test_the_size_limit_can_be_lowered_per_call():
    assert "la limite est de 1 Kio" in refusal(REVIEW, max_bytes=1024)


def test_malformed_xml_is_refused_with_its_line():
    with pytest.raises(UnsafeXml) as caught:
        parse_xml(b'<?xml version="1.0"?>\n<definitions>\n<process>\n</definitions>', "bad.bpmn")
    problem = caught.value.problem
    assert "mal formé" in problem.message
    assert problem.line is not None and problem.line >= 3


def test_an_empty_file_is_refused():
    assert "vide" in refusal(b"   \n  ")


def test_a_document_that_is_not_bpmn_or_dmn_has_no_kind():
    assert document_kind(parse_xml(b"<root><a/></root>", "x.bpmn")) is None
    other_ns = b'<definitions xmlns="http://example.org/not-bpmn"/>'
    assert document_kind(parse_xml(other_ns, "x.bpmn")) is None


def test_a_dmn_13_document_is_recognised_as_dmn():
    dmn = (FIXTURES / "hostile" / "route.dmn").read_bytes()
    assert document_kind(parse_xml(dmn, "route.dmn")) == "dmn"


def test_processing_instructions_are_dropped():
    content = REVIEW.replace(b"<bpmn:collaboration", b"<?evil payload?><bpmn:collaboration", 1)
    root = parse_xml(content, "pi.bpmn")
    assert b"evil" not in etree.tostring(root)
