"""Shared by the web and browser suites: the people, the partnerships and the HTTP helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from sqlalchemy import select

from partnerflow.engine.access import accounts
from partnerflow.engine.runtime import documents, queries, services
from partnerflow.engine.store.models import HumanTask
from tests.conftest import FIXTURES, announce, deploy, make_user

PASSWORD = "mot-de-passe-solide"

# one user per role, plus a second direction user and a second professional
USERS: dict[str, tuple[str, ...]] = {
    "claire": ("direction",),
    "hugo": ("direction",),
    "sophie": ("professional",),
    "sarah": ("professional",),
    "karim": ("delegate", "professional"),
    "paul": ("partner",),
    "anne": ("board",),
    "lucas": ("steering",),
    "denis": ("designer",),
    "ines": ("admin",),
    "alice": ("auditor",),
}
BY_ROLE = {"direction": "claire", "professional": "sophie", "delegate": "karim", "partner": "paul",
           "board": "anne", "steering": "lucas", "designer": "denis", "admin": "ines",
           "auditor": "alice"}

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def fast_passwords(monkeypatch) -> None:
    """scrypt at N=2**14 costs ~50 ms per hash; the tests do not need that strength."""
    monkeypatch.setattr(accounts, "_N", 2**4)


@dataclass
class World:
    pf: object
    own: int  # the partnership paul (partner) is attached to
    other: int  # a partnership paul has nothing to do with
    task_own: int  # the open direction task ("Relire le document") of `own`
    task_other: int
    doc_own: str
    doc_other: str
    extra: dict = field(default_factory=dict)


def build_world(pf) -> World:
    """Users of every role, two partnerships with a direction task and a document each."""
    deploy(pf, [FIXTURES / "review_loop.bpmn", FIXTURES / "assignment_timers.bpmn",
                FIXTURES / "rows_demo.bpmn"])
    for username, roles in USERS.items():
        make_user(pf, username, *roles, password=PASSWORD)
    own = new_partnership(pf, "EHPAD et lycée agricole")
    other = new_partnership(pf, "Foyer et mairie")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=own, username="paul", actor="ines")
    task_own = start_review(pf, own)
    task_other = start_review(pf, other)
    with pf.uow() as uow:
        doc_own = documents.store(uow, partnership_id=own, filename="convention.pdf", content=PDF,
                                  actor="claire", max_bytes=pf.settings.max_upload_bytes)
        doc_other = documents.store(uow, partnership_id=other, filename="budget.pdf",
                                    content=PDF + b"% autre\n", actor="claire",
                                    max_bytes=pf.settings.max_upload_bytes)
        uow.commit()
    return World(pf, own, other, task_own, task_other, doc_own, doc_other)


def new_partnership(pf, title: str, actor: str = "claire") -> int:
    with pf.uow() as uow:
        return services.create_partnership(uow, title=title, actor=actor)


def start(pf, partnership_id: int, process_key: str, data: dict | None = None,
          actor: str = "claire") -> list[int]:
    """Start a process, then let the worker announce its tasks (as a deployed site's worker
    does within seconds); returns the ids of the open tasks it created."""
    with pf.uow() as uow:
        instance_id = services.start_instance(uow, partnership_id=partnership_id,
                                              process_key=process_key, actor=actor, data=data or {})
    announce(pf)
    with pf.read() as db:
        return list(db.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "open").order_by(HumanTask.id)))


def start_review(pf, partnership_id: int) -> int:
    [task_id] = start(pf, partnership_id, "review_loop", {"rounds": 0})
    return task_id


def task_row(pf, task_id: int) -> HumanTask:
    with pf.read() as db:
        return db.get(HumanTask, task_id)


def complete(pf, task_id: int, actor: str, data: dict):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor=actor, data=data)


def inbox_ids(pf, username: str) -> list[int]:
    with pf.read() as db:
        return [r.id for r in queries.inbox(db, username, pf.clock())]


# ---------------------------------------------------------------- HTTP helpers


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token on the page"
    return match.group(1) or match.group(2)


def csrf_token(client, path: str = "/connexion") -> str:
    response = client.get(path, follow_redirects=True)
    return csrf_from(response.get_data(as_text=True))


def login(client, username: str, password: str = PASSWORD, next: str | None = None):
    """Sign in through the real login form (CSRF token read from the page)."""
    token = csrf_token(client, "/connexion")
    url = "/connexion" + (f"?next={next}" if next is not None else "")
    return client.post(url, data={"csrf_token": token, "username": username, "password": password})


def post(client, path: str, data: dict | None = None, token_from: str = "/", **kwargs):
    """POST with a valid CSRF token taken from a page the user can see."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(path, data=payload, **kwargs)


def text_of(response) -> str:
    return response.get_data(as_text=True)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self._text: list[list] = []  # open elements collecting text

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("p", "span", "h1", "div", "textarea", "option", "td", "a", "legend", "label"):
            self._text.append([tag, len(self.elements) - 1, ""])

    def handle_endtag(self, tag):
        for i in range(len(self._text) - 1, -1, -1):
            if self._text[i][0] == tag:
                _tag, index, text = self._text.pop(i)
                self.elements[index][1]["__text__"] = text
                break

    def handle_data(self, data):
        for entry in self._text:
            entry[2] += data


def elements(html: str, tag: str | None = None, **attrs) -> list[dict]:
    """Elements whose attributes match (`class_` for class; True matches any value)."""
    parser = _Collector()
    parser.feed(html)
    found = []
    for name, got in parser.elements:
        if tag and name != tag:
            continue
        ok = True
        for key, want in attrs.items():
            key = key.rstrip("_").replace("__", "-")
            have = got.get(key)
            if want is True:
                ok = ok and key in got
            elif key == "class":
                ok = ok and have is not None and want in have.split()
            else:
                ok = ok and have == want
        if ok:
            found.append(got)
    return found


def element(html: str, tag: str | None = None, **attrs) -> dict:
    found = elements(html, tag, **attrs)
    assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
    return found[0]
