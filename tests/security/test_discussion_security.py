"""Comments, opinions and absences attacked: the wrong user, a missing CSRF token, a partner
after internal words, a script typed in a comment, a question or an opinion."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine.store.models import Absence, Comment, Notification, TaskDelegation
from tests.conftest import deploy
from tests.web.support import post, start, task_row, text_of

SCRIPT = "<script>alert('pf')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;pf&#39;)&lt;/script&gt;"
SHARED_REVIEW = Path(__file__).resolve().parents[1] / "fixtures" / "discussion" / "shared_review.bpmn"


def _routes(world) -> list[str]:
    task = f"/taches/{world.task_own}"
    return [f"{task}/commentaires", f"{task}/avis", f"{task}/avis/reponse", f"{task}/avis/retrait",
            f"/partenariats/{world.own}/commentaires", "/absence/", "/absence/1/fin"]


@pytest.mark.parametrize("token", [None, "forged"])
def test_every_discussion_route_refuses_a_missing_or_forged_csrf_token(world, as_user, token):
    client = as_user("claire")
    for path in _routes(world):
        data = {"text": "x", "asked": "sophie", "question": "?", "opinion": "!",
                "starts_on": "2026-03-02", "ends_on": "2026-03-03", "deputy": "sophie"}
        if token:
            data["csrf_token"] = token
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "jeton CSRF" in text_of(response), path
    with world.pf.read() as db:
        assert db.scalars(select(Comment)).all() == [] and db.scalars(select(TaskDelegation)).all() == []
        assert db.scalars(select(Absence)).all() == []


def test_the_wrong_user_is_refused(world, as_user):
    task = f"/taches/{world.task_own}"
    sophie, paul, karim = as_user("sophie"), as_user("paul"), as_user("karim")
    # a task that is not hers, a partnership that is not his
    assert post(sophie, f"{task}/commentaires", {"text": "Bonjour"}).status_code == 403
    assert post(paul, f"/partenariats/{world.other}/commentaires", {"text": "Bonjour"}).status_code == 403
    alice = as_user("alice")
    assert post(alice, f"/partenariats/{world.own}/commentaires", {"text": "Audit"}).status_code == 403
    assert post(sophie, f"{task}/avis", {"asked": "karim", "question": "?"}).status_code == 403
    claire = as_user("claire")
    assert post(claire, f"{task}/avis", {"asked": "sophie", "question": "Un avis ?"},
                token_from=task).status_code == 302
    # only sophie answers; neither she nor a bystander withdraws it; nobody completes it meanwhile
    assert post(karim, f"{task}/avis/reponse", {"opinion": "Moi aussi"}).status_code == 403
    assert post(sophie, f"{task}/avis/retrait").status_code == 403
    assert post(karim, f"{task}/avis/retrait").status_code == 403
    assert post(claire, task, {"action": "complete", "decision": "done"}, token_from=task).status_code == 409
    assert post(sophie, task, {"action": "draft", "decision": "done"}, token_from=task).status_code == 403
    assert task_row(world.pf, world.task_own).delegated_to == "sophie"
    # nobody ends someone else's absence
    assert post(sophie, "/absence/", {"starts_on": "2026-03-02", "ends_on": "2026-03-04",
                                      "deputy": "karim"}, token_from="/absence/").status_code == 302
    with world.pf.read() as db:
        absence_id = db.scalar(select(Absence.id))
    assert post(karim, f"/absence/{absence_id}/fin", token_from="/absence/").status_code == 404
    assert post(paul, "/absence/", {"starts_on": "2026-03-02", "ends_on": "2026-03-04",
                                    "deputy": "claire"}).status_code == 403


def test_a_partner_never_reads_an_internal_comment_or_opinion(world, as_user):
    deploy(world.pf, [SHARED_REVIEW])
    [task_id] = start(world.pf, world.own, "shared_review")
    claire, paul = as_user("claire"), as_user("paul")
    task = f"/taches/{task_id}"
    post(claire, f"{task}/commentaires", {"text": "INTERNE-marge"}, token_from=task)
    post(claire, f"{task}/commentaires", {"text": "PARTAGE-bienvenue", "visibility": "shared"},
         token_from=task)
    page = text_of(paul.get(task))  # the task is offered to him too: he reads its shared thread
    assert "PARTAGE-bienvenue" in page and "INTERNE" not in page
    post(claire, f"/partenariats/{world.own}/commentaires", {"text": "INTERNE-strategie"},
         token_from=f"/partenariats/{world.own}")
    post(claire, f"{task}/avis", {"asked": "karim", "question": "INTERNE-question"}, token_from=task)
    post(as_user("karim"), f"{task}/avis/reponse", {"opinion": "INTERNE-avis"}, token_from=task)
    # an internal task's page is refused to him outright
    assert paul.get(f"/taches/{world.task_own}").status_code == 403
    assert post(paul, f"/taches/{world.task_own}/commentaires", {"text": "?"}).status_code == 403
    # claire holds it now (she asked an opinion): he no longer reads it
    assert paul.get(task).status_code == 403
    for path in (f"/partenariats/{world.own}", "/notifications/", f"/partenariats/{world.own}/audit",
                 f"/partenariats/{world.own}/audit.jsonl", f"/partenariats/{world.own}/audit.csv",
                 f"/partenariats/{world.own}/rapport"):
        response = paul.get(path)
        assert response.status_code == 200, path
        assert "INTERNE" not in text_of(response), path
    body = text_of(claire.get(f"/partenariats/{world.own}/audit"))
    for word in ("INTERNE-marge", "INTERNE-strategie", "INTERNE-question", "INTERNE-avis"):
        assert word in body  # the check can fail: staff read them
    with world.pf.read() as db:
        told = db.scalars(select(Notification.body).where(Notification.username == "paul")).all()
    assert not any("INTERNE" in body for body in told)


def test_a_partner_cannot_make_an_internal_comment_nor_staff_share_on_an_internal_task(world, as_user):
    paul, claire = as_user("paul"), as_user("claire")
    post(paul, f"/partenariats/{world.own}/commentaires", {"text": "Notre avis", "visibility": "internal"},
         token_from=f"/partenariats/{world.own}")
    assert post(claire, f"/taches/{world.task_own}/commentaires", {"text": "x", "visibility": "shared"},
                token_from=f"/taches/{world.task_own}").status_code == 403
    assert post(claire, f"/partenariats/{world.own}/commentaires", {"text": "x", "visibility": "public"},
                token_from=f"/partenariats/{world.own}").status_code == 422
    with world.pf.read() as db:
        assert db.scalars(select(Comment.visibility)).all() == ["shared"]


def test_a_script_in_a_comment_a_question_or_an_opinion_is_escaped(world, as_user):
    claire, sophie = as_user("claire"), as_user("sophie")
    task = f"/taches/{world.task_own}"
    post(claire, f"{task}/commentaires", {"text": SCRIPT}, token_from=task)
    post(claire, f"/partenariats/{world.own}/commentaires", {"text": SCRIPT, "visibility": "shared"},
         token_from=f"/partenariats/{world.own}")
    post(claire, f"{task}/avis", {"asked": "sophie", "question": SCRIPT}, token_from=task)
    page = text_of(sophie.get(task))
    assert SCRIPT not in page and ESCAPED in page  # the question, the comment
    post(sophie, f"{task}/avis/reponse", {"opinion": SCRIPT}, token_from=task)
    for client, path in ((claire, task), (claire, f"/partenariats/{world.own}"),
                         (as_user("paul"), f"/partenariats/{world.own}"),
                         (claire, f"/partenariats/{world.own}/audit")):
        body = text_of(client.get(path))
        assert SCRIPT not in body, path
        assert ESCAPED in body, path
    assert SCRIPT not in text_of(as_user("hugo").get("/notifications/"))
