"""The tamper-evident audit log: append-only events chained by SHA-256 per partnership."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"


def chain_for(partnership_id: int | None) -> str:
    return f"p{partnership_id}" if partnership_id is not None else SYSTEM_CHAIN


def canonical(event: dict) -> bytes:
    """The bytes an event's hash covers: sorted-key JSON, UTF-8, no spaces."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def event_fields(e: AuditEvent) -> dict:
    return {
        "chain": e.chain, "seq": e.seq, "type": e.type, "actor": e.actor,
        "occurred_at": _iso(e.occurred_at), "partnership_id": e.partnership_id,
        "instance_id": e.instance_id, "task_uuid": e.task_uuid, "element_id": e.element_id,
        "payload": e.payload, "prev_hash": e.prev_hash,
    }


def _iso(moment: datetime) -> str:
    # SQLite hands back naive datetimes, PostgreSQL aware ones; the engine stores UTC only.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def compute_hash(fields: dict) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def _json_safe(payload):
    return json.loads(json.dumps(payload, default=str))


@event.listens_for(Session, "after_transaction_end")
def _forget_locked_heads(session: Session, transaction) -> None:
    # a head is only locked, and only current, within the transaction that read it
    if transaction.parent is None:
        session.info.pop("audit_heads", None)
        session.info.pop("audit_pending", None)


@event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    """The events of a transaction go in with one multi-row INSERT, just before commit."""
    pending = session.info.pop("audit_pending", None)
    if pending:
        session.execute(AuditEvent.__table__.insert(), pending)


_COLUMNS = ("chain", "seq", "type", "actor", "occurred_at", "partnership_id", "instance_id",
            "task_uuid", "element_id", "payload", "prev_hash", "hash")


def append(session: Session, *, type: str, actor: str | None, at: datetime,
           partnership_id: int | None = None, instance_id: int | None = None,
           task_uuid: str | None = None, element_id: str | None = None,
           payload: dict | None = None) -> AuditEvent:
    """Append an event to its partnership's chain (locking the chain head); it is written
    when the transaction commits, with the others of the same transaction."""
    chain = chain_for(partnership_id)
    heads = session.info.setdefault("audit_heads", {})
    head = heads.get(chain)
    if head is None or head not in session:
        # the first event of a chain in this transaction locks its head; later ones reuse it
        head = session.execute(
            select(AuditChainHead).where(AuditChainHead.chain == chain).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            head = AuditChainHead(chain=chain, last_seq=0, last_hash=GENESIS)
            session.add(head)
        heads[chain] = head
    event = AuditEvent(chain=chain, seq=head.last_seq + 1, type=type, actor=actor,
                       occurred_at=at, partnership_id=partnership_id,
                       instance_id=instance_id, task_uuid=task_uuid, element_id=element_id,
                       payload=_json_safe(payload or {}), prev_hash=head.last_hash, hash="")
    event.hash = compute_hash(event_fields(event))
    session.info.setdefault("audit_pending", []).append(
        {column: getattr(event, column) for column in _COLUMNS})
    head.last_seq = event.seq
    head.last_hash = event.hash
    return event


@dataclass
class ChainBreak:
    chain: str
    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"chain {self.chain}"
        if self.seq is not None:
            where += f", event #{self.seq}"
        if self.event_id is not None:
            where += f" (id {self.event_id})"
        return f"{where}: {self.reason}"


def verify_events(chain: str, events: list[AuditEvent], head: AuditChainHead | None) -> ChainBreak | None:
    """The first break in one chain's events (ordered by seq), or None when intact."""
    expected_prev, expected_seq = GENESIS, 1
    for e in events:
        if e.seq != expected_seq:
            if e.seq > expected_seq:
                return ChainBreak(chain, expected_seq, None,
                                  f"event #{expected_seq} is missing (deleted); next is #{e.seq}")
            return ChainBreak(chain, e.seq, e.id, "sequence number out of order (inserted or reordered)")
        if e.prev_hash != expected_prev:
            return ChainBreak(chain, e.seq, e.id,
                              "does not follow the previous event (inserted, deleted or reordered)")
        if compute_hash(event_fields(e)) != e.hash:
            return ChainBreak(chain, e.seq, e.id, "content altered: its hash no longer matches")
        expected_prev, expected_seq = e.hash, e.seq + 1
    if head is None and events:
        return ChainBreak(chain, None, None, "the chain head is missing (deleted)")
    if head is not None and head.last_seq == expected_seq - 1 and head.last_hash != expected_prev:
        last = events[-1] if events else None
        return ChainBreak(chain, head.last_seq or None, last.id if last else None,
                          "the last event does not match the chain head (altered and re-hashed, "
                          "or replaced)")
    if head is not None and head.last_seq < expected_seq - 1:
        extra = next(e for e in events if e.seq == head.last_seq + 1)
        return ChainBreak(chain, extra.seq, extra.id,
                          f"the chain head ends at event #{head.last_seq}; later events were "
                          "appended behind its back")
    if head is not None and head.last_seq != expected_seq - 1:
        return ChainBreak(chain, expected_seq, None,
                          f"the chain should end at event #{head.last_seq}; events after "
                          f"#{expected_seq - 1} were deleted")
    return None


def verify(session: Session, partnership_id: int | None = None,
           all_chains: bool = True) -> list[ChainBreak]:
    """Verify one partnership's chain, or every chain; returns the first break of each."""
    if partnership_id is not None:
        chains = [chain_for(partnership_id)]
    else:
        chains = sorted(set(session.scalars(select(AuditEvent.chain).distinct()))
                        | set(session.scalars(select(AuditChainHead.chain))))
    breaks = []
    for chain in chains:
        events = list(session.scalars(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq,
                                                                         AuditEvent.id)))
        head = session.get(AuditChainHead, chain)
        found = verify_events(chain, events, head)
        if found:
            breaks.append(found)
    return breaks
