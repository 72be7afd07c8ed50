"""The audit log's keys, kept outside the database: the MAC key that seals each chain, and
the Ed25519 key that signs the checkpoints handed to third parties.

Both live in files (or, for the MAC key, in an environment variable). A key file missing on
first use is created with mode 0600; the MAC key file is not re-created once the database
holds events keyed with a MAC, since a new key would only make every chain fail to verify."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .config import Settings
from .errors import PartnerflowError

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
