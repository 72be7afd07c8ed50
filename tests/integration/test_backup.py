"""Backups: the demo backed up while it runs, restored into an empty database (SQLite or
PostgreSQL, whichever the suite runs on), and its audit log verifies there with the keys the
backup carried; a damaged, incomplete or foreign backup, a database that holds data and a key
that would be replaced are each refused, naming what is wrong."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine.method.demo import load_demo
from partnerflow.engine.runtime import backup
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store import upgrade
from partnerflow.engine.store.models import Document
from tests.conftest import PG_ADMIN_URL

# the demo loaded once per worker on SQLite (its database and audit keys), laid over each
# test's database: loading it is most of these tests' time
_DEMO: dict[str, Path] = {}


def _sqlite_copy(engine, path: Path, *, keep: bool) -> None:
    raw = engine.db.raw_connection()
    other = sqlite3.connect(path)
    try:
        (raw.driver_connection.backup(other) if keep else other.backup(raw.driver_connection))
    finally:
        other.close()
        raw.close()


@pytest.fixture
def source(settings, clock, tmp_path, tmp_path_factory):
    """The demo, on the suite's database, with its audit keys in a folder of its own."""
    keys = tmp_path / "source-keys"
    engine = Partnerflow(settings.with_(audit_key_file=keys / "audit_key",
                                        audit_seal_key_file=keys / "audit_seal_key"), clock=clock)
    from tests.conftest import _wipe

    kept = _DEMO.get(settings.database_url) if engine.db.dialect.name == "sqlite" else None
    if kept is not None:
        shutil.copytree(kept / "keys", keys)
        _sqlite_copy(engine, kept / "demo.db", keep=False)
    else:
        _wipe(engine)
        load_demo(engine)
        engine.audit_keys.signing_key()  # the seal key exists, as after a first `audit seal`
        if engine.db.dialect.name == "sqlite":
            folder = tmp_path_factory.mktemp("demo")
            shutil.copytree(keys, folder / "keys")
            _sqlite_copy(engine, folder / "demo.db", keep=True)
            _DEMO[settings.database_url] = folder
    yield engine
    engine.dispose()


@pytest.fixture
def empty_target(db_kind, settings, tmp_path):
    """The settings of a second, empty instance: a new database and no key yet."""
    keys = tmp_path / "target-keys"
    if db_kind == "sqlite":
        yield settings.with_(database_url=f"sqlite:///{tmp_path / 'restored.db'}",
                             audit_key_file=keys / "audit_key", audit_seal_key_file=keys / "seal")
        return
    import psycopg

    name = f"partnerflow_restore_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield settings.with_(database_url=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}",
                         audit_key_file=keys / "audit_key", audit_seal_key_file=keys / "seal")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _documents(pf) -> dict[str, bytes]:
    with pf.read() as session:
        return {d.sha256: d.content for d in session.scalars(select(Document))}


def test_a_backup_restored_into_an_empty_database_verifies_and_holds_every_document(
        source, empty_target, tmp_path):
    made = backup.backup(source, tmp_path / "backups")
    manifest = json.loads((made / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["partnerships"] == 6 and manifest["counts"]["documents"] > 0
    assert set(manifest["files"]) >= {"keys/audit_key", "keys/audit_seal_key"}
    # secrets: readable by their owner only
    for path in (made, made / "keys" / "audit_key", made / "manifest.json"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path

    restored = backup.restore(Partnerflow, empty_target, made)
    assert restored.breaks == []
    assert restored.counts == manifest["counts"]
    again = Partnerflow(empty_target)
    try:
        assert _documents(again) == _documents(source)
        # the restored instance goes on with the same keys
        assert again.audit_keys.public_key(create=False) == source.audit_keys.public_key(create=False)
    finally:
        again.dispose()


def test_a_damaged_or_incomplete_backup_is_refused_before_anything_is_written(
        source, empty_target, tmp_path):
    made = backup.backup(source, tmp_path / "backups")
    database = next(p for p in made.iterdir() if p.name.startswith("database."))
    content = database.read_bytes()
    database.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    with pytest.raises(backup.BackupError, match=f"damaged: {database.name}"):
        backup.restore(Partnerflow, empty_target, made)
    database.unlink()
    with pytest.raises(backup.BackupError, match=f"incomplete: {database.name} is missing"):
        backup.restore(Partnerflow, empty_target, made)
    (made / "manifest.json").unlink()
    with pytest.raises(backup.BackupError, match="has no manifest.json"):
        backup.restore(Partnerflow, empty_target, made)
    assert not Path(empty_target.audit_key_file).exists()


def test_a_manifest_naming_a_file_outside_the_backup_is_refused(source, empty_target, tmp_path):
    made = backup.backup(source, tmp_path / "backups")
    manifest = json.loads((made / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (made / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(backup.BackupError, match="outside the backup"):
        backup.restore(Partnerflow, empty_target, made)


def test_a_database_that_holds_data_is_never_overwritten(source, settings, tmp_path):
    made = backup.backup(source, tmp_path / "backups")
    with pytest.raises(backup.BackupError, match="already holds data"):
        backup.restore(Partnerflow, source.settings, made)


def test_a_different_key_in_place_is_never_replaced(source, empty_target, tmp_path):
    made = backup.backup(source, tmp_path / "backups")
    key = Path(empty_target.audit_key_file)
    key.parent.mkdir(parents=True)
    key.write_text("another-key-" + "x" * 40)
    with pytest.raises(backup.BackupError, match="holds a different key"):
        backup.restore(Partnerflow, empty_target, made)
    assert key.read_text().startswith("another-key-")


def test_an_empty_schema_counts_as_an_empty_database(source, empty_target, tmp_path):
    """`partnerflow db upgrade` run first on the new server: the restoration still proceeds."""
    upgrade(empty_target.database_url)
    made = backup.backup(source, tmp_path / "backups")
    assert backup.restore(Partnerflow, empty_target, made).breaks == []


@pytest.mark.sqlite_only
def test_the_commands_back_up_and_restore_and_audit_verify_passes(source, empty_target, tmp_path):
    env = {**os.environ, "PARTNERFLOW_DATABASE_URL": source.settings.database_url,
           "PARTNERFLOW_AUDIT_KEY_FILE": str(source.settings.audit_key_file),
           "PARTNERFLOW_AUDIT_SEAL_KEY_FILE": str(source.settings.audit_seal_key_file)}
    cli = [str(Path(sys.executable).with_name("partnerflow"))]
    done = subprocess.run([*cli, "backup", str(tmp_path / "b")], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "backup written to" in done.stdout
    [made] = (tmp_path / "b").iterdir()
    env.update(PARTNERFLOW_DATABASE_URL=empty_target.database_url,
               PARTNERFLOW_AUDIT_KEY_FILE=str(empty_target.audit_key_file),
               PARTNERFLOW_AUDIT_SEAL_KEY_FILE=str(empty_target.audit_seal_key_file))
    done = subprocess.run([*cli, "restore", str(made)], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "audit chain intact" in done.stdout
    done = subprocess.run([*cli, "audit", "verify"], env=env, capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "audit chain intact"), done.stderr
    # a second restoration into the now filled database is refused with the reason
    done = subprocess.run([*cli, "restore", str(made)], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1 and "already holds data" in done.stderr
