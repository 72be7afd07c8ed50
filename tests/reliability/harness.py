"""Helpers of the reliability suite: worlds of review tasks and timers, a gunicorn server
to kill, an HTTP session, the form fuzzer (every form of the method, at a task the method
was walked to) and the consistency checks."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.config import ManualClock, utcnow
from partnerflow.engine.runtime import services, stepping
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from tests.conftest import FIXTURES, ROOT, deploy, make_user

PASSWORD = "mot-de-passe-solide"
SECRET = "reliability-secret-key-of-at-least-32-bytes"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


# ---------------------------------------------------------------- worlds


def review_tasks(pf: Partnerflow, count: int, actor: str = "dir0") -> list[int]:
    """`count` review_loop instances in one partnership; the id of each open review task."""
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau fiabilité", actor=actor)
    tasks = []
    for _ in range(count):
        with pf.uow() as uow:
            iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                          actor=actor, data={"rounds": 0})
        with pf.read() as session:
            tasks.append(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid)).one())
    return tasks


def due_timers(pf: Partnerflow, count: int, actor: str = "dir0") -> list[int]:
    """`count` timer_only instances whose one-hour timer is already due on the real clock."""
    past = Partnerflow(pf.settings, clock=ManualClock(utcnow() - timedelta(hours=2)))
    try:
        with past.uow() as uow:
            pid = services.create_partnership(uow, title="Minuteries", actor=actor)
        ids = []
        for _ in range(count):
            with past.uow() as uow:
                ids.append(services.start_instance(uow, partnership_id=pid, process_key="timer_only",
                                                   actor=actor, data={}))
    finally:
        past.dispose()
    return ids


# ---------------------------------------------------------------- consistency


def check_consistency(pf: Partnerflow) -> dict:
    """Every instance restores; its open task rows are exactly its READY user tasks; the
    audit chains verify. Returns counts for the report."""
    counts = {"instances": 0, "open_tasks": 0}
    with pf.read() as session:
        instance_ids = list(session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id)))
    for instance_id in instance_ids:
        with pf.uow() as uow:
            instance = uow.session.get(ProcessInstance, instance_id)
            run = stepping.restore(uow, instance)
            ready = {view.uuid for view in run.ready_user_tasks()}
            rows = set(uow.session.scalars(select(HumanTask.task_uuid).where(
                HumanTask.instance_id == instance_id, HumanTask.state == "open")))
            assert rows == ready, (instance_id, rows, ready)
            assert (instance.status == "completed") == run.is_completed(), instance_id
        counts["instances"] += 1
        counts["open_tasks"] += len(rows)
    with pf.read() as session:
        breaks = audit.verify(session)
    assert breaks == [], [str(b) for b in breaks]
    return counts


# ---------------------------------------------------------------- a server to kill


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, forms_dir: Path = FIXTURES / "forms") -> dict:
    return dict(os.environ, PARTNERFLOW_DATABASE_URL=database_url, PARTNERFLOW_FORMS_DIR=str(forms_dir),
                PARTNERFLOW_BPMN_DIR=str(FIXTURES), PARTNERFLOW_SECRET_KEY=SECRET,
                PARTNERFLOW_LOG_JSON="1")


class Gunicorn:
    """`gunicorn partnerflow.web.wsgi:app` in its own process group (killable as a whole)."""

    def __init__(self, env: dict, workers: int = 2, port: int | None = None, log: Path | None = None):
        self.env, self.workers, self.port = env, workers, port or free_port()
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(gunicorn), "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "60",
             "partnerflow.web.wsgi:app"], env=self.env, cwd=ROOT, stdout=out, stderr=out,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Browser:
    """A cookie session over HTTP that signs in through the login form."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def post(self, path: str, data: dict) -> int:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=body), timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def token(self, path: str = "/connexion") -> str:
        _status, html = self.get(path)
        match = CSRF.search(html)
        assert match, f"no csrf token on {path}"
        return match.group(1) or match.group(2)

    def login(self, username: str, password: str = PASSWORD) -> None:
        status = self.post("/connexion", {"csrf_token": self.token(), "username": username,
                                          "password": password})
        assert status == 302, status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


# ---------------------------------------------------------------- the form fuzzer


def _field_names(schema: dict, prefix: str = "") -> list[str]:
    names = []
    for key, prop in (schema.get("properties") or {}).items():
        name = f"{prefix}{key}"
        names += [name, f"{name}__present", f"{name}__existing"]
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            for i in (0, 1, 7):
                names += _field_names(prop["items"], f"{name}-{i}-")
    return names


VALUES = st.one_of(st.text(max_size=60), st.sampled_from(["", "0", "-1", "1e309", "2026-02-30", "on",
                                                          "true", "x" * 5000, "<script>", "null",
                                                          "[]", "{}", "NaN", "9" * 40]))


def _shown_forms(pf: Partnerflow, form_key: str) -> list[str]:
    """The forms a form's `x-shows` names (the earlier steps its task shows), itself left out."""
    shows = pf.forms.get(form_key).schema.get("x-shows") or []
    return [s["form"] for s in shows if isinstance(s, dict) and s.get("form") not in (None, form_key)]


def _fuzz_post(pf: Partnerflow, client, path: str, form_key: str, examples: int, seen: dict,
               spent=lambda: False) -> bool:
    """POST random submissions to one form page (a task's, or the cycle's start form); never
    a 5xx. The fields drawn from are the form's own and those of the forms it shows (a
    hostile user may post them too). True once a redirect came with `spent()` true (the
    submission was accepted and used up the task's context)."""
    names = _field_names(pf.forms.get(form_key).schema)
    for shown in _shown_forms(pf, form_key):
        names += _field_names(pf.forms.get(shown).schema)
    names += ["action", "row_version", "__proto__", "décision"]
    completed: list[bool] = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(names), st.one_of(VALUES, st.lists(VALUES, max_size=3)),
                           max_size=12))
    def submit(fields):
        if completed:
            return
        response = client.post(path, data=fields)
        assert response.status_code < 500, (form_key, fields, response.status_code)
        seen[str(response.status_code)] = seen.get(str(response.status_code), 0) + 1
        if response.status_code == 302 and spent():
            completed.append(True)

    submit()
    return bool(completed)


def _fuzz_task(pf: Partnerflow, client, task_id: int, form_key: str, examples: int,
               seen: dict) -> tuple[bool, str]:
    """The task's page renders in its context (with the earlier steps it shows), then random
    submissions are POSTed to it. Returns whether one of them completed the task, and the
    page as it first rendered."""
    response = client.get(f"/taches/{task_id}")
    assert response.status_code == 200, (form_key, response.status_code)

    def spent() -> bool:
        with pf.read() as session:
            return session.get(HumanTask, task_id).state != "open"

    return (_fuzz_post(pf, client, f"/taches/{task_id}", form_key, examples, seen, spent),
            response.get_data(as_text=True))


class _Spent(Exception):
    """A fuzzed submission completed the task the tour was at: start the tour again."""


def _tours():
    """Walks of the method that, between them, reach every form of forms/
    (tests/scenarios/method.py): the letter of intent with its loops, the network at L0, the
    convention at L4 to its renewal decision, the rolling periods, the partnership plan drawn
    up from the map and approved, and the reminders that the dates of a signed convention
    start (an evaluation to prepare, the convention to renew). Each tour is called with a
    function giving a new partnership's walk (its idea proposed) and the class of the walk."""
    from partnerflow.engine.method import plan, reminders
    from partnerflow.engine.store.models import Relationship
    from tests.scenarios.method import BOARD, DELEGATE, DIRECTION, PROPOSER, STEERING

    def letter_of_intent(propose, _walk_class):
        walk = propose()
        walk.complete(DIRECTION, "validate_idea", "more_info")
        walk.complete(PROPOSER, "complete_idea", idea_completion_note="Sans coût pour l'EHPAD.")
        walk.accept_idea()
        walk.elaborate(send_back=1)
        walk.negotiate("L1", rounds=2)
        walk.follow_up("end")

    def network(propose, _walk_class):
        walk = propose()
        walk.to_negotiation()
        walk.negotiate("L0")

    def convention(propose, _walk_class):
        walk = propose()
        walk.to_negotiation()
        walk.negotiate("L4")
        walk.write_sheets("single_plan", [walk.samples.action_sheet(1, -30, -10)], send_back=1)
        walk.complete(STEERING, "record_realisation")
        walk.complete(STEERING, "evaluate_intermediate")
        walk.complete(walk.partner, "partner_final_evaluation")
        walk.complete(STEERING, "evaluate_final", "renew")

    def rolling(propose, _walk_class):
        walk = propose()
        walk.to_negotiation()
        walk.negotiate("L2")
        walk.write_sheets("rolling", [walk.samples.action_sheet(1, 60, 450)])
        start = walk.clock().date()
        walk.complete(DELEGATE, "plan_period", period_start_date=start.isoformat(),
                      period_end_date=(start + timedelta(days=89)).isoformat())
        walk.complete(STEERING, "record_period_realisation")
        [review] = walk.inbox(STEERING)
        walk.complete(STEERING, review.element_id)

    def partnership_plan(propose, walk_class):
        # drawn up from the map the tours above filled (their signed conventions), then
        # approved; a tour started again finds the plan where the fuzzer left it
        pf = propose.pf
        with pf.read() as session:
            running = plan.running_instance(session)
        if running is None:
            with pf.uow() as uow:
                plan.start_plan(uow, actor=DIRECTION)
        with pf.read() as session:
            walk = walk_class(pf, propose.clock, plan.carrier(session).id)
        today = walk.clock().date()
        if "draw_up_plan" in walk.open_elements():
            walk.complete(DIRECTION, "draw_up_plan", data=plan.demo_plan(today))
        walk.complete(BOARD, "approve_plan", data={
            "plan_decision": "approve", "plan_deliberation_date": today.isoformat(),
            "plan_board_comment": "Approuvé à l'unanimité."})

    def reminders_due(propose, _walk_class):
        # the idea proposed once a plan is approved (its objectives to choose from); an
        # evaluation a week ahead, then the convention's renewal two months ahead
        walk = propose()
        walk.to_negotiation()
        walk.negotiate("L2")
        walk.write_sheets("single_plan", [walk.samples.action_sheet(1, 7, 200)])
        with walk.pf.uow() as uow:
            reminders.start_evaluation_reminders(uow)
        [prepare] = [t for t in walk.inbox(STEERING) if t.element_id == "prepare_evaluation"]
        walk.complete(STEERING, "prepare_evaluation", task_id=prepare.id, data={
            "meeting_date": walk.clock().date().isoformat(),
            "points_to_review": "Le nombre de consultations et les délais d'avis."})
        with walk.pf.read() as session:
            [rel] = session.scalars(select(Relationship).where(
                Relationship.partnership_id == walk.pid)).all()
            renewal = rel.renewal_date.date()
        walk.clock.advance(days=max((renewal - walk.clock().date()).days - 60, 0))
        with walk.pf.uow() as uow:
            reminders.start_due_reminders(uow)
        [renew] = [t for t in walk.inbox(DIRECTION) if t.element_id == "prepare_convention_renewal"]
        walk.complete(DIRECTION, "prepare_convention_renewal", task_id=renew.id, data={
            "renewal_decision": "renew",
            "new_convention_end": date(renewal.year + 2, renewal.month, 1).isoformat()})

    return [letter_of_intent, network, convention, rolling, partnership_plan, reminders_due]


def fuzz_the_method(pf: Partnerflow, clock, examples: int) -> tuple[dict[str, int], dict[str, str]]:
    """Walk the method (with its people deployed) through `_tours()`; at the first task of
    each form met, the user it is for POSTs random submissions to it through the web, in
    the context the walk gave it (the instance's real data), before the walk completes it
    with its realistic answers. The cycle's start form is fuzzed the same way, by the
    proposer, once a partnership plan is approved (its objectives are then choices of the
    form). Returns the statuses seen, and for each form fuzzed how: "task", "start" or
    "shown" (a form no task fills, whose fields were posted to the tasks that show it, on
    pages that rendered it)."""
    from partnerflow.engine.access.accounts import hash_password
    from partnerflow.engine.store.models import User
    from partnerflow.web import create_app
    from tests.scenarios.method import PASSWORD as SIGNING_PASSWORD

    with pf.uow() as uow:  # everyone signs in here, with the signatories' password
        for user in uow.session.scalars(select(User)):
            user.password_hash = user.password_hash or hash_password(SIGNING_PASSWORD)
        uow.commit()
    app = create_app(partnerflow=pf, TESTING=True, WTF_CSRF_ENABLED=False)
    clients: dict[str, object] = {}

    def client_for(username: str):
        if username not in clients:
            client = app.test_client()
            response = client.post("/connexion", data={"username": username,
                                                        "password": SIGNING_PASSWORD})
            assert response.status_code == 302, username
            clients[username] = client
        return clients[username]

    seen: dict[str, int] = {}
    fuzzed: dict[str, str] = {}
    FuzzWalk = _fuzzing_walk(pf, examples, client_for, seen, fuzzed)  # noqa: N806 - a class

    def propose():
        return FuzzWalk.propose(pf, clock)

    propose.pf, propose.clock = pf, clock
    for tour in _tours():
        for _attempt in range(10):  # each restart fuzzes at least one form fewer
            try:
                tour(propose, FuzzWalk)
                break
            except _Spent:
                continue
        else:
            raise AssertionError(f"the tour {tour.__name__} never got past the fuzzer")
    return seen, fuzzed


def _fuzzing_walk(pf: Partnerflow, examples: int, client_for, seen: dict, fuzzed: dict):
    """The walk of tests/scenarios/method.py that fuzzes each form the first time it meets
    it: the start form when it proposes an idea (once a plan is approved), a task's form
    before completing the task (raising _Spent when a random submission completed it)."""
    from partnerflow.engine.method import plan
    from tests.scenarios.method import PROPOSER, Walk

    filled = _filled_forms(pf)

    class FuzzWalk(Walk):
        @classmethod
        def propose(cls, pf, clock, **options):
            with pf.read() as session:
                planned = plan.latest_approved(session) is not None
            start_key = _start_form_key(pf)
            if planned and start_key not in fuzzed:
                client = client_for(options.get("proposer", PROPOSER))
                response = client.get("/partenariats/nouvelle-idee")
                assert response.status_code == 200, response.status_code
                fuzzed[start_key] = "start"
                _fuzz_post(pf, client, "/partenariats/nouvelle-idee", start_key, examples, seen)
            return super().propose(pf, clock, **options)

        def complete(self, username, element_id, choice=None, *, data=None, task_id=None,
                     **overrides):
            task = self.task(username, element_id, task_id)
            if task.form_key and task.form_key not in fuzzed:
                fuzzed[task.form_key] = "task"
                spent, page = _fuzz_task(pf, client_for(username), task.id, task.form_key,
                                         examples, seen)
                for shown in _shown_forms(pf, task.form_key):
                    if shown not in filled:  # its fields were posted to this page, which shows it
                        title = str(escape(pf.forms.get(shown).schema["title"]))
                        assert title in page, (task.form_key, shown)
                        fuzzed.setdefault(shown, "shown")
                if spent:
                    raise _Spent(task.form_key)
            return super().complete(username, element_id, choice, data=data, task_id=task_id,
                                    **overrides)

    return FuzzWalk


def _start_form_key(pf: Partnerflow) -> str:
    from partnerflow.engine.runtime import deployment

    with pf.read() as session:
        version = deployment.latest_version(session, "partnership_cycle")
        return pf.catalog.compiled(session, version.id).start_form_key


def _filled_forms(pf: Partnerflow) -> set[str]:
    """The forms some task or start event of the method's diagrams names (its formKey)."""
    return {key for name, source in pf.method_files() if name.endswith(".bpmn")
            for key in re.findall(r'camunda:formKey="([^"$]+)"', source.decode("utf-8"))}


def users(pf: Partnerflow, count: int, role: str = "direction", password: str | None = None) -> list[str]:
    return [make_user(pf, f"dir{n}", role, password=password) for n in range(count)]


def deploy_fixtures(pf: Partnerflow) -> None:
    deploy(pf, [FIXTURES / "review_loop.bpmn", FIXTURES / "timer_only.bpmn"])
