"""Comments, opinions and absences through the pages: the threads on the task and partnership
pages (author, Paris time, visibility), asking and giving an opinion, the absence settings and
what the inbox shows, French messages next to refused fields."""

from __future__ import annotations

import html
from pathlib import Path

from sqlalchemy import select

from partnerflow.engine.store.models import Comment, Notification, TaskDelegation
from tests.conftest import deploy
from tests.web.support import element, elements, inbox_ids, post, start, task_row, text_of

SHARED_REVIEW = Path(__file__).resolve().parents[1] / "fixtures" / "discussion" / "shared_review.bpmn"


def _options(page: str, select_id: str) -> set[str]:
    """The values offered by one <select>."""
    chunk = page.split(f'<select id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return {e["value"] for e in elements(chunk, "option") if e.get("value")}


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return text_of(response)


def test_a_comment_on_a_task_is_listed_with_its_author_paris_time_and_visibility(world, as_user):
    claire = as_user("claire")
    page = _page(claire, f"/taches/{world.task_own}")
    assert element(page, "form", class_="comment-form")["action"] == f"/taches/{world.task_own}/commentaires"
    # an internal task: no choice of sharing with the partner
    assert elements(page, "input", name="visibility") == []
    response = post(claire, f"/taches/{world.task_own}/commentaires",
                    {"text": "Vérifier l'annexe 2"}, token_from=f"/taches/{world.task_own}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/taches/{world.task_own}#commentaires")
    page = html.unescape(_page(claire, f"/taches/{world.task_own}"))
    assert "Votre commentaire est publié." in page
    [item] = elements(page, "li", class_="comment")
    assert "Vérifier l'annexe 2" in page and "Claire" in page
    assert "2 mars 2026 10:00" in page  # 09:00 UTC is 10:00 in Paris in March
    assert element(page, "span", class_="internal")["__text__"] == "interne"
    # the partnership page lists it too, with the task it is about
    page = html.unescape(_page(as_user("sophie"), f"/partenariats/{world.own}"))
    assert "Vérifier l'annexe 2" in page and "sur la tâche" in page


def test_the_partnership_thread_shared_and_internal(world, as_user):
    claire, paul = as_user("claire"), as_user("paul")
    page = _page(claire, f"/partenariats/{world.own}")
    assert {e["value"] for e in elements(page, "input", name="visibility")} == {"internal", "shared"}
    for text, visibility in (("Notre position : ne pas céder", "internal"),
                             ("Réunion le 12 à 14 h", "shared")):
        post(claire, f"/partenariats/{world.own}/commentaires", {"text": text, "visibility": visibility},
             token_from=f"/partenariats/{world.own}")
    page = html.unescape(_page(paul, f"/partenariats/{world.own}"))
    assert "Réunion le 12 à 14 h" in page and "ne pas céder" not in page
    assert elements(page, "input", name="visibility") == []  # a partner's comment is shared
    assert post(paul, f"/partenariats/{world.own}/commentaires", {"text": "Entendu"},
                token_from=f"/partenariats/{world.own}").status_code == 302
    with world.pf.read() as db:
        assert db.scalar(select(Comment.visibility).where(Comment.body == "Entendu")) == "shared"
    page = html.unescape(_page(claire, f"/partenariats/{world.own}"))
    assert "ne pas céder" in page and "Entendu" in page
    # the partner's notifications, audit page and exports say nothing internal
    for path in ("/notifications/", f"/partenariats/{world.own}/audit",
                 f"/partenariats/{world.own}/audit.jsonl", f"/partenariats/{world.own}/audit.csv"):
        body = html.unescape(_page(paul, path))
        assert "ne pas céder" not in body, path
    assert "Réunion le 12" in html.unescape(_page(paul, f"/partenariats/{world.own}/audit"))
    assert "ne pas céder" in html.unescape(_page(claire, f"/partenariats/{world.own}/audit"))


def test_a_refused_comment_keeps_the_text_and_says_why_in_french(world, as_user):
    claire = as_user("claire")
    long = "x" * 4001
    response = post(claire, f"/partenariats/{world.own}/commentaires", {"text": long},
                    token_from=f"/partenariats/{world.own}")
    assert response.status_code == 422
    page = text_of(response)
    assert element(page, "p", id="comment-text-error")["__text__"] == "Au plus 4000 caractères."
    assert element(page, "textarea", id="comment-text")["aria-invalid"] == "true"
    assert long in page


def test_an_opinion_round_trip_through_the_pages(world, as_user):
    claire, sophie = as_user("claire"), as_user("sophie")
    task_path = f"/taches/{world.task_own}"
    page = _page(claire, task_path)
    options = _options(page, "opinion-asked")
    assert {"sophie", "karim", "hugo"} <= options and "paul" not in options and "claire" not in options
    response = post(claire, f"{task_path}/avis", {"asked": "sophie", "question": "Le budget tient-il ?"},
                    token_from=task_path)
    assert response.status_code == 302
    page = html.unescape(_page(claire, task_path))
    assert "En attente de l’avis de Sophie" in page and "Le budget tient-il ?" in page
    assert "disabled" in element(page, "button", value="complete")
    assert element(page, "form", action=f"{task_path}/avis/retrait")
    # sophie's inbox shows the question; her page has the answer form, not the task's form
    inbox = html.unescape(_page(sophie, "/"))
    assert "votre avis est demandé" in inbox
    page = html.unescape(_page(sophie, task_path))
    assert element(page, "form", class_="opinion-answer")["action"] == f"{task_path}/avis/reponse"
    assert elements(page, "form", class_="task-form") == []
    refused = post(sophie, f"{task_path}/avis/reponse", {"opinion": "  "}, token_from=task_path)
    assert refused.status_code == 422
    assert element(text_of(refused), "p", id="opinion-error")["__text__"] == "Ce champ est obligatoire."
    # she cannot complete the task (the form post of its holder)
    blocked = post(sophie, task_path, {"action": "complete", "decision": "done"}, token_from=task_path)
    assert blocked.status_code == 409
    response = post(sophie, f"{task_path}/avis/reponse",
                    {"opinion": "Oui, si les frais baissent.", "recommendation": "reserved"},
                    token_from=task_path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    assert world.task_own not in inbox_ids(world.pf, "sophie")
    page = html.unescape(_page(claire, task_path))
    assert "Avis de Sophie" in page and "Oui, si les frais baissent." in page
    assert "Favorable avec réserves" in page
    assert "disabled" not in element(page, "button", value="complete")
    response = post(claire, task_path, {"action": "complete", "decision": "done",
                                        "row_version": str(task_row(world.pf, world.task_own).row_version)},
                    token_from=task_path)
    assert response.status_code == 302
    assert task_row(world.pf, world.task_own).completed_by == "claire"
    with world.pf.read() as db:
        assert db.scalar(select(TaskDelegation.state)) == "resolved"


def test_the_holder_withdraws_the_question(world, as_user):
    claire = as_user("claire")
    task_path = f"/taches/{world.task_own}"
    post(claire, f"{task_path}/avis", {"asked": "karim", "question": "Un avis ?"}, token_from=task_path)
    response = post(claire, f"{task_path}/avis/retrait", token_from=task_path)
    assert response.status_code == 302
    assert task_row(world.pf, world.task_own).delegated_to is None
    assert "La demande d’avis est retirée" in html.unescape(_page(claire, task_path))


def test_a_refused_question_is_shown_next_to_its_field(world, as_user):
    claire = as_user("claire")
    task_path = f"/taches/{world.task_own}"
    response = post(claire, f"{task_path}/avis", {"asked": "paul", "question": "Un avis ?"},
                    token_from=task_path)
    assert response.status_code == 422
    page = text_of(response)
    assert element(page, "p", id="opinion-asked-error")["__text__"] == "Choisissez une personne de la liste."
    assert "open" in element(page, "details", class_="ask-opinion")
    assert task_row(world.pf, world.task_own).delegated_to is None


def test_staff_share_a_comment_on_a_task_the_partner_takes_part_in(world, as_user):
    deploy(world.pf, [SHARED_REVIEW])
    [task_id] = start(world.pf, world.own, "shared_review")
    claire, paul = as_user("claire"), as_user("paul")
    page = _page(claire, f"/taches/{task_id}")
    assert {e["value"] for e in elements(page, "input", name="visibility")} == {"internal", "shared"}
    post(claire, f"/taches/{task_id}/commentaires", {"text": "Pour nous seuls"},
         token_from=f"/taches/{task_id}")
    post(claire, f"/taches/{task_id}/commentaires", {"text": "Pour vous aussi", "visibility": "shared"},
         token_from=f"/taches/{task_id}")
    page = html.unescape(_page(paul, f"/taches/{task_id}"))
    assert "Pour vous aussi" in page and "Pour nous seuls" not in page
    assert element(page, "span", class_="shared")["__text__"] == "partagé avec le partenaire"
    with world.pf.read() as db:
        told = db.scalars(select(Notification.body).where(Notification.username == "paul",
                                                          Notification.kind == "comment_added")).all()
    assert len(told) == 1 and "Pour vous aussi" in told[0]


def test_the_absence_page_and_the_inboxes(world, as_user):
    claire, sophie = as_user("claire"), as_user("sophie")
    assert element(_page(claire, "/"), "a", href="/absence/")["__text__"] == "Absence"
    page = _page(claire, "/absence/")
    deputies = _options(page, "a-deputy")
    assert {"sophie", "hugo", "karim"} <= deputies
    assert not deputies & {"claire", "paul", "alice", "denis"}
    refused = post(claire, "/absence/", {"starts_on": "2026-03-10", "ends_on": "2026-03-05",
                                         "deputy": "sophie"}, token_from="/absence/")
    assert refused.status_code == 422
    assert element(text_of(refused), "p", id="a-ends_on-error")["__text__"] == (
        "Le dernier jour ne peut pas précéder le premier.")
    response = post(claire, "/absence/", {"starts_on": "2026-03-02", "ends_on": "2026-03-06",
                                          "deputy": "sophie"}, token_from="/absence/")
    assert response.status_code == 302
    page = html.unescape(_page(claire, "/"))
    assert "Vous êtes absent(e) du 2 mars 2026 au 6 mars 2026" in page and "Sophie" in page
    page = html.unescape(_page(sophie, "/"))
    assert "Vous remplacez Claire" in page
    assert f'/taches/{world.task_own}"' in page and "pour Claire" in page
    # the deputy's badge counts the absent colleague's tasks once
    badge = elements(_page(sophie, "/notifications/"), "span", class_="badge")[0]
    assert badge["__text__"].strip() == str(len(inbox_ids(world.pf, "sophie"))) == "2"
    page = _page(claire, "/absence/")
    [end] = [f for f in elements(page, "form") if f.get("action", "").endswith("/fin")]
    assert post(claire, end["action"], token_from="/absence/").status_code == 302
    assert "Vous remplacez" not in html.unescape(_page(sophie, "/"))


def test_the_absence_page_is_for_staff(world, as_user):
    for username in ("paul", "alice", "denis"):
        client = as_user(username)
        assert client.get("/absence/").status_code == 403
        assert 'href="/absence/"' not in text_of(client.get("/notifications/"))
