"""What one page costs the database: one pooled connection per request, a bounded number of
statements (no query per row or per field), and what a request writes is what its next read
sees. Statement counts are the regression guard here; their time is measured in bench/."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event, func, select

from partnerflow.engine.store.models import HumanTask
from tests.conftest import announce
from tests.web.support import complete, post, start_review, text_of

# what each page reads today (see docs/benchmarks.md, HTTP): the versions of what the
# signed-in reader and their inbox show (the reader kept by the process while unchanged), then
# the page's own queries; a page that grows a query per row or per field goes past these. An
# inbox unchanged since the reader's last request is served from the process's inbox cache:
# BEGIN and the versions.
INBOX_STATEMENTS = 2
INBOX_STATEMENTS_CHANGED = 11
TASK_STATEMENTS = 17


@contextmanager
def counted(pf):
    statements, checkouts = [], []

    def on_statement(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def on_checkout(*_args):
        checkouts.append(1)

    event.listen(pf.db, "before_cursor_execute", on_statement)
    event.listen(pf.db.pool, "checkout", on_checkout)
    try:
        yield statements, checkouts
    finally:
        event.remove(pf.db, "before_cursor_execute", on_statement)
        event.remove(pf.db.pool, "checkout", on_checkout)


def test_the_inbox_reads_through_one_connection_and_a_bounded_number_of_statements(world, as_user):
    client = as_user("claire")
    client.get("/")  # the process's caches are warm from here on, as in production
    with counted(world.pf) as (statements, checkouts):
        assert client.get("/").status_code == 200
    assert len(checkouts) == 1
    assert len(statements) <= INBOX_STATEMENTS, "\n".join(s.split("\n")[0] for s in statements)
    # new tasks: the inbox is read again, with the same statements however many rows it shows
    for _ in range(5):
        start_review(world.pf, world.own)
    with counted(world.pf) as (changed, checkouts):
        page = text_of(client.get("/"))
    assert page.count("Relire le document") >= 5
    assert len(checkouts) == 1
    assert len(statements) < len(changed) <= INBOX_STATEMENTS_CHANGED, \
        "\n".join(s.split("\n")[0] for s in changed)
    for _ in range(20):
        start_review(world.pf, world.own)
    with counted(world.pf) as (more, checkouts):
        page = text_of(client.get("/"))
    assert page.count("Relire le document") >= 25
    assert len(checkouts) == 1 and len(more) == len(changed)


def test_the_task_page_reads_through_one_connection_and_a_bounded_number_of_statements(
        world, as_user):
    client = as_user("claire")
    client.get(f"/taches/{world.task_own}")
    with counted(world.pf) as (statements, checkouts):
        assert client.get(f"/taches/{world.task_own}").status_code == 200
    assert len(checkouts) == 1
    assert len(statements) <= TASK_STATEMENTS, "\n".join(s.split("\n")[0] for s in statements)


def test_the_partnership_page_reads_the_same_statements_however_many_tasks_are_open(
        world, as_user):
    """Who may act on each open task (the « en attente d'un interlocuteur » check) is read for
    the whole section at once, not once per task."""
    client = as_user("claire")
    path = f"/partenariats/{world.own}"
    client.get(path)
    with counted(world.pf) as (few, _checkouts):
        assert client.get(path).status_code == 200
    for _ in range(8):
        start_review(world.pf, world.own)
    client.get(path)
    with counted(world.pf) as (many, _checkouts):
        page = text_of(client.get(path))
    assert page.count("Relire le document") >= 9
    assert len(many) == len(few), "\n".join(s.split("\n")[0] for s in many)


def test_a_completion_is_seen_at_once_by_the_next_request_and_by_a_read_after_a_write(
        world, as_user):
    client = as_user("claire")
    page = text_of(client.get(f"/taches/{world.task_own}"))
    assert "Relire le document" in page
    response = post(client, f"/taches/{world.task_own}", {"decision": "again"},
                    token_from=f"/taches/{world.task_own}")
    assert response.status_code == 302
    with world.pf.read() as db:
        [next_id] = db.scalars(select(HumanTask.id).where(
            HumanTask.partnership_id == world.own, HumanTask.state == "open")).all()
    assert f"/taches/{next_id}" in text_of(client.get("/"))
    # within one request's shared session, a read after a write sees the write
    pf = world.pf
    with pf.shared_reads():
        with pf.read() as db:
            before = db.scalar(select(func.count()).select_from(HumanTask).where(
                HumanTask.state == "open"))
        complete(pf, next_id, "claire", {"decision": "done"})
        with pf.read() as db:
            after = db.scalar(select(func.count()).select_from(HumanTask).where(
                HumanTask.state == "open"))
    assert after == before - 1


def test_a_colleagues_claim_and_completion_are_seen_at_once_in_a_cached_inbox(world, as_user):
    claire, hugo = as_user("claire"), as_user("hugo")
    badge = re.compile(r'<span class="badge" aria-label="[^"]*">(\d+)</span>')
    for client in (claire, hugo):
        client.get("/")
    page = claire.get("/").get_data(as_text=True)  # served from the inbox cache
    before = int(badge.search(page).group(1))
    assert f'href="/taches/{world.task_own}"' in page
    response = post(hugo, f"/taches/{world.task_own}/prendre", {}, token_from="/")
    assert response.status_code == 302
    # reserved by a colleague: it leaves claire's inbox and her count at once
    page = claire.get("/").get_data(as_text=True)
    assert f'href="/taches/{world.task_own}"' not in page
    assert int(badge.search(page).group(1)) == before - 1
    assert "Réservée par vous" in text_of(hugo.get("/"))
    complete(world.pf, world.task_own, "hugo", {"decision": "again"})
    announce(world.pf)
    with world.pf.read() as db:
        [next_id] = db.scalars(select(HumanTask.id).where(
            HumanTask.partnership_id == world.own, HumanTask.state == "open")).all()
    page = claire.get("/").get_data(as_text=True)
    assert f'href="/taches/{next_id}"' in page
    assert int(badge.search(page).group(1)) == before
