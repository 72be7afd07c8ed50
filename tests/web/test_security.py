"""CSRF, security headers, escaping, login throttling, redirects, cookies, uploads, JSON errors."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from werkzeug.routing import IntegerConverter

from partnerflow.engine.runtime import services
from tests.web.support import (
    PASSWORD,
    complete,
    csrf_token,
    element,
    login,
    new_partnership,
    post,
    start,
    start_review,
    task_row,
    text_of,
)

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _post_urls(app, world) -> dict[str, str]:
    """A concrete URL for every POST rule of the application, present and future."""
    values = {"task_id": world.task_own, "partnership_id": world.own, "username": "sophie",
              "sha256": world.doc_own}
    adapter = app.url_map.bind("localhost")
    urls = {}
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods:
            args = {name: values.get(name, 1 if isinstance(rule._converters.get(name), IntegerConverter)
                                     else "x") for name in rule.arguments}
            urls[rule.endpoint] = adapter.build(rule.endpoint, args, method="POST")
    assert {"auth.login", "tasks.submit", "admin.create_user", "inbox.reassign"} <= set(urls)
    return urls


@pytest.mark.parametrize("token", [None, "forged-token", "stale"])
def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(app, world, as_user, token):
    client = as_user("ines")  # an admin: would be allowed on the admin routes
    if token == "stale":  # a real token, from another session
        token = csrf_token(as_user("claire"), "/")
    for endpoint, url in _post_urls(app, world).items():
        data = {"to_user": "sophie", "action": "complete", "decision": "done", "username": "x",
                "full_name": "X", "roles": "admin", "partnership_id": str(world.other),
                "lang": "en", "password": PASSWORD}
        if token is not None:
            data["csrf_token"] = token
        response = client.post(url, data=data)
        body = text_of(response)
        if url.startswith("/api/"):
            # the API is exempt from CSRF because a session cookie never authenticates it
            expected = 400 if endpoint == "api_oauth.token" else 401  # no client credentials
            assert response.status_code == expected, endpoint
            continue
        assert response.status_code == 400, endpoint
        assert "Requête invalide" in body and "jeton CSRF" in body, endpoint
        assert '<html lang="fr">' in body
    row = task_row(world.pf, world.task_own)
    assert (row.state, row.claimed_by, row.assignee) == ("open", None, None)
    assert client.get("/admin/utilisateurs").status_code == 200  # still signed in
    assert "Bienvenue" not in text_of(client.get("/"))


@pytest.mark.parametrize("path", ["/connexion", "/", "/partenariats/", "task", "partnership",
                                  "/admin/utilisateurs", "/nulle-part"])
def test_security_headers_on_html_pages(world, as_user, path):
    client = as_user(None if path == "/connexion" else "ines" if "admin" in path else "claire")
    path = {"task": f"/taches/{world.task_own}", "partnership": f"/partenariats/{world.own}"}.get(path, path)
    response = client.get(path)
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = text_of(response)
    # the CSP forbids inline code and styles: the pages must not need any
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "inline script"
    assert not re.search(r"\sstyle=", body), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", body), "inline event handler"


def test_a_script_in_a_partnership_title_is_escaped_everywhere(world, as_user):
    pf = world.pf
    pid = new_partnership(pf, SCRIPT)
    task_id = start_review(pf, pid)
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username="paul", actor="ines")
    pages = {
        "claire": ["/", "/partenariats/", f"/partenariats/{pid}", f"/taches/{task_id}"],
        "ines": ["/admin/utilisateurs"],
        "paul": ["/partenariats/", f"/partenariats/{pid}"],
        "alice": [f"/taches/{task_id}"],
    }
    for username, paths in pages.items():
        client = as_user(username)
        for path in paths:
            body = text_of(client.get(path))
            assert SCRIPT not in body, (username, path)
            assert ESCAPED in body, (username, path)


def test_a_script_in_a_form_value_is_escaped_in_the_draft_and_in_the_next_task(world, as_user):
    client = as_user("claire")
    url = f"/taches/{world.task_own}"
    assert post(client, url, {"action": "draft", "comment": SCRIPT}, token_from=url).status_code == 302
    body = text_of(client.get(url))
    assert SCRIPT not in body and ESCAPED in body
    # invalid submission: the value comes back in the form, escaped
    response = post(client, url, {"action": "complete", "decision": "x", "comment": SCRIPT}, token_from=url)
    assert response.status_code == 422
    assert SCRIPT not in text_of(response) and ESCAPED in text_of(response)
    # completed with "again": the next round shows what was said, escaped
    response = post(client, url, {"action": "complete", "decision": "again", "comment": SCRIPT},
                    token_from=url)
    assert response.status_code == 302
    [next_task] = [t for t in _open_tasks(world.pf) if t != world.task_own and t != world.task_other]
    body = text_of(client.get(f"/taches/{next_task}"))
    assert "Commentaire" in body
    assert SCRIPT not in body and ESCAPED in body


def _open_tasks(pf):
    from sqlalchemy import select

    from partnerflow.engine.store.models import HumanTask

    with pf.read() as db:
        return list(db.scalars(select(HumanTask.id).where(HumanTask.state == "open")))


def test_after_five_wrong_passwords_even_the_right_one_waits_longer_each_time(app, world, clock):
    client = app.test_client()
    for _ in range(5):
        response = login(client, "claire", "mauvais")
        assert response.status_code == 401
        assert "Identifiant ou mot de passe incorrect." in text_of(response)
    response = login(client, "claire", PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives échouées. Réessayez dans 1 minute(s)." in text_of(response)
    assert client.get("/").status_code == 302  # not signed in
    clock.advance(seconds=61)
    assert login(client, "claire", "mauvais").status_code == 401  # a sixth failure: 2 minutes
    clock.advance(seconds=61)
    response = login(client, "claire", PASSWORD)
    assert response.status_code == 429
    assert "Réessayez dans 1 minute(s)." in text_of(response)
    clock.advance(seconds=60)
    response = login(client, "claire", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example",
                                    "/\t/evil.example", "https:evil.example", "javascript:alert(1)"])
def test_login_refuses_to_redirect_off_site(app, world, target):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/connexion", query_string={"next": target},
                           data={"csrf_token": token, "username": "claire", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_a_local_next(app, world):
    response = login(app.test_client(), "claire", next="/partenariats/")
    assert response.headers["Location"] == "/partenariats/"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_other_next_fields_stay_on_site(world, as_user, target):
    client = as_user("claire")
    response = post(client, "/langue", {"lang": "en", "next": target})
    assert response.headers["Location"] == "/"
    response = post(client, f"/taches/{world.task_own}/prendre", {"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_session_cookie_is_http_only_and_same_site(app, world):
    response = login(app.test_client(), "claire")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    assert "HttpOnly" in cookies[-1]
    assert "SameSite=Lax" in cookies[-1]


@pytest.fixture
def rows_task(world):
    [task_id] = start(world.pf, world.own, "rows_demo")
    return task_id


def _upload(client, task_id, filename, content):
    url = f"/taches/{task_id}"
    return client.post(url, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, url), "action": "complete", "summary": "Avec pièce",
        "items-0-label": "Visite", "attachment": (BytesIO(content), filename)})


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("setup.exe", b"MZ\x90\x00binary", "Type de fichier refusé (.exe)"),
    ("convention.pdf", b"MZ pretending to be a PDF", "Le contenu ne correspond pas à un fichier .pdf."),
    ("photo.png", b"%PDF-1.4 not a png", "Le contenu ne correspond pas à un fichier .png."),
    ("notes.txt", b"\xff\xfe\x00latin", "Un fichier texte doit être en UTF-8."),
])
def test_a_refused_upload_is_a_french_error_next_to_the_file_field(world, as_user, rows_task,
                                                                   filename, content, message):
    response = _upload(as_user("sophie"), rows_task, filename, content)
    assert response.status_code == 422
    body = text_of(response)
    field = element(body, "input", type="file", name="attachment")
    assert field.get("aria-invalid") == "true"
    error = element(body, "p", id=field["id"] + "-error")
    assert message in error["__text__"]
    assert element(body, "input", name="summary")["value"] == "Avec pièce"  # input kept
    assert task_row(world.pf, rows_task).state == "open"
    with world.pf.read() as db:
        from partnerflow.engine.runtime import queries

        assert [d.filename for d in queries.documents_page(db, world.own, 1, 50).rows] == ["convention.pdf"]


def test_an_accepted_upload_is_stored_and_linked(world, as_user, rows_task):
    client = as_user("sophie")
    response = _upload(client, rows_task, "compte rendu.pdf", b"%PDF-1.7\ncontent")
    assert response.status_code == 302
    result = task_row(world.pf, rows_task).result
    sha = result["attachment"]
    assert len(sha) == 64
    download = client.get(f"/partenariats/{world.own}/documents/{sha}")
    assert download.status_code == 200
    assert download.data == b"%PDF-1.7\ncontent"
    assert "attachment" in download.headers["Content-Disposition"]


def test_a_file_over_the_size_limit_is_a_413_french_page(app, world, as_user, rows_task):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = _upload(as_user("sophie"), rows_task, "gros.pdf", b"%PDF-" + b"0" * limit)
    assert response.status_code == 413
    body = text_of(response)
    assert "Fichier trop volumineux" in body and "Le fichier dépasse la taille autorisée." in body
    assert task_row(world.pf, rows_task).state == "open"


@pytest.mark.parametrize(("who", "method", "path", "status", "title"), [
    ("claire", "GET", "/taches/999999", 404, "Page introuvable"),
    ("sophie", "GET", "/admin/utilisateurs", 403, "Accès refusé"),
    ("paul", "GET", "other", 403, "Accès refusé"),
    ("claire", "POST", "nocsrf", 400, "Requête invalide"),
    ("claire", "POST", "completed", 409, "Conflit"),
    ("claire", "POST", "invalid", 422, "Données invalides"),
])
def test_json_clients_get_json_errors(world, as_user, who, method, path, status, title):
    client = as_user(who)
    headers = {"Accept": "application/json"}
    if path == "other":
        response = client.get(f"/partenariats/{world.other}", headers=headers)
    elif path == "nocsrf":
        response = client.post(f"/taches/{world.task_own}/prendre", headers=headers)
    elif path == "completed":
        complete(world.pf, world.task_own, "hugo", {"decision": "done"})
        response = client.post(f"/taches/{world.task_own}", headers=headers, data={
            "csrf_token": csrf_token(client, "/"), "action": "complete", "decision": "done"})
    elif path == "invalid":
        response = client.post(f"/taches/{world.task_own}", headers=headers, data={
            "csrf_token": csrf_token(client, "/"), "action": "complete", "decision": "x"})
    else:
        response = client.open(path, method=method, headers=headers)
    assert response.status_code == status
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert body["status"] == status and body["error"] == title
    assert body["message"]
    if status == 409:
        assert "hugo" in body["message"]
    if status == 422:
        assert body["errors"] == {"decision": ["Choisissez une des valeurs proposées."]}
