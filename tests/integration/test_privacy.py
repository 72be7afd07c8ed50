"""A person's personal data: exported, erased without breaking the audit chain, and the
sign-in attempts purged after their retention period."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from partnerflow.engine import audit
from partnerflow.engine.errors import Conflict
from partnerflow.engine.runtime import auditlog, privacy, services
from partnerflow.engine.store.models import AuditEvent, AuditPersonal, LoginAttempt, User
from tests.conftest import make_user
from tests.web.support import PASSWORD

SIGNATURE = {"signatory_full_name": "Claire Martin", "signatory_quality": "Directrice",
             "signature_consent": True}


@pytest.fixture
def signed(signing):
    """Claire Martin signed the convention (password typed again) from 192.0.2.7."""
    pf, sign = signing
    with pf.uow() as uow:
        claire = uow.session.scalar(select(User).where(User.username == "claire"))
        claire.full_name, claire.email = "Claire Martin", "claire.martin@ehpad.example"
        uow.commit()
    with pf.uow() as uow:
        from partnerflow.engine.access import accounts

        accounts.authenticate(uow, username="claire", password=PASSWORD, remote_addr="192.0.2.7")
    with pf.uow() as uow:
        services.complete_task(uow, task_id=sign, actor="claire", password=PASSWORD, data=SIGNATURE)
    return pf


@pytest.fixture
def ended(signed):
    """The same, once the partnership's instance ended (cancelled by the direction)."""
    from partnerflow.engine.store.models import ProcessInstance

    make_user(signed, "admin", "admin")
    with signed.read() as session:
        instance_id = session.scalar(select(ProcessInstance.id))
    with signed.uow() as uow:
        services.cancel_instance(uow, instance_id=instance_id, actor="admin", reason="fin du test")
    return signed


def _verify(pf) -> list[str]:
    with pf.read() as session:
        return [str(b) for b in audit.verify(session)]


def test_the_export_finds_the_person_everywhere(signed):
    with signed.read() as session:
        data = privacy.personal_data(session, username="claire")
    assert data["account"]["email"] == "claire.martin@ehpad.example"
    assert data["account"]["groups"] == ["direction"]
    assert any(s["address"] == "192.0.2.7" for s in data["sign_ins"])
    found = {(v["path"], v["value"]) for v in data["audit_values"]}
    assert ("payload.data.signatory_full_name", "Claire Martin") in found  # x-personal field
    assert ("actor", "claire") in found
    assert ("payload.remote_addr", "192.0.2.7") in found  # her sign-in's address
    assert any(t["state"] == "completed" for t in data["tasks"])


def test_erasure_leaves_every_hash_intact_and_says_when(ended, clock):
    signed = ended
    assert _verify(signed) == []
    with signed.uow() as uow:
        report = privacy.erase(uow, username="claire", actor="admin", reference="DPO-2026-14")
    assert report["audit_values_erased"] >= 3 and report["sign_ins_deleted"] >= 1
    assert _verify(signed) == []  # keyed verification: hashes, links, MACs, commitments
    day = clock().date().isoformat()
    with signed.read() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        text = json.dumps([audit.event_fields(e) for e in events], default=str, ensure_ascii=False)
        assert "Claire Martin" not in text and "192.0.2.7" not in text
        assert f'{{"$erased": "{day}"}}' in text and f"[effacé le {day}]" in text
        user = session.get(User, report_user_id(session))
        assert (user.username, user.email, user.active) == (report["account"], None, False)
        assert session.scalar(select(LoginAttempt).where(LoginAttempt.username == "claire")) is None
        erasure = events[-1]
        assert erasure.type == "personal_data_erased" and erasure.payload["reference"] == "DPO-2026-14"
        # the partnership's export still verifies without Partnerflow
        pid = next(e.partnership_id for e in events if e.partnership_id)
        assert auditlog.verify_jsonl(auditlog.export_jsonl(session, pid)) == []
        again = privacy.personal_data(session, username=report["account"])
    assert all(v["erased_at"] for v in again["audit_values"])


def report_user_id(session) -> int:
    return session.scalar(select(User.id).where(User.username.like("personne-%")))


def test_a_personal_value_altered_behind_the_logs_back_is_caught(signed):
    with signed.db.begin() as conn:
        row = conn.execute(select(AuditEvent.id, AuditEvent.payload).where(
            AuditEvent.type == "task_completed").order_by(AuditEvent.id.desc())).first()
        payload = dict(row.payload)
        payload["data"] = {**payload["data"], "signatory_full_name": "Quelqu'un d'autre"}
        conn.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(payload=payload))
    [found] = _verify(signed)
    assert "signatory_full_name was altered" in found


def test_a_value_passed_off_as_erased_without_its_salt_gone_is_caught(signed):
    with signed.db.begin() as conn:
        row = conn.execute(select(AuditEvent.id, AuditEvent.payload, AuditEvent.chain, AuditEvent.seq)
                           .where(AuditEvent.type == "task_completed")
                           .order_by(AuditEvent.id.desc())).first()
        payload = dict(row.payload)
        payload["data"] = {**payload["data"], "signatory_full_name": {"$erased": "2026-03-02"}}
        conn.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(payload=payload))
        # the salt deleted without the erasure's own record: no longer matching, caught
        conn.execute(update(AuditPersonal).where(
            AuditPersonal.chain == row.chain, AuditPersonal.seq == row.seq,
            AuditPersonal.path == "payload.data.signatory_full_name").values(salt="00" * 16))
    assert any("was altered" in b for b in _verify(signed))


def test_erasure_waits_until_the_persons_tasks_and_instances_are_done(signing, signed):
    pf, _sign = signing
    with pf.uow() as uow, pytest.raises(Conflict, match="still holds open tasks|named in running instances"):
        privacy.erase(uow, username="claire", actor="admin")
    with pf.read() as session:
        assert session.scalar(select(User).where(User.username == "claire")).active


def test_sign_ins_and_their_addresses_are_purged_after_the_retention_period(signed, clock):
    clock.advance(days=181)
    with signed.uow() as uow:
        done = privacy.purge_sign_ins(uow, older_than_days=180)
    assert done["attempts"] >= 1 and done["addresses"] >= 1
    assert _verify(signed) == []
    with signed.read() as session:
        assert session.scalar(select(LoginAttempt)) is None
        data = privacy.personal_data(session, username="claire")
    assert not [v for v in data["audit_values"] if v["path"] == "payload.remote_addr" and v["value"]]
    assert [v for v in data["audit_values"] if v["path"] == "actor" and v["value"] == "claire"]


def test_the_command_line_exports_json_and_a_readable_pdf_then_erases(ended, tmp_path, monkeypatch):
    from partnerflow.web.cli import main

    signed = ended
    monkeypatch.setenv("PARTNERFLOW_DATABASE_URL", signed.settings.database_url)
    run = CliRunner()
    out = run.invoke(main, ["rgpd", "export", "--user", "claire", "--out", str(tmp_path / "c.json")],
                     catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "c.json").read_text())["account"]["full_name"] == "Claire Martin"
    out = run.invoke(main, ["rgpd", "export", "--user", "claire", "--out", str(tmp_path / "c.pdf")],
                     catch_exceptions=False)
    assert out.exit_code == 0, out.output
    text = subprocess.run(["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Données personnelles détenues par Partnerflow" in text and "Claire Martin" in text
    refused = run.invoke(main, ["rgpd", "erase", "--actor", "admin", "--yes"])
    assert refused.exit_code == 1 and "--user or --name" in refused.output
    out = run.invoke(main, ["rgpd", "erase", "--user", "claire", "--actor", "admin", "--yes"])
    assert out.exit_code == 0, out.output
    assert "audit_values_erased" in out.output
    assert _verify(signed) == []
