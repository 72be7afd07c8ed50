"""Pages bounded by what they show: the partnership page, the audit page's instances, the
dashboard's lists and the map's graph show one page of rows whatever the history holds,
with a pager to the rest (the right rows on each page)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from partnerflow.engine.method import figures
from partnerflow.engine.store.models import (
    HumanTask,
    Organisation,
    ProcessInstance,
    Relationship,
)
from partnerflow.web import dashboard as dashboard_views
from partnerflow.web import map as map_views
from partnerflow.web import partnerships as partnership_views
from tests.web.support import complete, new_partnership, start_review, text_of

HISTORY = partnership_views.HISTORY_SIZE


def _history(pf, title: str, count: int) -> int:
    """A partnership whose review was started and completed `count` times (one instance
    and one completed step each)."""
    pid = new_partnership(pf, title)
    for _ in range(count):
        pf.clock.advance(minutes=1)  # each step completed after the one before
        done = complete(pf, start_review(pf, pid), "claire", {"decision": "done"})
        assert done.error is None, done.error
    return pid


def _section(html: str, anchor: str) -> str:
    return html.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]


def _instance_ids(pf, pid: int) -> list[int]:
    with pf.read() as db:
        return list(db.scalars(select(ProcessInstance.id).where(
            ProcessInstance.partnership_id == pid).order_by(ProcessInstance.id.desc())))


def test_the_partnership_page_shows_one_page_of_its_history_the_latest_first(world, as_user):
    pid = _history(world.pf, "Longue histoire", HISTORY + 5)
    client = as_user("claire")
    first = text_of(client.get(f"/partenariats/{pid}"))
    steps = _section(first, "etapes")
    assert steps.count("<li>") == HISTORY
    assert "Page 1 sur 2" in steps and f"({HISTORY + 5} étapes réalisées)" in steps
    assert f'href="/partenariats/{pid}?etapes=2#etapes"' in steps
    assert "Précédente" not in steps
    # the instances: the latest first, one page, the pager names its list
    ids = _instance_ids(world.pf, pid)
    instances = _section(first, "instances")
    shown = [int(i) for i in re.findall(r'/instances/(\d+)/diagramme', instances)]
    assert shown == ids[:partnership_views.INSTANCES_SIZE]
    assert 'aria-label="Pages des instances de processus"' in instances
    # the second page: the oldest steps and instances; the other list keeps its own page
    second = text_of(client.get(f"/partenariats/{pid}?etapes=2&instances=2"))
    assert _section(second, "etapes").count("<li>") == 5
    assert f'<ol class="history" start="{HISTORY + 1}">' in second  # numbered on from page 1
    assert "Page 2 sur 2" in _section(second, "etapes")
    assert f'href="/partenariats/{pid}?etapes=1&amp;instances=2#etapes"' in _section(second, "etapes")
    later = [int(i) for i in re.findall(r'/instances/(\d+)/diagramme', _section(second, "instances"))]
    assert later == ids[partnership_views.INSTANCES_SIZE:]
    # a page past the last shows the last
    assert "Page 2 sur 2" in _section(text_of(client.get(f"/partenariats/{pid}?etapes=9")), "etapes")


def test_the_partnership_page_renders_as_many_rows_for_a_long_history_as_for_one_page(
        world, as_user):
    one_page = _history(world.pf, "Une page", HISTORY)
    long = _history(world.pf, "Trois pages", HISTORY * 2 + 5)
    client = as_user("claire")

    def rows(pid: int) -> int:
        html = text_of(client.get(f"/partenariats/{pid}"))
        return html.count("<li>") + html.count("<tr>")

    assert rows(long) == rows(one_page)


def test_the_audit_page_lists_one_page_of_instances_and_filters_on_any(world, as_user):
    pid = _history(world.pf, "Instances nombreuses", 25)
    ids = _instance_ids(world.pf, pid)
    client = as_user("alice")
    page = text_of(client.get(f"/partenariats/{pid}/audit"))
    listed = _section(page, "instances")
    assert [int(i) for i in re.findall(r'/instances/(\d+)/diagramme', listed)] == ids[:20]
    assert "Page 1 sur 2" in listed and "(25 instances)" in listed
    # the oldest instance is on the second page; chosen in the filter, it is offered there
    oldest = ids[-1]
    filtered = text_of(client.get(f"/partenariats/{pid}/audit?instance={oldest}"))
    assert f'<option value="{oldest}" selected>' in filtered


def _relationships(pf, count: int, first_day: int = 1) -> list[str]:
    """`count` relationships whose convention ends within the window, one day apart; the
    partner names in the order of their end dates."""
    names = [f"Partenaire {n:03d}" for n in range(count)]
    with pf.uow() as uow:
        own = Organisation(name="Les Tilleuls", kind="association", is_own=True, archived=False)
        partners = [Organisation(name=name, kind="association", is_own=False, archived=False)
                    for name in reversed(names)]  # the names' order is not the dates' order
        uow.session.add_all([own, *partners])
        uow.session.flush()
        today = pf.clock()
        for n, partner in enumerate(reversed(partners)):
            uow.session.add(Relationship(organisation_id=own.id, partner_id=partner.id,
                                         kind="partnership", archived=False,
                                         convention_end=today + timedelta(days=first_day + n)))
        uow.commit()
    return names


def test_the_dashboard_lists_one_page_of_conventions_soonest_first(world, as_user):
    size = dashboard_views.LIST_SIZE
    names = _relationships(world.pf, size + 7)
    client = as_user("claire")
    first = _section(text_of(client.get("/tableau-de-bord")), "conventions")
    assert re.findall(r"<td>(Partenaire \d+)</td>", first) == names[:size]
    assert "Page 1 sur 2" in first and f"({size + 7})" in first
    second = _section(text_of(client.get("/tableau-de-bord?conventions=2")), "conventions")
    assert re.findall(r"<td>(Partenaire \d+)</td>", second) == names[size:]


def test_the_dashboard_lists_one_page_of_evaluation_dates_read_from_the_action_sheets(
        world, as_user):
    size = dashboard_views.LIST_SIZE
    today = world.pf.clock().date()
    sheets = [{"title": f"Fiche {n:02d}",
               "intermediate_evaluation_date": (today + timedelta(days=1 + n)).isoformat(),
               "final_evaluation_date": (today + timedelta(days=400)).isoformat()}  # outside
              for n in range(size + 4)]
    pid = new_partnership(world.pf, "Fiches nombreuses")
    task_id = start_review(world.pf, pid)
    with world.pf.uow() as uow:
        task = uow.session.get(HumanTask, task_id)
        task.state, task.form_key, task.result = "completed", "action_sheets", {"action_sheets": sheets}
        task.completed_at = world.pf.clock()
        uow.session.flush()
        figures.rebuild(uow.session, world.pf.clock())  # the row was changed without a completion
        uow.commit()
    client = as_user("claire")
    first = _section(text_of(client.get("/tableau-de-bord")), "evaluations")
    titles = re.findall(r"intermédiaire — (Fiche \d+)", first)
    assert titles == [s["title"] for s in sheets[:size]]
    assert "Page 1 sur 2" in first
    second = _section(text_of(client.get("/tableau-de-bord?evaluations=2")), "evaluations")
    assert re.findall(r"intermédiaire — (Fiche \d+)", second) == [s["title"] for s in sheets[size:]]


def test_the_graph_draws_at_most_its_size_and_says_how_many_pass_the_filters(world, as_user):
    _relationships(world.pf, map_views.GRAPH_SIZE + 3)
    data = as_user("claire").get("/carte/graphe.json").get_json()
    assert len(data["edges"]) == map_views.GRAPH_SIZE
    assert data["total"] == map_views.GRAPH_SIZE + 3
    # the nodes are those of the edges drawn, and ours
    targets = {e["target"] for e in data["edges"]}
    assert {n["id"] for n in data["nodes"] if not n["own"]} == targets
    page = text_of(as_user("claire").get("/carte/graphe"))
    assert "data-truncated-text=" in page


def test_the_organisations_to_link_are_one_short_list_that_a_search_narrows(world, as_user):
    shown = partnership_views.LINKABLE_SHOWN
    names = sorted(_relationships(world.pf, shown + 5))
    pid = new_partnership(world.pf, "Sans partenaire")
    client = as_user("claire")

    def offered(html: str) -> list[str]:
        if 'id="partner-organisation"' not in html:
            return []
        select_ = html.split('id="partner-organisation"', 1)[1].split("</select>", 1)[0]
        return re.findall(r'<option value="\d+">([^<]+)</option>', select_)

    page = text_of(client.get(f"/partenariats/{pid}"))
    assert offered(page) == names[:shown]  # never ours, by name
    assert f"{shown} organisations proposées sur {shown + 5}" in page
    assert 'name="organisation_q"' in page
    narrowed = text_of(client.get(f"/partenariats/{pid}?organisation_q=partenaire 03"))
    assert offered(narrowed) == [n for n in names if "Partenaire 03" in n]
    assert "organisations proposées sur" not in narrowed
    nothing = text_of(client.get(f"/partenariats/{pid}?organisation_q=introuvable"))
    assert offered(nothing) == [] and "Aucune organisation de la carte ne correspond" in nothing
    # the professional, who does not edit the map, is offered none
    assert 'name="organisation_q"' not in text_of(as_user("sophie").get(f"/partenariats/{pid}"))


def test_the_audit_filters_offer_each_actor_and_type_of_the_chain_once_in_order(world, as_user):
    from partnerflow.engine import audit

    pid = new_partnership(world.pf, "Journal varié")
    with world.pf.uow() as uow:
        for n, (actor, kind) in enumerate([("sophie", "comment_added"), ("claire", "task_claimed"),
                                           ("sophie", "comment_added"), (None, "timer_fired")] * 3):
            audit.append(uow.session, type=kind, actor=actor, at=uow.clock(), partnership_id=pid,
                         payload={"n": n})
        uow.commit()
    page = text_of(as_user("alice").get(f"/partenariats/{pid}/audit"))

    def options(name: str) -> list[str]:
        select_ = page.split(f'<select name="{name}">', 1)[1].split("</select>", 1)[0]
        return [v for v in re.findall(r'<option value="([^"]*)"', select_) if v]

    assert options("actor") == ["claire", "sophie"]  # the creator of the partnership is claire
    assert options("type") == ["comment_added", "partnership_created", "task_claimed", "timer_fired"]


def test_the_partnership_list_shows_one_page_and_keeps_its_filters_across_pages(world, as_user):
    from partnerflow.engine.store.models import Partnership

    size = partnership_views.LIST_SIZE
    ids = [new_partnership(world.pf, f"Idée {n:03d}") for n in range(size + 5)]
    with world.pf.uow() as uow:  # a few at another stage, which the filter leaves out
        for pid in ids[:3]:
            uow.session.get(Partnership, pid).stage = "negotiation"
        uow.commit()
    with world.pf.read() as db:
        ideas = list(db.scalars(select(Partnership.id).where(Partnership.stage == "idea")
                                .order_by(Partnership.id.desc())))
    assert len(ideas) > size
    client = as_user("claire")

    def listed(html: str) -> list[int]:
        return [int(i) for i in re.findall(r'<td><a href="/partenariats/(\d+)">', html)]

    first = text_of(client.get("/partenariats/?stage=idea"))
    assert listed(first) == ideas[:size]
    pages = -(-len(ideas) // size)
    assert f"Page 1 sur {pages} ({len(ideas)})" in first
    assert 'href="/partenariats/?stage=idea&amp;page=2"' in first  # the filter kept
    second = text_of(client.get("/partenariats/?stage=idea&page=2"))
    assert listed(second) == ideas[size:2 * size]
    assert 'href="/partenariats/?stage=idea&amp;page=1"' in second
    # the whole list: the latest first, one page
    everything = text_of(client.get("/partenariats/"))
    assert len(listed(everything)) == size and listed(everything)[0] == max(ids)


def test_the_partnership_page_shows_the_latest_comments_and_links_to_the_earlier_ones(
        world, as_user):
    from partnerflow.engine.runtime import discussion

    size = partnership_views.THREAD_SIZE
    pid = new_partnership(world.pf, "Fil nourri")
    for n in range(size + 5):
        world.pf.clock.advance(minutes=1)
        with world.pf.uow() as uow:
            discussion.add_comment(uow, actor="claire", partnership_id=pid,
                                   text=f"Message numéro {n:03d}", visibility="internal")
    client = as_user("claire")

    def said(html: str) -> list[str]:
        return re.findall(r"Message numéro (\d+)", _section(html, "commentaires"))

    latest = text_of(client.get(f"/partenariats/{pid}"))
    # the latest, oldest first, and a link to the earlier ones
    assert said(latest) == [f"{n:03d}" for n in range(5, size + 5)]
    thread = _section(latest, "commentaires")
    assert f"({size + 5})" in thread
    assert f'href="/partenariats/{pid}?commentaires=2#commentaires"' in thread
    earlier = text_of(client.get(f"/partenariats/{pid}?commentaires=2"))
    assert said(earlier) == [f"{n:03d}" for n in range(5)]
    assert f'href="/partenariats/{pid}?commentaires=1#commentaires"' in _section(earlier, "commentaires")
    assert "Commentaires précédents" not in _section(earlier, "commentaires")
