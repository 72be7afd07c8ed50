"""A partnership's page and a task's are kept rendered between requests; after every kind of change, what
each reader is shown equals the page rendered again from the database. And what a reader is
shown is theirs: a partner representative's kept page never reaches a member of staff, nor
the reverse."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from partnerflow.engine.method import registry
from partnerflow.engine.runtime import discussion, documents, services
from partnerflow.engine.store.models import Document, HumanTask, Organisation, Partnership, User
from tests.web.support import PDF, complete, start_review, text_of

READERS = ("claire", "karim", "paul", "anne")
TOKEN = re.compile(r'(name="csrf_token" value=")[^"]+(")')


def _shown(clients, path):
    # the token of each form is signed again at each rendering; the session's token is the same
    return {who: TOKEN.sub(r"\1…\2", text_of(client.get(path))) for who, client in clients.items()}


def _agrees(pf, clients, paths):
    paths = paths() if callable(paths) else paths
    kept = {path: _shown(clients, path) for path in paths}
    pf.inbox_cache.clear()
    fresh = {path: _shown(clients, path) for path in paths}
    for path in paths:
        wrong = [who for who in READERS if kept[path][who] != fresh[path][who]]
        assert not wrong, f"the kept page {path} differs from the database for {wrong}"


def _change(pf, fn):
    with pf.uow() as uow:
        fn(uow)
        uow.commit()


def test_every_kind_of_change_is_seen_on_every_kept_partnership_page(world, as_user):
    pf, own = world.pf, world.own
    clients = {who: as_user(who) for who in READERS}
    for client in clients.values():
        client.get("/")  # the welcome message shown

    def paths():  # the partnership's page, a page of its history, its open tasks' pages
        return [f"/partenariats/{own}", f"/partenariats/{own}?etapes=2", f"/taches/{world.task_own}",
                *(f"/taches/{task}" for task in _open(pf, own)[:2])]

    _agrees(pf, clients, paths)
    hits = pf.inbox_cache.hits
    _shown(clients, paths()[0])
    assert pf.inbox_cache.hits - hits >= len(READERS)  # served as kept

    with pf.uow() as uow:
        org = registry.create_organisation(uow, actor="claire", data={
            "name": "Lycée agricole du Val", "kind": "school"})
    steps = [
        lambda: complete(pf, world.task_own, "claire", {"decision": "again"}),
        lambda: start_review(pf, own),
        lambda: _change(pf, lambda uow: services.claim_task(
            uow, task_id=_open(pf, own)[0], actor="hugo")),
        lambda: _change(pf, lambda uow: discussion.add_comment(
            uow, actor="claire", partnership_id=own, text="Point d'étape", visibility="shared")),
        lambda: _change(pf, lambda uow: discussion.add_comment(
            uow, actor="claire", partnership_id=own, text="Entre nous", visibility="internal")),
        lambda: _change(pf, lambda uow: discussion.add_comment(
            uow, actor="hugo", partnership_id=own, task_id=_open(pf, own)[0],
            text="Sur cette tâche", visibility="internal")),
        lambda: _change(pf, lambda uow: services.save_draft(
            uow, task_id=_open(pf, own)[0], actor="hugo", data={"decision": "again"})),
        lambda: _ask(pf, _open(pf, own)[0]),
        lambda: _change(pf, lambda uow: services.reassign_task(
            uow, task_id=_open(pf, own)[-1], actor="claire", to_user="hugo")),
        lambda: _change(pf, lambda uow: documents.store(
            uow, partnership_id=own, filename="annexe.pdf", content=PDF + b"% annexe\n",
            actor="claire", max_bytes=pf.settings.max_upload_bytes)),
        lambda: _change(pf, lambda uow: services.attach_member(
            uow, partnership_id=own, username="sarah", actor="claire", role="partner")),
        lambda: _change(pf, lambda uow: setattr(uow.session.get(Partnership, own), "title",
                                                "EHPAD et lycée agricole du canton")),
        lambda: _change(pf, lambda uow: setattr(uow.session.get(Partnership, own), "stage",
                                                "negotiation")),
        lambda: _change(pf, lambda uow: setattr(uow.session.scalar(
            select(User).where(User.username == "claire")), "full_name", "Claire Martin-Roux")),
        lambda: _change(pf, lambda uow: registry.link_partner_organisation(
            uow, partnership_id=own, organisation_id=org, actor="claire")),
        lambda: _change(pf, lambda uow: setattr(uow.session.get(Organisation, org), "name",
                                                "Lycée agricole du Val de Loire")),
        lambda: _change(pf, lambda uow: uow.session.execute(
            update(HumanTask).where(HumanTask.partnership_id == own)
            .values(title="Relire le document (révisé)"))),
        # a statement writing a partnership's rows (a bulk correction, an erasure)
        lambda: _change(pf, lambda uow: uow.session.execute(
            update(Document).where(Document.partnership_id == own)
            .values(filename="convention-signee.pdf"))),
        lambda: _change(pf, lambda uow: services.cancel_instance(
            uow, instance_id=_instance_of(pf, _open(pf, own)[-1]), actor="claire",
            reason="doublon")),
    ]
    for step in steps:
        step()
        _agrees(pf, clients, paths)
    last = text_of(clients["claire"].get(paths()[0]))
    assert all(seen in last for seen in ("Lycée agricole du Val de Loire", "convention-signee.pdf",
                                         "Claire Martin-Roux", "du canton", "Entre nous"))


def _ask(pf, task_id):
    with pf.uow() as uow:
        discussion.ask_opinion(uow, task_id=task_id, actor="hugo", delegate="claire",
                               question="Votre avis ?")


def _open(pf, pid):
    with pf.read() as db:
        return list(db.scalars(select(HumanTask.id).where(
            HumanTask.partnership_id == pid, HumanTask.state == "open").order_by(HumanTask.id)))


def _instance_of(pf, task_id):
    with pf.read() as db:
        return db.get(HumanTask, task_id).instance_id


def test_a_kept_page_is_the_readers_own(world, as_user):
    """The partner's page (shared comments and documents only) and the direction's are kept
    apart: each sees their own after the other's was kept."""
    pf, own = world.pf, world.own
    with pf.uow() as uow:
        discussion.add_comment(uow, actor="claire", partnership_id=own, text="Note interne",
                               visibility="internal")
        uow.commit()
    path = f"/partenariats/{own}"
    claire, paul = as_user("claire"), as_user("paul")
    assert "Note interne" in text_of(claire.get(path))
    assert "Note interne" not in text_of(paul.get(path))
    assert "Note interne" in text_of(claire.get(path))
    assert "Note interne" not in text_of(paul.get(path))
    # one who may not read a partnership is refused, kept page or not
    assert claire.get(f"/partenariats/{world.other}").status_code == 200
    assert paul.get(f"/partenariats/{world.other}").status_code == 403
