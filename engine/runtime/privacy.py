"""A person's rights over their personal data (RGPD, articles 15, 17 and 20): what Partnerflow
holds of a user or of a partner's contact person, and its erasure.

- `personal_data` gathers it: the account (name, address, groups, organisation), its sign-in
  attempts and addresses, its external identities, the tasks it held or completed, its
  comments, opinion requests, absences and notifications, and every audit event that carries
  one of its values (found by keyed digest, engine/audit/personal.py).
- `erase` pseudonymises the account (the user name becomes `personne-<n>` in every column that
  names a user, the name and address are erased, sign-ins stop) and erases each of the
  person's values in the audit log; the chain still verifies. It is refused while the person
  still holds open tasks or is named in a running instance (reassign first).

The audit log keeps that someone acted (the event and its hash): erasing the value is what
the RGPD allows of a log kept as evidence (article 17(3)(b) and (e))."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm.attributes import flag_modified

from partnerflow.engine import audit
from partnerflow.engine.audit import personal
from partnerflow.engine.errors import N_, Conflict, InvalidInput, NotFound
from partnerflow.engine.store import models as m

# every column holding a user name, pseudonymised together
USERNAME_COLUMNS = (
    (m.Partnership, "created_by"), (m.ProcessVersion, "deployed_by"),
    (m.ProcessInstance, "started_by"), (m.HumanTask, "assignee"), (m.HumanTask, "claimed_by"),
    (m.HumanTask, "completed_by"), (m.HumanTask, "delegated_to"), (m.TaskOffer, "claimed_by"),
    (m.Document, "uploaded_by"), (m.FormVersion, "saved_by"), (m.ProcessDraft, "saved_by"),
    (m.Signature, "username"), (m.Incident, "actor"), (m.Incident, "resolved_by"),
    (m.Comment, "author"), (m.TaskDelegation, "owner"), (m.TaskDelegation, "delegate"),
    (m.TaskDelegation, "resolved_by"), (m.Absence, "created_by"), (m.Absence, "cancelled_by"),
    (m.OAuthClient, "created_by"), (m.SavedFilter, "owner"), (m.SavedFilter, "created_by"),
)


def _user(session, username: str) -> m.User:
    user = session.scalar(select(m.User).where(m.User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def _identifiers(user: m.User | None, name: str | None) -> list[str]:
    values = [v for v in ((user.username, user.full_name, user.email) if user else ()) if v]
    if name:
        values.append(name)
    return values


def _audit_values(session, key: bytes, identifiers: list[str]) -> list[m.AuditPersonal]:
    lookups = {personal.lookup(key, v) for v in identifiers}
    rows = list(session.scalars(select(m.AuditPersonal).where(m.AuditPersonal.lookup.in_(lookups))))
    # an event the person acted in: its IP address is theirs too
    acted = {(r.chain, r.seq) for r in rows if r.path == "actor"}
    if acted:
        for row in session.scalars(select(m.AuditPersonal).where(
                m.AuditPersonal.path == "payload.remote_addr",
                m.AuditPersonal.erased_at.is_(None))):
            if (row.chain, row.seq) in acted:
                rows.append(row)
    return rows


def _event(session, chain: str, seq: int) -> m.AuditEvent:
    return session.scalar(select(m.AuditEvent).where(m.AuditEvent.chain == chain,
                                                     m.AuditEvent.seq == seq))


def personal_data(session, *, username: str | None = None, name: str | None = None) -> dict:
    """Everything held of a user (`username`) or of a contact person known by `name`."""
    if not username and not (name or "").strip():
        raise InvalidInput("a user name or a person's name is needed",
                           {"person": ["Indiquez un identifiant ou le nom d'une personne."]})
    user = _user(session, username) if username else None
    found: dict = {"person": {"username": username, "name": name}}
    if user is not None:
        found["account"] = {
            "username": user.username, "full_name": user.full_name, "email": user.email,
            "active": user.active, "groups": sorted(user.role_keys),
            "organisation": session.scalar(select(m.Organisation.name).where(
                m.Organisation.id == user.organisation_id)) if user.organisation_id else None,
            "email_digest": user.email_digest}
        found["sign_ins"] = [
            {"at": a.at.isoformat(), "address": a.remote_addr, "success": a.success,
             "purpose": a.purpose}
            for a in session.scalars(select(m.LoginAttempt).where(
                m.LoginAttempt.username == user.username).order_by(m.LoginAttempt.at))]
        found["external_identities"] = [
            {"issuer": i.issuer, "subject": i.subject, "linked_at": i.linked_at.isoformat()}
            for i in session.scalars(select(m.ExternalIdentity).where(
                m.ExternalIdentity.user_id == user.id))]
        found["tasks"] = [
            {"id": t.id, "title": t.title, "partnership_id": t.partnership_id, "state": t.state,
             "completed_at": t.completed_at.isoformat() if t.completed_at else None}
            for t in session.scalars(select(m.HumanTask).where(or_(
                m.HumanTask.assignee == user.username, m.HumanTask.completed_by == user.username,
                m.HumanTask.claimed_by == user.username)).order_by(m.HumanTask.id))]
        found["comments"] = [
            {"partnership_id": c.partnership_id, "created_at": c.created_at.isoformat(),
             "visibility": c.visibility, "body": c.body}
            for c in session.scalars(select(m.Comment).where(m.Comment.author == user.username)
                                     .order_by(m.Comment.id))]
        found["notifications"] = [
            {"subject": n.subject, "created_at": n.created_at.isoformat()}
            for n in session.scalars(select(m.Notification).where(
                m.Notification.username == user.username).order_by(m.Notification.id))]
        found["absences"] = [
            {"starts_on": a.starts_on.isoformat(), "ends_on": a.ends_on.isoformat()}
            for a in session.scalars(select(m.Absence).where(m.Absence.user_id == user.id))]
    values = []
    for row in _audit_values(session, audit.mac_key(session), _identifiers(user, name)):
        event = _event(session, row.chain, row.seq)
        values.append({
            "chain": row.chain, "seq": row.seq, "type": event.type if event else None,
            "occurred_at": event.occurred_at.isoformat() if event else None, "path": row.path,
            "value": (personal.value_at(audit.event_fields(event), row.path)
                      if event is not None and row.erased_at is None else None),
            "erased_at": row.erased_at.isoformat() if row.erased_at else None})
    found["audit_values"] = values
    found["audit_values_not_erasable"] = _legacy_mentions(session, _identifiers(user, name))
    return found


def _legacy_mentions(session, identifiers: list[str]) -> int:
    """Events hashed with the person's values in clear (written before commitments, or in a
    place no rule declares personal): they cannot be erased without breaking the chain."""
    if not identifiers:
        return 0
    clauses = [cast(m.AuditEvent.payload, String).contains(v) for v in identifiers]
    clauses.append(m.AuditEvent.actor.in_(identifiers))
    count = 0
    for event in session.scalars(select(m.AuditEvent).where(or_(*clauses))):
        committed = set(event.commitments or {})
        fields = audit.event_fields(event)
        for path in _places(fields, identifiers):
            if path not in committed:
                count += 1
                break
    return count


def _places(fields: dict, identifiers: list[str]):
    wanted = {personal.normalised(v) for v in identifiers}

    def visit(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from visit(f"{prefix}.{k}", v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from visit(f"{prefix}.{i}", v)
        elif isinstance(node, str) and personal.normalised(node) in wanted:
            yield prefix

    if fields.get("actor") and personal.normalised(fields["actor"]) in wanted:
        yield "actor"
    yield from visit("payload", fields.get("payload") or {})


def _erase_audit_values(session, rows: list[m.AuditPersonal], at: datetime) -> int:
    erased = 0
    for row in rows:
        if row.erased_at is not None:
            continue
        event = _event(session, row.chain, row.seq)
        if event is not None:
            if row.path == "actor":
                event.actor = personal.erased_actor(at)
            else:
                payload = event.payload
                fields = {"payload": payload}
                personal.set_at(fields, row.path, personal.erased_marker(at))
                event.payload = fields["payload"]
                flag_modified(event, "payload")
        row.salt, row.lookup, row.erased_at = None, None, at
        erased += 1
    return erased


def erase(uow, *, username: str | None = None, name: str | None = None, actor: str,
          reference: str | None = None) -> dict:
    """Erase a person's personal data (see the module's docstring); returns the report, also
    recorded in the system chain (without the person's values)."""
    session, at = uow.session, uow.clock()
    user = _user(session, username) if username else None
    if user is None and not (name or "").strip():
        raise InvalidInput("a user name or a person's name is needed",
                           {"person": ["Indiquez un identifiant ou le nom d'une personne."]})
    if user is not None:
        _refuse_while_needed(session, user)
    rows = _audit_values(session, audit.mac_key(session), _identifiers(user, name))
    report = {"audit_values_erased": _erase_audit_values(session, rows, at)}
    if user is not None:
        pseudonym = f"personne-{user.id}"
        for model, column in USERNAME_COLUMNS:
            attribute = getattr(model, column)
            session.execute(update(model).where(attribute == user.username)
                            .values({column: pseudonym}).execution_options(synchronize_session=False))
        report["sign_ins_deleted"] = session.execute(delete(m.LoginAttempt).where(
            m.LoginAttempt.username == user.username)).rowcount
        report["notifications_deleted"] = session.execute(delete(m.Notification).where(
            m.Notification.username == user.username)).rowcount
        session.execute(delete(m.ExternalIdentity).where(m.ExternalIdentity.user_id == user.id))
        report["api_tokens_deleted"] = session.execute(delete(m.ApiToken).where(
            m.ApiToken.user_id == user.id)).rowcount
        user.username, user.full_name, user.email = pseudonym, f"Personne effacée n° {user.id}", None
        user.password_hash, user.active = None, False
        user.session_epoch = (user.session_epoch or 0) + 1
        user.groups = []
        report["account"] = pseudonym
    session.flush()
    report["audit_values_not_erasable"] = _legacy_mentions(session, _identifiers(None, name)) \
        if user is None else 0
    audit.append(session, type="personal_data_erased", actor=actor, at=at,
                 payload={"reference": (reference or "")[:200], **report})
    uow.commit()
    return report


HOLDS_TASKS = N_("%(who)s détient encore des tâches ouvertes (%(tasks)s) : réattribuez-les "
                 "d'abord.")
NAMED_IN_RUNNING = N_("%(who)s est nommé(e) dans des instances en cours (partenariats %(ids)s) : "
                      "attendez qu'elles s'achèvent, ou annulez-les, avant l'effacement.")


class ErasureRefused(Conflict):
    """Not yet: `message` (French, with `values`) says what must happen first."""

    def __init__(self, reason: str, message: str, **values):
        super().__init__(reason)
        self.message, self.values = message, values


def _refuse_while_needed(session, user: m.User) -> None:
    open_tasks = session.scalars(select(m.HumanTask.title).where(
        m.HumanTask.state == "open", or_(m.HumanTask.assignee == user.username,
                                         m.HumanTask.claimed_by == user.username)).limit(5)).all()
    if open_tasks:
        raise ErasureRefused(f"{user.username} still holds open tasks", HOLDS_TASKS,
                             who=user.username, tasks=", ".join(open_tasks))
    running = session.scalars(select(m.ProcessInstance.partnership_id).where(
        m.ProcessInstance.status == "running",
        cast(m.ProcessInstance.workflow_state, String).contains(f'"{user.username}"'))
        .limit(5)).all()
    if running:
        raise ErasureRefused(f"{user.username} is named in running instances", NAMED_IN_RUNNING,
                             who=user.username, ids=", ".join(str(p) for p in running))


def purge_sign_ins(uow, *, older_than_days: int) -> dict:
    """The retention of sign-in attempts and addresses (the worker runs it daily): attempts
    older than the period are deleted, and the addresses in older audit events erased."""
    from datetime import timedelta

    session, now = uow.session, uow.clock()
    limit = now - timedelta(days=older_than_days)
    deleted = session.execute(delete(m.LoginAttempt).where(m.LoginAttempt.at < limit)).rowcount
    old = [row for row, occurred in session.execute(
        select(m.AuditPersonal, m.AuditEvent.occurred_at)
        .join(m.AuditEvent, (m.AuditEvent.chain == m.AuditPersonal.chain)
              & (m.AuditEvent.seq == m.AuditPersonal.seq))
        .where(m.AuditPersonal.path == "payload.remote_addr", m.AuditPersonal.erased_at.is_(None),
               m.AuditEvent.occurred_at < limit)).all()]
    erased = _erase_audit_values(session, old, now)
    if deleted or erased:
        audit.append(session, type="sign_ins_purged", actor=None, at=now,
                     payload={"attempts": deleted, "addresses": erased,
                              "older_than_days": older_than_days})
    uow.commit()
    return {"attempts": deleted, "addresses": erased}


_REPORT = Path(__file__).resolve().parent / "templates" / "personal_data.html"

_SECTIONS = (
    ("sign_ins", "Connexions", (("at", "Date"), ("address", "Adresse IP"), ("success", "Réussie"),
                               ("purpose", "Objet"))),
    ("external_identities", "Identités externes", (("issuer", "Fournisseur"), ("subject", "Sujet"))),
    ("tasks", "Tâches", (("title", "Tâche"), ("partnership_id", "Partenariat"), ("state", "État"),
                         ("completed_at", "Terminée le"))),
    ("comments", "Commentaires", (("created_at", "Date"), ("visibility", "Visibilité"), ("body", "Texte"))),
    ("notifications", "Notifications", (("created_at", "Date"), ("subject", "Objet"))),
    ("absences", "Absences", (("starts_on", "Du"), ("ends_on", "Au"))),
)


def report_pdf(data: dict, at: datetime) -> bytes:
    """The readable copy (PDF) of what `personal_data` found."""
    from jinja2 import Environment

    from partnerflow.engine.runtime.documents import render_pdf

    html = Environment(autoescape=True).from_string(_REPORT.read_text(encoding="utf-8")).render(
        data=data, at=at.date().isoformat(), sections=_SECTIONS)
    return render_pdf(html)
