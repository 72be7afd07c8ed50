"""The inbox cache never shows what changed: after every kind of change, each reader's cached
inbox (the page under several filters, and the header's count) equals the inbox read again
from the database; and the versions it rests on move only for the keys a change touches."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from partnerflow.engine import access
from partnerflow.engine.runtime import (
    discussion,
    inbox_actions,
    inbox_cache,
    inbox_page,
    notifications,
    queries,
    services,
)
from partnerflow.engine.store.models import (
    GroupMember,
    HumanTask,
    InboxVersion,
    Notification,
    Partnership,
    User,
)
from tests.conftest import announce, deploy, make_user

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
READERS = ("claire", "sophie", "karim", "paul", "nadia")
FILTERS = (queries.InboxFilter(limit=3), queries.InboxFilter(limit=3, offset=3),
           queries.InboxFilter(role="direction"), queries.InboxFilter(holder="me"),
           queries.InboxFilter(holder="nobody", sort="title"), queries.InboxFilter(sort="partnership"))


@pytest.fixture
def site(fixture_pf):
    pf = fixture_pf
    make_user(pf, "claire", "direction")
    make_user(pf, "sophie", "professional", "direction")
    make_user(pf, "karim", "professional")
    make_user(pf, "paul", "partner")
    make_user(pf, "nadia", "partner")
    deploy(pf, [FIXTURES / "review_loop.bpmn", FIXTURES / "lanes" / "partner_comment.bpmn"])
    ids = []
    for title in ("Réseau santé", "Atelier mémoire"):
        with pf.uow() as uow:
            ids.append(services.create_partnership(uow, title=title, actor="claire"))
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=ids[0], username="paul", actor="claire")
    for pid in ids:
        for _ in range(3):
            _start(pf, pid, "review_loop", {"rounds": 0})
        _start(pf, pid, "partner_comment", {})
    announce(pf)
    return pf, ids


def _start(pf, pid, key, data):
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key=key, actor="claire", data=data)


def _read_all(pf, cache):
    """Every reader's inbox under every filter, through `cache` (None: from the database)."""
    now = pf.clock()
    seen = {}
    for reader in READERS:
        with pf.read() as db:
            seen[reader, "count"] = inbox_page.count(db, reader, cache)
            seen[reader, "notifications"] = inbox_page.unread_notifications(db, reader, cache)
            for f in FILTERS:
                page = inbox_page.read(db, reader, now, f, cache)
                seen[reader, f] = (page.rows, page.total, page.partnerships, page.waiting,
                                   page.who_acts, page.saved)
    return seen


def _agrees(pf):
    cached, fresh = _read_all(pf, pf.inbox_cache), _read_all(pf, None)
    wrong = [key for key in fresh if cached[key] != fresh[key]]
    assert not wrong, f"cached inboxes differ from the database for {wrong[:5]}"
    return fresh


def _open(pf, pid=None, key="review_loop"):
    with pf.read() as db:
        query = select(HumanTask.id).where(HumanTask.state == "open", HumanTask.process_key == key)
        if pid is not None:
            query = query.where(HumanTask.partnership_id == pid)
        return list(db.scalars(query.order_by(HumanTask.id)))


def _first_notification(session, username):
    return session.scalar(select(Notification.id).where(Notification.username == username,
                                                        Notification.read_at.is_(None)).limit(1))


def _change(pf, fn):
    with pf.uow() as uow:
        fn(uow)
        uow.commit()


def test_every_kind_of_change_is_seen_by_every_cached_inbox(site):
    pf, (pid, other) = site
    first = _agrees(pf)
    assert _read_all(pf, pf.inbox_cache) == first  # warm: served from the cache now
    hits = pf.inbox_cache.hits
    _read_all(pf, pf.inbox_cache)
    assert pf.inbox_cache.hits - hits == len(first)

    task, second, third = _open(pf, pid)[:3]
    steps = [
        lambda: _change(pf, lambda uow: services.complete_task(
            uow, task_id=task, actor="claire", data={"decision": "again"})),
        lambda: _change(pf, lambda uow: services.claim_task(uow, task_id=second, actor="sophie")),
        lambda: _change(pf, lambda uow: services.unclaim_task(uow, task_id=second, actor="sophie")),
        lambda: _change(pf, lambda uow: services.reassign_task(
            uow, task_id=third, actor="claire", to_user="sophie")),
        lambda: _change(pf, lambda uow: inbox_actions.set_follow_up(
            uow, task_id=third, actor="sophie", day=date.today() + timedelta(days=3))),
        lambda: _change(pf, lambda uow: discussion.ask_opinion(
            uow, task_id=third, actor="sophie", delegate="karim", question="Votre avis ?")),
        # the opinion withdrawn: only karim's key tells his inbox the task left it
        lambda: _change(pf, lambda uow: discussion.withdraw_opinion(uow, task_id=third, actor="sophie")),
        lambda: _change(pf, lambda uow: inbox_actions.save_filter(
            uow, actor="sophie", name="Les miens", query={"holder": "me"})),
        lambda: _change(pf, lambda uow: inbox_actions.save_filter(
            uow, actor="claire", name="Pour tous", query={"stage": "idea"}, shared=True)),
        lambda: _change(pf, lambda uow: services.attach_member(
            uow, partnership_id=other, username="nadia", actor="claire")),
        lambda: _change(pf, lambda uow: setattr(uow.session.get(Partnership, pid), "title",
                                                "Réseau santé du territoire")),
        lambda: _change(pf, lambda uow: setattr(uow.session.scalar(
            select(User).where(User.username == "karim")), "full_name", "Karim Benali")),
        lambda: _change(pf, lambda uow: uow.session.add(GroupMember(
            user_id=uow.session.scalar(select(User.id).where(User.username == "karim")),
            group_key="direction"))),
        lambda: _change(pf, lambda uow: discussion.declare_absence(
            uow, actor="claire", starts_on=access.today(uow.session),
            ends_on=access.today(uow.session) + timedelta(days=2), deputy="karim")),
        lambda: _change(pf, lambda uow: setattr(uow.session.scalar(
            select(User).where(User.username == "sophie")), "active", False)),
        lambda: _start(pf, other, "review_loop", {"rounds": 0}),
        lambda: _change(pf, lambda uow: uow.session.execute(
            update(HumanTask).where(HumanTask.id == third).values(title="Relire vite"))),
        lambda: _change(pf, lambda uow: notifications.mark_read(
            uow, username="claire", notification_id=_first_notification(uow.session, "claire"))),
        lambda: _change(pf, lambda uow: notifications.mark_all_read(uow, username="karim")),
    ]
    for step in steps:
        step()
        announce(pf)
        _agrees(pf)


def test_a_change_bumps_the_keys_it_touches_and_only_them(site):
    pf, (pid, _other) = site

    def versions():
        with pf.read() as db:
            return dict(db.execute(select(InboxVersion.key, InboxVersion.version)).all())

    before = versions()
    [task, *_] = _open(pf, pid)
    with pf.uow() as uow:
        services.claim_task(uow, task_id=task, actor="sophie")
    after = versions()
    moved = {k for k in after if after[k] != before.get(k)}
    # the task's group and holder, and its partnership's page (which says who reserved it)
    assert moved == {"group:direction", "user:sophie", inbox_cache.partnership_key(pid)}
    # the worker's flags are no change to any inbox
    with pf.uow() as uow:
        uow.session.execute(update(HumanTask).where(HumanTask.id == task).values(overdue_notified=True))
        uow.commit()
    assert versions() == after
    # a change flushed, then rolled back, bumps nothing
    with pf.uow() as uow:
        uow.session.get(HumanTask, task).claimed_by = None
        uow.session.flush()
        uow.rollback()
    assert versions() == after


def test_a_reader_away_or_standing_in_reads_through_the_keys_of_those_they_cover(site):
    pf, _ids = site
    with pf.uow() as uow:
        discussion.declare_absence(uow, actor="claire", starts_on=access.today(uow.session),
                                   ends_on=access.today(uow.session) + timedelta(days=2),
                                   deputy="karim")
    with pf.read() as db:
        karim = access.actor(db, "karim")
    assert inbox_cache.reader_keys(karim) == (
        "group:direction", "group:professional", "notes:karim", "site", "user:claire", "user:karim")


def test_pages_that_move_with_the_clock_and_searches_are_never_kept(site):
    pf, _ids = site
    with pf.read() as db:
        for f in (queries.InboxFilter(overdue_only=True), queries.InboxFilter(due="week"),
                  queries.InboxFilter(age="week"), queries.InboxFilter(follow_up="due"),
                  queries.InboxFilter(text="relire")):
            before = pf.inbox_cache.misses + pf.inbox_cache.hits
            inbox_page.read(db, "claire", pf.clock(), f, pf.inbox_cache)
            inbox_page.read(db, "claire", pf.clock(), f, pf.inbox_cache)
            assert pf.inbox_cache.misses + pf.inbox_cache.hits == before, f


def test_a_full_cache_lets_the_least_recently_used_inbox_go(site):
    pf, _ids = site
    cache = inbox_cache.InboxCache(size=2)
    with pf.read() as db:
        for reader in ("claire", "sophie", "karim"):
            inbox_page.count(db, reader, cache)
        assert len(cache._entries) == 2
        inbox_page.count(db, "claire", cache)  # let go: read again
        assert (cache.misses, cache.hits) == (4, 0)
        inbox_page.count(db, "karim", cache)
    assert (cache.misses, cache.hits) == (4, 1)
