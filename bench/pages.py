"""Benchmark 7: the pages grow with what they show, not with the history behind them.

Each page is requested through the Flask test client (the whole request: session, access
checks, queries, template) by a signed-in direction user, on temporary SQLite files whose
rows are bulk-inserted with SQLAlchemy Core (no workflow runs). The two sides of a
comparison are requested in the same loop, the order alternating, a collection before
each; a ratio is the median of the per-repetition ratios.

- partnership page `/partenariats/<id>`: a partnership with 3 periods (10 audit events)
  vs one with 500 rolling periods (500 instances, 500 completed steps, 1 500 events), in
  the same database;
- audit page `/partenariats/<id>/audit`: 10 events vs 2 000 events in the chain (hashed
  and keyed as `audit.append` writes them), in the same database;
- dashboard `/tableau-de-bord`, map list `/carte/`, graph JSON `/carte/graphe.json`, the
  partnership list `/partenariats/` and the API's `/api/map/graph`: a site of 50
  partnerships and relationships vs a site of 2 000, each partnership with an
  overdue open task, two completed steps, an evaluation due, action sheets whose evaluation
  dates fall within the window, and a relationship whose convention ends within 90 days.
"""

from __future__ import annotations

import random
import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

from partnerflow.engine.access import accounts, tokens
from partnerflow.engine.method import figures
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import (
    NO_DUE_DATE,
    HumanTask,
    Organisation,
    Partnership,
    ProcessInstance,
    ProcessVersion,
    Relationship,
)

from .audit_verify import _fill
from .common import ACTOR, START, Row, engine_on_temp_sqlite, median, median_ratio, ms, timed

GOAL = 1.5
PASSWORD = "bench-mot-de-passe"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
STAGES = ["idea", "elaboration", "negotiation", "action_sheets", "realisation", "evaluation"]


@contextmanager
def site(name: str):
    """An engine on a fresh SQLite file, the web application on it, and a test client
    signed in as a direction user through the login form."""
    from partnerflow.web import create_app

    with engine_on_temp_sqlite(name) as pf:
        with pf.uow() as uow:
            accounts.create_user(uow, username=ACTOR, full_name="Bench Direction",
                                 roles=["direction"], actor=None, password=PASSWORD)
        app = create_app(partnerflow=pf, TESTING=True)
        client = app.test_client()
        html = client.get("/connexion").get_data(as_text=True)
        found = CSRF.search(html)
        answer = client.post("/connexion", data={"csrf_token": found.group(1) or found.group(2),
                                                 "username": ACTOR, "password": PASSWORD})
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in failed: {answer.status_code}")
        yield pf, client


def _ids(conn, model, rows: list[dict]) -> list[int]:
    """Insert the rows in one statement; their ids, in the rows' order."""
    insert = model.__table__.insert().returning(model.id, sort_by_parameter_order=True)
    return list(conn.execute(insert, rows).scalars())


def _version(conn) -> int:
    """The diagram version of the periods (one per database)."""
    found = conn.exec_driver_sql(
        "SELECT id FROM process_version WHERE process_key = 'bench_period'").scalar()
    if found is not None:
        return found
    return conn.execute(ProcessVersion.__table__.insert().values(
        process_key="bench_period", kind="bpmn", name="Période", version=1, filename="period.bpmn",
        source="<definitions/>", source_hash="0" * 64, content_hash="0" * 64, dependencies={},
        deployed_at=START)).inserted_primary_key[0]


def _task(instance_id: int, partnership_id: int, *, state: str, title: str, stage: str,
          form_key: str | None = None, due=None, created=START, completed=None,
          result: dict | None = None, role: str = "direction") -> dict:
    return {"instance_id": instance_id, "partnership_id": partnership_id,
            "task_uuid": str(uuid.uuid4()), "process_key": "bench_period", "element_id": "task",
            "title": title, "stage": stage, "role": role, "candidate_groups": role,
            "assignee": None, "claimed_by": None, "form_key": form_key, "due_at": due,
            "sort_due": due or NO_DUE_DATE, "created_at": created, "state": state,
            "completed_by": ACTOR if state == "completed" else None, "completed_at": completed,
            "draft": None, "context": {"period": 1}, "result": result, "inline_schema": None,
            "row_version": 1}


def rolling_periods(pf, title: str, periods: int, events: int) -> int:
    """A partnership with `periods` rolling periods: one instance each, its completed
    review (the last one open), and `events` audit events in its chain."""
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title=title, actor=ACTOR)
    with pf.db.begin() as conn:
        version = _version(conn)
        first = _ids(conn, ProcessInstance, [
            {"partnership_id": pid, "version_id": version, "process_key": "bench_period",
             "label": f"Période {n + 1}", "status": "completed" if n < periods - 1 else "running",
             "lock_version": 1, "workflow_state": {}, "waiting_messages": [], "started_by": ACTOR,
             "started_at": START + timedelta(days=30 * n)} for n in range(periods)])
        conn.execute(HumanTask.__table__.insert(), [
            _task(iid, pid, state="completed" if n < periods - 1 else "open",
                  title="Bilan de la période", stage="realisation", form_key="period_review",
                  created=START + timedelta(days=30 * n),
                  completed=START + timedelta(days=30 * n + 2) if n < periods - 1 else None,
                  result={"summary": f"Période {n + 1}"} if n < periods - 1 else None)
            for n, iid in enumerate(first)])
    _fill(pf, pid, events)
    return pid


def chain(pf, title: str, events: int) -> int:
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title=title, actor=ACTOR)
    _fill(pf, pid, events)
    return pid


def whole_site(pf, count: int, seed: int = 20260302) -> None:
    """`count` partnerships, each with an overdue open task, two completed steps, an open
    evaluation task and action sheets with evaluation dates in the dashboard's window, a
    partner organisation and a relationship whose convention ends within 90 days."""
    rnd = random.Random(seed)
    today = START.date()
    with pf.db.begin() as conn:
        version = _version(conn)
        own = conn.execute(Organisation.__table__.insert().values(
            name="Notre association", kind="association", is_own=True,
            archived=False)).inserted_primary_key[0]
        partners = _ids(conn, Organisation, [
            {"name": f"Partenaire {n:05d}", "kind": "association", "is_own": False, "archived": False}
            for n in range(count)])
        pids = _ids(conn, Partnership, [
            {"title": f"Partenariat {n:05d}", "kind": "partnership", "stage": rnd.choice(STAGES),
             "status": "active", "created_by": ACTOR, "created_at": START - timedelta(days=200)}
            for n in range(count)])
        iids = _ids(conn, ProcessInstance, [
            {"partnership_id": pid, "version_id": version, "process_key": "bench_period",
             "label": "Cycle", "status": "running", "lock_version": 1, "workflow_state": {},
             "waiting_messages": [], "started_by": ACTOR, "started_at": START - timedelta(days=200)}
            for pid in pids])
        tasks = []
        for pid, iid in zip(pids, iids, strict=True):
            stage = rnd.choice(STAGES)
            tasks.append(_task(iid, pid, state="open", title="Relire", stage=stage,
                               due=START - timedelta(days=rnd.randint(1, 20))))
            for _ in range(2):
                created = START - timedelta(days=rnd.randint(10, 300))
                tasks.append(_task(iid, pid, state="completed", title="Étape", stage=stage,
                                   created=created,
                                   completed=created + timedelta(hours=rnd.randint(1, 400))))
            tasks.append(_task(iid, pid, state="open", title="Évaluation intermédiaire",
                               stage="evaluation", form_key="intermediate_evaluation",
                               role="steering", due=START + timedelta(days=rnd.randint(1, 80))))
            sheets = [{"title": f"Fiche {k}", "intermediate_evaluation_date": _day(today, rnd, 1, 89),
                       "final_evaluation_date": _day(today, rnd, 100, 300)} for k in range(2)]
            tasks.append(_task(iid, pid, state="completed", title="Fiches action", stage="action_sheets",
                               form_key="action_sheets", created=START - timedelta(days=40),
                               completed=START - timedelta(days=39), result={"action_sheets": sheets}))
        conn.execute(HumanTask.__table__.insert(), tasks)
        conn.execute(Relationship.__table__.insert(), [
            {"organisation_id": own, "partner_id": partner, "kind": rnd.choice(
                ("network", "cooperation", "partnership")), "agreement": "written",
             "since": START - timedelta(days=700), "convention_start": START - timedelta(days=300),
             "convention_end": START + timedelta(days=rnd.randint(1, 89)), "renewal_date": None,
             "formalisation_level": rnd.choice(("L1", "L2", "L3")), "partnership_id": pid,
             "archived": False}
            for partner, pid in zip(partners, pids, strict=True)])
    with pf.uow() as uow:  # the rows above were written without completions
        figures.rebuild(uow.session, START)
        uow.commit()
    with pf.db.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def _bearer(pf) -> dict:
    with pf.uow() as uow:
        token = tokens.create_personal_token(uow, username=ACTOR, name="bench", scope="read", days=1)
    return {"Authorization": f"Bearer {token}"}


def _n(count: int) -> str:
    return f"{count:,}".replace(",", " ")


def _day(today, rnd: random.Random, low: int, high: int) -> str:
    return (today + timedelta(days=rnd.randint(low, high))).isoformat()


def _get(client, path: str, headers: dict | None = None):
    def call():
        answer = client.get(path, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code}")
        return len(answer.get_data())
    return call


def compare(small, large, reps: int) -> tuple[float, float, float, int, int]:
    """Both sides interleaved, the order alternating, two warm-up repetitions dropped:
    median seconds of each, the median per-repetition ratio, and the bytes of each page."""
    pairs, sizes = [], {}
    for i in range(reps + 2):
        sides = [("small", small), ("large", large)]
        if i % 2:
            sides.reverse()
        took = {}
        for name, fn in sides:
            took[name], sizes[name] = timed(fn)
        if i >= 2:
            pairs.append((took["large"], took["small"]))
    return (median([s for _, s in pairs]), median([b for b, _ in pairs]), median_ratio(pairs),
            sizes["small"], sizes["large"])


def _row(what: str, measured, small_label: str, large_label: str, quick: bool) -> Row:
    small, large, ratio, small_bytes, large_bytes = measured
    # the goal is stated for 2 000 items (500 periods); a --quick run has fewer
    met = "n/a (quick)" if quick else ("yes" if ratio <= GOAL else "NO")
    return Row("8 pages", what, f"{ms(small)} → {ms(large)} = {ratio:.2f}x", f"<= {GOAL}x", met,
               [f"{small_label}: {small_bytes / 1024:.0f} KB of HTML/JSON; "
                f"{large_label}: {large_bytes / 1024:.0f} KB"])


def run(quick: bool = False) -> list[Row]:
    # a --quick run: a fifth of the history and a quarter of the site, fewer repetitions
    reps = 5 if quick else 20
    periods, events, site_size = (100, 400, 500) if quick else (500, 2000, 2000)
    rows: list[Row] = []
    with site("pages-history") as (pf, client):
        short = rolling_periods(pf, "Trois périodes", 3, 10)
        long = rolling_periods(pf, "Périodes nombreuses", periods, 3 * periods)
        few = chain(pf, "Dix événements", 10)
        many = chain(pf, "Événements nombreux", events)
        with pf.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        rows.append(_row(f"partnership page, 3 periods → {periods} rolling periods",
                         compare(_get(client, f"/partenariats/{short}"),
                                 _get(client, f"/partenariats/{long}"), reps),
                         "3 periods", f"{periods} periods", quick))
        rows.append(_row(f"audit page, 10 → {_n(events)} events in the chain",
                         compare(_get(client, f"/partenariats/{few}/audit"),
                                 _get(client, f"/partenariats/{many}/audit"), reps),
                         "10 events", f"{events} events", quick))
    with site("pages-small") as (small_pf, small), site("pages-large") as (large_pf, large):
        whole_site(small_pf, 50)
        whole_site(large_pf, site_size)
        # the API answers a bearer token, not the session
        small_auth, large_auth = _bearer(small_pf), _bearer(large_pf)
        for what, path in (("dashboard", "/tableau-de-bord"), ("map list (first page)", "/carte/"),
                           ("map graph JSON", "/carte/graphe.json"),
                           ("partnership list (first page)", "/partenariats/"),
                           ("API map graph", "/api/map/graph")):
            api = path.startswith("/api/")
            rows.append(_row(f"{what}, 50 → {_n(site_size)} partnerships and relationships",
                             compare(_get(small, path, small_auth if api else None),
                                     _get(large, path, large_auth if api else None), reps),
                             "50", str(site_size), quick))
    return rows
