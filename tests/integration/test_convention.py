"""The convention document, signatures with re-authentication, and verifiable exports."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select, update

from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.method import convention
from partnerflow.engine.runtime import auditlog, queries, services
from partnerflow.engine.store.models import Document, Signature
from tests.conftest import FIXTURES, deploy, make_user

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
    "steering_committee_composition": "Directions et référents", "steering_meeting_frequency": "quarterly",
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


def test_the_signed_pdf_names_the_parties_and_the_hash_and_renders_to_png(signing, tmp_path):
    pf, pid = signing
    _complete(pf, pid, "write_convention", CONVENTION)
    _complete(pf, pid, "sign", SIGN, password="mot-de-passe-claire")
    with pf.read() as session:
        pdf, digest = convention.signed_pdf(session, pid)
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    squashed = "".join(text.split())
    assert "Centre hospitalier de Montreuil" in text and "Association Les Tilleuls" in text
    assert digest in squashed and "ClaireMartin" in squashed
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)


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
