"""What one page costs the database: one pooled connection per request, a bounded number of
statements (no query per row or per field), and what a request writes is what its next read
sees. Statement counts are the regression guard here; their time is measured in bench/."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, func, select

from partnerflow.engine.store.models import HumanTask
from tests.web.support import complete, post, start_review, text_of

# what each page reads today (see docs/benchmarks.md, HTTP): the user with their groups, their
# partnerships and absences, then the page's own queries; a page that grows a query per row
# or per field goes past these
INBOX_STATEMENTS = 12
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
    # more tasks on the page, the same statements
    for _ in range(20):
        start_review(world.pf, world.own)
    with counted(world.pf) as (more, checkouts):
        page = text_of(client.get("/"))
    assert page.count("Relire le document") >= 20
    assert len(checkouts) == 1 and len(more) == len(statements)


def test_the_task_page_reads_through_one_connection_and_a_bounded_number_of_statements(
        world, as_user):
    client = as_user("claire")
    client.get(f"/taches/{world.task_own}")
    with counted(world.pf) as (statements, checkouts):
        assert client.get(f"/taches/{world.task_own}").status_code == 200
    assert len(checkouts) == 1
    assert len(statements) <= TASK_STATEMENTS, "\n".join(s.split("\n")[0] for s in statements)


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
