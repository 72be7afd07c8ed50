"""The convention document, signatures with re-authentication, and verifiable exports."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from datetime import date

import pytest
from lxml import html as lxml_html
from sqlalchemy import select, update

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.method import convention, convention_text
from partnerflow.engine.runtime import auditlog, documents, queries, services
from partnerflow.engine.store.models import Document, Signature
from partnerflow.web import create_app
from tests.conftest import FIXTURES, deploy, make_user
from tests.scenarios.samples import Samples
from tests.web.support import login

CONVENTION = {
    "convention_title": "Convention de partenariat EHPAD Les Tilleuls — Centre hospitalier de Montreuil",
    "parties": [
        {"legal_name": "Association Les Tilleuls", "legal_form": "Association loi 1901",
         "finess": "930000123", "address": "12 rue des Tilleuls, 93100 Montreuil",
         "legal_representative": "Claire Martin", "representative_quality": "Directrice",
         "mandate": "Délégation du conseil d'administration du 12 janvier 2026"},
        {"legal_name": "Centre hospitalier de Montreuil", "legal_form": "Établissement public de santé",
         "siret": "26930001100012", "address": "56 boulevard de la Boissière, 93100 Montreuil",
         "legal_representative": "Jean Dupont", "representative_quality": "Directeur",
         "mandate": "Article L6143-7 du code de la santé publique"},
    ],
    "preamble": "Les parties souhaitent <organiser> des consultations avancées à l'EHPAD.",
    "purpose": "Consultations gériatriques avancées une demi-journée par semaine.",
    "population_concerned": "Résidents de l'EHPAD", "territory": "Montreuil",
    "reciprocal_commitments": [
        {"party": "Centre hospitalier", "commitment": "Détacher un gériatre une demi-journée par semaine."},
        {"party": "EHPAD", "commitment": "Mettre un local de consultation à disposition."}],
    "operating_rules": "Planning mensuel partagé.",
    "referents": [{"party": "Centre hospitalier", "full_name": "Dr Awa Ba", "function": "Gériatre"},
                  {"party": "EHPAD", "full_name": "Claire Martin", "function": "Directrice"}],
    "rights_of_people_accompanied": "Consentement recueilli.", "data_protection_roles": "none",
    "liability_and_insurance": "Chaque partie reste assurée pour ses personnels.",
    "steering_committee": [{"full_name": "Claire Martin", "side": "ours"},
                           {"full_name": "Dr Awa Ba", "side": "partner"}],
    "steering_meeting_frequency": "quarterly",
    "evaluation_indicators": [{"indicator": "Consultations réalisées", "target": "40 par an",
                               "source": "Planning partagé"}],
    "start_date": "2026-04-01",
    "intermediate_evaluation_date": "2026-10-01", "final_evaluation_date": "2027-03-15",
    "end_date": "2027-03-31", "renewal": "express", "amendments": "Par avenant",
    "termination_notice_months": 3, "termination_conditions": "Lettre recommandée",
    "disputes": "Tribunal administratif de Montreuil", "signature_place": "Montreuil",
    "signature_date": "2026-03-20",
}


@pytest.fixture
def signing(pf):
    deploy(pf, [FIXTURES / "signing.bpmn"])
    make_user(pf, "claire", "direction", password="mot-de-passe-claire")
    make_user(pf, "hugo", "direction", password="mot-de-passe-hugo")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="signing", actor="claire")
    return pf, pid


def _task(pf, element_id):
    with pf.read() as session:
        [task] = [t for t in queries.tasks_of_partnership(session, pf.partnership_id)
                  if t.element_id == element_id]
        return task


def _complete(pf, pid, element_id, data, actor="claire", password=None):
    with pf.read() as session:
        [task] = [t for t in queries.tasks_of_partnership(session, pid) if t.element_id == element_id]
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task.id, actor=actor, data=data, password=password)


SIGN = {"signatory_full_name": "Claire Martin", "signatory_quality": "Directrice",
        "signature_consent": True}


def test_the_convention_is_generated_as_html_and_pdf_with_its_hash(signing):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    with pf.read() as session:
        docs = session.scalars(select(Document).where(Document.partnership_id == pid)).all()
        [sign_task] = [t for t in queries.tasks_of_partnership(session, pid) if t.element_id == "sign"]
    kinds = {d.content_type for d in docs if d.kind == "convention"}
    assert kinds == {"text/html", "application/pdf"}
    pdf = next(d for d in docs if d.content_type == "application/pdf")
    assert pdf.content.startswith(b"%PDF-")
    assert sign_task.context["document_sha256"] == pdf.sha256
    html = next(d for d in docs if d.content_type == "text/html").content.decode()
    assert "&lt;organiser&gt;" in html and "<organiser>" not in html


def test_a_wrong_password_records_no_signature_and_the_right_one_does(signing):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    with pytest.raises(FormValidationError) as error:
        _complete(pf, pid, "sign", SIGN, password="pas-le-bon")
    assert "password" in error.value.errors
    with pf.read() as session:
        assert session.scalars(select(Signature)).all() == []
    _complete(pf, pid, "sign", SIGN, password="mot-de-passe-claire")
    _complete(pf, pid, "decide", {"rewrite": False})
    with pf.read() as session:
        [status] = convention.signature_statuses(session, pid)
    assert status.valid and status.username == "claire" and len(status.document_sha256) == 64


def test_a_new_version_of_the_document_invalidates_earlier_signatures_visibly(signing):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    _complete(pf, pid, "sign", SIGN, password="mot-de-passe-claire")
    _complete(pf, pid, "decide", {"rewrite": True})
    _complete(pf, pid, "write_convention", {**CONVENTION, "purpose": "Deux demi-journées par semaine."})
    with pf.read() as session:
        [status] = convention.signature_statuses(session, pid)
    assert not status.valid and "nouvelle version" in status.reason


def test_a_document_altered_in_the_database_after_signing_shows_as_altered(signing):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    _complete(pf, pid, "sign", SIGN, password="mot-de-passe-claire")
    with pf.db.begin() as conn:
        conn.execute(update(Document).where(Document.content_type == "application/pdf")
                     .values(content=b"%PDF-1.7 forged"))
    with pf.read() as session:
        [status] = convention.signature_statuses(session, pid)
    assert not status.valid and "modifié" in status.reason


def test_the_jsonl_export_reverifies_offline_and_catches_an_edited_line(signing):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    with pf.read() as session:
        exported = auditlog.export_jsonl(session, pid)
    assert auditlog.verify_jsonl(exported) == []
    lines = exported.splitlines()
    row = json.loads(lines[2])
    row["actor"] = "mallory"
    lines[2] = json.dumps(row, sort_keys=True, ensure_ascii=False)
    problems = auditlog.verify_jsonl("\n".join(lines))
    assert problems and "line 3" in problems[0]
    assert auditlog.verify_jsonl("\n".join(lines[:2] + lines[3:])) != []


def test_the_csv_export_carries_every_hash(signing):
    pf, pid = signing
    with pf.read() as session:
        csv_text = auditlog.export_csv(session, pid)
        events = auditlog.timeline(session, pid)
    assert csv_text.splitlines()[0].startswith("chain,seq,type")
    assert all(e.hash in csv_text for e in events)


# --------------------------------------------------------------------------- the document
# Read section by section from the stored HTML (the PDF is rendered from that same HTML).

ARTICLES = ["Objet", "Engagements de chacune des parties", "Moyens", "Durée et renouvellement",
            "Évaluation", "Résiliation", "Litiges", "Données personnelles"]
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NO_SHARING = "aucun partage"
SHARED = "Données partagées"

CRITERIA = {"informal_network_only": False, "convention_required_by_text": False,
            "annual_public_subsidy_eur": 0, "money_flows": False, "money_flow_amount_eur": 0,
            "director_delegated_ceiling_eur": 10000, "staff_made_available": False,
            "premises_or_equipment_lent": False, "personal_data_shared": False,
            "duration_months": 12, "tacit_renewal": False, "affects_cpom_or_authorisation": False,
            "joint_hiring_or_assets": False}
PHARMACY = {"legal_name": "Pharmacie du Parc", "legal_form": "SARL", "siret": "81234567800019",
            "address": "3 place du Marché\n93100 Montreuil", "legal_representative": "Inès Roche",
            "representative_quality": "Gérante", "mandate": "Statuts de la société, article 12",
            "signature_date": "2026-03-24"}
HEALTH_DATA = "Comptes rendus de consultation et plan de soins ; finalité : continuité des soins."


def _three_parties(agreement: str, budget: str, consent: str = "c" * 64) -> dict:
    return {
        **CONVENTION,
        "convention_title": "Convention de partenariat EHPAD, centre hospitalier et pharmacie",
        "parties": [*CONVENTION["parties"], PHARMACY],
        "reciprocal_commitments": [
            *CONVENTION["reciprocal_commitments"],
            {"party": "Pharmacie du Parc", "commitment": "Préparer les piluliers chaque semaine."},
            {"party": "EHPAD", "commitment": "Transmettre les ordonnances le lundi."}],
        "financial_contributions": [{"payer": "EHPAD", "payee": "Centre hospitalier",
                                     "amount_eur": 4800, "schedule": "Trimestriel"}],
        "staff_made_available_details": [{
            "party": "Centre hospitalier de Montreuil", "receiving_party": "Association Les Tilleuls",
            "staff_status": "public_hospital", "employee_name": "Dr Awa Ba",
            "qualification": "Praticienne hospitalière, gériatre",
            "description": "Consultations à l'EHPAD, le mardi matin", "fte": 0.1,
            "start_date": "2026-04-01", "end_date": "2027-03-31",
            "billing_terms": "Rémunération et cotisations remboursées chaque trimestre",
            "activity_control_and_evaluation": "Bilan semestriel au comité de suivi",
            "employee_agreement_document": consent}],
        "premises_and_equipment": [{"party": "EHPAD", "description": "Salle de consultation",
                                    "conditions": "Le mardi matin, assurance de l'EHPAD"}],
        "data_protection_roles": "joint_controllers", "data_shared": HEALTH_DATA,
        "data_protection_agreement": agreement, "renewal": "tacit",
        "health_data_sharing": "outside_care_team",
        "people_information_and_consent": "Consentement écrit recueilli à l'admission.",
        "annexes": [{"annex_title": "Budget prévisionnel", "annex_document": budget}],
    }


def _words(element) -> str:
    """The element's text as a reader sees it: table cells, list items and paragraphs apart."""
    for block in element.iter("td", "th", "li", "p", "h2", "h3", "br"):
        block.tail = " " + (block.tail or "")
    return " ".join(element.text_content().split())


def _section(tree, section_id: str):
    [section] = tree.xpath(f'//section[@id="{section_id}"]')
    return section


def _stored_html(pf, pid) -> lxml_html.HtmlElement:
    with pf.read() as session:
        [doc] = session.scalars(select(Document).where(
            Document.partnership_id == pid, Document.content_type == "text/html")
            .order_by(Document.id.desc()).limit(1)).all()
        return lxml_html.fromstring(doc.content.decode("utf-8"))


def _pdf_text(body: bytes, tmp_path, name="doc.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def _assert_plan(tree, parties: list[str]):
    """The plan of a French convention: parties, preamble, the articles numbered in order,
    one signature block per party, the annexes; French dates only."""
    headings = [_words(h) for h in tree.xpath("//h2")]
    assert headings[:2] == ["Entre les parties", "Préambule"]
    assert headings[2:10] == [f"Article {n} — {title}" for n, title in enumerate(ARTICLES, 1)]
    assert headings[10:13] == ["Signatures", "Annexes", "Annexe 1 — Fiches-actions"]
    blocks = tree.xpath('//section[@id="signatures"]//td[contains(@class, "signature-block")]')
    assert [_words(b).split(" Mme ")[0].split(" M. ")[0] for b in blocks] == [
        f"Pour {name}" for name in parties]
    assert not ISO_DATE.search(_words(tree.xpath("//body")[0]))
    assert "le 1er avril 2026 et prend fin le 31 mars 2027" in _words(
        _section(tree, "article-duree"))


@pytest.fixture
def parties_signing(pf):
    deploy(pf, [FIXTURES / "signing_parties.bpmn"])
    for username in ("claire", "hugo", "ines"):
        make_user(pf, username, "direction", password=f"mot-de-passe-{username}")
    make_user(pf, "paul", "partner", password="mot-de-passe-paul")
    make_user(pf, "rita", "partner", password="mot-de-passe-rita")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Consultations avancées", actor="claire")
        other = services.create_partnership(uow, title="Foyer et mairie", actor="claire")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=pid, username="paul", actor="claire")
        services.attach_member(uow, partnership_id=other, username="rita", actor="claire")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="signing_parties",
                                actor="claire")
    return pf, pid


def _store(pf, pid, name: str, text: str) -> str:
    with pf.uow() as uow:
        digest = documents.store(uow, partnership_id=pid, filename=name, content=text.encode(),
                                 actor="claire", max_bytes=pf.settings.max_upload_bytes)
        uow.commit()
    return digest


def _sign_in_turn(pf, pid, signatories, clock=None):
    """Each party's representative signs in turn, typing their password again (a quarter
    of an hour apart when a clock is given)."""
    for index, (username, full_name, quality) in enumerate(signatories):
        if clock is not None:
            clock.advance(minutes=15)
        _complete(pf, pid, "sign", {"signatory_full_name": full_name, "signatory_quality": quality,
                                    "signature_consent": True},
                  actor=username, password=f"mot-de-passe-{username}")
        _complete(pf, pid, "another", {"another_signatory": index < len(signatories) - 1},
                  actor=username)


def _client(pf, username):
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    if username is not None:
        assert login(client, username, f"mot-de-passe-{username}").status_code == 302
    return client


def test_a_two_party_convention_reads_as_a_french_convention_article_by_article(parties_signing):
    pf, pid = parties_signing
    _complete(pf, pid, "criteria", CRITERIA)
    _complete(pf, pid, "write_convention", CONVENTION)
    tree = _stored_html(pf, pid)
    _assert_plan(tree, ["Association Les Tilleuls", "Centre hospitalier de Montreuil"])

    association, hospital = tree.xpath('//section[@id="parties"]//div[@class="party"]')
    assert ("Centre hospitalier de Montreuil, établissement public de santé, dont le siège est "
            "situé 56 boulevard de la Boissière, 93100 Montreuil (SIRET 26930001100012), "
            "représenté par son directeur, M. Jean Dupont, habilité à signer la présente "
            "convention (Article L6143-7 du code de la santé publique)") in _words(hospital)
    assert "représentée par sa directrice, Mme Claire Martin, habilitée" in _words(association)
    assert [_words(th) for th in hospital.xpath(".//th")][0] == "Dénomination"
    assert "Raison sociale" not in _words(tree)
    assert "&lt;organiser&gt;" in lxml_html.tostring(_section(tree, "preambule")).decode()

    commitments = _words(_section(tree, "article-engagements"))
    assert "2.1 — Engagements de : Centre hospitalier Détacher un gériatre" in commitments
    assert "2.2 — Engagements de : EHPAD" in commitments
    means = _words(_section(tree, "article-moyens"))
    assert "ne prévoit aucune contribution financière" in means
    assert "aucune mise à disposition de personnel" in means
    evaluation = _words(_section(tree, "article-evaluation"))
    assert "périodicité trimestrielle" in evaluation and "Consultations réalisées 40 par an" in evaluation
    assert ("Une évaluation intermédiaire a lieu le 1er octobre 2026 et l'évaluation finale le "
            "15 mars 2027") in evaluation
    assert "préavis de 3 mois" in _words(_section(tree, "article-resiliation"))
    assert "Tribunal administratif de Montreuil" in _words(_section(tree, "article-litiges"))

    data = _section(tree, "article-donnees")
    assert data.get("data-case") == "none"
    assert NO_SHARING in _words(data) and SHARED not in _words(tree)
    assert "L1110-4" not in _words(tree)

    signatures = _words(_section(tree, "signatures"))
    assert "Fait à Montreuil, le 20 mars 2026, en 2 exemplaires originaux" in signatures
    assert ("Pour Centre hospitalier de Montreuil M. Jean Dupont Directeur Fait à Montreuil, "
            "le 20 mars 2026") in signatures
    annexes = _words(_section(tree, "annexes"))
    assert "Les fiches-actions ne sont pas encore rédigées" in annexes
    assert "par avenant ou par annexe signée des parties" in annexes
    assert "Annexe 2" not in annexes


def test_a_three_party_convention_has_every_party_every_signature_and_the_joint_data_clause(
        parties_signing, tmp_path):
    pf, pid = parties_signing
    agreement = _store(pf, pid, "accord-article-26.txt", "Accord de responsabilité conjointe")
    budget = _store(pf, pid, "budget.txt", "Budget prévisionnel")
    consent = _store(pf, pid, "accord-agent.txt", "Accord écrit de l'agent")
    _complete(pf, pid, "criteria", {**CRITERIA, "money_flows": True, "money_flow_amount_eur": 4800,
                                    "staff_made_available": True,
                                    "premises_or_equipment_lent": True,
                                    "personal_data_shared": True})
    _complete(pf, pid, "write_convention", _three_parties(agreement, budget, consent))
    tree = _stored_html(pf, pid)
    names = ["Association Les Tilleuls", "Centre hospitalier de Montreuil", "Pharmacie du Parc"]
    _assert_plan(tree, names)

    pharmacy = tree.xpath('//section[@id="parties"]//div[@class="party"]')[2]
    assert "représentée par sa gérante, Mme Inès Roche, habilitée" in _words(pharmacy)
    assert "dont le siège est situé 3 place du Marché, 93100 Montreuil" in _words(pharmacy)
    assert [_words(th) for th in pharmacy.xpath(".//th")][0] == "Raison sociale"
    assert len(tree.xpath('//section[@id="parties"]//p[@class="between"]')) == 2

    commitments = _words(_section(tree, "article-engagements"))
    assert commitments.index("2.1 — Engagements de : Centre hospitalier") < commitments.index(
        "2.2 — Engagements de : EHPAD") < commitments.index("2.3 — Engagements de : Pharmacie du Parc")
    assert "Mettre un local" in commitments and "Transmettre les ordonnances" in commitments
    means = _words(_section(tree, "article-moyens"))
    assert "EHPAD Centre hospitalier 4 800 € Trimestriel" in means  # non-breaking spaces
    assert "4\u00a0800\u00a0€" in lxml_html.tostring(_section(tree, "article-moyens"),
                                                  encoding="unicode")
    assert ("Mise à disposition n° 1 — Dr Awa Ba, Praticienne hospitalière, gériatre (agent de la "
            "fonction publique hospitalière)") in means
    assert "Durée du 1er avril 2026 au 31 mars 2027" in means and "ETP 0,1" in means
    assert "décret n° 88-976 du 13 octobre 1988" in means and "Salle de consultation" in means
    assert consent not in lxml_html.tostring(tree).decode()  # the agent's consent stays internal
    assert "reconduite tacitement" in _words(_section(tree, "article-duree"))
    assert "Le retrait de l'une des parties" in _words(_section(tree, "article-resiliation"))

    data = _section(tree, "article-donnees")
    words = _words(data)
    assert data.get("data-case") == "joint_controllers"
    assert "responsables conjointes au sens de l'article 26" in words
    assert f"{SHARED} et finalités : {HEALTH_DATA}" in words
    assert "cet accord figure en annexe 3" in words
    assert "article L1110-4 du code de la santé publique" in words
    assert ("ne font pas partie de la même équipe de soins, leur partage requiert le consentement "
            "préalable de la personne") in words
    assert ("Information et consentement des personnes accompagnées : Consentement écrit recueilli "
            "à l'admission.") in words
    assert NO_SHARING not in _words(tree)

    blocks = [_words(b) for b in tree.xpath('//td[contains(@class, "signature-block")]')]
    assert blocks[2].startswith("Pour Pharmacie du Parc Mme Inès Roche Gérante "
                                "Fait à Montreuil, le 24 mars 2026")
    assert ("Fait en 3 exemplaires originaux, un pour chacune des parties, aux lieux et dates "
            "indiqués pour chacune ci-dessous") in _words(_section(tree, "signatures"))
    annexes = [_words(li) for li in _section(tree, "annexes").xpath("./ul/li")]
    assert annexes == [
        "Annexe 1 — Fiches-actions",
        f"Annexe 2 — Budget prévisionnel (document de la base documentaire, SHA-256 {budget})",
        "Annexe 3 — Accord de responsabilité conjointe (article 26 du RGPD) (document de la "
        f"base documentaire, SHA-256 {agreement})"]

    # the PDF that is signed is that HTML: its articles come in the same order
    with pf.read() as session:
        pdf = convention.current_convention(session, pid).content
    text = " ".join(_pdf_text(pdf, tmp_path).split())
    positions = [text.index(f"Article {n} — {title}") for n, title in enumerate(ARTICLES, 1)]
    assert positions == sorted(positions)
    assert all(f"Pour {name}" in text for name in names)


# the article on personal data writes one case, never a sentence of another
BASE = {**CONVENTION, "data_shared": "Liste des résidents suivis ; finalité : planning."}


@pytest.mark.parametrize(("data", "case", "present", "absent"), [
    ({**BASE, "data_protection_roles": "none", "personal_data_shared": False}, "none",
     [NO_SHARING, "avenant"], [SHARED, "article 26", "article 28", "L1110-4"]),
    ({**BASE, "data_protection_roles": "none", "personal_data_shared": True},
     "separate_controllers", [SHARED, "responsable distinct"], [NO_SHARING, "article 26"]),
    ({**BASE, "data_protection_roles": "separate_controllers"}, "separate_controllers",
     [SHARED, "responsable distinct"], [NO_SHARING, "L1110-4"]),
    ({**BASE, "data_protection_roles": "joint_controllers", "data_protection_agreement": "a" * 64},
     "joint_controllers", ["article 26, paragraphe 1", "figure en annexe 2", "paragraphe 3"],
     [NO_SHARING, "article 28"]),
    ({**BASE, "data_protection_roles": "processor", "data_protection_agreement": "b" * 64,
      "data_controller": "Association Les Tilleuls", "data_processor": "Centre hospitalier de Montreuil"},
     "processor", ["Association Les Tilleuls agit en qualité de responsable du traitement et Centre "
                   "hospitalier de Montreuil en qualité de sous-traitant",
                   "article 28, paragraphe 3", "instruction documentée", "supprime toutes les données",
                   "Le contrat de sous-traitance qui précise ces obligations figure en annexe 2",
                   "du 1er avril 2026 au 31 mars 2027"],
     [NO_SHARING, "article 26"]),
    ({**BASE, "data_protection_roles": "processor", "data_shared": HEALTH_DATA}, "processor",
     ["L1110-4", "consentement préalable", "équipe de soins", "L1111-8"], [NO_SHARING]),
    ({**BASE, "data_protection_roles": "joint_controllers", "data_shared": HEALTH_DATA,
      "health_data_sharing": "care_team", "people_information_and_consent": "Livret d'accueil."},
     "joint_controllers", ["au sein d'une même équipe de soins, la personne est informée au "
                           "préalable du partage et de son droit de s'y opposer",
                           "Information et consentement des personnes accompagnées : Livret"],
     [NO_SHARING, "requiert le consentement"]),
    ({**BASE, "data_protection_roles": "separate_controllers", "data_shared": HEALTH_DATA,
      "health_data_sharing": "none", "people_information_and_consent": "Livret d'accueil."},
     "separate_controllers", [SHARED], [NO_SHARING, "L1110-4", "Livret d'accueil"]),
    ({key: value for key, value in BASE.items() if key != "data_protection_roles"}, "separate_controllers",
     [SHARED], [NO_SHARING]),
    ({key: value for key, value in CONVENTION.items() if key != "data_protection_roles"}, "none",
     [NO_SHARING], [SHARED]),
])
def test_the_personal_data_article_writes_the_clause_of_its_case_only(data, case, present, absent):
    html = convention_text.render_html(data, partnership_title="P", level="L2", version=1, sheets=[])
    tree = lxml_html.fromstring(html)
    article = _section(tree, "article-donnees")
    assert article.get("data-case") == case
    assert _words(tree.xpath("//h2")[9]) == "Article 8 — Données personnelles"
    for text in present:
        assert text in _words(article), text
    for text in absent:
        assert text not in _words(tree), text
    if case == "processor":
        assert len(article.xpath(".//ol/li")) == 8  # the terms of article 28(3), a) to h)


@pytest.mark.parametrize(("party", "label", "represented"), [
    ({"legal_name": "Commune de Montreuil", "legal_form": "Collectivité territoriale",
      "legal_representative": "Karim Haddad", "representative_quality": "Maire adjoint",
      "mandate": "Délibération du conseil municipal du 3 février 2026"},
     "Dénomination", "représentée par son maire adjoint, M. Karim Haddad, habilité"),
    ({"legal_name": "CCAS de Montreuil", "legal_representative": "Mme Léa Petit",
      "representative_quality": "Vice-présidente"},
     "Dénomination", "représenté par sa vice-présidente, Mme Léa Petit"),
    ({"legal_name": "Fondation Saint-Jean", "legal_form": "Fondation reconnue d'utilité publique",
      "legal_representative": "Anne Vidal", "representative_quality": "Présidente"},
     "Dénomination", "représentée par sa présidente, Mme Anne Vidal"),
    ({"legal_name": "Les Jardins d'Hélios", "legal_form": "Forme inconnue",
      "legal_representative": "Sam Morel", "representative_quality": "Responsable",
      "mandate": "Statuts"},
     "Dénomination", "agissant par son responsable, Sam Morel (habilitation à signer : Statuts)"),
    ({"legal_name": "Alliance Services", "legal_form": "SAS", "legal_representative": "Paul Morin",
      "representative_quality": "Président"},
     "Raison sociale", "représentée par son président, M. Paul Morin"),
])
def test_each_party_is_named_and_represented_as_its_kind_of_body_requires(party, label, represented):
    view = convention_text.party_view(party, {})
    assert view.label == label
    assert view.represented.startswith(represented), view.represented


@pytest.mark.parametrize(("value", "shown"), [
    ("2026-12-10", "10 décembre 2026"), ("2026-04-01", "1er avril 2026"),
    ("2027-08-31", "31 août 2027"), ("pas une date", "pas une date"), (None, "")])
def test_dates_are_written_the_french_way(value, shown):
    assert convention_text.french_date(value) == shown


def test_action_sheets_written_before_the_convention_are_its_first_annex():
    sheet = {"sheet_number": 1, "title": "Consultation avancée", "start_date": "2026-04-01",
             "steps": [{"step": "Premier planning", "due_date": "2026-04-15"}]}
    tree = lxml_html.fromstring(convention_text.render_html(
        CONVENTION, partnership_title="P", level="L2", version=2, sheets=[sheet]))
    annexes = _words(_section(tree, "annexes"))
    assert "Fiche-action 1 — Consultation avancée" in annexes
    assert "Premier planning — 15 avril 2026" in annexes and "1er avril 2026" in annexes
    assert "pas encore rédigées" not in annexes


# --------------------------------------------------------------------------- what was signed


def test_the_signed_file_is_served_as_signed_with_a_separate_certificate_and_annex(
        parties_signing, clock, tmp_path):
    pf, pid = parties_signing
    agreement = _store(pf, pid, "accord-article-26.txt", "Accord de responsabilité conjointe")
    budget = _store(pf, pid, "budget.txt", "Budget prévisionnel")
    _complete(pf, pid, "criteria", {**CRITERIA, "personal_data_shared": True})
    _complete(pf, pid, "write_convention", _three_parties(agreement, budget))
    with pf.read() as session:
        generated = convention.current_convention(session, pid)
        generated_bytes, generated_sha = generated.content, generated.sha256
    partner, stranger, anonymous = _client(pf, "paul"), _client(pf, "rita"), _client(pf, None)
    # nothing is signed yet: no signed file, no certificate
    assert partner.get(f"/partenariats/{pid}/convention-signee.pdf").status_code == 404
    assert partner.get(f"/partenariats/{pid}/certificat-signatures.pdf").status_code == 404

    signatories = [("claire", "Claire Martin", "Directrice"), ("hugo", "Jean Dupont", "Directeur"),
                   ("ines", "Inès Roche", "Gérante")]
    _sign_in_turn(pf, pid, signatories, clock)
    # the action sheets are written after the signatures
    sheets = Samples(date(2026, 3, 2), None).write_action_sheets("single_plan")
    _complete(pf, pid, "write_action_sheets", sheets)
    with pf.read() as session:
        signed = session.scalars(select(Signature).where(Signature.partnership_id == pid)
                                 .order_by(Signature.id)).all()
    assert [s.document_sha256 for s in signed] == [generated_sha] * 3

    response = partner.get(f"/partenariats/{pid}/convention-signee.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == generated_bytes
    assert hashlib.sha256(response.data).hexdigest() == generated_sha
    assert (f'filename="convention-signee-{generated_sha[:12]}.pdf"'
            in response.headers["Content-Disposition"])
    assert response.headers["Repr-Digest"] == (
        f"sha-256=:{base64.b64encode(bytes.fromhex(generated_sha)).decode()}:")
    signed_text = _pdf_text(response.data, tmp_path, "signed.pdf")
    assert "Consultation gériatrique avancée" not in signed_text  # no sheet merged in
    assert "Certificat des signatures" not in signed_text

    certificate = partner.get(f"/partenariats/{pid}/certificat-signatures.pdf")
    assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF-")
    assert certificate.data != response.data
    text = _pdf_text(certificate.data, tmp_path, "certificate.pdf")
    squashed = "".join(text.split())
    assert squashed.count(generated_sha) == 1 + 1 + 3  # signed, recomputed, one per signature
    for (username, full_name, quality), party, at in zip(signatories, [
            "Association Les Tilleuls", "Centre hospitalier de Montreuil", "Pharmacie du Parc"],
            ["09:15:00", "09:30:00", "09:45:00"], strict=True):
        assert "".join(f"Signataire{full_name}Pour{party}Qualité{quality}Compte{username}"
                       f"Dateetheure2mars2026à{at}UTC".split()) in squashed
    assert squashed.count("valide") == 3 and "invalidée" not in squashed
    assert "— identique" in text and convention_text.SIGNATURE_METHOD.split()[0] in text

    annex = partner.get(f"/partenariats/{pid}/annexe-fiches-actions.pdf")
    assert annex.status_code == 200
    annex_text = " ".join(_pdf_text(annex.data, tmp_path, "annex.pdf").split())
    assert "Consultation gériatrique avancée n° 1" in annex_text
    assert "Objectif servi Un objectif de la convention" in annex_text  # an option's label
    assert "document distinct de la convention signée" in annex_text
    assert generated_sha in "".join(annex_text.split())

    # the access checks: a partner of another partnership, and nobody signed in
    for path in ("convention-signee.pdf", "certificat-signatures.pdf", "annexe-fiches-actions.pdf"):
        assert stranger.get(f"/partenariats/{pid}/{path}").status_code == 403, path
        assert anonymous.get(f"/partenariats/{pid}/{path}").status_code == 302, path


def test_a_signed_file_altered_in_the_database_is_not_served_as_the_signed_one(
        parties_signing, tmp_path):
    pf, pid = parties_signing
    _complete(pf, pid, "criteria", CRITERIA)
    _complete(pf, pid, "write_convention", CONVENTION)
    _sign_in_turn(pf, pid, [("claire", "Claire Martin", "Directrice")])
    with pf.db.begin() as conn:
        conn.execute(update(Document).where(Document.partnership_id == pid,
                                            Document.content_type == "application/pdf")
                     .values(content=b"%PDF-1.7 forged"))
    client = _client(pf, "claire")
    refused = client.get(f"/partenariats/{pid}/convention-signee.pdf")
    assert refused.status_code == 409 and b"forged" not in refused.data
    assert "modifié après la signature" in refused.get_data(as_text=True)
    certificate = client.get(f"/partenariats/{pid}/certificat-signatures.pdf")
    assert certificate.status_code == 200
    text = " ".join(_pdf_text(certificate.data, tmp_path).split())
    assert "— différente" in text and "— identique" not in text
    assert "modifié après la signature et n'est plus servi comme convention signée" in text
    assert "invalidée : le document signé a été modifié après la signature" in text
