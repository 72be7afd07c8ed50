"""The audit hash chain, verified on in-memory events: every kind of tampering is found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partnerflow.engine import audit
from partnerflow.engine.store.models import AuditChainHead, AuditEvent

CHAIN = "p1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def link(seq: int, prev_hash: str, payload: dict | None = None, event_id: int | None = None):
    event = AuditEvent(id=event_id or seq, chain=CHAIN, seq=seq, type="task_completed",
                       actor="direction.user", occurred_at=T0 + timedelta(minutes=seq),
                       partnership_id=1, instance_id=1, task_uuid=None, element_id="review",
                       payload=payload or {"round": seq, "commentaire": "relu"},
                       prev_hash=prev_hash, hash="")
    event.hash = audit.compute_hash(audit.event_fields(event))
    return event


def build(count: int = 5) -> tuple[list[AuditEvent], AuditChainHead]:
    events, prev = [], audit.GENESIS
    for seq in range(1, count + 1):
        event = link(seq, prev)
        events.append(event)
        prev = event.hash
    return events, AuditChainHead(chain=CHAIN, last_seq=count, last_hash=prev)


def test_an_intact_chain_passes():
    events, head = build()
    assert audit.verify_events(CHAIN, events, head) is None


def test_an_empty_chain_with_a_fresh_head_passes():
    head = AuditChainHead(chain=CHAIN, last_seq=0, last_hash=audit.GENESIS)
    assert audit.verify_events(CHAIN, [], head) is None


def test_the_hash_covers_naive_and_aware_utc_times_alike():
    # SQLite gives back naive UTC datetimes, PostgreSQL aware ones: same hash.
    events, _ = build(1)
    naive = events[0].occurred_at.replace(tzinfo=None)
    fields = audit.event_fields(events[0])
    events[0].occurred_at = naive
    assert audit.event_fields(events[0]) == fields


def test_an_altered_payload_is_detected_at_that_event():
    events, head = build()
    events[2].payload = {**events[2].payload, "commentaire": "refusé"}
    found = audit.verify_events(CHAIN, events, head)
    assert found is not None and found.seq == 3 and found.event_id == 3
    assert "altered" in found.reason


def test_an_altered_actor_is_detected():
    events, head = build()
    events[0].actor = "someone.else"
    assert audit.verify_events(CHAIN, events, head).seq == 1


def test_an_altered_and_rehashed_event_breaks_the_next_link():
    events, head = build()
    events[1].payload = {"round": 99}
    events[1].hash = audit.compute_hash(audit.event_fields(events[1]))
    found = audit.verify_events(CHAIN, events, head)
    assert found.seq == 3
    assert "does not follow" in found.reason


def test_an_altered_and_rehashed_last_event_is_caught_by_the_head():
    events, head = build()
    events[-1].payload = {"round": 99}
    events[-1].hash = audit.compute_hash(audit.event_fields(events[-1]))
    found = audit.verify_events(CHAIN, events, head)
    assert found is not None and found.seq == 5 and found.event_id == 5


def test_a_deleted_middle_event_is_named_by_its_sequence_number():
    events, head = build()
    del events[2]
    found = audit.verify_events(CHAIN, events, head)
    assert found.seq == 3 and found.event_id is None
    assert "missing" in found.reason


def test_a_deleted_first_event_is_detected():
    events, head = build()
    found = audit.verify_events(CHAIN, events[1:], head)
    assert found.seq == 1


def test_a_deleted_tail_is_detected_through_the_head():
    events, head = build()
    found = audit.verify_events(CHAIN, events[:-2], head)
    assert found is not None and found.seq == 4
    assert "deleted" in found.reason


def test_without_the_head_a_deleted_tail_would_go_unnoticed():
    # Which is why the head is kept, and why a missing head is itself a break.
    events, _ = build()
    found = audit.verify_events(CHAIN, events[:-2], None)
    assert found is not None and "head is missing" in found.reason


def test_an_inserted_forged_event_is_detected_even_when_well_hashed():
    events, head = build()
    forged = link(3, events[1].hash, {"forged": True}, event_id=99)
    tail = []
    for original in events[2:]:
        original.seq += 1
        tail.append(original)
    found = audit.verify_events(CHAIN, [*events[:2], forged, *tail], head)
    assert found is not None and found.seq == 4 and found.event_id == 3


def test_an_event_appended_behind_the_heads_back_is_detected():
    events, head = build()
    extra = link(6, events[-1].hash, {"forged": True}, event_id=99)
    found = audit.verify_events(CHAIN, [*events, extra], head)
    assert found is not None and found.seq == 6 and found.event_id == 99


def test_a_duplicate_sequence_number_is_detected():
    events, head = build()
    duplicate = link(3, events[1].hash, {"forged": True}, event_id=99)
    found = audit.verify_events(CHAIN, [*events[:3], duplicate, *events[3:]], head)
    assert found is not None and found.seq == 3 and found.event_id == 99


def test_reordered_events_are_detected():
    events, head = build()
    events[1].seq, events[2].seq = 3, 2
    reordered = sorted(events, key=lambda e: e.seq)
    found = audit.verify_events(CHAIN, reordered, head)
    assert found is not None and found.seq == 2 and found.event_id == 3


@pytest.mark.parametrize("partnership, chain", [(7, "p7"), (None, "system")])
def test_each_partnership_has_its_own_chain(partnership, chain):
    assert audit.chain_for(partnership) == chain


def test_the_canonical_form_is_key_order_independent_and_keeps_accents():
    a = audit.canonical({"b": 1, "a": "relu et validé"})
    b = audit.canonical({"a": "relu et validé", "b": 1})
    assert a == b
    assert "validé".encode() in a
