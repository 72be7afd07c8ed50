"""The JSON API: token-only authentication (personal tokens, OAuth2 client credentials), the
access policy of the pages, French problem details, and the task and instance resources."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from partnerflow.engine.access import accounts, tokens
from partnerflow.engine.store.models import ApiToken, HumanTask
from tests.web.support import login, post, text_of

PROBLEM = "application/problem+json"


def token_for(pf, username: str, scope: str = "write", days: int = 30) -> str:
    with pf.uow() as uow:
        return tokens.create_personal_token(uow, username=username, name="essai", scope=scope, days=days)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(app, world):
    """`api("claire")`: a function calling the API with a write token of that user."""
    client = app.test_client()

    def make(username: str, scope: str = "write"):
        headers = bearer(token_for(world.pf, username, scope))

        def call(method: str, path: str, **kwargs):
            return client.open(path, method=method, headers={**headers, **kwargs.pop("headers", {})},
                               **kwargs)

        return call

    return make


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, text_of(response)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    for word in words:
        assert word in json.dumps(body, ensure_ascii=False)
    return body


# ---------------------------------------------------------------- description and documentation


def test_the_openapi_description_is_3_1_and_the_documentation_page_works_offline(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert {"/api/tasks", "/api/tasks/{task_id}/complete", "/api/instances", "/api/message",
            "/api/external-task/fetchAndLock", "/api/oauth/token"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["Problem"]["properties"]["status"]
    page = client.get("/api/docs")
    html = text_of(page)
    assert page.status_code == 200 and "http://" not in html and "https://" not in html
    for src in ("/api/docs/swagger/js/swagger-ui-bundle.js", "/api/docs/swagger/css/swagger-ui.css",
                "/static/api-docs.js"):
        assert src in html and client.get(src).status_code == 200


# ---------------------------------------------------------------- authentication


def test_without_a_token_the_api_answers_401_in_french_and_a_session_cookie_is_not_enough(app, world):
    client = app.test_client()
    body = assert_problem(client.get("/api/tasks"), 401, "Bearer")
    assert "cookie" in body["detail"]
    assert login(client, "claire").status_code == 302
    assert client.get("/").status_code == 200  # signed in on the pages
    assert_problem(client.get("/api/tasks"), 401)
    assert_problem(client.post(f"/api/tasks/{world.task_own}/claim"), 401)


def test_a_read_token_reads_but_may_not_write(api, world):
    call = api("claire", scope="read")
    assert call("GET", "/api/tasks").status_code == 200
    assert_problem(call("POST", f"/api/tasks/{world.task_own}/claim"), 403, "read")


def test_a_revoked_an_expired_or_a_deactivated_accounts_token_stops_at_once(app, world, clock):
    client = app.test_client()
    pf = world.pf
    token = token_for(pf, "sophie", days=1)
    assert client.get("/api/tasks", headers=bearer(token)).status_code == 200
    clock.advance(days=1, seconds=1)
    assert_problem(client.get("/api/tasks", headers=bearer(token)), 401)

    token = token_for(pf, "sophie")
    with pf.read() as db:
        row = db.scalar(select(ApiToken).where(ApiToken.token_hash == tokens.digest(token)))
        assert token not in (row.token_hash, row.prefix)  # stored hashed
    with pf.uow() as uow:
        tokens.revoke_personal_token(uow, username="sophie", token_id=row.id)
    assert_problem(client.get("/api/tasks", headers=bearer(token)), 401)

    token = token_for(pf, "sophie")
    assert client.get("/api/tasks", headers=bearer(token)).status_code == 200
    with pf.uow() as uow:
        accounts.set_active(uow, username="sophie", active=False, actor="ines")
    assert_problem(client.get("/api/tasks", headers=bearer(token)), 401, "désactivé")


def test_a_user_creates_a_token_on_their_page_sees_it_once_and_revokes_it(as_user, app, world):
    browser = as_user("sophie")
    response = post(browser, "/compte/jetons", {"name": "tableur", "scope": "read", "days": "30"},
                    token_from="/compte/jetons")
    assert response.status_code == 201
    html = text_of(response)
    token = html.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("pfp_")
    again = text_of(browser.get("/compte/jetons"))
    assert token not in again and token[:10] in again
    client = app.test_client()
    assert client.get("/api/tasks", headers=bearer(token)).status_code == 200
    refused = post(browser, "/compte/jetons", {"name": "", "scope": "admin", "days": "999"},
                   token_from="/compte/jetons")
    assert refused.status_code == 422 and "Donnez un nom au jeton" in text_of(refused)
    with world.pf.read() as db:
        [row] = tokens.personal_tokens(db, "sophie")
    post(browser, f"/compte/jetons/{row.id}/revoquer", token_from="/compte/jetons")
    assert_problem(client.get("/api/tasks", headers=bearer(token)), 401)
    # another user cannot revoke it
    other = as_user("sarah")
    assert post(other, f"/compte/jetons/{row.id}/revoquer", token_from="/compte/jetons").status_code == 404


def test_an_administrator_registers_an_oauth_client_acting_as_its_service_account(as_user, app, world):
    admin = as_user("ines")
    assert as_user("claire").get("/admin/clients-api").status_code == 403
    response = post(admin, "/admin/clients-api", {"name": "Logiciel de paie", "service_account": "sophie",
                                                  "scope": "read"}, token_from="/admin/clients-api")
    assert response.status_code == 201
    html = text_of(response)
    client_id = html.split('id="client-id">')[1].split("<")[0]
    secret = html.split('id="client-secret">')[1].split("<")[0]
    client = app.test_client()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    wrong = base64.b64encode(f"{client_id}:nope".encode()).decode()
    refused = client.post("/api/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    too_much = client.post("/api/oauth/token", data={"grant_type": "client_credentials", "scope": "write",
                                                     "client_id": client_id, "client_secret": secret})
    assert too_much.status_code == 400 and too_much.get_json()["error"] == "invalid_scope"
    granted = client.post("/api/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"}).get_json()
    assert granted["token_type"] == "Bearer" and granted["scope"] == "read" and granted["expires_in"] == 3600
    listed = client.get("/api/tasks", headers=bearer(granted["access_token"]))
    assert listed.status_code == 200
    with world.pf.read() as db:
        [(row, _name)] = tokens.clients(db)
        assert secret not in row.secret_hash
    post(admin, f"/admin/clients-api/{row.id}/revoquer", token_from="/admin/clients-api")
    assert_problem(client.get("/api/tasks", headers=bearer(granted["access_token"])), 401)


# ---------------------------------------------------------------- tasks


def test_the_inbox_is_the_users_own_with_the_pages_filters(api, world):
    claire = api("claire")
    body = claire("GET", "/api/tasks").get_json()
    assert {world.task_own, world.task_other} <= {t["id"] for t in body["items"]}
    only = claire("GET", f"/api/tasks?partnership_id={world.own}").get_json()
    assert [t["id"] for t in only["items"]] == [world.task_own] and only["total"] == 1
    assert api("sophie")("GET", "/api/tasks").get_json()["items"] == []
    assert_problem(claire("GET", "/api/tasks?sort=nimporte"), 422, "sort")
    assert_problem(claire("GET", "/api/tasks?limit=0"), 422, "limit", "au moins 1")


def test_reading_a_task_follows_the_policy_and_shows_its_form(api, world):
    claire = api("claire")
    task = claire("GET", f"/api/tasks/{world.task_own}").get_json()
    assert task["form"]["properties"]["decision"] and task["readonly"] is False
    assert task["partnership_title"] == "EHPAD et lycée agricole"
    assert_problem(api("sophie")("GET", f"/api/tasks/{world.task_own}"), 403)
    assert_problem(api("paul")("GET", f"/api/tasks/{world.task_other}"), 403)
    assert_problem(claire("GET", "/api/tasks/999999"), 404)
    audited = api("alice")("GET", f"/api/tasks/{world.task_own}").get_json()
    assert audited["readonly"] is True and audited["draft"] is None


def test_claim_release_draft_and_complete_with_the_forms_validation_in_french(api, world):
    claire, hugo = api("claire"), api("hugo")
    assert claire("POST", f"/api/tasks/{world.task_own}/claim").get_json()["claimed_by"] == "claire"
    assert_problem(hugo("POST", f"/api/tasks/{world.task_own}/claim"), 409, "claire")
    assert claire("POST", f"/api/tasks/{world.task_own}/release").get_json()["claimed_by"] is None
    assert claire("PUT", f"/api/tasks/{world.task_own}/draft",
                  json={"data": {"comment": "à moitié"}}).status_code == 204
    assert claire("GET", f"/api/tasks/{world.task_own}").get_json()["draft"] == {"comment": "à moitié"}
    body = assert_problem(claire("POST", f"/api/tasks/{world.task_own}/complete",
                                 json={"data": {"decision": "peut-être"}}), 422, "decision")
    assert body["errors"]["decision"]
    assert_problem(claire("POST", f"/api/tasks/{world.task_own}/complete", json={"donnees": {}}),
                   422, "donnees", "pas attendu")
    assert_problem(api("sophie")("POST", f"/api/tasks/{world.task_own}/complete",
                                 json={"data": {"decision": "done"}}), 403)
    done = claire("POST", f"/api/tasks/{world.task_own}/complete", json={"data": {"decision": "done"}})
    assert done.status_code == 200 and done.get_json()["instance_status"] == "completed"
    assert_problem(claire("POST", f"/api/tasks/{world.task_own}/complete",
                          json={"data": {"decision": "done"}}), 409, "terminée par")
    with world.pf.read() as db:
        assert db.get(HumanTask, world.task_own).completed_by == "claire"


# ---------------------------------------------------------------- instances


def test_instances_are_read_where_the_partnership_is_and_cancelled_by_the_direction(api, world):
    claire, paul = api("claire"), api("paul")
    task = claire("GET", f"/api/tasks/{world.task_other}").get_json()
    instance_id = task["instance_id"]
    listed = paul("GET", "/api/instances").get_json()["items"]
    assert listed and {i["partnership_id"] for i in listed} == {world.own}
    assert_problem(paul("GET", f"/api/instances/{instance_id}"), 403)
    assert_problem(paul("POST", "/api/instances", json={"partnership_id": world.own,
                                                         "process_key": "review_loop"}), 403)
    started = claire("POST", "/api/instances", json={"partnership_id": world.other,
                                                      "process_key": "review_loop", "data": {"rounds": 0}})
    assert started.status_code == 201 and started.get_json()["status"] == "running"
    assert_problem(claire("POST", "/api/instances", json={"partnership_id": world.other,
                                                           "process_key": "no_such_process"}), 404)
    read = claire("GET", started.headers["Location"]).get_json()
    assert len(read["open_tasks"]) == 1 and read["incidents"] == []
    assert_problem(api("sophie")("POST", f"/api/instances/{instance_id}/cancel",
                                 json={"reason": "doublon"}), 403)
    assert_problem(claire("POST", f"/api/instances/{instance_id}/cancel", json={}), 422, "reason")
    cancelled = claire("POST", f"/api/instances/{instance_id}/cancel", json={"reason": "doublon"})
    assert cancelled.get_json()["status"] == "cancelled"
    assert_problem(claire("POST", f"/api/instances/{instance_id}/retry"), 403)
    assert_problem(api("ines")("POST", f"/api/instances/{instance_id}/retry"), 409)


def test_unknown_api_paths_and_methods_are_problems_too(api):
    claire = api("claire")
    assert_problem(claire("GET", "/api/nothing-here"), 404)
    assert_problem(claire("DELETE", "/api/tasks"), 405)


def test_definitions_are_read_by_their_readers_and_deployed_by_designers(api, world):
    from tests.conftest import FIXTURES

    versions = api("denis")("GET", "/api/process-definitions").get_json()["items"]
    assert "review_loop" in {v["process_key"] for v in versions}
    assert_problem(api("paul")("GET", "/api/process-definitions"), 403)
    content = (FIXTURES / "review_loop.bpmn").read_bytes()
    assert_problem(api("claire")("POST", "/api/deployments",
                                 data={"files": (__import__("io").BytesIO(content), "review_loop.bpmn")},
                                 content_type="multipart/form-data"), 403)
    broken = api("denis")("POST", "/api/deployments",
                          data={"files": (__import__("io").BytesIO(b"<nope"), "broken.bpmn")},
                          content_type="multipart/form-data")
    assert_problem(broken, 422, "broken.bpmn")
    same = api("denis")("POST", "/api/deployments",
                        data={"files": (__import__("io").BytesIO(content), "review_loop.bpmn")},
                        content_type="multipart/form-data")
    assert same.status_code == 201 and same.get_json()["items"][0]["created"] is False


def test_the_api_is_refused_undeclared_keys_like_every_other_caller(api, world):
    """The engine guards task data whoever calls: keys the form does not declare (process
    variables the diagram alone sets) are refused by name, and nothing is completed."""
    hostile = {"decision": "done", "formalisation_level": "L0", "partnership_status": "ended"}
    body = assert_problem(api("claire")("POST", f"/api/tasks/{world.task_own}/complete",
                                        json={"data": hostile}), 422, "formalisation_level")
    assert {"formalisation_level", "partnership_status"} <= set(body["errors"])
    with world.pf.read() as db:
        assert db.get(HumanTask, world.task_own).state == "open"
