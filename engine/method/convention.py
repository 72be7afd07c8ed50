"""The convention document: generated from the negotiation's data, as HTML and PDF, kept in
the document base with its SHA-256; and the signatures given on it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import NotFound
from partnerflow.engine.runtime.documents import render_pdf
from partnerflow.engine.store.models import Document, HumanTask, Partnership, Signature

TEMPLATES = Path(__file__).resolve().parent / "templates"

ARTICLES = [
    ("Préambule", "preamble"), ("Objet", "purpose"), ("Publics et territoire", "population_concerned"),
    ("Territoire", "territory"), ("Engagements réciproques", "reciprocal_commitments"),
    ("Personnels mis à disposition", "staff_made_available_details"),
    ("Locaux et équipements", "premises_and_equipment"),
    ("Contributions financières et calendrier", "financial_contributions"),
    ("Modalités de fonctionnement", "operating_rules"), ("Référents", "referents"),
    ("Droits des personnes accompagnées", "rights_of_people_accompanied"),
    ("Protection des données : rôles", "data_protection_roles"), ("Données partagées", "data_shared"),
    ("Accord au titre de l'article 26 du RGPD", "data_protection_agreement"),
    ("Responsabilités et assurances", "liability_and_insurance"),
    ("Comité de pilotage", "steering_committee_composition"),
    ("Fréquence des réunions", "steering_meeting_frequency"),
    ("Base documentaire commune", "shared_document_base"),
    ("Évaluation et indicateurs", "evaluation_indicators"), ("Renouvellement", "renewal"),
    ("Avenants", "amendments"), ("Résiliation", "termination_conditions"), ("Litiges", "disputes"),
    ("Annexes", "annexes"),
]
SHEET_FIELDS = [
    ("Objectif servi", "objective_served"), ("Constat de départ", "starting_observation"),
    ("Objectif général", "general_objective"), ("Objectifs opérationnels", "operational_objectives"),
    ("Public et effectifs", "public_concerned"), ("Effectifs attendus", "expected_numbers"),
    ("Lieu", "place"), ("Pilote", "pilot"), ("Étapes", "steps"), ("Moyens (ETP)", "means_fte"),
    ("Équipements", "means_equipment"), ("Budget (€)", "budget_eur"), ("Financeur", "funder"),
    ("Début", "start_date"), ("Fin", "end_date"), ("Résultats attendus", "expected_results"),
    ("Indicateurs", "indicators"), ("Évaluation intermédiaire", "intermediate_evaluation_date"),
    ("Évaluation finale", "final_evaluation_date"), ("Risques", "risks"), ("Période", "period"),
]
SIGNATURE_METHOD = "mot de passe ressaisi et consentement explicite"


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def present(value, prop: dict | None):
    """A form value as the document shows it: an option's label, or a table for rows."""
    prop = prop or {}
    options = {o.get("const"): o.get("title") for o in prop.get("oneOf", []) if "const" in o}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        item = prop.get("items", {}).get("properties", {})
        keys = [k for k in item if any(k in row for row in value)] or sorted({k for r in value for k in r})
        return {"headers": [item.get(k, {}).get("title", k) for k in keys],
                "rows": [[present(row.get(k), item.get(k)) for k in keys] for row in value]}
    if isinstance(value, list):
        return ", ".join(str(options.get(v, v)) for v in value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    return options.get(value, value)


def render_html(data: dict, *, partnership_title: str, level: str | None, version: int | None,
                sheets: list[dict], signatures: list[dict] | None = None,
                signed_hash: str | None = None, schema: dict | None = None) -> str:
    """The convention as a standalone HTML document (French), escaping every value."""
    props = (schema or {}).get("properties", {})
    sections = [(title, present(data.get(key), props.get(key))) for title, key in ARTICLES
                if data.get(key) not in (None, "", [])]
    return _env().get_template("convention.html").render(
        c=data, partnership_title=partnership_title, level=level, version=version, sheets=sheets,
        sections=sections, sheet_fields=SHEET_FIELDS, signatures=signatures,
        signed_hash=signed_hash, renewal=present(data.get("renewal"), props.get("renewal")))


def action_sheets(session, partnership_id: int) -> list[dict]:
    """The latest validated action sheets of a partnership, from the inbox projection."""
    result = session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "action_sheets",
        HumanTask.state == "completed").order_by(HumanTask.id.desc()).limit(1))
    return list((result or {}).get("action_sheets", []))


def _store(session, *, partnership_id: int, content: bytes, filename: str, content_type: str,
           label: str, actor: str, at: datetime) -> str:
    digest = hashlib.sha256(content).hexdigest()
    exists = session.scalar(select(Document.id).where(Document.partnership_id == partnership_id,
                                                      Document.sha256 == digest))
    if exists is None:
        session.add(Document(partnership_id=partnership_id, sha256=digest, filename=filename,
                             content_type=content_type, size=len(content), content=content,
                             kind="convention", label=label, uploaded_by=actor, created_at=at))
    return digest


def generate(uow, *, partnership_id: int, data: dict, actor: str | None,
             form_key: str = "convention") -> str:
    """Store a new version of the convention (HTML and PDF); returns the PDF's SHA-256,
    which is what the directors sign."""
    session = uow.session
    partnership = session.get(Partnership, partnership_id)
    version = (session.scalar(select(func.count()).select_from(Document).where(
        Document.partnership_id == partnership_id, Document.kind == "convention",
        Document.content_type == "application/pdf")) or 0) + 1
    html = render_html(data, partnership_title=partnership.title,
                       level=partnership.formalisation_level, version=version,
                       sheets=action_sheets(session, partnership_id),
                       schema=uow.forms.get(form_key).schema)
    pdf = render_pdf(html, root=TEMPLATES)
    now = uow.clock()
    label = f"Convention v{version}"
    html_hash = _store(session, partnership_id=partnership_id, content=html.encode("utf-8"),
                       filename=f"convention-v{version}.html", content_type="text/html",
                       label=label, actor=actor, at=now)
    pdf_hash = _store(session, partnership_id=partnership_id, content=pdf,
                      filename=f"convention-v{version}.pdf", content_type="application/pdf",
                      label=label, actor=actor, at=now)
    audit.append(session, type="convention_generated", actor=actor, at=now,
                 partnership_id=partnership_id,
                 payload={"version": version, "pdf_sha256": pdf_hash, "html_sha256": html_hash})
    return pdf_hash


def adopt_upload(session, partnership_id: int, sha256: str) -> None:
    """A convention formatted elsewhere and uploaded becomes the document to sign."""
    doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                Document.sha256 == sha256))
    if doc is None:
        raise NotFound("the uploaded convention is not in this partnership's document base")
    doc.kind = "convention"
    doc.label = doc.label or "Convention (document déposé)"


def sign(uow, *, partnership_id: int, digest: str | None, actor: str, full_name: str,
         quality: str, task_id: int | None, element_id: str | None) -> Signature:
    """Record who signed which document, when and how. The signatory typed their password
    again when completing the signature task (accounts.confirm_password, in the same
    transaction); the document must be in the partnership's document base."""
    session = uow.session
    if not digest or session.scalar(select(Document.id).where(
            Document.partnership_id == partnership_id, Document.sha256 == digest)) is None:
        raise NotFound("the document to sign is not in this partnership's document base")
    signature = Signature(partnership_id=partnership_id, document_sha256=digest,
                          username=actor, full_name=full_name, quality=quality,
                          method=SIGNATURE_METHOD, task_id=task_id, signed_at=uow.clock())
    session.add(signature)
    audit.append(session, type="document_signed", actor=actor, at=uow.clock(),
                 partnership_id=partnership_id, element_id=element_id,
                 payload={"document_sha256": digest, "full_name": signature.full_name,
                          "quality": signature.quality, "method": SIGNATURE_METHOD})
    return signature


@dataclass
class SignatureStatus:
    full_name: str
    quality: str
    username: str
    signed_at: str
    method: str
    document_sha256: str
    valid: bool
    reason: str | None


def current_convention(session, partnership_id: int) -> Document | None:
    """The convention document signatures should be on: the newest one that was signed
    or prepared for signature (the newest PDF, or an uploaded file)."""
    return session.scalar(select(Document).where(
        Document.partnership_id == partnership_id, Document.kind == "convention",
        Document.content_type != "text/html").order_by(Document.id.desc()).limit(1))


def signature_statuses(session, partnership_id: int) -> list[SignatureStatus]:
    """Every signature, valid only while its document is still the current one, unaltered."""
    current = current_convention(session, partnership_id)
    statuses = []
    for s in session.scalars(select(Signature).where(Signature.partnership_id == partnership_id)
                             .order_by(Signature.id)):
        doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                    Document.sha256 == s.document_sha256))
        reason = None
        if doc is None:
            reason = "le document signé n'est plus dans la base documentaire"
        elif hashlib.sha256(doc.content).hexdigest() != s.document_sha256:
            reason = "le document signé a été modifié après la signature"
        elif current is not None and doc.kind == "convention" and current.sha256 != s.document_sha256:
            reason = f"une nouvelle version ({current.label or current.filename}) remplace le document signé"
        statuses.append(SignatureStatus(s.full_name, s.quality, s.username,
                                        as_utc(s.signed_at).strftime("%Y-%m-%d %H:%M:%S"), s.method,
                                        s.document_sha256, reason is None, reason))
    return statuses


def signed_pdf(session, partnership_id: int, schema: dict | None = None) -> tuple[bytes, str]:
    """The current convention re-rendered with its signature page; and the signed hash."""
    partnership = session.get(Partnership, partnership_id)
    current = current_convention(session, partnership_id)
    if current is None:
        raise NotFound("this partnership has no convention document yet")
    data = session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "convention",
        HumanTask.state == "completed").order_by(HumanTask.id.desc()).limit(1)) or {}
    statuses = [s.__dict__ for s in signature_statuses(session, partnership_id)]
    html = render_html(data, partnership_title=partnership.title,
                       level=partnership.formalisation_level, version=None,
                       sheets=action_sheets(session, partnership_id), signatures=statuses,
                       signed_hash=current.sha256, schema=schema)
    return render_pdf(html, root=TEMPLATES), current.sha256
