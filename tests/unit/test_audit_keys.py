"""The audit log's keys on disk: created once, readable by their owner only, never replaced
silently (mutation testing found these unchecked by the chain's own tests)."""

from __future__ import annotations

import stat

import pytest

from partnerflow.engine import audit
from partnerflow.engine.config import Settings


def _keys(tmp_path, **changes) -> audit.AuditKeys:
    return audit.AuditKeys(Settings(audit_key_file=tmp_path / "audit_key",
                                    audit_seal_key_file=tmp_path / "seal_key", **changes))


def test_the_mac_key_file_is_created_once_for_its_owner_only(tmp_path):
    key = _keys(tmp_path).mac_key(lambda: False)
    path = tmp_path / "audit_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key + b"\n" and len(key) == 64
    assert _keys(tmp_path).mac_key(lambda: True) == key  # read back, not replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_missing_mac_key_is_an_error_once_the_log_was_keyed(tmp_path):
    with pytest.raises(audit.AuditKeyError, match="is missing but the audit log was keyed"):
        _keys(tmp_path).mac_key(lambda: True)
    assert not (tmp_path / "audit_key").exists()


def test_a_short_key_is_refused_from_the_settings_and_from_the_file(tmp_path):
    with pytest.raises(audit.AuditKeyError, match="at least 32"):
        _keys(tmp_path, audit_key="court").mac_key(lambda: False)
    assert _keys(tmp_path, audit_key="k" * 32).mac_key(lambda: False) == b"k" * 32
    (tmp_path / "audit_key").write_text("court\n")
    with pytest.raises(audit.AuditKeyError, match="at least 32"):
        _keys(tmp_path).mac_key(lambda: False)


def test_the_seal_key_is_created_on_first_use_unless_told_not_to(tmp_path):
    with pytest.raises(audit.AuditKeyError, match="no seal signing key"):
        _keys(tmp_path).signing_key(create=False)
    public = _keys(tmp_path).public_key()
    assert stat.S_IMODE((tmp_path / "seal_key").stat().st_mode) == 0o600
    assert _keys(tmp_path).public_key(create=False) == public
    (tmp_path / "seal_key").write_text("pas une clé")
    with pytest.raises(audit.AuditKeyError, match="not a PEM private key"):
        _keys(tmp_path).signing_key()


def test_a_key_path_that_cannot_be_read_is_an_audit_key_error_naming_it(tmp_path):
    (tmp_path / "audit_key").mkdir()  # exists, but is no file
    with pytest.raises(audit.AuditKeyError, match="audit_key cannot be read"):
        _keys(tmp_path).mac_key(lambda: False)


def test_a_public_key_is_read_from_base64_or_pem_and_nothing_else(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    signing = _keys(tmp_path).signing_key()
    raw = _keys(tmp_path).public_key()
    pem = signing.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    signature = signing.sign(b"checkpoint")
    for text in (raw, pem, f"\n{pem}\n"):
        audit.load_public_key(text).verify(signature, b"checkpoint")  # raises if another key
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    refused = [other,                       # a PEM key, but not Ed25519
               raw[:20] + "!" + raw[20:],   # a stray character is not skipped over
               raw[:-4],                    # base64 of fewer than 32 bytes
               "pas une clé"]
    for text in refused:
        with pytest.raises(audit.AuditKeyError, match="neither base64 of 32 bytes nor"):
            audit.load_public_key(text)
