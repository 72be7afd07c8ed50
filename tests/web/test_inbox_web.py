"""The inbox page through the Flask client: search, filters, saved and shared filters, who
must act, bulk claim and release (CSRF), follow-up days and the task history's readers."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from partnerflow.engine.runtime import inbox_actions
from partnerflow.engine.store.models import HumanTask
from tests.web.support import (
    elements,
    new_partnership,
    post,
    start,
    start_review,
    task_row,
    text_of,
)


def _row_ids(body: str) -> list[int]:
    return [int(m) for m in re.findall(r'<a href="/taches/(\d+)">', body)]


def test_the_search_box_finds_tasks_and_an_empty_result_says_the_filter_matched_nothing(world, as_user):
    client = as_user("claire")
    body = text_of(client.get("/?q=lycée"))
    assert _row_ids(body) == [world.task_own]
    assert 'value="lycée"' in body
    body = text_of(client.get("/?q=introuvable"))
    assert _row_ids(body) == []
    assert "Aucune tâche ne correspond à ce filtre." in body
    assert "Aucune tâche ne vous attend" not in body
    [clear] = [a for a in elements(body, "a") if a.get("__text__") == "Effacer les filtres"
               and "empty" not in a.get("class", "")][-1:]
    assert clear["href"] == "/"
    # a filter on a column that leaves nothing says the same
    assert "Aucune tâche ne correspond à ce filtre." in text_of(client.get("/?due=none"))
    # an empty inbox without a filter keeps its own words
    assert "Aucune tâche ne vous attend." in text_of(as_user("anne").get("/"))


def test_reserved_says_by_whom_and_who_must_act_names_people(world, as_user):
    with world.pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[world.task_own], actor="hugo")
    body = text_of(as_user("hugo").get("/"))
    assert "Réservée par vous" in body
    # the other task is offered to both members of the direction: named, not « Direction »
    [who] = [td["__text__"] for td in elements(body, "td", class_="who-acts")
             if "Réservée" not in td.get("__text__", "")]
    assert who == "Claire, Hugo"
    # the task page says who reserved it
    assert "Réservée par Hugo" in text_of(as_user("claire").get(f"/taches/{world.task_own}"))


def test_cells_carry_their_column_label_for_the_phone_cards(world, as_user):
    body = text_of(as_user("claire").get("/"))
    labels = {td.get("data-label") for td in elements(body, "td") if td.get("data-label")}
    assert {"Tâche", "Partenariat", "Étape", "Qui doit agir", "Échéance", "Ancienneté"} <= labels


def test_bulk_claim_needs_the_csrf_token_and_names_each_refusal(world, as_user):
    third = start_review(world.pf, new_partnership(world.pf, "Troisième partenariat"))
    with world.pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[third], actor="hugo")
    client = as_user("claire")
    refused = client.post("/taches/selection", data={"action": "claim", "task_ids": [world.task_own]})
    assert refused.status_code == 400 and task_row(world.pf, world.task_own).claimed_by is None
    response = post(client, "/taches/selection",
                    {"action": "claim", "task_ids": [str(world.task_own), str(world.task_other),
                                                     str(third)]})
    assert response.status_code == 302
    body = text_of(client.get("/"))
    assert "2 tâche(s) réservée(s)." in body
    assert "Non réservée, « Relire le document » : elle est déjà réservée par une autre personne." in body
    assert task_row(world.pf, world.task_other).claimed_by == "claire"
    response = post(client, "/taches/selection", {"action": "release",
                                                  "task_ids": [str(world.task_own), "abc"]})
    assert "1 tâche(s) libérée(s)." in text_of(client.get("/"))
    response = post(client, "/taches/selection", {"action": "release"})
    assert "Cochez au moins une tâche." in text_of(client.get("/"))
    assert post(client, "/taches/selection", {"action": "drop"}).status_code == 400


def test_a_saved_filter_comes_back_and_the_shared_ones_are_for_everyone(world, as_user):
    client = as_user("sophie")
    body = text_of(client.get("/"))
    assert "Mes partenariats en retard" in body and "À relancer" in body
    response = post(client, "/filtres", {"name": "Le lycée", "q": "lycée", "sort": "title"})
    assert response.status_code == 302
    applied = client.get(response.headers["Location"])
    assert applied.status_code == 302 and "q=lyc" in applied.headers["Location"]
    body = text_of(client.get(applied.headers["Location"]))
    assert "Le lycée" in body and 'aria-current="true"' in body
    # a professional cannot share a filter; the direction can
    post(client, "/filtres", {"name": "Pour tous", "q": "x", "shared": "1"})
    assert "Pour tous" not in text_of(as_user("claire").get("/"))
    director = as_user("claire")
    post(director, "/filtres", {"name": "Évaluations", "stage": "evaluation", "shared": "1"})
    assert "Évaluations" in text_of(as_user("karim").get("/"))
    assert "Le lycée" not in text_of(as_user("karim").get("/"))
    # a name is required: refused with why, not a 500
    post(client, "/filtres", {"name": " ", "q": "x"})
    assert "Donnez un nom au filtre." in text_of(client.get("/"))


def test_the_holder_sets_a_follow_up_day_shown_beside_the_due_date(world, as_user, clock):
    client = as_user("claire")
    page = text_of(client.get(f"/taches/{world.task_own}"))
    assert 'name="follow_up_on"' not in page  # offered, not held yet
    post(client, f"/taches/{world.task_own}/prendre")
    assert 'name="follow_up_on"' in text_of(client.get(f"/taches/{world.task_own}"))
    response = post(client, f"/taches/{world.task_own}/relance", {"follow_up_on": "2026-03-03"})
    assert response.status_code == 302
    assert task_row(world.pf, world.task_own).follow_up_on.isoformat() == "2026-03-03"
    assert "relance le" in text_of(client.get("/"))
    post(client, f"/taches/{world.task_own}/relance", {"follow_up_on": "demain"})
    assert "Date de relance illisible" in text_of(client.get(f"/taches/{world.task_own}"))
    clock.advance(days=1)
    assert _row_ids(text_of(client.get("/?follow_up=due"))) == [world.task_own]
    # someone else may not set it
    assert post(as_user("hugo"), f"/taches/{world.task_own}/relance",
                {"follow_up_on": "2026-03-05"}).status_code == 403


def test_the_task_history_is_read_by_the_delegate_acting_on_it(world, as_user):
    [rows_task] = start(world.pf, world.own, "rows_demo")  # offered to professionals: karim
    assert as_user("karim").get(f"/taches/{rows_task}/historique").status_code == 200
    assert "Historique" in text_of(as_user("karim").get(f"/taches/{rows_task}"))
    assert as_user("anne").get(f"/taches/{rows_task}/historique").status_code == 403
    assert as_user("alice").get(f"/taches/{rows_task}/historique").status_code == 200


def test_a_kept_inbox_shows_a_task_late_and_older_as_time_passes_without_any_write(
        world, as_user, clock):
    """The inbox's content is kept between requests; a due date passing or an age moving to
    its next hour changes what a row shows with no write to tell, and the page shows it."""
    with world.pf.uow() as uow:
        uow.session.execute(update(HumanTask).where(HumanTask.id == world.task_own)
                            .values(due_at=clock() + timedelta(minutes=90)))
        uow.commit()
    client = as_user("claire")

    def own_row() -> str:
        body = text_of(client.get("/"))
        return re.search(rf'<tr class="[^"]*">\s*<td class="pick"><input[^>]*value="{world.task_own}"'
                         r'.*?</tr>', body, re.S).group(0)

    first = own_row()
    hits = world.pf.inbox_cache.hits
    assert own_row() == first and world.pf.inbox_cache.hits > hits  # kept, not rendered again
    assert "en retard" not in first and 'class="overdue"' not in first
    age = re.compile(r'data-label="Ancienneté">([^<]*)</td>')
    assert age.search(first).group(1) == "à l&#39;instant"
    clock.advance(minutes=91)
    late = own_row()
    assert 'class="overdue"' in late and "en retard" in late
    assert age.search(late).group(1) == "1 h"


def test_two_sessions_of_one_user_each_get_a_token_of_their_own_session(world, as_user):
    """The kept content carries the CSRF token of the session it was rendered for: another
    session of the same person gets its own, and each is accepted by its session only."""
    one, two = as_user("claire"), as_user("claire")
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    first, second = (token.findall(text_of(c.get("/")))[-1] for c in (one, two))
    assert one.post(f"/taches/{world.task_own}/prendre",
                    data={"csrf_token": second}).status_code == 400
    assert one.post(f"/taches/{world.task_own}/prendre",
                    data={"csrf_token": first}).status_code == 302
