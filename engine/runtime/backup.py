"""Backups of one instance, and their restoration into an empty database.

A backup is a directory `partnerflow-<UTC time>/` holding the database (SQLite: a copy made
with SQLite's online backup API, consistent while the app runs; PostgreSQL: `pg_dump` in its
custom format), which includes the document base since documents are stored in it; the
audit keys, without which the restored audit log could not be verified nor continued (they
are secrets: the directory and its files are readable by their owner only); and a manifest
with the SHA-256 of every file, the schema revision and the row counts.

A restoration checks every digest first, refuses a database that already holds data and a
key that would replace a different one, restores, brings the schema to the current revision
and verifies every audit chain."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC
from hashlib import sha256
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from partnerflow.engine import audit, store
from partnerflow.engine.errors import PartnerflowError
from partnerflow.engine.store.models import AuditEvent, Document, Partnership, ProcessInstance, User

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE, PG_FILE = "database.sqlite3", "database.pgdump"
KEYS = {"audit_key": "audit_key_file", "audit_seal_key": "audit_seal_key_file"}
COUNTED = {"users": User, "partnerships": Partnership, "instances": ProcessInstance,
           "documents": Document, "audit_events": AuditEvent}


class BackupError(PartnerflowError):
    """A backup that cannot be made or restored, and why."""


@dataclass(frozen=True)
class Restored:
    revision: str | None
    counts: dict[str, int]
    breaks: list[str]  # what `audit verify` finds broken after the restoration


def _digest(path: Path) -> str:
    hasher = sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _dialect(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups handle SQLite and PostgreSQL databases, not {name}")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL pg_dump and pg_restore take, and the environment that carries the password
    (never on their command line, where other users of the machine could read it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()[:2000]}")


def _counts(pf) -> dict[str, int]:
    with pf.read() as session:
        return {name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in COUNTED.items()}


def backup(pf, directory: Path, *, include_keys: bool = True) -> Path:
    """Write a backup of `pf`'s database (and its audit keys) under `directory`; return the
    backup's own directory."""
    url = pf.settings.database_url
    dialect = _dialect(url)
    stamp = pf.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"partnerflow-{stamp}"
    try:
        target.mkdir(mode=0o700)
    except FileExistsError:
        raise BackupError(f"{target} exists already: one backup per second at most") from None
    files: dict[str, str] = {}
    if dialect == "sqlite":
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"the SQLite database {source} does not exist")
        out = target / SQLITE_FILE
        with sqlite3.connect(source) as src, sqlite3.connect(out) as dst:
            src.backup(dst)
        os.chmod(out, 0o600)
        files[SQLITE_FILE] = _digest(out)
    else:
        libpq, env = _libpq(url)
        out = target / PG_FILE
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(out),
              "--dbname", libpq], env)
        os.chmod(out, 0o600)
        files[PG_FILE] = _digest(out)
    if include_keys:
        (target / "keys").mkdir(mode=0o700)
        for name, setting in KEYS.items():
            path = Path(getattr(pf.settings, setting))
            if path.exists():
                copy = target / "keys" / name
                shutil.copyfile(path, copy)
                os.chmod(copy, 0o600)
                files[f"keys/{name}"] = _digest(copy)
    manifest = {"format": FORMAT, "created_at": pf.clock().astimezone(UTC).isoformat(),
                "dialect": dialect, "schema_revision": store.current(url),
                "counts": _counts(pf), "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.chmod(target / MANIFEST, 0o600)
    return target


def read_manifest(source: Path) -> dict:
    """The manifest of a backup directory, each file checked against its digest."""
    path = source / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source} is not a Partnerflow backup: it has no {MANIFEST}") from None
    except ValueError as exc:
        raise BackupError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise BackupError(f"{path}: unknown backup format {found!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BackupError(f"{path} lists no file")
    for name, digest in files.items():
        file = (source / name).resolve()
        if source.resolve() not in file.parents:
            raise BackupError(f"{path} names a file outside the backup: {name}")
        if not file.is_file():
            raise BackupError(f"the backup is incomplete: {name} is missing")
        if _digest(file) != digest:
            raise BackupError(f"the backup is damaged: {name} does not have the SHA-256 the "
                              "manifest records")
    return manifest


def _is_empty(url: str) -> bool:
    engine = store.make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if not tables:
            return True
        with engine.connect() as connection:
            return all(
                not connection.execute(select(func.count()).select_from(model.__table__)).scalar()
                for model in COUNTED.values() if model.__tablename__ in tables)
    finally:
        engine.dispose()


def restore(pf_factory, settings, source: Path) -> Restored:
    """Restore the backup in `source` into the (empty) database of `settings`, then verify
    its audit chains with the engine `pf_factory(settings)` builds."""
    manifest = read_manifest(source)
    url = settings.database_url
    dialect = _dialect(url)
    if manifest.get("dialect") != dialect:
        raise BackupError(f"the backup is of a {manifest.get('dialect')} database; this instance "
                          f"uses {dialect}")
    if not _is_empty(url):
        raise BackupError("the target database already holds data: restore into an empty database")
    keys = []
    for name, setting in KEYS.items():
        if f"keys/{name}" not in manifest["files"]:
            continue
        wanted = (source / "keys" / name).read_bytes()
        path = Path(getattr(settings, setting))
        if path.exists() and path.read_bytes() != wanted:
            raise BackupError(f"{path} holds a different key than the backup's {name}: move it "
                              "away first (a restored audit log verifies only with its own keys)")
        keys.append((path, wanted))
    if dialect == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source / SQLITE_FILE) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    else:
        libpq, env = _libpq(url)
        # the tables an upgrade may have created are empty (checked above): replaced
        _run(["pg_restore", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", "--clean", "--if-exists", "--dbname", libpq,
              str(source / PG_FILE)], env)
    for path, content in keys:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
    store.upgrade(url)
    pf = pf_factory(settings)
    try:
        with pf.read() as session:
            breaks = [str(item) for item in audit.verify(session, None)]
        counts = _counts(pf)
    finally:
        dispose = getattr(pf, "dispose", None)
        if dispose:
            dispose()
    return Restored(store.current(url), counts, breaks)
