"""`partnerflow audit verify` on one long chain: time grows linearly with the events, memory
stays flat (events and salts stream through in batches, never loaded as ORM objects).

Each verification runs in a new process on the benchmark's SQLite file (its CPU time, and
the peak resident memory it adds), short chain, long chain, short chain again."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from partnerflow.engine import audit
from partnerflow.engine.runtime import services

from .common import ACTOR, Row, engine_on_temp_sqlite, make_user


def _fill(pf, partnership_id: int, count: int, batch: int = 5000) -> None:
    """`count` events in the partnership's chain, hashed, keyed and committed exactly as
    `audit.append` does (each with its actor and an address as personal values, so salts
    stream beside the events), inserted in batches with SQLAlchemy Core for speed; the
    verification that follows checks they are what the engine would have written."""
    from sqlalchemy import insert, update

    from partnerflow.engine.audit import personal
    from partnerflow.engine.store.models import AuditChainHead, AuditEvent, AuditPersonal

    chain = audit.chain_for(partnership_id)
    with pf.uow() as uow:
        session = uow.session
        key = audit.mac_key(session)
        head = session.get(AuditChainHead, chain)
        seq, previous = (head.last_seq, head.last_hash) if head else (0, audit.GENESIS)
        at = uow.clock()
        events, salts = [], []
        for i in range(count):
            seq += 1
            fields = {"chain": chain, "seq": seq, "type": "bench_event", "actor": ACTOR,
                      "occurred_at": at + timedelta(microseconds=i), "partnership_id": partnership_id,
                      "instance_id": None, "task_uuid": None, "element_id": None,
                      "payload": {"n": i, "remote_addr": "192.0.2.1", "note": "x" * 40},
                      "prev_hash": previous}
            commitments = {}
            for path, value in personal.paths_in(ACTOR, fields["payload"]):
                salt = personal.new_salt()
                commitments[path] = personal.commitment(salt, value)
                salts.append({"chain": chain, "seq": seq, "path": path, "salt": salt,
                              "lookup": personal.lookup(key, value), "erased_at": None})
            hashed = personal.hashed_view({**fields, "occurred_at": audit._iso(fields["occurred_at"])},
                                          commitments)
            previous = audit.compute_hash(hashed)
            events.append({**fields, "hash": previous, "commitments": commitments,
                           "mac": audit.event_mac(key, chain, seq, previous)})
            if len(events) >= batch or i == count - 1:
                session.execute(insert(AuditEvent), events)
                session.execute(insert(AuditPersonal), salts)
                events, salts = [], []
        values = {"last_seq": seq, "last_hash": previous,
                  "mac": audit.head_mac(key, chain, seq, previous)}
        if head is None:
            session.add(AuditChainHead(chain=chain, **values))
        else:
            session.execute(update(AuditChainHead).where(AuditChainHead.chain == chain).values(**values))
        uow.commit()


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _verify(pf, partnership_id: int) -> tuple[float, float]:
    """Processor time of the verification (SQLite runs in the process: what the machine's
    other load does not change) and how far the process's peak resident memory rose above
    what it held before, in MiB (Linux: the peak is reset through /proc/self/clear_refs)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM (the peak) := VmRSS (now)
    before = _rss_kib("VmRSS")
    began = time.process_time()
    with pf.read() as session:
        breaks = audit.verify(session, partnership_id)
    took = time.process_time() - began
    if breaks:
        raise RuntimeError(f"the chain is broken: {breaks[:3]}")
    return took, (_rss_kib("VmHWM") - before) / 1024


def _verify_fresh(url: str, partnership_id: int) -> tuple[float, float]:
    """_verify in a new process on the same file: no memory left free by the filling for
    the verification to reuse unseen, so the peak it adds is its own."""
    out = subprocess.run([sys.executable, "-m", "bench.audit_verify", url, str(partnership_id)],
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    took, mib = json.loads(out.strip().splitlines()[-1])
    return took, mib


def run(quick: bool = False) -> list[Row]:
    small, large = (1_000, 20_000) if quick else (10_000, 200_000)
    with engine_on_temp_sqlite("audit-verify") as pf:
        make_user(pf, ACTOR, "direction")
        pids = []
        for title in ("Chaîne courte", "Chaîne longue"):
            with pf.uow() as uow:
                pids.append(services.create_partnership(uow, title=title, actor=ACTOR))
        _fill(pf, pids[0], small)
        _fill(pf, pids[1], large)
        # the short chain, the long one, the short one again: the long one is verified once
        # (seconds at 200 000 events), the short one's better time is kept
        runs = {pid: [] for pid in pids}
        for pid in (pids[0], pids[1], pids[0]):
            runs[pid].append(_verify_fresh(pf.settings.database_url, pid))
        (t_small, m_small), (t_large, m_large) = (min(runs[p]) for p in pids)
    growth = t_large / t_small
    scale = large // small
    return [
        Row("7 audit verify", f"one chain of {small:,} events (CPU time)", f"{t_small * 1000:.0f} ms"),
        Row("7 audit verify", f"one chain of {large:,} events", f"{t_large * 1000:.0f} ms"),
        Row("7 audit verify", f"time growth for {scale}x the events", f"{growth:.1f}x",
            f"<= {scale * 1.1:.0f}x", "yes" if growth <= scale * 1.1 else "NO"),
        Row("7 audit verify", f"peak resident memory added by verifying {large:,} events",
            f"{m_large:.1f} MiB", "<= 50 MiB", "yes" if m_large <= 50 else "NO",
            notes=[f"at {small:,} events: {m_small:.1f} MiB (each verification in a new process: "
                   "VmHWM - VmRSS before, in the same pass as the time)"]),
    ]


if __name__ == "__main__":  # python -m bench.audit_verify URL PARTNERSHIP_ID: one verification
    from partnerflow.engine.config import Settings
    from partnerflow.engine.runtime.host import Partnerflow

    from .common import FIXTURES

    engine = Partnerflow(Settings(database_url=sys.argv[1], bpmn_dir=FIXTURES,
                                  forms_dir=FIXTURES / "forms"))
    try:
        with engine.read() as warm:  # the connection and the key, before the peak is reset
            audit.mac_key(warm)
        print(json.dumps(_verify(engine, int(sys.argv[2]))))
    finally:
        engine.dispose()
