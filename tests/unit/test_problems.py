"""What deployment refuses is said in the reader's language: each problem keeps its French
msgid, marked for the catalogue, and the values it names; the web translates the msgid and puts
the values back in."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from flask import Flask
from flask_babel import Babel

from partnerflow.engine.errors import N_, Problem
from partnerflow.engine.runtime import diagrams
from partnerflow.engine.runtime.diagrams import Document, lint_bpmn, parse_xml
from partnerflow.engine.runtime.forms import FormRegistry
from partnerflow.web import formatting

ROOT = Path(__file__).resolve().parents[2]
ENGINE_FILES = ["engine/runtime/diagrams.py", "engine/runtime/deployment.py",
                "engine/runtime/connectors.py", "engine/access/groups.py", "engine/spiff/model.py"]

BROKEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" camunda:formKey="nothing_here" />
    <bpmn:userTask id="task" camunda:formKey="nowhere" camunda:dueDate="tomorrow" />
    <bpmn:scriptTask id="script"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
      <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P14D</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:serviceTask id="mail" camunda:class="org.example.Mailer" />
    <bpmn:serviceTask id="ask" camunda:type="external" camunda:topic="no.such.topic" />
    <bpmn:callActivity id="call" calledElement="ghost" />
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="elsewhere">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">a ==</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""


def _problems() -> list[Problem]:
    import partnerflow.engine.method  # noqa: F401 - registers the method's connectors

    doc = Document("broken.bpmn", BROKEN, parse_xml(BROKEN, "broken.bpmn"), "bpmn")
    return lint_bpmn(doc, FormRegistry(ROOT / "forms"), known_processes=set(), known_decisions=set())


def _extracted() -> set[str]:
    found = set()
    for name in ENGINE_FILES:
        with (ROOT / name).open("rb") as f:
            found |= {m if isinstance(m, str) else m[0]
                      for _line, m, _comments, _context in extract(
                          "python", f, keywords=DEFAULT_KEYWORDS)}
    return found


def test_a_problem_renders_its_french_msgid_with_its_values():
    problem = Problem.of("a.bpmn", N_("la clé « %(key)s » est inconnue"), element_id="t",
                         hint=N_("créez forms/%(key)s.json"), key="relecture")
    assert problem.message == "la clé « relecture » est inconnue"
    assert problem.hint == "créez forms/relecture.json"
    assert (problem.msgid, problem.hint_msgid) == ("la clé « %(key)s » est inconnue",
                                                    "créez forms/%(key)s.json")
    assert problem.params == {"key": "relecture"}
    assert str(problem) == "a.bpmn [t] : la clé « relecture » est inconnue — créez forms/relecture.json"


def test_every_refusal_of_a_broken_diagram_has_a_msgid_the_catalogue_extracts():
    problems = _problems()
    assert len(problems) >= 8
    extracted = _extracted()
    for problem in problems:
        assert problem.msgid in extracted, problem
        assert problem.hint_msgid is None or problem.hint_msgid in extracted, problem
        assert problem.message == (problem.msgid % problem.params if problem.params else problem.msgid)
    words = " ".join(p.message for p in problems)
    for french in ("« nowhere »", "« tomorrow »", "le script `import os` est refusé",
                   "entre guillemets", "implémentation Java",
                   "« ghost » n’est pas déployé", "« elsewhere »", "la condition `a ==`"):
        assert french in words


def test_unsafe_files_are_refused_with_msgids_too():
    for content in (b"", b"<!DOCTYPE x><x/>", b"<a><b></a>", b'<?xml version="1.0" encoding="latin-1"?><a/>'):
        with pytest.raises(diagrams.UnsafeXml) as caught:
            parse_xml(content, "x.bpmn")
        assert caught.value.problem.msgid in _extracted()


def test_the_web_shows_a_problem_translated_with_its_values():
    english = {"le groupe candidat « %(group)s » n’est pas un groupe":
               "the candidate group '%(group)s' is not a group",
               "utilisez l’un de : %(keys)s": "use one of: %(keys)s"}
    app = Flask(__name__)
    problem = Problem.of("a.bpmn", N_("le groupe candidat « %(group)s » n’est pas un groupe"),
                         element_id="t", hint=N_("utilisez l’un de : %(keys)s"), group="chefs",
                         keys="board, direction")
    with app.test_request_context():
        original = formatting._
        formatting._ = lambda msgid, **values: english.get(msgid, msgid) % values if values else msgid
        try:
            shown = formatting.problem_shown(problem)
        finally:
            formatting._ = original
    assert shown == {"file": "a.bpmn", "element_id": "t", "line": None,
                     "message": "the candidate group 'chefs' is not a group",
                     "hint": "use one of: board, direction"}


def test_a_parser_s_own_words_are_shown_as_they_are():
    problem = Problem("a.bpmn", "No decision found for id 'x'", hint="déployez-la", hint_msgid="déployez-la")
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        shown = formatting.problem_shown(problem)
    assert shown["message"] == "No decision found for id 'x'"
