"""Audit pages: the partnership's timeline, chain check, exports, signatures, the instance
diagram with its markers, and each task's data before and after."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time
from pathlib import Path

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from partnerflow.engine import access, audit
from partnerflow.engine.access.groups import STAGES
from partnerflow.engine.errors import Conflict
from partnerflow.engine.method import convention
from partnerflow.engine.runtime import auditlog, queries, services, views
from partnerflow.engine.runtime import names as naming
from partnerflow.engine.runtime.documents import render_pdf
from partnerflow.engine.store.models import HumanTask, Partnership, ProcessInstance, ProcessVersion

from .current import engine, get_or_404, with_diagram_csp
from .errors import render_error
from .formatting import event_label, shown_name, version_name
from .params import int_arg

bp = Blueprint("audit", __name__)
# the report's PDF reads its style sheet from the package, never through a URL of the request
REPORT_CSS = Path(__file__).resolve().parent / "static" / "report.css"
PAGE_SIZE = 100  # events per page of the timeline
INSTANCES_SIZE = 20  # instances per page of the audit page's list


def _may_read(partnership_id: int) -> None:
    if not current_user.may("read_audit", partnership_id):
        abort(403)


def _audiences():
    """For a partner representative: the audiences that mask internal values (else None)."""
    return None if views.reads_internal(current_user) else views.Audiences(engine().forms)


def _partnership(db, partnership_id: int) -> Partnership:
    return get_or_404(db, Partnership, partnership_id)


def _day(value: str | None, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        return None
    return datetime.combine(day, time.max if end else time.min, UTC)


@bp.get("/partenariats/<int:partnership_id>/audit")
@login_required
def timeline(partnership_id: int):
    _may_read(partnership_id)
    args = request.args
    filters = auditlog.TimelineFilter(
        instance_id=int_arg("instance"), stage=args.get("stage") or None,
        actor=args.get("actor") or None, type=args.get("type") or None,
        since=_day(args.get("since")), until=_day(args.get("until"), end=True))
    with engine().read() as db:
        partnership = _partnership(db, partnership_id)
        total = auditlog.timeline_count(db, partnership_id, filters)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, int_arg("page") or 1), pages)
        events = auditlog.timeline(db, partnership_id, filters, limit=PAGE_SIZE,
                                   offset=(page - 1) * PAGE_SIZE)
        actors, types = auditlog.timeline_choices(db, partnership_id)
        audiences = _audiences()
        if audiences is not None:
            events = auditlog.redacted_timeline(events, audiences)
        # the status of the last verification, not a verification of the whole chain per view
        verification, since = audit.last_verification(db, partnership_id)
        # one page of the instances (the latest first); the filter offers them and the chosen one
        instances = queries.instances_page(db, partnership_id, int_arg("instances"), INSTANCES_SIZE)
        choices = list(instances.rows)
        chosen = db.get(ProcessInstance, filters.instance_id) if filters.instance_id else None
        if chosen is not None and chosen.partnership_id == partnership_id and chosen not in choices:
            choices.append(chosen)
        signatures = convention.signature_statuses(db, partnership_id)
    return render_template("audit.html", partnership=partnership, events=events, filters=filters,
                           verification=verification, appended_since=since, instances=instances,
                           instance_choices=choices, signatures=signatures, stages=STAGES,
                           redacted=audiences is not None, actors=actors, types=types, args=args,
                           page=page, pages=pages, total=total)


@bp.post("/partenariats/<int:partnership_id>/audit/verifier")
@login_required
def verify_now(partnership_id: int):
    """Verify the partnership's whole chain now, and record the result."""
    _may_read(partnership_id)
    with engine().uow() as uow:
        _partnership(uow.session, partnership_id)
        breaks = audit.verify_and_record(uow.session, partnership_id, actor=current_user.username,
                                         at=uow.clock())
        uow.commit()
    if breaks:
        flash(_("Chaîne rompue : premier événement en cause n° %(n)s.", n=breaks[0].seq or "?"), "error")
    else:
        flash(_("Chaîne vérifiée : intacte."), "success")
    return redirect(url_for("audit.timeline", partnership_id=partnership_id))


@bp.get("/partenariats/<int:partnership_id>/audit.jsonl")
@login_required
def export_jsonl(partnership_id: int):
    _may_read(partnership_id)
    with engine().read() as db:
        _partnership(db, partnership_id)
        body = auditlog.export_jsonl(db, partnership_id, _audiences())
    return _download(body, f"audit-partenariat-{partnership_id}.jsonl", "application/x-ndjson")


@bp.get("/partenariats/<int:partnership_id>/audit.csv")
@login_required
def export_csv(partnership_id: int):
    _may_read(partnership_id)
    with engine().read() as db:
        _partnership(db, partnership_id)
        body = auditlog.export_csv(db, partnership_id, _audiences())
    return _download("\ufeff" + body, f"audit-partenariat-{partnership_id}.csv", "text/csv")


def _report_html(partnership_id: int, for_pdf: bool = False) -> str:
    with engine().read() as db:
        partnership = _partnership(db, partnership_id)
        events = auditlog.timeline(db, partnership_id)
        breaks = audit.verify(db, partnership_id)  # a report certifies: it verifies, every time
        signatures = convention.signature_statuses(db, partnership_id)
        audiences = _audiences()
        if audiences is not None:
            events = auditlog.redacted_timeline(events, audiences)
    return render_template("audit_report.html", partnership=partnership, events=events,
                           chain_break=breaks[0] if breaks else None, signatures=signatures,
                           generated_at=engine().clock(), for_pdf=for_pdf,
                           redacted=audiences is not None)


@bp.get("/partenariats/<int:partnership_id>/rapport")
@login_required
def report(partnership_id: int):
    _may_read(partnership_id)
    return _report_html(partnership_id)


@bp.get("/partenariats/<int:partnership_id>/rapport.pdf")
@login_required
def report_pdf(partnership_id: int):
    _may_read(partnership_id)
    pdf = render_pdf(_report_html(partnership_id, for_pdf=True), stylesheets=[REPORT_CSS])
    return _download(pdf, f"rapport-audit-partenariat-{partnership_id}.pdf", "application/pdf")


def _may_read_partnership(partnership_id: int) -> None:
    if not current_user.may("read_partnership", partnership_id):
        abort(403)


@bp.get("/partenariats/<int:partnership_id>/convention-signee.pdf")
@login_required
def signed_convention(partnership_id: int):
    """The file the signatures were given on, byte for byte as stored (its SHA-256 is the
    one they carry); the signatures' certificate and later annexes are other documents."""
    _may_read_partnership(partnership_id)
    with engine().read() as db:
        _partnership(db, partnership_id)
        try:
            doc = convention.signed_document(db, partnership_id)
        except Conflict:
            return render_error(409, _("Le fichier conservé n’a plus l’empreinte SHA-256 qui a été "
                                       "signée : il a été modifié après la signature. Le certificat "
                                       "des signatures montre la différence."))
        body, digest, mimetype = doc.content, doc.sha256, doc.content_type
        filename = convention.signed_filename(doc)
    response = _download(body, filename, mimetype)
    response.headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    return response


@bp.get("/partenariats/<int:partnership_id>/certificat-signatures.pdf")
@login_required
def signature_certificate(partnership_id: int):
    """Who signed the signed file, for whom, when, in which quality, how, on which SHA-256."""
    _may_read_partnership(partnership_id)
    with engine().read() as db:
        _partnership(db, partnership_id)
        pdf, digest = convention.certificate_pdf(db, partnership_id, engine().clock())
    return _download(pdf, f"certificat-signatures-{digest[:12]}.pdf", "application/pdf")


@bp.get("/partenariats/<int:partnership_id>/annexe-fiches-actions.pdf")
@login_required
def action_sheets_annex(partnership_id: int):
    """The action sheets as an annex of their own, never merged into the signed file."""
    _may_read_partnership(partnership_id)
    with engine().read() as db:
        _partnership(db, partnership_id)
        pdf = convention.action_sheets_pdf(db, partnership_id, engine().clock(), engine().forms)
    return _download(pdf, f"annexe-fiches-actions-partenariat-{partnership_id}.pdf",
                     "application/pdf")


@bp.get("/instances/<int:instance_id>/diagramme")
@login_required
def diagram(instance_id: int):
    with engine().uow(write=False) as uow:
        db = uow.session
        instance = get_or_404(db, ProcessInstance, instance_id)
        _may_read(instance.partnership_id)
        states = services.instance_element_states(uow, instance_id=instance_id)
        diagrams = auditlog.instance_diagrams(db, engine().catalog, instance_id, states)
        partnership = db.get(Partnership, instance.partnership_id)
        # rendered inside the unit of work: leaving it rolls back and expires the rows
        response = Response(render_template("instance_diagram.html", instance=instance,
                                            diagrams=diagrams, partnership=partnership))
    return with_diagram_csp(response)


@bp.get("/instances/<int:instance_id>/executions.json")
@login_required
def executions(instance_id: int):
    with engine().read() as db:
        instance = get_or_404(db, ProcessInstance, instance_id)
        _may_read(instance.partnership_id)
        runs = auditlog.executions(db, instance_id, _audiences())
    # what each run was and where a gateway went, in the reader's language
    return jsonify({element: [{**run, "label": event_label(run["type"]),
                               "path": [shown_name(step) for step in run["path"]]}
                              for run in element_runs] for element, element_runs in runs.items()})


@bp.get("/versions/<int:version_id>/source")
@login_required
def version_source(version_id: int):
    with engine().read() as db:
        version = get_or_404(db, ProcessVersion, version_id)
        instance_partnerships = auditlog.partnerships_on_version(db, version_id)
    if not current_user.may("read_version", instance_partnerships):
        abort(403)
    # the diagram as the reader reads it: names in their language when the version has them
    source = naming.localized_source(version.source, version.names or {}, get_locale())
    return Response(source, mimetype="application/xml")


@bp.get("/versions/<int:version_id>/temps")
@login_required
def version_times(version_id: int):
    """A heatmap of the time each task takes, across the instances of one version."""
    if not current_user.may("read_versions"):
        abort(403)
    with engine().read() as db:
        version = get_or_404(db, ProcessVersion, version_id)
        times = auditlog.version_heatmap(db, version_id)
        key, number, name = version.process_key, version.version, version_name(version)
    heat = {level: [t.element_id for t in times if t.heat == level] for level in range(1, 6)}
    return with_diagram_csp(Response(render_template(
        "version_times.html", key=key, number=number, name=name, times=times, heat=heat,
        version_id=version_id)))


@bp.get("/taches/<int:task_id>/historique")
@login_required
def task_history(task_id: int):
    with engine().read() as db:
        task = get_or_404(db, HumanTask, task_id)
        if not access.may(access.actor(db, current_user.username), "read_history", task):
            abort(403)
        partnership = db.get(Partnership, task.partnership_id)
        # the audit event holds a reference (task row and hash) to the data before the step
        before = auditlog.data_before(db, task)
    after = {**before.data, **(task.result or {})}
    audiences = _audiences()
    if audiences is not None:  # a partner representative: the shared fields only
        shown_before = audiences.filter(before.data, task.form_key)[0]
        after = audiences.filter(after, task.form_key)[0]
    else:
        shown_before = before.data
    return render_template("task_history.html", task=task, partnership=partnership,
                           may_audit=current_user.may("read_audit", task.partnership_id),
                           changes=auditlog.data_diff(shown_before, after), verified=before.verified)


def _download(body, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
