"""Signed checkpoints of the audit log that a third party keeps.

A seal lists, for every chain, its number of events and the hash of its last event, and is
signed with the instance's Ed25519 key: anyone holding the public key can check that a seal
is genuine without any secret, and a seal kept outside the organisation shows later whether
a chain was rewritten, cut back or deleted since (a chain may only have grown)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.audit import AuditKeys, load_public_key, public_key_text
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import PartnerflowError
from partnerflow.engine.store.models import AuditChainHead, AuditEvent

SEAL_FORMAT = "partnerflow-audit-seal/1"
MAIL_SUBJECT = "Partnerflow : sceau du journal d'audit du {at}"
MAIL_BODY = (
    "Bonjour,\n\nVoici le sceau signé du journal d'audit de Partnerflow. Conservez-le tel quel "
    "(le texte JSON ci-dessous, dans un fichier) : il permettra de vérifier plus tard que "
    "l'historique des partenariats n'a été ni réécrit ni tronqué depuis.\n\n"
    "Clé publique qui vérifie sa signature : {public_key}\n\n")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class AuditSealError(PartnerflowError):
    """A seal that cannot be made, read or trusted."""


def canonical(document: dict) -> bytes:
    """The bytes a seal's signature covers: the seal without `signature`, as sorted-key JSON
    without spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def make_seal(session, keys: AuditKeys, *, at: datetime, site: str | None = None) -> dict:
    """A signed seal of every chain as it stands; refuses while any chain is broken, since a
    seal would then vouch for the tampering."""
    breaks = audit.verify(session)
    if breaks:
        raise AuditSealError("refusing to seal an audit log that does not verify: "
                             + "; ".join(str(b) for b in breaks))
    heads = session.scalars(select(AuditChainHead).where(AuditChainHead.last_seq > 0))
    chains = [{"chain": h.chain, "partnership_id": audit.partnership_of(h.chain),
               "events": h.last_seq, "head": h.last_hash} for h in heads]
    chains.sort(key=lambda c: (c["partnership_id"] is not None, c["partnership_id"] or 0, c["chain"]))
    private = keys.signing_key()
    document = {"format": SEAL_FORMAT, "sealed_at": as_utc(at).isoformat(timespec="seconds"),
                "site": site, "public_key": public_key_text(private.public_key()),
                "chains": chains}
    document["signature"] = base64.b64encode(private.sign(canonical(document))).decode("ascii")
    return document


def dumps(seal: dict) -> str:
    return json.dumps(seal, indent=1, ensure_ascii=False) + "\n"


def loads(text: str) -> dict:
    """A seal read from its file, its shape checked (not yet its signature)."""
    try:
        seal = json.loads(text)
    except ValueError as exc:
        raise AuditSealError(f"the seal is not JSON: {exc}") from None
    if not isinstance(seal, dict) or seal.get("format") != SEAL_FORMAT:
        raise AuditSealError(f"the file is not a seal ({SEAL_FORMAT!r} expected in `format`)")
    if not isinstance(seal.get("signature"), str) or not isinstance(seal.get("public_key"), str):
        raise AuditSealError("the seal has no signature or no public key")
    if not isinstance(seal.get("sealed_at"), str):
        raise AuditSealError("the seal has no date (`sealed_at`)")
    chains = seal.get("chains")
    if not isinstance(chains, list):
        raise AuditSealError("the seal has no list of chains")
    for number, chain in enumerate(chains, start=1):
        if not (isinstance(chain, dict) and isinstance(chain.get("chain"), str)
                and isinstance(chain.get("events"), int) and chain["events"] >= 1
                and isinstance(chain.get("head"), str) and _HASH.match(chain["head"])):
            raise AuditSealError(f"chain entry {number} of the seal is malformed (chain, events "
                                 "and a 64-hex head are needed)")
    return seal


def check_signature(seal: dict, trusted_public_key: str) -> None:
    """Raise unless the seal was signed, unaltered, by the trusted key."""
    from cryptography.exceptions import InvalidSignature

    trusted = load_public_key(trusted_public_key)
    if seal["public_key"].strip() != public_key_text(trusted):
        raise AuditSealError(f"the seal was signed by another key ({seal['public_key']}), not by "
                             f"the trusted key ({public_key_text(trusted)})")
    body = {k: v for k, v in seal.items() if k != "signature"}
    try:
        trusted.verify(base64.b64decode(seal["signature"], validate=True), canonical(body))
    except (InvalidSignature, ValueError):
        raise AuditSealError("the seal's signature does not match its content: the seal file "
                             "was altered") from None


@dataclass
class SealMismatch:
    chain: str
    partnership_id: int | None
    reason: str

    def __str__(self) -> str:
        who = f"partnership #{self.partnership_id}" if self.partnership_id is not None else "the system chain"
        return f"chain {self.chain} ({who}): {self.reason}"


def compare(session, seal: dict) -> list[SealMismatch]:
    """Every sealed chain must still hold the sealed events: at least as many, the one at
    the sealed count with the sealed hash (so, the chain's links being checked by
    `audit.verify`, the same events up to there)."""
    mismatches = []
    for sealed in seal["chains"]:
        chain, count, head_hash = sealed["chain"], sealed["events"], sealed["head"]
        pid = audit.partnership_of(chain)
        at_count = session.scalar(select(AuditEvent).where(AuditEvent.chain == chain,
                                                           AuditEvent.seq == count))
        if at_count is not None:
            if at_count.hash != head_hash:
                mismatches.append(SealMismatch(chain, pid, f"event #{count} no longer has the sealed "
                                               "hash: the chain was rewritten since the seal"))
            continue
        remaining = session.scalar(select(AuditEvent.seq).where(AuditEvent.chain == chain)
                                   .order_by(AuditEvent.seq.desc()).limit(1))
        if remaining is None:
            mismatches.append(SealMismatch(chain, pid, f"sealed with {count} events, the chain is "
                                           "gone (deleted)"))
        else:
            cut = f" (the chain now ends at #{remaining}: cut back)" if remaining < count else ""
            mismatches.append(SealMismatch(chain, pid, f"sealed with {count} events, event #{count} "
                                           f"is gone{cut}"))
    return mismatches
