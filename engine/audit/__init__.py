"""The tamper-evident audit log: append-only events chained by SHA-256 per partnership,
each event and chain head sealed with an HMAC whose key is kept outside the database.

The keys live in files (or, for the MAC key, in an environment variable): the MAC key that
seals each chain, and the Ed25519 key that signs the checkpoints handed to third parties
(seal.py). A key file missing on first use is created with mode 0600; the MAC key file is
not re-created once the database holds events keyed with a MAC, since a new key would only
make every chain fail to verify."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from partnerflow.engine.audit import personal
from partnerflow.engine.config import Settings
from partnerflow.engine.errors import PartnerflowError
from partnerflow.engine.store.models import (
    AuditChainHead,
    AuditEvent,
    AuditPersonal,
    AuditVerification,
    Partnership,
)

# --- The audit log's keys, kept outside the database.

MIN_KEY_CHARS = 32


class AuditKeyError(PartnerflowError):
    """An audit key that is missing, unreadable or too short."""


def _create_private_file(path: Path, content: bytes) -> None:
    """Write a new file readable by its owner only; if another process wrote it first, keep
    theirs (the content goes to a temporary file, then is linked into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: keep its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"the audit key file {path} cannot be read: {exc.strerror}") from None


class AuditKeys:
    """The keys of one engine, loaded on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._mac_key: bytes | None = None

    def mac_key(self, already_keyed: Callable[[], bool]) -> bytes:
        """The HMAC key; `already_keyed()` says whether the database holds keyed events (then
        a missing key file is an error instead of being created)."""
        if self._mac_key is None:
            self._mac_key = self._load_mac_key(already_keyed)
        return self._mac_key

    def _load_mac_key(self, already_keyed: Callable[[], bool]) -> bytes:
        if self.settings.audit_key:
            key = self.settings.audit_key.strip()
            if len(key) < MIN_KEY_CHARS:
                raise AuditKeyError(f"PARTNERFLOW_AUDIT_KEY must be at least {MIN_KEY_CHARS} "
                                    "characters long")
            return key.encode("utf-8")
        path = Path(self.settings.audit_key_file)
        if not path.exists():
            if already_keyed():
                raise AuditKeyError(
                    f"the audit key file {path} is missing but the audit log was keyed with it: "
                    "restore the file (or set PARTNERFLOW_AUDIT_KEY); a new key would make "
                    "every chain fail to verify")
            _create_private_file(path, secrets.token_hex(32).encode("ascii") + b"\n")
        key = _read(path).strip()
        if len(key) < MIN_KEY_CHARS:
            raise AuditKeyError(f"the audit key in {path} must be at least {MIN_KEY_CHARS} "
                                "characters long")
        return key

    def signing_key(self, create: bool = True):
        """The Ed25519 private key that signs seals (created on first use unless `create` is
        false: then a missing file is an error)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path = Path(self.settings.audit_seal_key_file)
        if not path.exists():
            if not create:
                raise AuditKeyError(f"this instance has no seal signing key ({path})")
            _create_private_file(path, Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        try:
            key = serialization.load_pem_private_key(_read(path), password=None)
        except ValueError:
            raise AuditKeyError(f"the seal signing key file {path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"the seal signing key in {path} is not an Ed25519 key")
        return key

    def public_key(self, create: bool = True) -> str:
        """The seal signing key's public half, base64 of its 32 raw bytes."""
        return public_key_text(self.signing_key(create).public_key())


def public_key_text(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public_key(text: str):
    """An Ed25519 public key from base64 of its raw bytes, or from PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise AuditKeyError("the public key is neither base64 of 32 bytes nor an Ed25519 PEM key") from None


# --- The chains: append-only events chained by SHA-256 per partnership.

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
KEYS = "audit_keys"  # the Session.info entry holding the engine's AuditKeys


def chain_for(partnership_id: int | None) -> str:
    return f"p{partnership_id}" if partnership_id is not None else SYSTEM_CHAIN


def partnership_of(chain: str) -> int | None:
    return int(chain[1:]) if chain.startswith("p") and chain[1:].isdigit() else None


def bind_keys(sessions: sessionmaker, keys: AuditKeys) -> None:
    """Every session of this factory appends and verifies with these keys."""
    sessions.configure(info={KEYS: keys})


def mac_key(session: Session) -> bytes:
    keys = session.info.get(KEYS)
    if keys is None:
        raise AuditKeyError("this database session has no audit key (sessions come from the "
                            "engine's factory)")
    return keys.mac_key(lambda: session.scalar(
        select(AuditEvent.id).where(AuditEvent.mac.is_not(None)).limit(1)) is not None)


def _mac(key: bytes, kind: str, chain: str, seq: int, hash_: str) -> str:
    # "event" and "head" MACs differ so that an event's MAC never passes for a head's
    message = f"partnerflow-audit-{kind}\x00{chain}\x00{seq}\x00{hash_}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def event_mac(key: bytes, chain: str, seq: int, hash_: str) -> str:
    return _mac(key, "event", chain, seq, hash_)


def head_mac(key: bytes, chain: str, last_seq: int, last_hash: str) -> str:
    return _mac(key, "head", chain, last_seq, last_hash)


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


def event_hash(e: AuditEvent, fields: dict | None = None) -> str:
    """The hash an event must carry: over its fields, personal values as their commitments."""
    return compute_hash(personal.hashed_view(fields or event_fields(e), e.commitments))


def _json_safe(payload):
    return json.loads(json.dumps(payload, default=str))


@event.listens_for(Session, "after_transaction_end")
def _forget_locked_heads(session: Session, transaction) -> None:
    # a head is only locked, and only current, within the transaction that read it
    if transaction.parent is None:
        session.info.pop("audit_heads", None)
        session.info.pop("audit_pending", None)
        session.info.pop("audit_personal_pending", None)


@dataclass
class _Head:
    """A chain head as this transaction moves it: read (and locked) at the chain's first
    event, written once, with its MAC, just before commit."""

    chain: str
    last_seq: int
    last_hash: str
    stored: bool  # the row exists (else it is inserted)
    key: bytes


@event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    """The events of a transaction go in with one multi-row INSERT, and each chain head with
    one statement, just before commit."""
    pending = session.info.pop("audit_pending", None)
    heads = session.info.pop("audit_heads", None)
    if not pending:
        return
    session.flush()  # the ORM's own writes first: nothing it holds may overwrite a head
    session.execute(AuditEvent.__table__.insert(), pending)
    salts = session.info.pop("audit_personal_pending", None)
    if salts:
        session.execute(AuditPersonal.__table__.insert(), salts)
    table = AuditChainHead.__table__
    for head in (heads or {}).values():
        values = {"last_seq": head.last_seq, "last_hash": head.last_hash,
                  "mac": head_mac(head.key, head.chain, head.last_seq, head.last_hash)}
        if head.stored:
            session.execute(table.update().where(table.c.chain == head.chain).values(**values))
        else:
            session.execute(table.insert().values(chain=head.chain, **values))


_COLUMNS = ("chain", "seq", "type", "actor", "occurred_at", "partnership_id", "instance_id",
            "task_uuid", "element_id", "payload", "prev_hash", "hash", "mac", "commitments")


def append(session: Session, *, type: str, actor: str | None, at: datetime,
           partnership_id: int | None = None, instance_id: int | None = None,
           task_uuid: str | None = None, element_id: str | None = None,
           payload: dict | None = None, personal_fields: tuple[str, ...] = ()) -> AuditEvent:
    """Append an event to its partnership's chain (locking the chain head); it is written
    when the transaction commits, with the others of the same transaction.

    Its personal values (the actor, personal.PERSONAL_KEYS anywhere in the payload, and the
    payload paths `personal_fields` names, such as a form's x-personal fields) are hashed as
    salted commitments, so that they can be erased without breaking the chain."""
    chain = chain_for(partnership_id)
    key = mac_key(session)
    heads = session.info.setdefault("audit_heads", {})
    head = heads.get(chain)
    if head is None:
        # the first event of a chain in this transaction locks its head; later ones reuse it
        with session.no_autoflush:  # the head is written by this module only, never flushed
            row = session.execute(
                select(AuditChainHead.last_seq, AuditChainHead.last_hash)
                .where(AuditChainHead.chain == chain).with_for_update()).first()
        head = heads[chain] = (_Head(chain, row.last_seq, row.last_hash, True, key) if row
                               else _Head(chain, 0, GENESIS, False, key))
    event = AuditEvent(chain=chain, seq=head.last_seq + 1, type=type, actor=actor,
                       occurred_at=at, partnership_id=partnership_id,
                       instance_id=instance_id, task_uuid=task_uuid, element_id=element_id,
                       payload=_json_safe(payload or {}), prev_hash=head.last_hash, hash="")
    values = personal.paths_in(actor, event.payload, personal_fields)
    if values:
        salts = session.info.setdefault("audit_personal_pending", [])
        event.commitments = {}
        for path, value in values:
            salt = personal.new_salt()
            event.commitments[path] = personal.commitment(salt, value)
            salts.append({"chain": chain, "seq": event.seq, "path": path, "salt": salt,
                          "lookup": personal.lookup(key, value), "erased_at": None})
    event.hash = event_hash(event)
    event.mac = event_mac(key, chain, event.seq, event.hash)
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


def verify_events(chain: str, events: Iterable, head: AuditChainHead | None,
                  key: bytes | None = None, salts=None) -> ChainBreak | None:
    """The first break in one chain's events (ordered by seq; any iterable, read once, so
    that a chain streams through in constant memory), or None when intact. Without a key
    only the hashes are checked (what a third party can do); with the audit key each event's
    and the head's MAC too, so that a chain re-hashed from an edited event on is caught at
    that event. `salts`, the chain's personal-value salts ((seq, path) -> salt, or (seq,
    path, salt) rows ordered by seq), has each personal value checked against its
    commitment."""
    expected_prev, expected_seq = GENESIS, 1
    last = beyond = None
    salts_of = _SaltCursor(salts) if salts is not None else None
    for e in events:
        fields = event_fields(e)
        found = _event_break(chain, e, expected_seq, expected_prev, key, fields) or (
            _personal_break(chain, e, salts_of.at(e.seq), fields) if salts_of is not None else None)
        if found:
            return found
        expected_prev, expected_seq, last = e.hash, e.seq + 1, e
        if beyond is None and head is not None and e.seq == head.last_seq + 1:
            beyond = e
    found = _head_break(chain, last, beyond, head, expected_seq - 1, expected_prev)
    if found is None and key is not None and head is not None and last is not None:
        if head.mac is None:
            return ChainBreak(chain, head.last_seq, None, "the chain head carries no MAC "
                              "(removed, or written before the audit key: see `partnerflow "
                              "audit adopt`)")
        if not _same(head.mac, head_mac(key, chain, head.last_seq, head.last_hash)):
            return ChainBreak(chain, head.last_seq, None,
                              "the chain head's MAC does not match: the chain was rewritten or "
                              "cut back by someone without the audit key")
    return found


class _SaltCursor:
    """The salts of one event at a time, from a dict or from rows ordered by seq."""

    def __init__(self, salts):
        self._dict = salts if isinstance(salts, dict) else None
        self._rows = None if self._dict is not None else iter(salts)
        self._pending = None

    def at(self, seq: int) -> dict[str, str | None]:
        if self._dict is not None:
            return {path: salt for (s, path), salt in self._dict.items() if s == seq}
        found: dict[str, str | None] = {}
        while True:
            row = self._pending or next(self._rows, None)
            self._pending = None
            if row is None:
                return found
            if row[0] < seq:
                continue
            if row[0] > seq:
                self._pending = row
                return found
            found[row[1]] = row[2]


def _same(stored: str, expected: str) -> bool:
    # bytes, so that whatever was written into the column compares instead of raising
    return hmac.compare_digest(str(stored).encode("utf-8"), expected.encode("ascii"))


def _event_break(chain: str, e: AuditEvent, expected_seq: int, expected_prev: str,
                 key: bytes | None, fields: dict | None = None) -> ChainBreak | None:
    if e.seq != expected_seq:
        if e.seq > expected_seq:
            return ChainBreak(chain, expected_seq, None,
                              f"event #{expected_seq} is missing (deleted); next is #{e.seq}")
        return ChainBreak(chain, e.seq, e.id, "sequence number out of order (inserted or reordered)")
    if e.prev_hash != expected_prev:
        return ChainBreak(chain, e.seq, e.id,
                          "does not follow the previous event (inserted, deleted or reordered)")
    if event_hash(e, fields) != e.hash:
        return ChainBreak(chain, e.seq, e.id, "content altered: its hash no longer matches")
    if key is None:
        return None
    if e.mac is None:
        return ChainBreak(chain, e.seq, e.id, "carries no MAC (removed, or written before the "
                          "audit key: see `partnerflow audit adopt`)")
    if not _same(e.mac, event_mac(key, chain, e.seq, e.hash)):
        return ChainBreak(chain, e.seq, e.id, "its MAC does not match: altered and re-hashed by "
                          "someone without the audit key")
    return None


def _personal_break(chain: str, e, salts: dict[str, str | None], fields: dict) -> ChainBreak | None:
    """Each personal value still matches its commitment (its salt kept), or was erased."""
    if not e.commitments:
        return None
    for path, digest in e.commitments.items():
        try:
            value = personal.value_at(fields, path)
        except (KeyError, IndexError, ValueError, TypeError):
            return ChainBreak(chain, e.seq, e.id, f"its personal value {path} is gone")
        salt = salts.get(path)
        if salt is None:
            if not personal.is_erased(value):
                return ChainBreak(chain, e.seq, e.id, f"the salt of its personal value {path} "
                                  "is missing but the value was not erased")
        elif personal.commitment(salt, value) != digest:
            return ChainBreak(chain, e.seq, e.id, f"its personal value {path} was altered: it "
                              "no longer matches its commitment")
    return None


def chain_salts(session: Session, chain: str):
    """The chain's salts as (seq, path, salt) rows ordered by seq, streamed."""
    return session.execute(
        select(AuditPersonal.seq, AuditPersonal.path, AuditPersonal.salt)
        .where(AuditPersonal.chain == chain).order_by(AuditPersonal.seq, AuditPersonal.path)
        .execution_options(yield_per=STREAM_BATCH))


def _head_break(chain: str, last, beyond, head: AuditChainHead | None,
                last_seq: int, last_hash: str) -> ChainBreak | None:
    if head is None and last is not None:
        return ChainBreak(chain, None, None, "the chain head is missing (deleted)")
    if head is None:
        return None
    if head.last_seq == last_seq and head.last_hash != last_hash:
        return ChainBreak(chain, head.last_seq or None, last.id if last else None,
                          "the last event does not match the chain head (altered and re-hashed, "
                          "or replaced)")
    if head.last_seq < last_seq:
        return ChainBreak(chain, beyond.seq, beyond.id,
                          f"the chain head ends at event #{head.last_seq}; later events were "
                          "appended behind its back")
    if head.last_seq != last_seq:
        return ChainBreak(chain, last_seq + 1, None,
                          f"the chain should end at event #{head.last_seq}; events after "
                          f"#{last_seq} were deleted")
    return None


STREAM_BATCH = 2000


def _stream_chain(session: Session, chain: str):
    """One chain's events as rows (not ORM objects), fetched in batches: constant memory."""
    return session.execute(select(*AuditEvent.__table__.c).where(AuditEvent.chain == chain)
                           .order_by(AuditEvent.seq, AuditEvent.id)
                           .execution_options(yield_per=STREAM_BATCH))


def _chain_events(session: Session, chain: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.chain == chain)
                                .order_by(AuditEvent.seq, AuditEvent.id)))


def verify(session: Session, partnership_id: int | None = None, *,
           keyed: bool = True) -> list[ChainBreak]:
    """Verify one partnership's chain, or every chain; returns the first break of each.
    Every partnership must have a chain and every partnership chain a partnership; with
    `keyed` (the default) the MACs are checked with the audit key."""
    key = mac_key(session) if keyed else None
    if partnership_id is not None:
        partnerships = set(session.scalars(select(Partnership.id).where(
            Partnership.id == partnership_id)))
        chains = [chain_for(partnership_id)]
    else:
        partnerships = set(session.scalars(select(Partnership.id)))
        chains = sorted(set(session.scalars(select(AuditEvent.chain).distinct()))
                        | set(session.scalars(select(AuditChainHead.chain)))
                        | {chain_for(pid) for pid in partnerships})
    breaks = []
    for chain in chains:
        head = session.get(AuditChainHead, chain)
        seen = _Seen(_stream_chain(session, chain))
        found = verify_events(chain, seen, head, key, chain_salts(session, chain))
        events = seen.any
        pid = partnership_of(chain)
        if found is None and not events and head is None and pid in partnerships:
            found = ChainBreak(chain, None, None, f"partnership #{pid} has no audit chain: its "
                               "events and chain head were deleted")
        if found is None and (events or head is not None) and pid is not None \
                and pid not in partnerships:
            found = ChainBreak(chain, None, None, f"partnership #{pid} no longer exists but its "
                               "audit chain does (the partnership was deleted)")
        if found:
            breaks.append(found)
    return breaks


def verify_and_record(session: Session, partnership_id: int | None = None, *,
                      actor: str | None, at: datetime) -> list[ChainBreak]:
    """Verify (one partnership's chain, or every chain) and record each chain's result as
    its last verification; the caller commits."""
    breaks = verify(session, partnership_id)
    broken = {b.chain: b for b in breaks}
    if partnership_id is not None:
        chains = [chain_for(partnership_id)]
    else:
        chains = sorted(set(session.scalars(select(AuditChainHead.chain))) | set(broken))
    for chain in chains:
        head = session.get(AuditChainHead, chain)
        found = broken.get(chain)
        row = session.get(AuditVerification, chain) or AuditVerification(chain=chain)
        row.verified_at, row.verified_by = at, actor
        row.last_seq = head.last_seq if head is not None else 0
        row.intact = found is None
        row.first_break_seq = found.seq if found else None
        row.problem = found.reason if found else None
        session.add(row)
    return breaks


def last_verification(session: Session, partnership_id: int) -> tuple[AuditVerification | None, int]:
    """The chain's last recorded verification, and how many events were appended since."""
    chain = chain_for(partnership_id)
    row = session.get(AuditVerification, chain)
    head_seq = session.scalar(select(AuditChainHead.last_seq).where(AuditChainHead.chain == chain)) or 0
    return row, head_seq - (row.last_seq if row is not None else 0)


class _Seen:
    """Iterates rows once, remembering whether there were any."""

    def __init__(self, rows):
        self._rows, self.any = rows, False

    def __iter__(self):
        for row in self._rows:
            self.any = True
            yield row


ADOPTED = "audit_adopted"


def adopt(session: Session, *, actor: str | None = None, at: datetime) -> dict[str, int]:
    """Give a MAC to the events and chain heads written before the audit key existed, once,
    after the upgrade that added MACs. Only events older than the first keyed one are keyed,
    and only as the start of their chain; nothing is keyed while any chain is broken, or once
    the log was adopted. Records the adoption in the system chain; returns the events keyed
    per chain."""
    done = session.scalar(select(AuditEvent.occurred_at).where(
        AuditEvent.chain == SYSTEM_CHAIN, AuditEvent.type == ADOPTED).limit(1))
    if done is not None:
        raise AuditKeyError(f"the audit log was already adopted ({_iso(done)[:10]}): an event "
                            "without a MAC now was stripped of it")
    problems = [str(b) for b in verify(session, keyed=False)]
    first_keyed = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.mac.is_not(None)))
    plan: list[tuple[str, list[AuditEvent], AuditChainHead]] = []
    for chain in sorted(session.scalars(select(AuditChainHead.chain))):
        events = _chain_events(session, chain)
        head = session.get(AuditChainHead, chain)
        unkeyed = [e for e in events if e.mac is None]
        if unkeyed and (unkeyed != events[:len(unkeyed)]
                        or (first_keyed is not None and unkeyed[-1].id > first_keyed)):
            problems.append(f"chain {chain}: event #{unkeyed[-1].seq} has no MAC but was written "
                            "after keyed events (its MAC was removed)")
        elif head.mac is None and len(unkeyed) != len(events):
            problems.append(f"chain {chain}: the head has no MAC although its events have one")
        elif unkeyed or head.mac is None:
            plan.append((chain, unkeyed, head))
    if problems:
        raise AuditKeyError("refusing to key an audit log that does not verify: "
                            + "; ".join(problems))
    key = mac_key(session)
    keyed: dict[str, int] = {}
    for chain, unkeyed, head in plan:
        for e in unkeyed:
            e.mac = event_mac(key, chain, e.seq, e.hash)
        if head.mac is None:
            head.mac = head_mac(key, chain, head.last_seq, head.last_hash)
        keyed[chain] = len(unkeyed)
    if keyed:
        session.flush()
        append(session, type=ADOPTED, actor=actor, at=at,
               payload={"chains": len(keyed), "events": sum(keyed.values())})
    return keyed
