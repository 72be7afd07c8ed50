"""The convention document's life: generated from the negotiation's data (convention_text.py
writes it) as HTML and PDF, kept in the document base with its SHA-256; the signatures given
on it; the certificate of those signatures and the action-sheet annex, each a document of
its own.

What the parties signed is the stored file whose SHA-256 the signatures carry: it is served
as stored. The certificate of the signatures and the action sheets written after signing are
separate documents that name that file by its SHA-256; nothing is merged into it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Conflict, NotFound
from partnerflow.engine.method.convention_text import (
    SHEET_DATES,
    SHEET_FIELDS,
    SIGNATURE_METHOD,
    TEMPLATES,
    environment,
    first_of,
    french_moment,
    render_html,
    rows_of,
    sheet_options,
    text_of,
)
from partnerflow.engine.runtime.documents import render_pdf
from partnerflow.engine.store.models import Document, HumanTask, Partnership, Signature


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
    sheets = action_sheets(session, partnership_id)
    html = render_html(data, partnership_title=partnership.title,
                       level=partnership.formalisation_level, version=version, sheets=sheets,
                       schema=uow.forms.get(form_key).schema,
                       sheet_labels=sheet_options(uow.forms) if sheets else None)
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
    signed_on: str = ""  # « 2 mars 2026 à 09:00:00 UTC »


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
                                        s.document_sha256, reason is None, reason,
                                        french_moment(s.signed_at)))
    return statuses


def signed_document(session, partnership_id: int, *, check: bool = True) -> Document:
    """The file the signatures were given on, exactly as stored: the current convention if
    anyone signed it, else the file of the latest signature. NotFound before any signature;
    Conflict when the stored bytes no longer have the SHA-256 that was signed (unless
    `check` is false: the certificate shows the difference)."""
    digests = list(session.scalars(select(Signature.document_sha256).where(
        Signature.partnership_id == partnership_id).order_by(Signature.id.desc())))
    if not digests:
        raise NotFound("nobody has signed a convention of this partnership yet")
    current = current_convention(session, partnership_id)
    digest = current.sha256 if current is not None and current.sha256 in digests else digests[0]
    doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                Document.sha256 == digest))
    if doc is None:
        raise NotFound("the signed document is no longer in this partnership's document base")
    if check and hashlib.sha256(doc.content).hexdigest() != digest:
        raise Conflict(f"the stored file no longer has the SHA-256 {digest} that was signed")
    return doc


def signed_filename(doc: Document) -> str:
    """« convention-signee-<12 first hex digits>.<the stored file's extension> »."""
    ext = doc.filename.rsplit(".", 1)[-1].lower() if "." in doc.filename else "pdf"
    return f"convention-signee-{doc.sha256[:12]}.{re.sub(r'[^a-z0-9]', '', ext) or 'pdf'}"


def _convention_data(session, partnership_id: int) -> dict:
    return session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "convention",
        HumanTask.state == "completed").order_by(HumanTask.id.desc()).limit(1)) or {}


def _signatory_parties(session, partnership_id: int, data: dict) -> list[str]:
    """The party each signature engages, in the order of signature_statuses: the party its
    signature task named (signing_party_name), else the party whose representative the
    convention names with the signatory's name, else an empty string."""
    by_name = {text_of(p.get("legal_representative")).lower(): text_of(p.get("legal_name"))
               for p in rows_of(data.get("parties"))}
    parties = []
    for signature in session.scalars(select(Signature).where(
            Signature.partnership_id == partnership_id).order_by(Signature.id)):
        task = session.get(HumanTask, signature.task_id) if signature.task_id else None
        named = first_of((task.result or {}) if task else {}, "signing_party_name") or first_of(
            (task.context or {}) if task else {}, "signing_party_name")
        parties.append(named or by_name.get(signature.full_name.strip().lower(), ""))
    return parties


def certificate_pdf(session, partnership_id: int, now: datetime) -> tuple[bytes, str]:
    """The certificate of the signatures: the signed file (name, size, SHA-256, recomputed
    from the stored bytes) and every signature given in the partnership (who, for which
    party, quality, when, how, on which SHA-256, still valid or not). A document of its own:
    the signed file is never re-rendered; a stored file altered since shows as such.
    Returns the PDF and the signed SHA-256."""
    partnership = session.get(Partnership, partnership_id)
    doc = signed_document(session, partnership_id, check=False)
    statuses = signature_statuses(session, partnership_id)
    data = _convention_data(session, partnership_id)
    html = environment().get_template("signature_certificate.html").render(
        partnership_title=partnership.title, title=text_of(data.get("convention_title")),
        doc=doc, recomputed=hashlib.sha256(doc.content).hexdigest(),
        stored_on=french_moment(doc.created_at), signed_name=signed_filename(doc),
        rows=list(zip(statuses, _signatory_parties(session, partnership_id, data), strict=True)),
        generated_on=french_moment(now), method=SIGNATURE_METHOD)
    return render_pdf(html, root=TEMPLATES), doc.sha256


def action_sheets_pdf(session, partnership_id: int, now: datetime, forms=None) -> bytes:
    """The action sheets as an annex of their own, naming the convention they complete by
    its SHA-256 (the signed file, else the current convention): written after the signature,
    they are joined to the convention by an annex or an amendment the parties sign, never
    merged into the signed file."""
    partnership = session.get(Partnership, partnership_id)
    sheets = action_sheets(session, partnership_id)
    if not sheets:
        raise NotFound("this partnership has no action sheets yet")
    try:
        convention_doc, signed = signed_document(session, partnership_id), True
    except (NotFound, Conflict):
        convention_doc, signed = current_convention(session, partnership_id), False
    data = _convention_data(session, partnership_id)
    html = environment().get_template("action_sheets_annex.html").render(
        partnership_title=partnership.title, title=text_of(data.get("convention_title")),
        doc=convention_doc, signed=signed, sheets=sheets, sheet_fields=SHEET_FIELDS,
        sheet_dates=SHEET_DATES, sheet_options=sheet_options(forms) if forms else {},
        generated_on=french_moment(now))
    return render_pdf(html, root=TEMPLATES)
