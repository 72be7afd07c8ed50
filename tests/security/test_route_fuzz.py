"""Every route, as every role and anonymously, with random path values, query strings, form
bodies, JSON bodies and raw bytes in random encodings: the answer is never a 5xx.

The routes come from `app.url_map`, so a route added later is covered without editing this
file. Each route gets a few examples per user (bounded: the whole file runs in well under a
minute); a failure prints the request that caused it."""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter, PathConverter

from tests.conftest import deploy
from tests.web.support import BY_ROLE, csrf_token, login

EXAMPLES_PER_ROUTE = int(os.environ.get("PARTNERFLOW_FUZZ_EXAMPLES", "3"))  # more for a deeper run
# health and readiness probes answer 503 by contract when the engine is not ready to serve
PROBES = {"main.health", "main.ready"}
# one user per role, and nobody signed in
PEOPLE = [None, *dict.fromkeys(BY_ROLE.values())]

# names the views read, so that random values reach the code behind them
KNOWN_NAMES = ["page", "partnership", "instance", "stage", "role", "sort", "overdue", "since",
               "until", "actor", "type", "status", "kind", "level", "archived", "partner", "next",
               "version", "draft", "to", "from", "username", "password", "full_name", "email",
               "organisation_id", "partnership_id", "roles", "lang", "digest", "open", "to_user",
               "action", "row_version", "process_key", "name", "siret", "finess", "address",
               "contacts", "since", "agreement", "notes", "referents", "external_ref",
               "comment", "decision", "rows-0-label", "rows-99999999999999999999-label",
               "rows-" + "9" * 5000 + "-label", "xml", "schema", "files", "file"]

_HUGE = st.sampled_from(["99999999999999999999", "9" * 5000, "-1", "0", "2147483648",
                         "9223372036854775808", "1e309", "nan", "１２", "0x10", " 7 ", ""])
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
_NASTY = st.sampled_from(["\x00", "a\x00b", "\x1b[31m", "\u202e", "\ud800", "\udfff", "😀" * 3,
                          "<script>", "' OR 1=1 --", "=1+1", "%00", "%FF%FE", "../../etc/passwd",
                          "\r\nSet-Cookie: x=1", "ﬀ", "\u0085", "\x7f"])
VALUE = st.one_of(_HUGE, _TEXT, _NASTY, st.integers(min_value=-(2**70), max_value=2**70).map(str))
NAME = st.one_of(st.sampled_from(KNOWN_NAMES), _TEXT)


def _path_value(converter):
    if isinstance(converter, IntegerConverter):
        return st.one_of(st.integers(min_value=0, max_value=12).map(str), _HUGE.filter(str.isdigit),
                         st.integers(min_value=0, max_value=2**80).map(str))
    segment = st.one_of(st.sampled_from(["review_loop", "rows_demo", "review", "csv", "xlsx",
                                         "app.css", "claire", "paul", "a" * 64]), VALUE)
    if isinstance(converter, PathConverter):
        return segment
    return segment.filter(lambda s: s and "/" not in s)


def _url(rule, values: dict[str, str], query: list[tuple[str, str]], raw_query: bytes | None) -> str:
    path = rule.rule
    for name, converter in rule._converters.items():
        text = values[name]
        quoted = quote(text.encode("utf-8", "surrogatepass"), safe="/" if isinstance(
            converter, PathConverter) else "")
        path = path.replace(f"<{_spec(rule, name)}>", quoted)
    if raw_query is not None:
        return path + "?" + raw_query.decode("latin-1")
    if query:
        path += "?" + _urlencoded(query).decode("ascii")
    return path


def _spec(rule, name: str) -> str:
    """`int:task_id` or `username`, as written in the rule."""
    start = rule.rule.index(name + ">")
    return rule.rule[rule.rule.rindex("<", 0, start) + 1:start + len(name)]


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), VALUE),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(NAME, inner, max_size=4)), max_leaves=8)

BODY = st.one_of(
    st.tuples(st.just("form"), st.lists(st.tuples(NAME, VALUE), max_size=8)),
    st.tuples(st.just("json"), st.one_of(
        JSON_VALUE, st.fixed_dictionaries({"xml": VALUE, "schema": JSON_VALUE}))),
    st.tuples(st.just("raw"), st.tuples(
        st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                         "application/json; charset=utf-16", "text/plain; charset=latin-1",
                         "multipart/form-data; boundary=x", "multipart/form-data",
                         "application/x-www-form-urlencoded; charset=utf-16"]),
        st.one_of(st.binary(max_size=200), VALUE.map(lambda s: s.encode("utf-16", "surrogatepass")),
                  st.just(b'\xff\xfe{\x00"\x00x\x00m\x00l\x00"\x00:\x00[\x00]\x00}\x00'),
                  st.just(b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                          b"a.xlsx\"\r\n\r\nPK\x03\x04\x00\r\n--x--\r\n")))),
    # the test client cannot write a lone surrogate in a multipart file name
    st.tuples(st.just("file"), st.tuples(VALUE.map(lambda v: v.encode("utf-8", "replace").decode()),
                                         st.binary(max_size=300))),
)


class Visitor:
    """One signed-in test client; signs in again if a random request signed it out."""

    def __init__(self, app, username: str | None):
        self.app, self.username = app, username
        self.client = app.test_client()
        self.token = ""
        self.sign_in()

    def sign_in(self) -> None:
        self.client = self.app.test_client()
        if self.username is not None:
            assert login(self.client, self.username).status_code == 302
        self.token = csrf_token(self.client, "/connexion" if self.username is None else "/")

    def send(self, method: str, url: str, body, with_token: bool):
        headers = {"X-CSRFToken": self.token} if with_token else {}
        kind, content = body if body is not None else ("none", None)
        if kind == "form":
            pairs = [*content, *([("csrf_token", self.token)] if with_token else [])]
            return self.client.open(url, method=method, headers=headers, data=_urlencoded(pairs),
                                    content_type="application/x-www-form-urlencoded")
        if kind == "json":
            return self.client.open(url, method=method, headers=headers,
                                    data=json.dumps(content, ensure_ascii=True).encode(),
                                    content_type="application/json")
        if kind == "raw":
            content_type, raw = content
            return self.client.open(url, method=method, data=raw, headers=headers,
                                    content_type=content_type)
        if kind == "file":
            from io import BytesIO

            filename, raw = content
            data = {"file": (BytesIO(raw), filename or "x.csv"),
                    "files": (BytesIO(raw), (filename or "x") + ".bpmn")}
            if with_token:
                data["csrf_token"] = self.token
            return self.client.open(url, method=method, data=data, headers=headers,
                                    content_type="multipart/form-data")
        return self.client.open(url, method=method, headers=headers)


def _urlencoded(pairs) -> bytes:
    """As a browser would send it, lone surrogates included (as the bytes a client can send)."""
    return "&".join(quote(k.encode("utf-8", "surrogatepass")) + "=" + quote(
        v.encode("utf-8", "surrogatepass")) for k, v in pairs).encode("ascii")


# the main process, reduced to its start form, so that "propose an idea" reaches its form
MAIN_PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_cycle"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="partnership_cycle" name="Cycle" isExecutable="true">
    <bpmn:startEvent id="start" camunda:formKey="review"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _routes(app):
    return sorted(app.url_map.iter_rules(), key=lambda r: r.rule)


def _check(visitor: Visitor, rule) -> None:
    """A few random requests to one route; each must be answered below 500."""
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})

    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(method=st.sampled_from(methods),
           values=st.fixed_dictionaries({n: _path_value(c) for n, c in rule._converters.items()}),
           query=st.lists(st.tuples(NAME, VALUE), max_size=4),
           raw_query=st.one_of(st.none(), st.binary(max_size=30)),
           body=st.one_of(st.none(), BODY), with_token=st.booleans())
    def check(method, values, query, raw_query, body, with_token):
        url = _url(rule, values, query, raw_query)
        response = visitor.send(method, url, body if method != "GET" else None, with_token)
        who = visitor.username or "anonymous"
        allowed = 503 if rule.endpoint in PROBES else 499
        assert response.status_code <= allowed, (
            f"{who} {method} {url!r} body={body!r}: {response.status_code}"
            f"\n{response.get_data(as_text=True)[:2000]}")
        if rule.endpoint == "auth.logout" or (visitor.username and response.status_code == 302
                                               and "/connexion" in (response.location or "")):
            visitor.sign_in()

    check()


@pytest.mark.parametrize("username", PEOPLE, ids=lambda u: u or "anonymous")
def test_no_route_answers_a_server_error_to_random_input(app, world, username):
    deploy(world.pf, [("partnership_cycle.bpmn", MAIN_PROCESS)])
    visitor = Visitor(app, username)
    routes = _routes(app)
    for rule in routes:
        _check(visitor, rule)
    assert len(routes) >= 60  # every route of the application was visited
