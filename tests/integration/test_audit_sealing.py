"""An attacker with the database but not the audit key rewrites or deletes chains with plain
SQL and hashlib: `partnerflow audit verify` names what was done. Seals kept by a third party
show a rewrite even by someone holding the key, and refuse to be forged themselves."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text, update

from partnerflow.engine import audit
from partnerflow.engine.audit import AuditKeyError, seals
from partnerflow.engine.config import Settings
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import AuditChainHead, AuditEvent, HumanTask, Partnership
from tests.conftest import FIXTURES, _wipe, deploy, make_user

EVENTS = AuditEvent.__table__
HEADS = AuditChainHead.__table__


@pytest.fixture
def keys_dir(tmp_path):
    return tmp_path / "keys"


@pytest.fixture
def spf(settings, clock, keys_dir):
    """The fixture engine with its audit keys in a folder of its own."""
    engine = Partnerflow(settings.with_(forms_dir=FIXTURES / "forms", bpmn_dir=FIXTURES,
                                        audit_key_file=keys_dir / "audit_key",
                                        audit_seal_key_file=keys_dir / "audit_seal_key"),
                         clock=clock)
    _wipe(engine)
    yield engine
    engine.dispose()


def review(pf, title: str, rounds: int = 2) -> int:
    """A partnership whose review ran `rounds` times: several events in its chain."""
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title=title, actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    for decision in ["again"] * (rounds - 1) + ["done"]:
        complete_open(pf, iid, decision)
    return pid


def complete_open(pf, iid: int, decision: str) -> None:
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                            HumanTask.state == "open"))
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="claire",
                               data={"decision": decision, "comment": "relu"})


@pytest.fixture
def two(spf):
    deploy(spf, [FIXTURES / "review_loop.bpmn"])
    make_user(spf, "claire", "direction")
    make_user(spf, "paul", "partner")
    first = review(spf, "Réseau santé")
    second = review(spf, "Foyer et mairie")
    with spf.uow() as uow:
        bare = services.create_partnership(uow, title="Idée sans suite", actor="claire")
    return spf, first, second, bare


@pytest.fixture
def cli(spf, keys_dir, monkeypatch):
    from partnerflow.web.cli import main

    monkeypatch.setenv("PARTNERFLOW_DATABASE_URL", spf.settings.database_url)
    monkeypatch.setenv("PARTNERFLOW_FORMS_DIR", str(FIXTURES / "forms"))
    monkeypatch.setenv("PARTNERFLOW_BPMN_DIR", str(FIXTURES))
    monkeypatch.setenv("PARTNERFLOW_AUDIT_KEY_FILE", str(keys_dir / "audit_key"))
    monkeypatch.setenv("PARTNERFLOW_AUDIT_SEAL_KEY_FILE", str(keys_dir / "audit_seal_key"))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def breaks(pf) -> list[str]:
    with pf.read() as session:
        return [str(b) for b in audit.verify(session)]


# ---------------------------------------------------------------- the attacker's tools


def _iso(moment) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def _rehash(row: dict, prev_hash: str) -> str:
    """The published hash formula, as anyone can compute it (docs/audit.md)."""
    fields = {k: row[k] for k in ("chain", "seq", "type", "actor", "partnership_id", "instance_id",
                                  "task_uuid", "element_id", "payload")}
    fields.update(occurred_at=_iso(row["occurred_at"]), prev_hash=prev_hash)
    for path, digest in (row.get("commitments") or {}).items():  # personal values
        head, *rest = path.split(".")
        if not rest:
            fields[head] = {"$commitment": digest}
            continue
        node = fields[head]
        for part in rest[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(rest[-1]) if isinstance(node, list) else rest[-1]] = {"$commitment": digest}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rewrite_from(pf, chain: str, seq: int, payload: dict, mac_key: bytes | None = None) -> None:
    """Edit event `seq`'s payload, then recompute every later hash, link and the head, with
    plain SQL and hashlib; with `mac_key` (an insider holding the key) the MACs too."""
    with pf.db.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.seq))]
        previous = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
        for row in rows[seq - 1:]:
            if row["seq"] == seq:
                row["payload"] = payload
            row["hash"] = _rehash(row, previous)
            values = {"payload": row["payload"], "prev_hash": previous, "hash": row["hash"]}
            if mac_key is not None:
                values["mac"] = audit.event_mac(mac_key, chain, row["seq"], row["hash"])
            conn.execute(update(EVENTS).where(EVENTS.c.id == row["id"]).values(**values))
            previous = row["hash"]
        head = {"last_hash": previous}
        if mac_key is not None:
            head["mac"] = audit.head_mac(mac_key, chain, rows[-1]["seq"], previous)
        conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(**head))


def delete_chain(pf, chain: str) -> None:
    with pf.db.begin() as conn:
        assert conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain)).rowcount > 0
        assert conn.execute(delete(HEADS).where(HEADS.c.chain == chain)).rowcount == 1


def count(pf, chain: str) -> int:
    with pf.read() as session:
        return session.get(AuditChainHead, chain).last_seq


# ---------------------------------------------------------------- without the key


def test_an_untouched_log_verifies_with_its_macs(two):
    pf, *_ = two
    assert breaks(pf) == []
    with pf.read() as session:
        assert all(session.scalars(select(AuditEvent.mac)))
        assert all(session.scalars(select(AuditChainHead.mac)))


def test_editing_event_3_and_recomputing_the_rest_of_the_chain_is_named_at_event_3(two, cli):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    rewrite_from(pf, chain, 3, {"falsifié": True})
    with pf.read() as session:
        # the hashes alone (what a third party checks) are consistent again...
        assert audit.verify(session, first, keyed=False) == []
        [found] = audit.verify(session)
    # ...but the MAC, which needs the key, is not
    assert (found.chain, found.seq) == (chain, 3)
    assert "MAC" in found.reason
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"BROKEN chain {chain}, event #3" in result.output


def test_cutting_a_chain_back_and_moving_its_head_is_named(two):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    last = count(pf, chain)
    with pf.db.begin() as conn:
        previous = conn.scalar(select(EVENTS.c.hash).where(EVENTS.c.chain == chain,
                                                           EVENTS.c.seq == last - 1))
        conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq == last))
        # the event's MAC does not pass for the head's
        mac = conn.scalar(select(EVENTS.c.mac).where(EVENTS.c.chain == chain,
                                                     EVENTS.c.seq == last - 1))
        conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(
            last_seq=last - 1, last_hash=previous, mac=mac))
    [found] = breaks(pf)
    assert found.startswith(f"chain {chain}, event #{last - 1}") and "head's MAC" in found


def test_a_partnership_whose_whole_chain_and_head_were_deleted_is_named(two, cli):
    pf, _, second, _ = two
    chain = audit.chain_for(second)
    delete_chain(pf, chain)
    assert breaks(pf) == [f"chain {chain}: partnership #{second} has no audit chain: its events "
                          "and chain head were deleted"]
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"partnership #{second} has no audit chain" in result.output
    result = cli("audit", "verify", "--partnership", second)
    assert result.exit_code == 1 and f"partnership #{second}" in result.output


def test_a_chain_whose_partnership_was_deleted_is_named(two):
    pf, _, _, bare = two
    with pf.db.begin() as conn:
        conn.execute(delete(Partnership.__table__).where(Partnership.__table__.c.id == bare))
    [found] = breaks(pf)
    assert found.startswith(f"chain p{bare}:") and f"partnership #{bare} no longer exists" in found


def test_a_stripped_mac_is_named(two):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq == 2).values(mac=None))
    [found] = breaks(pf)
    assert found.startswith(f"chain {chain}, event #2") and "no MAC" in found
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq == 2)
                     .values(mac="é" * 64))
    [found] = breaks(pf)
    assert found.startswith(f"chain {chain}, event #2") and "MAC does not match" in found


# ---------------------------------------------------------------- seals


def seal(cli, path):
    result = cli("audit", "seal", "--out", path)
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_seal_lists_every_chain_and_is_signed(two, cli, tmp_path):
    pf, first, second, bare = two
    sealed = seal(cli, tmp_path / "seal.json")
    by_chain = {c["chain"]: c for c in sealed["chains"]}
    assert set(by_chain) == {"system", f"p{first}", f"p{second}", f"p{bare}"}
    with pf.read() as session:
        for chain in (f"p{first}", f"p{second}", f"p{bare}"):
            head = session.get(AuditChainHead, chain)
            assert (by_chain[chain]["events"], by_chain[chain]["head"]) == (head.last_seq, head.last_hash)
        # the sealing is itself in the system chain, right after what the seal covers
        sealed_event = session.scalar(select(AuditEvent).where(AuditEvent.type == "audit_sealed"))
        assert (sealed_event.seq, sealed_event.prev_hash) == (by_chain["system"]["events"] + 1,
                                                              by_chain["system"]["head"])
    assert cli("audit", "public-key").output.strip() == sealed["public_key"]
    result = cli("audit", "verify", "--against", tmp_path / "seal.json")
    assert result.exit_code == 0, result.output
    assert "still holds the seal" in result.output


def test_a_rewrite_with_the_key_passes_verify_but_not_the_seal(two, cli, tmp_path, keys_dir):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    seal(cli, tmp_path / "seal.json")
    # an insider holding the MAC key rewrites event #3 and everything after it
    rewrite_from(pf, chain, 3, {"falsifié": True},
                 mac_key=(keys_dir / "audit_key").read_bytes().strip())
    assert cli("audit", "verify").exit_code == 0
    result = cli("audit", "verify", "--against", tmp_path / "seal.json")
    assert result.exit_code == 1
    assert f"BROKEN chain {chain} (partnership #{first}): event #{count(pf, chain)} no longer " \
           "has the sealed hash" in result.output


def test_a_partnership_that_vanished_with_its_chain_is_named_against_the_seal(two, cli, tmp_path):
    pf, _, _, bare = two
    seal(cli, tmp_path / "seal.json")
    delete_chain(pf, f"p{bare}")
    with pf.db.begin() as conn:
        conn.execute(delete(Partnership.__table__).where(Partnership.__table__.c.id == bare))
    assert cli("audit", "verify").exit_code == 0  # nothing left in the database to miss
    result = cli("audit", "verify", "--against", tmp_path / "seal.json")
    assert result.exit_code == 1
    assert f"chain p{bare} (partnership #{bare}): sealed with 1 events, the chain is gone" in result.output


def test_a_chain_cut_back_by_the_key_holder_is_named_against_the_seal(two, cli, tmp_path, keys_dir):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    last = count(pf, chain)
    seal(cli, tmp_path / "seal.json")
    key = (keys_dir / "audit_key").read_bytes().strip()
    with pf.db.begin() as conn:
        previous = conn.scalar(select(EVENTS.c.hash).where(EVENTS.c.chain == chain,
                                                           EVENTS.c.seq == last - 2))
        conn.execute(delete(EVENTS).where(EVENTS.c.chain == chain, EVENTS.c.seq >= last - 1))
        conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(
            last_seq=last - 2, last_hash=previous, mac=audit.head_mac(key, chain, last - 2, previous)))
    assert cli("audit", "verify").exit_code == 0
    result = cli("audit", "verify", "--against", tmp_path / "seal.json")
    assert result.exit_code == 1
    assert f"event #{last} is gone (the chain now ends at #{last - 2}: cut back)" in result.output


def test_a_grown_chain_still_verifies_against_an_older_seal(two, cli, tmp_path):
    pf, first, _, _ = two
    seal(cli, tmp_path / "seal.json")
    before = count(pf, audit.chain_for(first))
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=first, process_key="review_loop",
                                actor="claire", data={"rounds": 0})
    with pf.uow() as uow:
        newcomer = services.create_partnership(uow, title="Nouveau", actor="claire")
    assert count(pf, audit.chain_for(first)) > before
    result = cli("audit", "verify", "--against", tmp_path / "seal.json")
    assert result.exit_code == 0, result.output
    assert newcomer


def test_a_tampered_seal_file_is_refused(two, cli, tmp_path):
    pf, first, _, _ = two
    path = tmp_path / "seal.json"
    sealed = seal(cli, path)
    chain = audit.chain_for(first)
    rewrite_from(pf, chain, 3, {"falsifié": True})
    # the attacker edits the seal to match the rewritten chain
    with pf.read() as session:
        new_head = session.get(AuditChainHead, chain).last_hash
    for entry in sealed["chains"]:
        if entry["chain"] == chain:
            entry["head"] = new_head
    path.write_text(json.dumps(sealed), encoding="utf-8")
    result = cli("audit", "verify", "--against", path)
    assert result.exit_code == 1
    assert "signature does not match its content: the seal file was altered" in result.output
    assert "intact" not in result.output


def test_a_seal_re_signed_with_another_key_is_refused(two, cli, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from partnerflow.engine.audit import public_key_text

    path = tmp_path / "seal.json"
    sealed = seal(cli, path)
    forger = Ed25519PrivateKey.generate()
    sealed["public_key"] = public_key_text(forger.public_key())
    body = {k: v for k, v in sealed.items() if k != "signature"}
    import base64

    sealed["signature"] = base64.b64encode(forger.sign(seals.canonical(body))).decode()
    path.write_text(json.dumps(sealed), encoding="utf-8")
    result = cli("audit", "verify", "--against", path)
    assert result.exit_code == 1 and "signed by another key" in result.output
    # the same seal checks out with the key it was signed with, given explicitly
    result = cli("audit", "verify", "--against", path, "--public-key", sealed["public_key"])
    assert result.exit_code == 0, result.output


def test_a_broken_log_is_not_sealed(two, cli, tmp_path):
    pf, first, _, _ = two
    rewrite_from(pf, audit.chain_for(first), 3, {"falsifié": True})
    result = cli("audit", "seal", "--out", tmp_path / "seal.json")
    assert result.exit_code == 1
    assert "refusing to seal" in result.output and f"chain p{first}, event #3" in result.output
    assert not (tmp_path / "seal.json").exists()


def test_a_file_that_is_not_a_seal_is_refused_with_a_reason(two, cli, tmp_path):
    path = tmp_path / "not-a-seal.json"
    path.write_text('{"chains": []}', encoding="utf-8")
    result = cli("audit", "verify", "--against", path)
    assert result.exit_code == 1 and "not a seal" in result.output
    path.write_text("{", encoding="utf-8")
    assert "not JSON" in cli("audit", "verify", "--against", path).output


# ---------------------------------------------------------------- the keys


def test_the_keys_are_files_of_their_owner_only_never_in_the_database(two, cli, tmp_path, keys_dir):
    pf, *_ = two
    seal(cli, tmp_path / "seal.json")
    for name in ("audit_key", "audit_seal_key"):
        assert stat.S_IMODE(os.stat(keys_dir / name).st_mode) == 0o600
    key = (keys_dir / "audit_key").read_text().strip()
    with pf.db.connect() as conn:
        for table in ("audit_event", "audit_chain_head"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert key not in json.dumps([str(v) for v in row])


def test_a_lost_key_file_is_not_silently_replaced(two, keys_dir):
    pf, first, _, _ = two
    (keys_dir / "audit_key").unlink()
    fresh = Partnerflow(pf.settings, clock=pf.clock)
    try:
        with pytest.raises(AuditKeyError, match="is missing but the audit log was keyed"), \
                fresh.read() as session:
            audit.verify(session)
        assert not (keys_dir / "audit_key").exists()
    finally:
        fresh.dispose()


def test_the_key_can_come_from_the_environment(two, keys_dir):
    pf, *_ = two
    key = (keys_dir / "audit_key").read_text().strip()
    (keys_dir / "audit_key").unlink()
    assert Settings.from_env({"PARTNERFLOW_AUDIT_KEY": key}).audit_key == key
    assert key not in repr(Settings.from_env({"PARTNERFLOW_AUDIT_KEY": key}))
    fresh = Partnerflow(pf.settings.with_(audit_key=key), clock=pf.clock)
    try:
        with fresh.read() as session:
            assert audit.verify(session) == []
    finally:
        fresh.dispose()
    short = Partnerflow(pf.settings.with_(audit_key="court"), clock=pf.clock)
    try:
        with pytest.raises(AuditKeyError, match="at least 32"), short.read() as session:
            audit.verify(session)
    finally:
        short.dispose()


# ---------------------------------------------------------------- events from before the key


def unkey(pf) -> None:
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).values(mac=None))
        conn.execute(update(HEADS).values(mac=None))


def test_events_from_before_the_key_are_adopted_once(two, cli):
    pf, first, _, _ = two
    unkey(pf)  # as the upgrade leaves them
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "no MAC" in result.output and "audit adopt" in result.output
    result = cli("audit", "adopt")
    assert result.exit_code == 0, result.output
    assert cli("audit", "verify").exit_code == 0
    # a MAC removed afterwards cannot be given back by adopting again
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{first}").values(mac=None))
        conn.execute(update(HEADS).where(HEADS.c.chain == f"p{first}").values(mac=None))
    result = cli("audit", "adopt")
    assert result.exit_code == 1 and "already adopted" in result.output


def test_adopt_refuses_a_broken_chain_and_a_mac_stripped_after_the_key(two, cli):
    pf, first, second, _ = two
    unkey(pf)
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{first}", EVENTS.c.seq == 2)
                     .values(actor="mallory"))
    result = cli("audit", "adopt")
    assert result.exit_code == 1 and f"chain p{first}, event #2" in result.output
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{first}", EVENTS.c.seq == 2)
                     .values(actor="claire"))
    # events written after the upgrade carry a MAC; theirs stripped are not "old" ones: not
    # after a keyed event of their chain, nor newer than the oldest keyed event
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=second, username="claire", actor="claire")
    with pf.uow() as uow:
        newer = services.create_partnership(uow, title="Après la mise à jour", actor="claire")
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{newer}").values(mac=None))
        conn.execute(update(HEADS).where(HEADS.c.chain == f"p{newer}").values(mac=None))
    result = cli("audit", "adopt")
    assert result.exit_code == 1 and f"chain p{newer}: event #1 has no MAC" in result.output
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=second, username="paul", actor="claire")
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{newer}").values(mac="0" * 64))
        last = conn.scalar(select(EVENTS.c.seq).where(EVENTS.c.chain == f"p{second}")
                           .order_by(EVENTS.c.seq.desc()).limit(1))
        conn.execute(update(EVENTS).where(EVENTS.c.chain == f"p{second}", EVENTS.c.seq == last)
                     .values(mac=None))
    result = cli("audit", "adopt")
    assert result.exit_code == 1 and f"chain p{second}: event #{last} has no MAC" in result.output


def test_a_seal_can_be_e_mailed_through_the_notification_mailer(two, cli, monkeypatch):
    from partnerflow.engine.runtime import notifications

    sent = []

    class Recorder:
        def send(self, to, subject, body):
            sent.append((to, subject, body))

    assert "SMTP" in cli("audit", "seal", "--mail", "conseil@partenaire.example").output
    monkeypatch.setenv("PARTNERFLOW_SMTP_HOST", "smtp.invalid")
    monkeypatch.setattr(notifications, "mailer_for", lambda settings: Recorder())
    result = cli("audit", "seal", "--mail", "conseil@partenaire.example")
    assert result.exit_code == 0, result.output
    [(to, subject, body)] = sent
    assert to == "conseil@partenaire.example" and "sceau du journal d'audit" in subject
    mailed = seals.loads(body[body.index("{"):])
    seals.check_signature(mailed, mailed["public_key"])
    assert mailed["public_key"] in body[:body.index("{")]


# ---------------------------------------------------------------- what the chain stores and names


def test_an_event_appended_without_a_payload_stores_an_empty_object(two):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    with pf.uow() as uow:
        audit.append(uow.session, type="note", actor="claire", at=uow.clock(),
                     partnership_id=first)
        uow.commit()
    with pf.db.connect() as conn:
        row = conn.execute(select(EVENTS.c.payload, EVENTS.c.type).where(EVENTS.c.chain == chain)
                           .order_by(EVENTS.c.seq.desc()).limit(1)).one()
    assert row.type == "note" and row.payload == {}
    assert breaks(pf) == []


def test_a_chain_head_deleted_alone_is_named_as_such(two):
    # the events are still there: "the head is missing", not "the partnership has no chain"
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    with pf.db.begin() as conn:
        conn.execute(delete(HEADS).where(HEADS.c.chain == chain))
    assert breaks(pf) == [f"chain {chain}: the chain head is missing (deleted)"]


def test_a_chain_begun_before_the_key_and_continued_after_it_is_adopted(two, cli):
    # the upgrade leaves old events without a MAC; events appended since carry one, and so
    # does the chain head they moved: adopting keys the old start of the chain all the same
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    unkey(pf)
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=first, username="paul", actor="claire")
    with pf.db.connect() as conn:
        macs = [mac for (mac,) in conn.execute(select(EVENTS.c.mac).where(EVENTS.c.chain == chain)
                                              .order_by(EVENTS.c.seq))]
        head_mac = conn.scalar(select(HEADS.c.mac).where(HEADS.c.chain == chain))
    old = macs.index(next(m for m in macs if m is not None))
    assert old >= 2 and all(m is None for m in macs[:old]) and head_mac is not None
    result = cli("audit", "adopt")
    assert result.exit_code == 0, result.output
    assert f"chain {chain}: {old} event(s) keyed" in result.output
    assert cli("audit", "verify").exit_code == 0


def test_adopting_a_log_keyed_from_the_start_keys_and_records_nothing(two, cli):
    pf, _, _, _ = two
    result = cli("audit", "adopt")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0 event(s) in 0 chain(s) keyed"
    with pf.db.connect() as conn:
        assert conn.scalar(select(EVENTS.c.id).where(EVENTS.c.type == audit.ADOPTED)) is None
    assert breaks(pf) == []


def test_events_of_a_rolled_back_transaction_never_reach_the_chain(two):
    # a step that fails is rolled back and the same unit of work goes on (to say why): the
    # events appended before the rollback are dropped with it, and the chain head re-read
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    before = count(pf, chain)
    with pf.uow() as uow:
        audit.append(uow.session, type="note", actor="claire", at=uow.clock(),
                     partnership_id=first, payload={"essai": "annulé"})
        uow.rollback()
        audit.append(uow.session, type="note", actor="claire", at=uow.clock(),
                     partnership_id=first, payload={"essai": "gardé"})
        uow.commit()
    with pf.db.connect() as conn:
        rows = conn.execute(select(EVENTS.c.seq, EVENTS.c.payload).where(EVENTS.c.chain == chain)
                            .where(EVENTS.c.seq > before)).all()
    assert [tuple(row) for row in rows] == [(before + 1, {"essai": "gardé"})]
    assert breaks(pf) == []


def test_each_verification_is_recorded_per_chain_with_what_was_appended_since(two):
    from partnerflow.engine.store.models import AuditVerification

    pf, first, second, _ = two
    with pf.read() as session:  # never verified: every event is "since"
        row, since = audit.last_verification(session, first)
        assert row is None and since == count(pf, audit.chain_for(first)) > 0
    with pf.uow() as uow:  # the whole log: a row for every chain
        assert audit.verify_and_record(uow.session, actor="claire", at=uow.clock()) == []
        uow.commit()
    with pf.read() as session:
        for pid in (first, second):
            row, since = audit.last_verification(session, pid)
            assert row.intact and row.verified_by == "claire" and since == 0
            assert row.last_seq == count(pf, audit.chain_for(pid))
        assert session.get(AuditVerification, audit.SYSTEM_CHAIN).intact
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=second, username="paul", actor="claire")
    with pf.db.begin() as conn:  # the first chain loses its head
        conn.execute(delete(HEADS).where(HEADS.c.chain == audit.chain_for(first)))
    with pf.uow() as uow:  # one partnership: only its chain's row changes
        [found] = audit.verify_and_record(uow.session, first, actor="paul", at=uow.clock())
        uow.commit()
    with pf.read() as session:
        row, since = audit.last_verification(session, first)
        assert (row.intact, row.last_seq, row.verified_by) == (False, 0, "paul")
        assert row.problem == found.reason == "the chain head is missing (deleted)"
        row, since = audit.last_verification(session, second)
        assert row.verified_by == "claire" and since > 0


def test_adopt_refuses_an_old_chain_whose_newer_events_lost_their_mac(two, cli):
    # the old start of a chain and, right after it, events written once the key existed,
    # their MAC stripped: together they look like an old start, but the newest of them is
    # younger than the first keyed event of the log
    pf, first, second, _ = two
    unkey(pf)
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=second, username="paul", actor="claire")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=first, username="paul", actor="claire")
    chain = audit.chain_for(first)
    with pf.db.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.chain == chain).values(mac=None))
        last = conn.scalar(select(func.max(EVENTS.c.seq)).where(EVENTS.c.chain == chain))
    result = cli("audit", "adopt")
    assert result.exit_code == 1
    assert f"chain {chain}: event #{last} has no MAC but was written after keyed events" \
        in result.output


def test_adopt_refuses_a_keyed_chain_whose_head_alone_lost_its_mac(two, cli):
    pf, first, _, _ = two
    chain = audit.chain_for(first)
    with pf.db.begin() as conn:
        conn.execute(update(HEADS).where(HEADS.c.chain == chain).values(mac=None))
    result = cli("audit", "adopt")
    assert result.exit_code == 1
    assert f"chain {chain}: the head has no MAC although its events have one" in result.output
