"""Who may do what, route by route and role by role, written from the roles of the method:
direction validates and may reassign any task, partners see only their partnerships,
auditors read everything and change nothing, administrators manage users."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from partnerflow.engine.config import ManualClock, Settings
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.web import create_app
from tests.conftest import FIXTURES, _wipe
from tests.web.support import (
    BY_ROLE,
    build_world,
    complete,
    csrf_token,
    fast_passwords,
    inbox_ids,
    login,
    task_row,
    text_of,
)

ROLES = ["anonymous", *BY_ROLE]
STAFF = {"direction", "professional", "delegate", "board", "steering", "admin"}


def _everyone(status):
    return dict.fromkeys(BY_ROLE, status)


def _only(allowed: dict, otherwise: int = 403):
    return {**_everyone(otherwise), **allowed}


def _claimed_by_hugo(w):
    from partnerflow.engine.runtime import services

    with w.pf.uow() as uow:
        services.claim_task(uow, task_id=w.task_own, actor="hugo")


def _partner_organisation(w) -> int:
    from partnerflow.engine.access import accounts

    with w.pf.uow() as uow:
        org = accounts.ensure_organisation(uow.session, name="Mairie de Pantin", kind="town_hall")
        uow.commit()
        return org.id


def _completed_by_hugo(w):
    complete(w.pf, w.task_own, "hugo", {"decision": "done"})


# name -> (method, path(world), form data(world), setup(world) or None, expected by role)
ROUTES = {
    "inbox": ("GET", lambda w: "/", None, None, _everyone(200)),
    "partnerships": ("GET", lambda w: "/partenariats/", None, None, _everyone(200)),
    # a designer works on the diagrams: no partnership page, document or idea
    "own_partnership": ("GET", lambda w: f"/partenariats/{w.own}", None, None,
                        {**_everyone(200), "designer": 403}),
    "other_partnership": ("GET", lambda w: f"/partenariats/{w.other}", None, None,
                          {**_everyone(200), "partner": 403, "designer": 403}),
    "missing_partnership": ("GET", lambda w: "/partenariats/999999", None, None,
                            {**_everyone(404), "partner": 403, "designer": 403}),
    # a document that no field shared with the partner points to is internal (engine/views.py)
    "own_document": ("GET", lambda w: f"/partenariats/{w.own}/documents/{w.doc_own}", None, None,
                     {**_everyone(200), "partner": 404, "designer": 403}),
    "other_document": ("GET", lambda w: f"/partenariats/{w.other}/documents/{w.doc_other}", None,
                       None, {**_everyone(200), "partner": 403, "designer": 403}),
    # administrators read an open task (closed to them) to reassign it, as they may
    "direction_task": ("GET", lambda w: f"/taches/{w.task_own}", None, None,
                       _only({"direction": 200, "auditor": 200, "admin": 200})),
    "direction_task_of_other_partnership": ("GET", lambda w: f"/taches/{w.task_other}", None, None,
                                            _only({"direction": 200, "auditor": 200, "admin": 200})),
    "completed_task": ("GET", lambda w: f"/taches/{w.task_own}", None, _completed_by_hugo,
                       _only({"direction": 200, "auditor": 200, "admin": 200})),
    "admin_users": ("GET", lambda w: "/admin/utilisateurs", None, None, _only({"admin": 200})),
    # the main process is not deployed in these tests: staff are told so (503), not "no page"
    "propose_idea": ("GET", lambda w: "/partenariats/nouvelle-idee", None, None,
                     {**dict.fromkeys(STAFF, 503), "partner": 403, "auditor": 403,
                      "designer": 403}),
    "claim": ("POST", lambda w: f"/taches/{w.task_own}/prendre", {}, None, _only({"direction": 302})),
    "unclaim_someone_elses": ("POST", lambda w: f"/taches/{w.task_own}/liberer", {}, _claimed_by_hugo,
                              _only({"direction": 302})),
    "reassign": ("POST", lambda w: f"/taches/{w.task_own}/reaffecter", {"to_user": "hugo"}, None,
                 _only({"direction": 302, "admin": 302})),
    # reassign-to: only someone the task is offered to (a direction task: not a professional)
    "reassign_to_someone_not_offered": ("POST", lambda w: f"/taches/{w.task_own}/reaffecter",
                                        {"to_user": "sophie"}, None, _everyone(403)),
    "complete": ("POST", lambda w: f"/taches/{w.task_own}", {"action": "complete", "decision": "done"},
                 None, _only({"direction": 302})),
    "complete_invalid": ("POST", lambda w: f"/taches/{w.task_own}",
                         {"action": "complete", "decision": "peut-être"}, None,
                         _only({"direction": 422})),
    "complete_already_completed": ("POST", lambda w: f"/taches/{w.task_own}",
                                   {"action": "complete", "decision": "done"}, _completed_by_hugo,
                                   _only({"direction": 409})),
    "save_draft": ("POST", lambda w: f"/taches/{w.task_own}", {"action": "draft", "comment": "à voir"},
                   None, _only({"direction": 302})),
    "create_user": ("POST", lambda w: "/admin/utilisateurs",
                    {"username": "nouveau", "full_name": "Nouvelle Personne", "password": "12345678x",
                     "roles": "professional"}, None, _only({"admin": 302})),
    "create_user_invalid": ("POST", lambda w: "/admin/utilisateurs",
                            {"username": "", "full_name": "", "password": "court"}, None,
                            _only({"admin": 422})),
    "set_roles": ("POST", lambda w: "/admin/utilisateurs/sophie/roles", {"roles": "admin"}, None,
                  _only({"admin": 302})),
    "attach_partner": ("POST", lambda w: "/admin/utilisateurs/paul/partenariats",
                       lambda w: {"partnership_id": str(w.other)}, None, _only({"admin": 302})),
    "admin_groups": ("GET", lambda w: "/admin/groupes", None, None, _only({"admin": 200})),
    "create_group": ("POST", lambda w: "/admin/groupes",
                     {"key": "cuisine", "label_fr": "Cuisine", "label_en": "Kitchen"}, None,
                     _only({"admin": 302})),
    "add_member": ("POST", lambda w: "/admin/groupes/board/membres", {"username": "sophie"}, None,
                   _only({"admin": 302})),
    "remove_member": ("POST", lambda w: "/admin/groupes/board/membres/anne/retirer", {}, None,
                      _only({"admin": 302})),
    # attach a partner contact (unblocks partner tasks): the direction and the administrators
    # (and the partnership's delegate, which this partnership has not named)
    "attach_contact": ("POST", lambda w: f"/partenariats/{w.other}/interlocuteurs",
                       {"username": "paul"}, None,
                       {**_everyone(403), "direction": 302, "admin": 302}),
    # name the partner organisation the map should draw: the map's editors
    "link_organisation": ("POST", lambda w: f"/partenariats/{w.other}/organisations",
                          lambda w: {"organisation_id": str(_partner_organisation(w))}, None,
                          {**_everyone(403), "direction": 302, "admin": 302}),
    "claim_claimed_by_someone_else": ("POST", lambda w: f"/taches/{w.task_own}/prendre", {},
                                      _claimed_by_hugo, _only({"direction": 409})),
}

READ_ONLY = [name for name, (method, _p, _d, setup, _e) in ROUTES.items() if method == "GET" and not setup]


def _cases(names):
    cases = []
    for name in names:
        for role in ROLES:
            cases.append(pytest.param(name, role, id=f"{name}-{role}"))
    return cases


@pytest.fixture(scope="module")
def read_world(database_url):
    """One world and one signed-in client per role for the routes that change nothing."""
    with pytest.MonkeyPatch.context() as mp:
        fast_passwords(mp)
        settings = Settings(database_url=database_url, step_time_limit_s=2.0,
                            forms_dir=FIXTURES / "forms", bpmn_dir=FIXTURES)
        pf = Partnerflow(settings, clock=ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
        _wipe(pf)
        world = build_world(pf)
        app = create_app(partnerflow=pf, TESTING=True)
        clients = {None: app.test_client()}
        for username in BY_ROLE.values():
            clients[username] = app.test_client()
            assert login(clients[username], username).status_code == 302
        yield world, clients
        pf.dispose()


def _check(route, role, response):
    method, _path, _data, _setup, expected = ROUTES[route]
    body = text_of(response)
    if role == "anonymous":
        if method == "GET":
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/connexion")
        else:
            assert response.status_code == 400
            assert "jeton CSRF" in body
        return
    assert response.status_code == expected[role], body[-600:]
    if response.status_code in (403, 404, 409):
        assert "Retour à mes tâches" in body  # the French error page, not a bare error
        assert "Traceback" not in body
    if response.status_code == 403:
        assert "Accès refusé" in body


@pytest.mark.parametrize(("route", "role"), _cases(READ_ONLY))
def test_read_route_by_role(route, role, read_world):
    world, clients = read_world
    _check(route, role, clients[BY_ROLE.get(role)].get(ROUTES[route][1](world)))


@pytest.mark.parametrize(("route", "role"), _cases([r for r in ROUTES if r not in READ_ONLY]))
def test_write_route_by_role(route, role, world, as_user):
    method, path, data, setup, _expected = ROUTES[route]
    if setup is not None:
        setup(world)
    client = as_user(BY_ROLE.get(role))
    url = path(world)
    data = data(world) if callable(data) else data
    if method == "GET":
        response = client.get(url)
    elif role == "anonymous":
        response = client.post(url, data=data)  # no session, no token
    else:
        response = client.post(url, data={**data, "csrf_token": csrf_token(client, "/")})
    _check(route, role, response)


def test_anonymous_post_with_a_valid_token_is_sent_to_the_login_page(app, world):
    client = app.test_client()
    token = csrf_token(client, "/connexion")
    response = client.post(f"/taches/{world.task_own}/prendre", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")
    assert task_row(world.pf, world.task_own).claimed_by is None


def test_refused_actions_change_nothing(world, as_user):
    before = task_row(world.pf, world.task_own)
    for role in ("professional", "partner", "auditor", "board"):
        client = as_user(BY_ROLE[role])
        token = csrf_token(client, "/")
        for path, data in [(f"/taches/{world.task_own}", {"action": "complete", "decision": "done"}),
                           (f"/taches/{world.task_own}", {"action": "draft", "comment": "x"}),
                           (f"/taches/{world.task_own}/prendre", {}),
                           (f"/taches/{world.task_own}/reaffecter", {"to_user": BY_ROLE[role]})]:
            assert client.post(path, data={**data, "csrf_token": token}).status_code == 403
    after = task_row(world.pf, world.task_own)
    assert (after.state, after.claimed_by, after.assignee, after.draft) == (
        before.state, before.claimed_by, before.assignee, before.draft) == ("open", None, None, None)


def test_the_auditor_reads_a_task_but_gets_no_form(world, as_user):
    body = text_of(as_user("alice").get(f"/taches/{world.task_own}"))
    assert "Relire le document" in body
    assert 'name="action"' not in body and "Valider et terminer" not in body


def test_a_partner_sees_only_their_partnerships_in_lists(world, as_user):
    client = as_user("paul")
    listing = text_of(client.get("/partenariats/"))
    assert "EHPAD et lycée agricole" in listing
    assert "Foyer et mairie" not in listing
    inbox = text_of(client.get("/"))
    assert "Foyer et mairie" not in inbox  # not even in the partnership filter
    assert "Proposer une idée" not in listing


def test_reassign_by_direction_and_admin_moves_the_task(world, as_user):
    from tests.web.support import post

    response = post(as_user("ines"), f"/taches/{world.task_own}/reaffecter", {"to_user": "hugo"})
    assert response.status_code == 302
    assert world.task_own in inbox_ids(world.pf, "hugo")
    assert world.task_own not in inbox_ids(world.pf, "claire")
    # a partner user of another partnership cannot be given the task
    response = post(as_user("claire"), f"/taches/{world.task_other}/reaffecter", {"to_user": "paul"})
    assert response.status_code == 403
    assert task_row(world.pf, world.task_other).assignee is None


# ---------------------------------------------------------------- every action of the policy

# action -> (object(world) or None, the roles allowed); the direction task of `own` unless said
POLICY = {
    "offered": (lambda w: task_row(w.pf, w.task_own), {"direction"}),
    "act": (lambda w: task_row(w.pf, w.task_own), {"direction"}),
    "read_task": (lambda w: task_row(w.pf, w.task_own), {"direction", "auditor", "admin"}),
    "reassign_to": (lambda w: task_row(w.pf, w.task_own), {"direction"}),
    "read_partnership": (lambda w: w.own, set(BY_ROLE) - {"designer"}),
    "read_partnership_other": (lambda w: w.other, set(BY_ROLE) - {"partner", "designer"}),
    "read_audit": (lambda w: w.own, {"auditor", "direction", "admin", "partner"}),
    "read_audit_other": (lambda w: w.other, {"auditor", "direction", "admin"}),
    "export": (lambda w: w.own, {"auditor", "direction", "admin", "partner"}),
    "administer": (None, {"admin"}),
    "design": (None, {"designer", "admin"}),
    "reassign": (None, {"direction", "admin"}),
    "read_dashboard": (None, {"direction", "auditor", "admin"}),
    "read_incidents": (None, {"direction", "designer", "admin"}),
    "edit_map": (None, {"direction", "admin"}),
    "read_map": (None, set(BY_ROLE) - {"partner", "designer"}),
    "propose": (None, STAFF),
}


@pytest.mark.parametrize("action", POLICY)
def test_each_action_of_the_policy_by_role_as_predicate_and_as_sql(world, action):
    from sqlalchemy import select

    from partnerflow.engine import access
    from partnerflow.engine.runtime import queries
    from partnerflow.engine.store.models import HumanTask, Partnership

    make_object, allowed = POLICY[action]
    name = action.removesuffix("_other")
    obj = make_object(world) if make_object else None
    with world.pf.read() as db:
        for role, username in BY_ROLE.items():
            who = access.actor(db, username)
            assert access.may(who, name, obj) == (role in allowed), (action, role)
            # the SQL form says the same: the inbox for the task actions, the partnership lists
            if name in ("offered", "act"):
                in_inbox = world.task_own in [r.id for r in queries.inbox(db, username, world.pf.clock())]
                assert in_inbox == (role in allowed), (action, role)
                acting = set(db.scalars(select(HumanTask.id).where(access.where(who, "act"))))
                assert (world.task_own in acting) == (role in allowed), (action, role)
            if name in ("read_partnership", "read_audit", "export"):
                listed = set(db.scalars(select(Partnership.id).where(access.where(who, name))))
                assert (obj in listed) == (role in allowed), (action, role)
            if name == "reassign_to":
                names = {u for u, _n in queries.reassignable_users(db, obj)}
                assert (username in names) == (role in allowed), (action, role)
