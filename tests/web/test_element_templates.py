"""The modeller offers the connectors as Camunda 7 element templates: the page loads them from
the application, designers only."""

from __future__ import annotations

from partnerflow.engine.runtime import connectors


def test_designers_get_the_shipped_element_templates(as_user):
    response = as_user("denis").get("/modeleur/modeles-elements.json")
    assert response.status_code == 200 and response.is_json
    templates = response.get_json()
    assert templates == connectors.shipped_templates()
    assert {t["name"] for t in templates} >= {"Générer la convention", "Enregistrer la signature",
                                              "Mettre à jour la carte", "Notifier"}


def test_the_element_templates_are_for_designers_only(as_user):
    assert as_user("sophie").get("/modeleur/modeles-elements.json").status_code == 403
    assert as_user(None).get("/modeleur/modeles-elements.json").status_code in (302, 401)


def test_the_modeller_page_says_where_the_templates_are(as_user):
    page = as_user("denis").get("/modeleur/review_loop").get_data(as_text=True)
    assert 'data-templates-url="/modeleur/modeles-elements.json"' in page
