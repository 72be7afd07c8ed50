"""`partnerflow audit verify` on one long chain: time grows linearly with the events, memory
stays flat (events and salts stream through in batches, never loaded as ORM objects)."""

from __future__ import annotations

import gc
import time
import tracemalloc
from datetime import timedelta

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


def _verify(pf, partnership_id: int) -> float:
    # processor time of this process (SQLite runs in it): what the machine's other load
    # does not change
    gc.collect()
    began = time.process_time()
    with pf.read() as session:
        breaks = audit.verify(session, partnership_id)
    assert not breaks, breaks
    return time.process_time() - began


def _peak_mib(pf, partnership_id: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        with pf.read() as session:
            audit.verify(session, partnership_id)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(quick: bool = False) -> list[Row]:
    small, large = (2_000, 40_000) if quick else (10_000, 200_000)
    with engine_on_temp_sqlite("audit-verify") as pf:
        make_user(pf, ACTOR, "direction")
        pids = []
        for title in ("Chaîne courte", "Chaîne longue"):
            with pf.uow() as uow:
                pids.append(services.create_partnership(uow, title=title, actor=ACTOR))
        _fill(pf, pids[0], small)
        _fill(pf, pids[1], large)
        times = {pid: [] for pid in pids}
        for rep in range(2 if not quick else 3):  # interleaved, the order alternating
            for pid in (pids if rep % 2 == 0 else pids[::-1]):
                times[pid].append(_verify(pf, pid))
        t_small, t_large = (min(times[p]) for p in pids)
        m_small, m_large = (_peak_mib(pf, p) for p in pids)
    growth = t_large / t_small
    scale = large // small
    return [
        Row("audit verify", f"one chain of {small:,} events (CPU time)", f"{t_small * 1000:.0f} ms"),
        Row("audit verify", f"one chain of {large:,} events", f"{t_large * 1000:.0f} ms"),
        Row("audit verify", f"time growth for {scale}x the events", f"{growth:.1f}x",
            f"<= {scale * 1.1:.0f}x", "yes" if growth <= scale * 1.1 else "NO"),
        Row("audit verify", f"Python memory peak at {large:,} events", f"{m_large:.1f} MiB",
            "<= 50 MiB", "yes" if m_large <= 50 else "NO",
            notes=[f"at {small:,} events: {m_small:.1f} MiB (tracemalloc peak)"]),
    ]
