"""The key that signs the web sessions: what makes one fit to serve, the file `make run`
creates on first start and reuses afterwards, and reading a key file named in production."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import PartnerflowError

# The key Settings fall back to: fine for tests and the debugger, never for serving.
DEVELOPMENT_KEY = "dev-only-change-me"
MIN_KEY_BYTES = 32
HOW_TO_SET = ("set PARTNERFLOW_SECRET_KEY or PARTNERFLOW_SECRET_KEY_FILE to at least "
              f"{MIN_KEY_BYTES} random bytes (`partnerflow secret-key FILE` writes one)")


class SigningKeyError(PartnerflowError):
    """A key file that cannot be read or holds no key."""


def problem(key: str | bytes | None) -> str | None:
    """Why this key must not sign sessions of a served site; None when it may."""
    if not key:
        return f"no session signing key is set: {HOW_TO_SET}"
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if raw == DEVELOPMENT_KEY.encode("ascii"):
        return f"the session signing key is the built-in development key: {HOW_TO_SET}"
    if len(raw) < MIN_KEY_BYTES:
        return (f"the session signing key is {len(raw)} bytes long, under the {MIN_KEY_BYTES} "
                f"required: {HOW_TO_SET}")
    return None


def read_key_file(path: Path) -> str:
    """The key held in a file (surrounding white space removed)."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SigningKeyError(f"the session key file {path} cannot be read: {reason}") from None
    if not key:
        raise SigningKeyError(f"the session key file {path} is empty")
    return key


def ensure_key_file(path: Path) -> tuple[str, bool]:
    """The key in `path`, created first (random, mode 0600) when the file does not exist;
    returns the key and whether it was created now. Two processes starting together end
    with the same key: the new key is written aside, then linked into place."""
    path = Path(path)
    if path.exists():
        return read_key_file(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    created = False
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(aside, path)
            created = True
        except FileExistsError:
            pass
    finally:
        aside.unlink(missing_ok=True)
    return read_key_file(path), created
