"""Task forms through the web: errors by field, drafts, completion, conflicts, inline and
repeatable forms; the inbox's filters, sorting, pagination, badge and reassignment."""

from __future__ import annotations

import html
import re

import pytest

from partnerflow.engine.access import accounts
from tests.web.support import (
    PASSWORD,
    USERS,
    complete,
    element,
    elements,
    inbox_ids,
    new_partnership,
    post,
    start,
    start_review,
    task_row,
    text_of,
)


def _field_error(body: str, input_id: str) -> str:
    return element(body, "p", id=f"{input_id}-error", class_="error")["__text__"]


def test_validation_errors_are_shown_next_to_their_fields_and_input_is_kept(world, as_user):
    client = as_user("claire")
    url = f"/taches/{world.task_own}"
    response = post(client, url, {"action": "complete", "decision": "", "comment": "Vu avec Hugo"},
                    token_from=url)
    assert response.status_code == 422
    body = text_of(response)
    select = element(body, "select", name="decision")
    assert select.get("aria-invalid") == "true"
    assert "f-decision-error" in select["aria-describedby"]
    assert _field_error(body, "f-decision") == "Ce champ est obligatoire."
    field = element(body, "div", data__field="decision")
    assert "has-error" in field["class"]
    comment = element(body, "input", name="comment")
    assert comment["value"] == "Vu avec Hugo" and "aria-invalid" not in comment
    assert element(body, "div", class_="error-summary")["role"] == "alert"
    assert task_row(world.pf, world.task_own).state == "open"

    response = post(client, url, {"action": "complete", "decision": "peut-être", "comment": "x" * 2001},
                    token_from=url)
    body = text_of(response)
    assert _field_error(body, "f-decision") == "Choisissez une des valeurs proposées."
    assert _field_error(body, "f-comment") == "Au plus 2000 caractères."
    assert element(body, "input", name="comment").get("aria-invalid") == "true"


def test_a_draft_is_saved_and_comes_back(world, as_user):
    client = as_user("claire")
    url = f"/taches/{world.task_own}"
    response = post(client, url, {"action": "draft", "decision": "again", "comment": "À reprendre"},
                    token_from=url)
    assert response.status_code == 302 and response.headers["Location"] == url
    body = text_of(client.get(url))
    assert "Brouillon enregistré" in body
    assert element(body, "input", name="comment")["value"] == "À reprendre"
    assert "selected" in element(body, "option", value="again")
    row = task_row(world.pf, world.task_own)
    assert row.state == "open" and row.draft == {"decision": "again", "comment": "À reprendre"}
    # the draft belongs to the task: another direction user taking it over finds it
    assert "À reprendre" in text_of(as_user("hugo").get(url))


def test_completion_redirects_to_the_inbox_with_a_confirmation(world, as_user):
    client = as_user("claire")
    url = f"/taches/{world.task_own}"
    response = post(client, url, {"action": "complete", "decision": "done"}, token_from=url)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    body = text_of(client.get("/"))
    assert "« Relire le document » est terminée. Merci !" in element(body, "div", class_="flash")["__text__"]
    row = task_row(world.pf, world.task_own)
    assert (row.state, row.completed_by, row.result) == ("completed", "claire", {"decision": "done"})
    assert world.task_own not in inbox_ids(world.pf, "claire")


@pytest.mark.parametrize(("first", "second", "process"), [("claire", "hugo", "review_loop"),
                                                           ("sophie", "sarah", "rows_demo")])
def test_a_concurrent_completion_is_a_409_naming_who_did_it(world, as_user, first, second, process):
    if process == "review_loop":
        task_id, data = world.task_own, {"decision": "done"}
        form = {"decision": "done"}
    else:
        [task_id] = start(world.pf, world.own, "rows_demo")
        data = {"summary": "s", "items": [{"label": "a"}]}
        form = {"summary": "t", "items-0-label": "b"}
    client = as_user(first)
    url = f"/taches/{task_id}"
    page = text_of(client.get(url))
    version = element(page, "input", name="row_version")["value"]
    complete(world.pf, task_id, second, data)  # someone else, in between
    response = post(client, url, {"action": "complete", "row_version": version, **form}, token_from="/")
    assert response.status_code == 409
    body = html.unescape(text_of(response))
    assert f"Cette tâche vient d'être terminée par {second}." in body
    assert "Vos données n'ont pas été enregistrées." in body
    assert "Traceback" not in body and "Conflict" not in body
    assert task_row(world.pf, task_id).completed_by == second
    # a draft on the closed task is refused the same way
    assert post(client, url, {"action": "draft", **form}).status_code == 409


def test_a_stale_form_is_a_conflict(world, as_user):
    client = as_user("claire")
    url = f"/taches/{world.task_own}"
    version = element(text_of(client.get(url)), "input", name="row_version")["value"]
    response = post(client, url, {"action": "complete", "decision": "done",
                                  "row_version": str(int(version) + 7)}, token_from="/")
    assert response.status_code == 409
    assert "Rechargez la page" in text_of(response)
    assert task_row(world.pf, world.task_own).state == "open"


def test_the_inline_camunda_form_renders_and_validates(world, as_user):
    pf = world.pf
    [elaborate] = start(pf, world.own, "assignment_timers",
                        {"delegate": "karim", "reviewer": "claire", "review_deadline": "2026-03-20"})
    complete(pf, elaborate, "karim", {"decision": "done"})
    [review] = [t for t in inbox_ids(pf, "claire") if t not in (world.task_own, world.task_other)]
    client = as_user("claire")
    url = f"/taches/{review}"
    body = text_of(client.get(url))
    assert "Relire (formulaire du diagramme)" in body
    checkbox = element(body, "input", type="checkbox", name="approved")
    assert checkbox["id"] == "f-approved"
    reason = element(body, "input", name="reason")
    assert element(body, "label", for_="f-reason")["__text__"].startswith("Motif")
    assert reason["value"] == ""
    response = post(client, url, {"action": "complete", "approved": "on", "reason": ""}, token_from=url)
    assert response.status_code == 422
    body = text_of(response)
    assert _field_error(body, "f-reason") == "Ce champ est obligatoire."
    assert "checked" in element(body, "input", name="approved")
    response = post(client, url, {"action": "complete", "approved__present": "1", "reason": "Conforme"},
                    token_from=url)
    assert response.status_code == 302
    assert task_row(pf, review).result == {"approved": False, "reason": "Conforme"}


def test_repeatable_rows_are_read_from_indexed_fields(world, as_user):
    [task_id] = start(world.pf, world.own, "rows_demo")
    client = as_user("sophie")
    url = f"/taches/{task_id}"
    body = text_of(client.get(url))
    assert element(body, "button", class_="add-row")["data-next-index"] == "1"  # one required row
    assert element(body, "input", name="items-0-label")
    assert element(body, "template", data__row__template="items")
    # row 0 is kept, row 1 was emptied (dropped), row 5 came from a row added in the browser
    response = post(client, url, {"action": "complete", "summary": "Trois actions",
                                  "items-0-label": "Visite", "items-0-amount": "1 234,50",
                                  "items-1-label": "", "items-1-amount": "",
                                  "items-5-label": "Atelier", "items-5-amount": ""}, token_from=url)
    assert response.status_code == 302, text_of(response)[-500:]
    assert task_row(world.pf, task_id).result["items"] == [
        {"label": "Visite", "amount": 1234.5}, {"label": "Atelier"}]


def test_errors_inside_rows_are_shown_on_the_row_field(world, as_user):
    [task_id] = start(world.pf, world.own, "rows_demo")
    client = as_user("sophie")
    url = f"/taches/{task_id}"
    response = post(client, url, {"action": "complete", "summary": "S", "items-0-label": "A",
                                  "items-3-label": "B", "items-3-amount": "-5"}, token_from=url)
    assert response.status_code == 422
    body = text_of(response)
    amount = element(body, "input", name="items-1-amount")  # rows are renumbered
    assert amount["value"] == "-5" and amount.get("aria-invalid") == "true"
    assert _field_error(body, "f-items-1-amount") == "La valeur doit être supérieure ou égale à 0."
    assert element(body, "input", name="items-0-label")["value"] == "A"
    assert element(body, "button", class_="add-row")["data-next-index"] == "2"
    # no row at all
    response = post(client, url, {"action": "complete", "summary": "S"}, token_from=url)
    assert response.status_code == 422
    assert "Ajoutez au moins une ligne." in text_of(response)


# ---------------------------------------------------------------- the inbox


@pytest.fixture
def poly(world):
    """A user with two roles and tasks of both: review (direction, due in 2 days, no stage)
    and rows (professional, stage action_sheets, no due date)."""
    with world.pf.uow() as uow:
        accounts.create_user(uow, username="pat", full_name="Pat Polyvalent",
                             roles=["direction", "professional"], actor=None, password=PASSWORD)
    [rows] = start(world.pf, world.own, "rows_demo")
    return rows


def _row_ids(body: str) -> list[int]:
    return [int(m) for m in re.findall(r'<a href="/taches/(\d+)">', body)]


def test_inbox_filters_by_stage_role_partnership_and_overdue(world, as_user, poly, clock):
    client = as_user("pat")
    assert sorted(_row_ids(text_of(client.get("/")))) == sorted([world.task_own, world.task_other, poly])
    assert _row_ids(text_of(client.get("/?stage=action_sheets"))) == [poly]
    assert sorted(_row_ids(text_of(client.get("/?role=direction")))) == sorted(
        [world.task_own, world.task_other])
    assert _row_ids(text_of(client.get("/?role=professional"))) == [poly]
    assert sorted(_row_ids(text_of(client.get(f"/?partnership={world.own}")))) == sorted(
        [world.task_own, poly])
    assert _row_ids(text_of(client.get("/?overdue=1"))) == []
    clock.advance(days=2, hours=1)
    body = text_of(client.get("/?overdue=1"))
    assert sorted(_row_ids(body)) == sorted([world.task_own, world.task_other])
    assert "en retard" in body
    assert len(elements(body, "tr", class_="overdue")) == 2
    # unknown filter values are ignored, not errors
    assert client.get("/?stage=nope&role=nope&sort=nope&page=-3").status_code == 200


def test_inbox_sorts(world, as_user, poly, clock):
    clock.advance(hours=1)
    later = start_review(world.pf, new_partnership(world.pf, "Aaa premier par le titre"))
    client = as_user("pat")
    # by due date: the earliest due first, tasks without a due date last
    assert _row_ids(text_of(client.get("/?sort=due"))) == [world.task_own, world.task_other, later, poly]
    assert _row_ids(text_of(client.get("/?sort=created"))) == [world.task_own, world.task_other, poly, later]
    by_title = _row_ids(text_of(client.get("/?sort=partnership")))
    assert by_title[0] == later and by_title[-1] == world.task_other  # Aaa…, EHPAD…, Foyer…


def test_inbox_pages_by_25(world, as_user):
    for i in range(26):
        start_review(world.pf, world.own if i % 2 else world.other)
    client = as_user("claire")
    first = text_of(client.get("/?sort=created"))
    assert "Page 1 sur 2" in first and "(28)" in first
    assert len(_row_ids(first)) == 25
    second = text_of(client.get("/?sort=created&page=2"))
    assert len(_row_ids(second)) == 3
    assert set(_row_ids(first)).isdisjoint(_row_ids(second))
    assert 'href="/?sort=created&amp;page=1"' in second  # "Précédente" keeps the filters
    assert "Suivante" not in second


def test_the_header_badge_counts_open_tasks(world, as_user):
    client = as_user("claire")

    def badge(c=client):
        [found] = [b for b in elements(text_of(c.get("/partenariats/")), "span", class_="badge")
                   if b.get("aria-label", "").endswith("tâches ouvertes")]
        return found

    assert badge()["__text__"] == "2" and badge()["aria-label"] == "2 tâches ouvertes"
    complete(world.pf, world.task_own, "claire", {"decision": "done"})
    assert badge()["__text__"] == "1"
    assert badge(as_user("sophie"))["__text__"] == "0"


def test_reassign_by_direction_moves_the_task_to_another_inbox(world, as_user):
    client = as_user("claire")
    body = text_of(client.get(f"/taches/{world.task_own}"))
    select_ = element(body, "select", id=f"to-{world.task_own}")  # the reassign control, on the task
    assert select_
    # only the people who may act on a direction task are offered: the direction
    reassign = body.split(f'<select id="to-{world.task_own}"', 1)[1].split("</select>", 1)[0]
    offered = {o.get("value") for o in elements(reassign, "option") if o.get("value")} & set(USERS)
    assert offered == {"claire", "hugo"}
    response = post(client, f"/taches/{world.task_own}/reaffecter", {"to_user": "hugo"})
    assert response.status_code == 302
    assert "La tâche a été réaffectée à hugo." in text_of(client.get("/"))
    assert world.task_own not in _row_ids(text_of(client.get("/")))
    hugo = as_user("hugo")
    body = text_of(hugo.get("/"))
    assert world.task_own in _row_ids(body) and "pour moi" in body
    assert hugo.get(f"/taches/{world.task_own}").status_code == 200
    assert as_user("sophie").get(f"/taches/{world.task_own}").status_code == 403


def test_a_task_is_never_reassigned_to_someone_it_is_not_offered_to(world, as_user):
    client = as_user("claire")
    for someone in ("sophie", "lucas", "paul", "alice"):
        response = post(client, f"/taches/{world.task_own}/reaffecter", {"to_user": someone})
        assert response.status_code == 403, someone
    assert task_row(world.pf, world.task_own).assignee is None


def test_claim_then_release_from_the_inbox(world, as_user):
    client = as_user("claire")
    assert post(client, f"/taches/{world.task_own}/prendre").status_code == 302
    assert task_row(world.pf, world.task_own).claimed_by == "claire"
    assert world.task_own not in inbox_ids(world.pf, "hugo")
    assert "Libérer" in text_of(client.get("/"))
    assert post(client, f"/taches/{world.task_own}/liberer").status_code == 302
    assert task_row(world.pf, world.task_own).claimed_by is None
    assert world.task_own in inbox_ids(world.pf, "hugo")


def test_a_posted_field_the_form_does_not_declare_never_reaches_the_process(app, world, as_user):
    """The page's parser keeps only the declared fields; the engine would refuse the rest."""
    from tests.web.support import post, task_row

    client = as_user("claire")
    response = post(client, f"/taches/{world.task_own}",
                    {"decision": "done", "comment": "relu", "formalisation_level": "L0"},
                    token_from=f"/taches/{world.task_own}")
    assert response.status_code == 302
    row = task_row(world.pf, world.task_own)
    assert row.state == "completed"
    assert "formalisation_level" not in (row.result or {})
    from partnerflow.engine.runtime import stepping
    from partnerflow.engine.store.models import ProcessInstance

    with world.pf.uow(write=False) as uow:  # nor any task's data in the instance
        run = stepping.restore(uow, uow.session.get(ProcessInstance, row.instance_id))
        assert run.workflow.get_tasks() and not any(
            "formalisation_level" in task.data for task in run.workflow.get_tasks())
