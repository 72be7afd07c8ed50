"""Personal values in the audit log, kept outside what the chain hashes.

An event's personal values (who acted, a person's name, address or IP address, a form field
the form declares `x-personal`) are hashed as salted commitments:
`sha256(salt || canonical(value))`, the salt kept in `audit_personal` beside the path of the
value in the event. The event row keeps the readable value. Erasing a person's value
overwrites it with a marker saying when it was erased, and deletes its salt: the event's hash,
computed over the commitment, still verifies, and nobody can tell the value from the
commitment any more.

While its salt exists, a value is checked against its commitment, so altering one is caught
like any altered content. An erasure is recorded in the system chain.

Paths: `actor`, or `payload.<key>[.<key or row index>…]`."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
from datetime import datetime

# payload keys whose value names or locates a person, wherever an event carries them
PERSONAL_KEYS = frozenset({
    "username", "user", "full_name", "email", "remote_addr", "who", "deputy", "assignee",
    "owner", "on_behalf_of", "asked", "author", "actor", "signatory", "members", "accounts",
})
COMMITMENT = "$commitment"
ERASED = "$erased"


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def commitment(salt: str, value) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + canonical(value)).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def normalised(value) -> str:
    """What a lookup compares: case, accents and spacing folded."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    return " ".join(text.lower().split())


def lookup(key: bytes, value) -> str:
    """A keyed digest of the value, indexed, to find a person's values without storing them
    a second time in clear."""
    return hmac.new(key, b"personal\x00" + normalised(value).encode(), hashlib.sha256).hexdigest()


def _walk(node, parts: list[str]):
    """The value at `parts` under `node`, or KeyError."""
    for part in parts:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def value_at(fields: dict, path: str):
    head, *rest = path.split(".")
    return _walk(fields[head], rest)


def set_at(fields: dict, path: str, value) -> None:
    head, *rest = path.split(".")
    if not rest:
        fields[head] = value
        return
    node = _walk(fields[head], rest[:-1])
    if isinstance(node, list):
        node[int(rest[-1])] = value
    else:
        node[rest[-1]] = value


def _flatten(prefix: str, value, out: list[tuple[str, object]]) -> None:
    """Leaves of a personal value (a list of members gives one path per member)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(f"{prefix}.{i}", item, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif value not in (None, ""):
        out.append((prefix, value))


def paths_in(actor: str | None, payload: dict, declared: tuple[str, ...] = ()) -> list[tuple[str, object]]:
    """(path, value) of every personal value of an event: its actor, payload keys named in
    PERSONAL_KEYS at any depth, and the `declared` payload paths (a form's x-personal fields,
    `*` standing for every row)."""
    found: list[tuple[str, object]] = []
    if actor:
        found.append(("actor", actor))

    def visit(prefix: str, node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in PERSONAL_KEYS:
                    _flatten(f"{prefix}.{key}", value, found)
                else:
                    visit(f"{prefix}.{key}", value)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                visit(f"{prefix}.{i}", item)

    visit("payload", payload)
    seen = {p for p, _v in found}
    for pattern in declared:
        for path, value in _expand(payload, pattern.split(".")):
            full = f"payload.{path}"
            if full not in seen and not any(full.startswith(s + ".") for s in seen):
                _flatten(full, value, found)
                seen.add(full)
    return found


def _expand(node, parts: list[str], prefix: str = ""):
    if not parts:
        yield prefix.rstrip("."), node
        return
    part, rest = parts[0], parts[1:]
    if part == "*" and isinstance(node, list):
        for i, item in enumerate(node):
            yield from _expand(item, rest, f"{prefix}{i}.")
    elif isinstance(node, dict) and part in node:
        yield from _expand(node[part], rest, f"{prefix}{part}.")


def hashed_view(fields: dict, commitments: dict[str, str] | None) -> dict:
    """The fields an event's hash covers: each committed value replaced by its commitment."""
    if not commitments:
        return fields
    view = dict(fields)
    for path, digest in commitments.items():
        try:
            _replace_copying(view, path.split("."), {COMMITMENT: digest})
        except (KeyError, IndexError, ValueError, TypeError):
            # the value's place is gone: the view cannot match, and verification says so
            view.setdefault("$missing", []).append(path)
    return view


def _replace_copying(node: dict, parts: list[str], value) -> None:
    """Set the value at `parts`, copying each container on the way (the original fields
    are left as they are; only the path is copied, not the whole payload)."""
    for part in parts[:-1]:
        key = int(part) if isinstance(node, list) else part
        child = node[key]
        child = list(child) if isinstance(child, list) else dict(child)
        node[key] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        if last not in node:
            raise KeyError(last)
        node[last] = value


def erased_marker(at: datetime) -> dict:
    return {ERASED: at.date().isoformat()}


def erased_actor(at: datetime) -> str:
    return f"[effacé le {at.date().isoformat()}]"


def is_erased(value) -> bool:
    return (isinstance(value, dict) and ERASED in value) or (
        isinstance(value, str) and value.startswith("[effacé le "))


def schema_paths(schema: dict | None, prefix: str = "data") -> tuple[str, ...]:
    """The payload paths of a form's fields declared `"x-personal": true` (rows as `*`)."""
    found: list[str] = []

    def visit(node, path: str):
        if not isinstance(node, dict):
            return
        if node.get("x-personal") is True:
            found.append(path)
            return
        for key, child in (node.get("properties") or {}).items():
            visit(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}.*")

    visit(schema or {}, prefix)
    return tuple(p for p in found if p != prefix)
