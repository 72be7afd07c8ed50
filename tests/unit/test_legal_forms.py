"""What the method's forms ask because a text requires it, checked through the engine's own
validation (engine/runtime/forms.py): the authority that approves a groupement's constitutive
convention, staff made available, the roles of the parties over personal and health data,
and who may call an action sheet validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime.forms import FormRegistry
from partnerflow.engine.runtime.views import filter_object

FORMS_DIR = Path(__file__).resolve().parents[2] / "forms"
FORMS = FormRegistry(FORMS_DIR)
SHA = "a" * 64  # a stored document's hash, as a file field holds it


def errors_of(form_key: str, data: dict) -> dict[str, list[str]]:
    with pytest.raises(FormValidationError) as caught:
        FORMS.validate(form_key, data)
    return caught.value.errors


def options(schema: dict) -> dict[str, str]:
    return {o["const"]: o["title"] for o in schema.get("oneOf", [])}


# ---------------------------------------------------------------- L4: the approving authority

def approval(**changes) -> dict:
    data = {
        "groupement_kind": "gcsms",
        "approving_authority": "prefet",
        "authority_decision": "approved",
        "authority_decision_date": "2026-03-02",
        "authority_decision_reference": "Arrêté préfectoral n° 2026-112",
        "authority_decision_document": SHA,
    }
    return {**data, **changes}


@pytest.mark.parametrize("kind, authority", [
    ("gcsms", "prefet"), ("gcs", "ars"), ("gip", "ministers"), ("gip", "prefet")])
def test_the_authority_the_text_names_for_each_kind_of_groupement_is_accepted(kind, authority):
    cleaned = FORMS.validate("authority_approval", approval(groupement_kind=kind,
                                                            approving_authority=authority))
    assert (cleaned["groupement_kind"], cleaned["approving_authority"]) == (kind, authority)


@pytest.mark.parametrize("kind, authority, message", [
    ("gcsms", "ars", "Un GCSMS est approuvé par le préfet du département de son siège "
                     "(CASF R312-194-18)."),
    ("gcsms", "ministers", "Un GCSMS est approuvé par le préfet du département de son siège "
                           "(CASF R312-194-18)."),
    ("gcs", "prefet", "Un GCS est approuvé par le directeur général de l'ARS (CSP L6133-3)."),
    ("gip", "ars", "Un GIP est approuvé par l'État : les ministres, ou le préfet pour un GIP de "
                   "ressort local (loi n° 2011-525 art. 100)."),
])
def test_an_authority_that_cannot_approve_that_kind_of_groupement_is_refused(kind, authority, message):
    errors = errors_of("authority_approval", approval(groupement_kind=kind,
                                                      approving_authority=authority))
    assert errors == {"approving_authority": [message]}


def test_the_departement_is_no_longer_an_approving_authority():
    schema = FORMS.get("authority_approval").schema
    titles = options(schema["properties"]["approving_authority"])
    assert set(titles) == {"prefet", "ars", "ministers"}
    assert not any("départemental" in title.lower() for title in titles.values())
    for old in ("departement", "ars_and_departement"):
        assert errors_of("authority_approval", approval(approving_authority=old))[
            "approving_authority"][0] == "Choisissez une des valeurs proposées."


def test_the_kind_of_groupement_is_asked_before_the_authority():
    assert errors_of("authority_approval", {k: v for k, v in approval().items()
                                            if k != "groupement_kind"}) == {
        "groupement_kind": ["Ce champ est obligatoire."]}
    props = FORMS.get("authority_approval").schema["properties"]
    assert props["groupement_kind"]["x-order"] < props["approving_authority"]["x-order"]


# ---------------------------------------------------------------- the convention

PARTY = {"legal_name": "Association Les Tilleuls", "siret": "12345678901234",
         "legal_representative": "Claire Martin", "representative_quality": "Présidente",
         "mandate": "Statuts, article 12"}


def convention(**changes) -> dict:
    data = {
        "convention_title": "Convention de consultations avancées",
        "parties": [PARTY, dict(PARTY, legal_name="Centre hospitalier de Montreuil")],
        "preamble": "Vu le CASF.", "purpose": "Consultations gériatriques avancées.",
        "population_concerned": "Résidents de l'EHPAD.", "territory": "Montreuil",
        "reciprocal_commitments": [{"party": "EHPAD", "commitment": "Une salle équipée."}],
        "operating_rules": "Rendez-vous par l'IDE coordinatrice.",
        "referents": [{"party": "EHPAD", "full_name": "Karim Benali"}],
        "rights_of_people_accompanied": "Libre choix du médecin.",
        "data_protection_roles": "none",
        "liability_and_insurance": "Chacun son assurance.",
        "steering_committee": [{"full_name": "Claire Martin", "side": "ours"},
                               {"full_name": "Dr Awa Ba", "side": "partner"}],
        "steering_meeting_frequency": "quarterly",
        "evaluation_indicators": [{"indicator": "Passages aux urgences évités", "target": "6"}],
        "start_date": "2026-04-01", "intermediate_evaluation_date": "2026-10-01",
        "final_evaluation_date": "2027-03-01", "end_date": "2027-03-31",
        "renewal": "express", "amendments": "Par avenant écrit.",
        "termination_notice_months": 3, "termination_conditions": "Lettre recommandée.",
        "disputes": "Conciliation.", "signature_place": "Montreuil",
        "signature_date": "2026-03-20",
    }
    return {**data, **changes}


def nurse(**changes) -> dict:
    """A private-law nurse made available, with every piece the code du travail asks for."""
    row = {
        "party": "Association Les Tilleuls", "receiving_party": "Centre hospitalier de Montreuil",
        "staff_status": "private_law", "employee_name": "Inès Moreau",
        "qualification": "Infirmière diplômée d'État",
        "description": "Coordination des consultations, le mardi matin, à l'EHPAD.", "fte": 0.1,
        "start_date": "2026-04-01", "end_date": "2027-03-31",
        "billing_terms": "Salaire brut, charges sociales et frais de déplacement, au réel.",
        "employee_agreement_document": SHA, "employment_contract_amendment_document": SHA,
        "cse_consultation": "both", "cse_consultation_date": "2026-03-10",
    }
    return {**row, **changes}


def staff_errors(*rows) -> dict[str, list[str]]:
    return errors_of("convention", convention(staff_made_available_details=list(rows)))


def test_a_convention_without_staff_made_available_asks_nothing_about_staff():
    cleaned = FORMS.validate("convention", convention())
    assert "staff_made_available_details" not in cleaned


def test_staff_made_available_with_every_piece_the_code_du_travail_asks_for_is_accepted():
    cleaned = FORMS.validate("convention", convention(staff_made_available_details=[nurse()]))
    assert cleaned["staff_made_available_details"][0]["employee_agreement_document"] == SHA


def test_staff_made_available_without_the_employees_agreement_is_refused_naming_the_field():
    row = nurse()
    del row["employee_agreement_document"]
    assert staff_errors(row) == {"staff_made_available_details.0.employee_agreement_document": [
        "Joignez l'accord écrit du salarié (code du travail L8241-2)."]}


def test_a_private_law_employee_needs_the_amendment_and_the_cse_consulted():
    row = nurse()
    for key in ("employment_contract_amendment_document", "cse_consultation",
                "cse_consultation_date"):
        del row[key]
    assert staff_errors(row) == {
        "staff_made_available_details.0.employment_contract_amendment_document": [
            "Joignez l'avenant au contrat de travail signé par le salarié (code du travail "
            "L8241-2)."],
        "staff_made_available_details.0.cse_consultation": [
            "Dites si les CSE ont été informés et consultés (code du travail L8241-2)."],
    }
    assert staff_errors(nurse(cse_consultation="lender_only", cse_consultation_date=None)) == {
        "staff_made_available_details.0.cse_consultation_date": [
            "Indiquez la date de la consultation du CSE."]}
    row = nurse(cse_consultation="none")
    del row["cse_consultation_date"]
    FORMS.validate("convention", convention(staff_made_available_details=[row]))


def test_the_convention_of_the_mise_a_disposition_states_duration_identity_qualification_billing():
    row = {"party": "Association Les Tilleuls", "description": "Coordination",
           "staff_status": "private_law", "employee_agreement_document": SHA,
           "employment_contract_amendment_document": SHA, "cse_consultation": "none"}
    errors = staff_errors(row)
    for key in ("receiving_party", "employee_name", "qualification", "start_date", "end_date",
                "billing_terms"):
        assert errors.pop(f"staff_made_available_details.0.{key}") == ["Ce champ est obligatoire."]
    assert errors == {}
    assert staff_errors(nurse(end_date="2026-03-01")) == {
        "staff_made_available_details.0.end_date": [
            "La fin de la mise à disposition suit son début."]}


def test_public_hospital_staff_follow_the_decret_of_1988_not_the_code_du_travail():
    agent = nurse(staff_status="public_hospital", party="Centre hospitalier de Montreuil",
                  receiving_party="Association Les Tilleuls")
    for key in ("employment_contract_amendment_document", "cse_consultation",
                "cse_consultation_date", "employee_agreement_document"):
        del agent[key]
    assert staff_errors(agent) == {
        "staff_made_available_details.0.employee_agreement_document": [
            "Joignez l'accord écrit de l'agent (décret n° 88-976, art. 1)."],
        "staff_made_available_details.0.activity_control_and_evaluation": [
            "Précisez le contrôle et l'évaluation des activités de l'agent (décret n° 88-976, "
            "art. 2)."],
    }
    agent.update(employee_agreement_document=SHA,
                 activity_control_and_evaluation="Entretien annuel avec le cadre de santé.")
    FORMS.validate("convention", convention(staff_made_available_details=[agent]))
    status = FORMS.get("convention").schema["properties"]["staff_made_available_details"][
        "items"]["properties"]["staff_status"]
    assert "88-976" in options(status)["public_hospital"] and "88-976" in status["x-help"]
    assert "L8241-2" in options(status)["private_law"]


def test_each_row_is_checked_against_its_own_status():
    agent = nurse(staff_status="public_hospital",
                  activity_control_and_evaluation="Entretien annuel.")
    del agent["employment_contract_amendment_document"]
    private = nurse()
    del private["employment_contract_amendment_document"]
    assert list(staff_errors(agent, private)) == [
        "staff_made_available_details.1.employment_contract_amendment_document"]


def test_the_employees_own_documents_are_never_shown_to_a_partner():
    props = FORMS.get("convention").schema["properties"]
    kept, removed = filter_object(props, {"staff_made_available_details": [nurse()]}, {})
    assert "staff_made_available_details.0.employee_agreement_document" in removed
    assert "staff_made_available_details.0.employment_contract_amendment_document" in removed
    assert kept["staff_made_available_details"][0]["qualification"] == "Infirmière diplômée d'État"


# ---------------------------------------------------------------- personal and health data

def test_the_gdpr_roles_are_one_field_with_four_values():
    roles = FORMS.get("convention").schema["properties"]["data_protection_roles"]
    assert list(options(roles)) == ["none", "separate_controllers", "joint_controllers",
                                    "processor"]
    assert "art. 26" in options(roles)["joint_controllers"]
    assert "art. 28" in options(roles)["processor"]


def test_no_personal_data_shared_asks_no_follow_up():
    cleaned = FORMS.validate("convention", convention(data_protection_roles="none"))
    assert "health_data_sharing" not in cleaned


@pytest.mark.parametrize("role, agreement", [
    ("joint_controllers", "Joignez l'accord entre responsables conjoints (RGPD art. 26)."),
    ("processor", "Joignez le contrat ou la clause de sous-traitance (RGPD art. 28)."),
])
def test_joint_controllers_and_processors_need_their_own_agreement(role, agreement):
    assert errors_of("convention", convention(data_protection_roles=role)) == {
        "data_shared": ["Décrivez les données partagées et leurs finalités."],
        "data_protection_agreement": [agreement],
        "health_data_sharing": ["Dites si des données de santé sont partagées, et entre qui."],
    }


def test_separate_controllers_describe_the_data_but_sign_no_gdpr_agreement():
    assert errors_of("convention", convention(data_protection_roles="separate_controllers")) == {
        "data_shared": ["Décrivez les données partagées et leurs finalités."],
        "health_data_sharing": ["Dites si des données de santé sont partagées, et entre qui."],
    }
    FORMS.validate("convention", convention(data_protection_roles="separate_controllers",
                                            data_shared="Liste des inscrits aux ateliers.",
                                            health_data_sharing="none"))


@pytest.mark.parametrize("sharing, message", [
    ("outside_care_team", "Dites comment le consentement préalable des personnes est recueilli "
                          "(CSP L1110-4)."),
    ("care_team", "Dites comment les personnes sont informées et peuvent s'opposer au partage "
                  "(CSP L1110-4)."),
])
def test_health_data_shared_say_how_the_people_are_informed_or_consent(sharing, message):
    data = convention(data_protection_roles="separate_controllers",
                      data_shared="Comptes rendus de consultation.", health_data_sharing=sharing)
    assert errors_of("convention", data) == {"people_information_and_consent": [message]}
    FORMS.validate("convention", dict(data, people_information_and_consent="Consentement écrit."))


# ---------------------------------------------------------------- the criteria's texts

def test_the_criteria_cite_the_texts_that_impose_a_convention():
    props = FORMS.get("formalisation_inputs").schema["properties"]
    by_text = props["convention_required_by_text"]["x-help"]
    assert "D6124-204" in by_text and "L1110-11" in by_text and "bénévoles" in by_text
    subsidy = props["annual_public_subsidy_eur"]["x-help"]
    assert "23 000 €" in subsidy and "financeur" in subsidy and "2001-495" in subsidy


def test_no_form_cites_the_wrong_article_for_hospital_at_home():
    for path in FORMS_DIR.glob("*.json"):
        assert "R6121-4-1" not in path.read_text(encoding="utf-8"), path.name


def test_a_subsidy_of_exactly_23000_euros_is_still_accepted_as_an_answer():
    # the rule itself lives in the decision table: the form only records the amount
    schema = FORMS.get("formalisation_inputs").schema
    assert schema["properties"]["annual_public_subsidy_eur"]["minimum"] == 0
    assert "exclusiveMaximum" not in schema["properties"]["annual_public_subsidy_eur"]


# ---------------------------------------------------------------- action sheets

def sheets(status: str) -> dict:
    return {"realisation_mode": "single_plan", "action_sheets": [{
        "sheet_number": 1, "title": "Consultation avancée", "objective_served": "convention",
        "general_objective": "Éviter les hospitalisations.",
        "operational_objectives": [{"objective": "Une consultation par mois"}],
        "pilot": "Karim Benali",
        "partner_roles": [{"organisation": "CH de Montreuil", "referent": "Dr Nguyen",
                           "role": "Consultant", "activity": "Consultation"}],
        "start_date": "2026-04-01", "end_date": "2027-03-31",
        "indicators": [{"indicator": "Résidents vus", "target": "8"}],
        "intermediate_evaluation_date": "2026-10-01", "final_evaluation_date": "2027-03-01",
        "status": status}]}


def test_the_writer_of_an_action_sheet_cannot_mark_it_validated():
    assert errors_of("action_sheets", sheets("validated")) == {
        "action_sheets.0.status": ["Choisissez une des valeurs proposées."]}
    assert FORMS.validate("action_sheets", sheets("draft"))["action_sheets"][0]["status"] == "draft"


def test_validating_the_sheets_is_the_steering_committees_decision():
    decision = FORMS.get("action_sheets_validation").schema["properties"]["action_sheets_decision"]
    assert "validate" in options(decision)
    assert FORMS.validate("action_sheets_validation", {"action_sheets_decision": "validate"})


def test_the_objective_an_action_sheet_answers_is_worded_plainly():
    sheet = FORMS.get("action_sheets").schema["properties"]["action_sheets"]["items"]
    assert sheet["properties"]["objective_served"]["title"] == "Objectif auquel répond la fiche"


# ---------------------------------------------------------------- idea validation (wording)

def test_declining_an_idea_asks_why_and_asking_for_more_asks_what_is_missing():
    assert errors_of("idea_validation", {"idea_decision": "decline"}) == {
        "idea_validation_comment": ["Dites pourquoi l'idée est déclinée."]}
    assert errors_of("idea_validation", {"idea_decision": "more_info"}) == {
        "idea_validation_comment": ["Dites à l'auteur ce qui manque."]}


def test_every_form_edited_here_is_still_a_valid_form():
    for key in ("authority_approval", "formalisation_inputs", "convention", "action_sheets",
                "action_sheets_validation", "idea_validation"):
        assert FORMS.problems(key) == [], key
        json.loads((FORMS_DIR / f"{key}.json").read_text(encoding="utf-8"))
