"""The `partnerflow` command: database, deployment, partnerships, tasks, audit, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo, run_command
from flask.helpers import get_debug_flag

from partnerflow.engine import audit, config
from partnerflow.engine.config import Settings, as_utc
from partnerflow.engine.errors import DeploymentRejected, FormValidationError, PartnerflowError
from partnerflow.engine.runtime import deployment, queries, services


def _app(*_args, **_kwargs):
    from partnerflow.web import create_app

    return create_app(Settings.from_env())


def _pf():
    return current_app.extensions["partnerflow"]


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class _Errors(AppGroup):
    """Turn domain errors into a one-line reason and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FormValidationError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            _fail(f"{exc} {detail}")
        except DeploymentRejected as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
        except PartnerflowError as exc:
            _fail(str(exc))


@click.group(cls=FlaskGroup, create_app=_app, add_default_commands=True,
             help="Partnerflow: the partnership method run as BPMN processes.")
def main() -> None:
    pass


@click.pass_context
def _run(ctx, **options) -> None:
    if not get_debug_flag():
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except config.SigningKeyError as exc:
            _fail(f"refusing to start: {exc}")
        if (reason := config.problem(app.secret_key)) is not None:
            _fail(f"refusing to start: {reason}")
    ctx.invoke(run_command, **options)


main.add_command(click.Command(
    "run", params=run_command.params, callback=_run, short_help=run_command.short_help,
    help=f"{run_command.help}\n\nOutside debug mode it refuses the built-in session key and any "
         "key under 32 bytes."))


@main.command("secret-key", with_appcontext=False)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def secret_key(path: Path) -> None:
    """Write a random session signing key to PATH (mode 0600) unless the file exists; then
    point PARTNERFLOW_SECRET_KEY_FILE at it."""
    try:
        _key, created = config.ensure_key_file(path)
    except (OSError, config.SigningKeyError) as exc:
        _fail(str(exc))
    click.echo(f"{'created' if created else 'kept'} the session key file {path}")


@main.group(cls=_Errors)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations up to the latest schema."""
    from partnerflow.engine.store import upgrade

    upgrade(_pf().settings.database_url)
    click.echo("database is at the latest schema")


@main.command(cls=click.Command)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="admin", show_default=True, help="who deploys")
def deploy(files: tuple[Path, ...], actor: str) -> None:
    """Validate BPMN/DMN FILES and deploy what changed (default: the shipped method)."""
    pf = _pf()
    payload = [(f.name, f.read_bytes()) for f in files] if files else pf.method_files()
    try:
        with pf.uow() as uow:
            result = deployment.deploy(uow.session, payload, actor=actor, at=uow.clock(),
                                       forms=pf.forms, max_bytes=pf.settings.max_upload_bytes)
            uow.commit()
    except DeploymentRejected as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    for item in result.items:
        state = "new version" if item.created else "unchanged"
        click.echo(f"{item.process_key:30} v{item.version:<4} {state}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@click.option("--process", "process_key", default=None, help="only this process")
def versions(process_key: str | None) -> None:
    """List deployed versions with their running instances."""
    with _pf().read() as session:
        for version, running in queries.versions(session, process_key):
            click.echo(f"{version.process_key:30} v{version.version:<4} {version.kind:4} "
                       f"{as_utc(version.deployed_at):%Y-%m-%d %H:%M} {version.deployed_by or '-':10} "
                       f"{version.content_hash[:12]} running={running}")


@main.group(cls=_Errors)
def partnership() -> None:
    """Partnerships."""


@partnership.command("create")
@click.option("--title", required=True)
@click.option("--kind", default="partnership", type=click.Choice(services.PARTNERSHIP_KINDS))
@click.option("--actor", required=True, help="user name of who creates it")
def partnership_create(title: str, kind: str, actor: str) -> None:
    """Register a partnership."""
    with _pf().uow() as uow:
        click.echo(services.create_partnership(uow, title=title, kind=kind, actor=actor))


@main.command(cls=click.Command)
@click.argument("partnership_id", type=int)
@click.option("--process", "process_key", default="partnership_cycle", show_default=True)
@click.option("--actor", required=True)
@click.option("--data", default="{}", help="start data as JSON (the start form)")
def start(partnership_id: int, process_key: str, actor: str, data: str) -> None:
    """Start a process instance for a partnership."""
    _guard(lambda uow: click.echo(services.start_instance(
        uow, partnership_id=partnership_id, process_key=process_key, actor=actor,
        data=_json(data))))


@main.command("reindex-search")
def reindex_search() -> None:
    """Rewrite the inbox search words of every open task (after a form's audiences changed,
    or once after upgrading: the migration indexes variables' values as internal)."""
    from partnerflow.engine.runtime import search

    pf = _pf()
    with pf.uow() as uow:
        count = search.reindex(uow.session, uow.forms)
        uow.commit()
    click.echo(f"{count} open tasks reindexed")


@main.command()
@click.option("--user", "username", required=True)
def tasks(username: str) -> None:
    """List the open tasks a user can take."""
    pf = _pf()
    with pf.read() as session:
        for row in queries.inbox(session, username, pf.clock()):
            due = f"{as_utc(row.due_at):%Y-%m-%d}" if row.due_at else "-"
            click.echo(f"{row.id:6} {row.partnership_title[:30]:30} {row.stage or '-':14} "
                       f"{row.role or '-':12} {due:10} {row.title}")


@main.command(cls=click.Command)
@click.argument("task_id", type=int)
@click.option("--user", "username", required=True)
@click.option("--data", default="{}", help="the form data as JSON")
def complete(task_id: int, username: str, data: str) -> None:
    """Complete a task with form data."""
    def run(uow):
        result = services.complete_task(uow, task_id=task_id, actor=username, data=_json(data))
        click.echo(f"task {task_id} completed; instance {result.instance_id} is "
                   f"{result.instance_status}; next tasks: {result.next_tasks or '-'}")
        if result.error:
            click.echo(f"the process stopped on an error: {result.error}", err=True)
    _guard(run)


@main.group(name="audit", cls=_Errors)
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option("--partnership", "partnership_id", type=int, default=None)
@click.option("--against", "seal_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="a seal written by `audit seal`: the chains must still hold it")
@click.option("--public-key", default=None,
              help="the seal's trusted public key (base64 or PEM, or a file holding it); "
                   "default: this instance's")
def audit_verify(partnership_id: int | None, seal_file: Path | None, public_key: str | None) -> None:
    """Check every chain (hashes, MACs, one chain per partnership); report the first altered,
    inserted or deleted event of each, and with --against what changed since a seal."""
    from partnerflow.engine.audit import seals

    pf = _pf()
    seal = None
    if seal_file is not None:
        seal = seals.loads(seal_file.read_text(encoding="utf-8"))
        trusted = _key_text(public_key) if public_key else pf.audit_keys.public_key(create=False)
        seals.check_signature(seal, trusted)
    with pf.uow() as uow:
        session = uow.session
        # recorded as each chain's last verification, which the audit pages show
        breaks = [str(item) for item in audit.verify_and_record(
            session, partnership_id, actor="partnerflow audit verify", at=uow.clock())]
        uow.commit()
        if seal is not None:
            breaks += [f"{item} (against the seal of {seal['sealed_at']})"
                       for item in seals.compare(session, seal)
                       if partnership_id is None or item.partnership_id == partnership_id]
    if breaks:
        for item in breaks:
            click.echo(f"BROKEN {item}", err=True)
        sys.exit(1)
    click.echo("audit chain intact")
    if seal is not None:
        click.echo(f"every chain still holds the seal of {seal['sealed_at']} "
                   f"({len(seal['chains'])} chains)")


def _key_text(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8") if len(value) < 4096 and path.is_file() else value


@audit_group.command("seal")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the seal to this file (default: print it)")
@click.option("--mail", "address", default=None, help="also e-mail the seal to this address")
def audit_seal(out: Path | None, address: str | None) -> None:
    """Sign a checkpoint of every chain (events, last hash) for a third party to keep."""
    from partnerflow.engine.audit import seals
    from partnerflow.engine.runtime import notifications

    pf = _pf()
    mailer = notifications.mailer_for(pf.settings) if address else None
    if address and mailer is None:
        _fail("--mail needs an SMTP server (PARTNERFLOW_SMTP_HOST)")
    with pf.uow() as uow:
        seal = seals.make_seal(uow.session, pf.audit_keys, at=uow.clock(),
                                   site=pf.settings.base_url)
        text = seals.dumps(seal)
        if out is not None:
            out.write_text(text, encoding="utf-8")
        if mailer is not None:
            try:
                mailer.send(address, seals.MAIL_SUBJECT.format(at=seal["sealed_at"]),
                            seals.MAIL_BODY.format(public_key=seal["public_key"]) + text)
            except OSError as exc:  # smtplib's errors are OSErrors
                _fail(f"the seal could not be e-mailed to {address}: {exc}")
        audit.append(uow.session, type="audit_sealed", actor=None, at=uow.clock(),
                     payload={"chains": len(seal["chains"]), "public_key": seal["public_key"],
                              "signature": seal["signature"], "mailed_to": address})
        uow.commit()
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"sealed {len(seal['chains'])} chains into {out}")
    click.echo(f"public key (give it to whoever keeps the seal): {seal['public_key']}", err=out is None)


@audit_group.command("public-key")
@click.option("--pem", is_flag=True, help="as a PEM public key instead of base64")
def audit_public_key(pem: bool) -> None:
    """Print the public key that checks this instance's seals (created on first use)."""
    from cryptography.hazmat.primitives import serialization

    keys = _pf().audit_keys
    if not pem:
        click.echo(keys.public_key())
        return
    click.echo(keys.signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
        nl=False)


@audit_group.command("adopt")
def audit_adopt() -> None:
    """Give a MAC to the events written before the audit key (once, after upgrading);
    refuses while any chain does not verify."""
    with _pf().uow() as uow:
        keyed = audit.adopt(uow.session, at=uow.clock())
        uow.commit()
    for chain, count in keyed.items():
        click.echo(f"chain {chain}: {count} event(s) keyed")
    click.echo(f"{sum(keyed.values())} event(s) in {len(keyed)} chain(s) keyed")


@main.command()
def demo() -> None:
    """Load the demo organisation, users and partnerships (idempotent)."""
    from partnerflow.engine.method.demo import load_demo

    summary = load_demo(_pf())
    click.echo(summary)


@main.command("backup", cls=click.Command)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--without-keys", is_flag=True,
              help="leave the audit keys out (they must then be kept elsewhere: a restored "
                   "audit log verifies only with them)")
def backup_command(directory: Path, without_keys: bool) -> None:
    """Back up the database (with its document base) and the audit keys into DIRECTORY."""
    from partnerflow.engine.runtime import backup

    try:
        target = backup.backup(_pf(), directory, include_keys=not without_keys)
    except backup.BackupError as exc:
        _fail(str(exc))
    manifest = backup.read_manifest(target)
    counts = ", ".join(f"{n} {k}" for k, n in manifest["counts"].items())
    click.echo(f"backup written to {target} (schema {manifest['schema_revision']}; {counts})")


@main.command("restore", cls=click.Command)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_command(directory: Path) -> None:
    """Restore a backup into this instance's empty database, then verify the audit log."""
    from partnerflow.engine.runtime import backup
    from partnerflow.engine.runtime.host import Partnerflow

    pf = _pf()
    settings = pf.settings
    pf.dispose()
    try:
        restored = backup.restore(Partnerflow, settings, directory)
    except backup.BackupError as exc:
        _fail(str(exc))
    counts = ", ".join(f"{n} {k}" for k, n in restored.counts.items())
    click.echo(f"restored {directory} (schema {restored.revision}; {counts})")
    if restored.breaks:
        for item in restored.breaks:
            click.echo(f"BROKEN {item}", err=True)
        sys.exit(1)
    click.echo("audit chain intact")


@main.command()
@click.option("--once", is_flag=True, help="run one round (timers, overdue, e-mails) and exit")
@click.option("--interval", default=5.0, show_default=True, help="seconds between rounds when idle")
@click.option("--batch", default=500, show_default=True, help="most timers fired per round")
def worker(once: bool, interval: float, batch: int) -> None:
    """Fire due timers, signal overdue tasks, send e-mails and digests (SIGTERM: clean stop)."""
    from partnerflow.engine import config
    from partnerflow.engine.runtime.host import Worker

    pf = _pf()
    config.configure(json_lines=pf.settings.log_json)
    runner = Worker(pf, timer_batch=batch)
    runner.install_signal_handlers()
    runner.run(interval_s=interval, once=once)


@main.command(cls=click.Command)
@click.option("--days", "days_ahead", default=90, show_default=True,
              help="start a reminder this many days before the renewal or end date")
@click.option("--evaluation-days", default=14, show_default=True,
              help="start an evaluation preparation this many days before its date")
def reminders(days_ahead: int, evaluation_days: int) -> None:
    """Start the convention renewal and evaluation reminders that are due (idempotent)."""
    from partnerflow.engine.method import reminders

    def run(uow):
        started = reminders.start_due_reminders(uow, days_ahead=days_ahead)
        for item in started:
            click.echo(f"relationship {item.relationship_id}: reminder due {item.due:%Y-%m-%d} "
                       f"(partnership {item.partnership_id}, instance {item.instance_id})")
        evaluations = reminders.start_evaluation_reminders(uow, days_ahead=evaluation_days)
        for item in evaluations:
            click.echo(f"partnership {item.partnership_id}: {item.kind} evaluation of sheet "
                       f"{item.sheet_number} on {item.due:%Y-%m-%d} (instance {item.instance_id})")
        click.echo(f"{len(started)} renewal and {len(evaluations)} evaluation reminder(s) started")
    _guard(run)


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        _fail(f"--data is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _fail("--data must be a JSON object")
    return value


def _guard(fn) -> None:
    try:
        with _pf().uow() as uow:
            fn(uow)
    except FormValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
        _fail(f"{exc} {detail}")
    except PartnerflowError as exc:
        _fail(str(exc))


@main.group(name="rgpd", cls=_Errors)
def rgpd_group() -> None:
    """A person's rights over their personal data: export and erasure."""


def _person(username, name):
    if bool(username) == bool(name):
        _fail("name the person with --user or --name (one of them)")


@rgpd_group.command("export")
@click.option("--user", "username", default=None, help="a user's user name")
@click.option("--name", default=None, help="a contact person's name, as written in the forms")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="file to write: .json, or .pdf for the readable copy")
def rgpd_export(username, name, out: Path) -> None:
    """Everything Partnerflow holds of a person (RGPD articles 15 and 20)."""
    import json

    from partnerflow.engine.runtime import privacy

    _person(username, name)
    pf = _pf()
    with pf.read() as session:
        data = privacy.personal_data(session, username=username, name=name)
    if out.suffix.lower() == ".pdf":
        out.write_bytes(privacy.report_pdf(data, pf.clock()))
    else:
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"written to {out}: {len(data.get('audit_values', []))} audit value(s)")


@rgpd_group.command("erase")
@click.option("--user", "username", default=None, help="a user's user name")
@click.option("--name", default=None, help="a contact person's name, as written in the forms")
@click.option("--reference", default=None, help="the request's reference (kept in the audit log)")
@click.option("--actor", required=True, help="who carries out the request")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def rgpd_erase(username, name, reference, actor, yes) -> None:
    """Erase a person's personal data; the audit chain still verifies (RGPD article 17)."""
    from partnerflow.engine.runtime import privacy

    _person(username, name)
    if not yes:
        click.confirm(f"Erase the personal data of {username or name}? This cannot be undone",
                      abort=True)
    with _pf().uow() as uow:
        report = privacy.erase(uow, username=username, name=name, actor=actor, reference=reference)
    click.echo(", ".join(f"{k}: {v}" for k, v in report.items()))
