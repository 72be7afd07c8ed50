"""Bounded inputs: map imports are read as a stream, once, and stop at a row limit; every text
field has a maximum length and refuses control characters; a request's task data has an
overall cap; a completion's audit event references the data it started from instead of
copying it."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from sqlalchemy import select, update

from partnerflow.engine.errors import FormValidationError, InvalidInput
from partnerflow.engine.method import map_io, registry
from partnerflow.engine.runtime.forms import schema_from_form_fields, validate_against
from partnerflow.engine.store.models import AuditEvent, HumanTask
from tests.web.support import complete, post, start_review, task_row, text_of

ROOT = Path(__file__).resolve().parents[2]
HUGE_ROWS = 200_000
# the bounds a string field gets when its form gives none: a line, a long text
DEFAULT_MAX_LENGTH = 300
DEFAULT_MAX_LENGTH_MULTILINE = 20_000


# ---------------------------------------------------------------- map imports


@pytest.fixture(scope="session")
def huge_xlsx(tmp_path_factory) -> bytes:
    """A 200,000-row workbook, written once per session (openpyxl write-only)."""
    path = tmp_path_factory.mktemp("imports") / "carte.xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Carte")
    sheet.append(["Partenaire", "Relation"])
    for n in range(HUGE_ROWS):
        sheet.append([f"Partenaire {n % 97}", "réseau"])
    book.save(path)
    return path.read_bytes()


@pytest.fixture
def rows_read(monkeypatch) -> list[int]:
    """How many sheet rows openpyxl handed out, whoever asked for them."""
    counter = [0]
    original = ReadOnlyWorksheet._cells_by_row

    def counting(self, *args, **kwargs):
        for row in original(self, *args, **kwargs):
            counter[0] += 1
            yield row

    monkeypatch.setattr(ReadOnlyWorksheet, "_cells_by_row", counting)
    return counter


@pytest.fixture
def bytes_unpacked(monkeypatch) -> list[int]:
    """How many bytes were decompressed out of the workbook, whoever read them."""
    counter = [0]
    original = zipfile.ZipExtFile.read

    def counting(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        counter[0] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    return counter


def test_a_200000_row_workbook_is_refused_at_the_row_limit_after_reading_only_that_far(
        huge_xlsx, rows_read, bytes_unpacked):
    with zipfile.ZipFile(io.BytesIO(huge_xlsx)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as refused:
            map_io.read_table("carte.xlsx", huge_xlsx, max_rows=5000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [message] = refused.value.errors["file"]
    assert "5000 lignes" in message and "découpez" in message
    # the header, the 5,000 rows allowed and the one that goes past them; not 200,001
    assert rows_read[0] <= 5000 + 2
    # and the rest of the sheet was never even decompressed (no probe of its whole size)
    assert bytes_unpacked[0] < unpacked / 10
    assert peak < 40 * 1024 * 1024  # the whole grid held in memory took hundreds of MB


def test_the_row_limit_is_a_setting_and_a_file_within_it_is_read(pf):
    content = _csv([{"Partenaire": f"Mairie {n}", "Relation": "réseau"} for n in range(4)])
    assert len(map_io.read_table("carte.csv", content, max_rows=4)) == 4
    with pytest.raises(InvalidInput) as refused:
        map_io.read_table("carte.csv", content, max_rows=3)
    assert "ligne 5 dépasse la limite de 3 lignes" in refused.value.errors["file"][0]
    assert pf.settings.import_max_rows == 5000
    assert pf.settings.from_env({"PARTNERFLOW_IMPORT_MAX_ROWS": "12"}).import_max_rows == 12


def test_an_upload_past_the_limit_is_refused_with_a_french_message(world, as_user, huge_xlsx):
    client = as_user("claire")
    response = post(client, "/carte/import", {"file": (io.BytesIO(huge_xlsx), "carte.xlsx")},
                    token_from="/carte/import", content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Fichier trop long" in text_of(response) and "5000 lignes" in text_of(response)


def test_thousands_of_empty_rows_do_not_keep_the_reader_going(rows_read):
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Carte")
    sheet.append(["Partenaire", "Relation"])
    sheet.append(["Mairie de Bondy", "réseau"])
    for _ in range(30):
        sheet.append([None, None])
    sheet.append(["Mairie de Pantin", "réseau"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(InvalidInput) as refused:
        map_io.read_table("carte.xlsx", out.getvalue(), max_rows=10)
    assert "vides comprises" in refused.value.errors["file"][0]
    assert rows_read[0] <= 2 * 10 + 3


def test_a_csv_cell_too_long_for_the_reader_is_a_clear_refusal():
    content = ("Partenaire;Relation\n\"" + "x" * 200_000 + "\";réseau\n").encode()
    with pytest.raises(InvalidInput) as refused:  # was csv.Error, a server error
        map_io.read_table("carte.csv", content)
    assert "ligne" in refused.value.errors["file"][0]


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_parsed():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/sharedStrings.xml", b" " * (map_io.MAX_XLSX_UNPACKED_BYTES + 1))
    assert len(out.getvalue()) < 200 * 1024
    with pytest.raises(InvalidInput) as refused:
        map_io.read_table("carte.xlsx", out.getvalue())
    assert "décompressé" in refused.value.errors["file"][0]


def test_map_exports_neutralise_every_formula_trigger_and_read_back_unchanged(pf):
    from tests.conftest import make_user

    make_user(pf, "claire", "direction")
    hostile = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "'quoted", "'=1+1"]
    with pf.uow() as uow:
        registry.create_organisation(uow, actor="claire", data={"name": "Nous", "is_own": True})
    for n, text in enumerate(hostile):
        with pf.uow() as uow:
            org = registry.create_organisation(uow, actor="claire", data={"name": f"Org {n}"})
        with pf.uow() as uow:
            registry.create_relationship(uow, actor="claire", data={
                "partner_id": org, "kind": "network", "notes": text})
    with pf.read() as db:
        rows = map_io.export_rows(db)
    notes = {row[map_io.HEADERS.index("Notes")] for row in rows}
    assert all(cell.startswith("'") for cell in notes), notes
    for content, name in ((map_io.to_csv(rows), "carte.csv"), (map_io.to_xlsx(rows), "carte.xlsx")):
        read = {values.get("notes") for _line, values in map_io.read_table(name, content)}
        assert read == set(hostile)


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# ---------------------------------------------------------------- text fields


def _string_fields(schema: dict, path: str = ""):
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string":
        yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _string_fields(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from _string_fields(schema["items"], f"{path}[]")


def test_every_string_field_of_the_shipped_forms_has_a_max_length():
    missing = [f"{path.name}{field}" for path in sorted((ROOT / "forms").glob("*.json"))
               for field, schema in _string_fields(json.loads(path.read_text("utf-8")))
               if not isinstance(schema.get("maxLength"), int)]
    assert missing == []
    textareas = [schema["maxLength"] for path in (ROOT / "forms").glob("*.json")
                 for _f, schema in _string_fields(json.loads(path.read_text("utf-8")))
                 if schema.get("x-widget") == "textarea"]
    assert textareas and max(textareas) <= 20_000


def test_a_diagram_form_field_without_a_length_gets_the_default_bound():
    schema = schema_from_form_fields([{"id": "reason", "type": "string", "label": "Motif"}])
    assert "maxLength" not in schema["properties"]["reason"]
    assert validate_against(schema, {"reason": "x" * DEFAULT_MAX_LENGTH}) == {
        "reason": "x" * DEFAULT_MAX_LENGTH}
    with pytest.raises(FormValidationError) as refused:
        validate_against(schema, {"reason": "x" * (DEFAULT_MAX_LENGTH + 1)})
    assert refused.value.errors == {"reason": [f"Au plus {DEFAULT_MAX_LENGTH} caractères."]}


def test_a_designer_form_without_lengths_is_bounded_too(fixture_pf):
    from partnerflow.engine.runtime import modelling
    from tests.conftest import make_user

    make_user(fixture_pf, "denis", "designer")
    schema = {"type": "object", "properties": {
        "note": {"type": "string", "title": "Note"},
        "story": {"type": "string", "title": "Récit", "x-widget": "textarea"},
        "tags": {"type": "array", "items": {"type": "string"}}}}
    with fixture_pf.uow() as uow:
        modelling.save_form(uow, form_key="free_notes", schema=schema, actor="denis")
    fixture_pf.forget_saved_forms()
    long = {"note": "n" * (DEFAULT_MAX_LENGTH + 1), "story": "s" * (DEFAULT_MAX_LENGTH_MULTILINE + 1),
            "tags": ["t" * (DEFAULT_MAX_LENGTH + 1)]}
    with pytest.raises(FormValidationError) as refused:
        fixture_pf.forms.validate("free_notes", long)
    assert set(refused.value.errors) == {"note", "story", "tags.0"}
    assert fixture_pf.forms.validate("free_notes", {"story": "s" * DEFAULT_MAX_LENGTH_MULTILINE})


LINE_AND_TEXT = {"type": "object", "properties": {
    "title": {"type": "string", "title": "Intitulé", "x-widget": "text", "maxLength": 200},
    "body": {"type": "string", "title": "Compte rendu", "x-widget": "textarea", "maxLength": 2000},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "label": {"type": "string", "title": "Libellé"}}}}}}


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\n", "\t", "\x7f", "\x85", "\x9b", "\ud800"])
def test_a_single_line_field_refuses_control_characters_naming_the_field(char):
    with pytest.raises(FormValidationError) as refused:
        validate_against(LINE_AND_TEXT, {"title": f"Réunion{char}de mars"})
    [message] = refused.value.errors["title"]
    assert "« Intitulé »" in message and f"U+{ord(char):04X}" in message


def test_a_long_text_keeps_line_breaks_and_tabs_but_not_other_controls():
    text = "Présents :\r\n\t- Claire\n\t- Karim"
    assert validate_against(LINE_AND_TEXT, {"body": text}) == {"body": text}
    for char in ("\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x9b"):
        with pytest.raises(FormValidationError) as refused:
            validate_against(LINE_AND_TEXT, {"body": f"avant{char}après"})
        assert "« Compte rendu »" in refused.value.errors["body"][0]


def test_control_characters_are_refused_inside_rows_and_in_undeclared_data():
    with pytest.raises(FormValidationError) as refused:
        validate_against(LINE_AND_TEXT, {"rows": [{"label": "ok"}, {"label": "a\x08b"}],
                                         "extra": "nul\x00"})
    assert set(refused.value.errors) == {"rows.1.label", "extra"}
    assert "« Libellé »" in refused.value.errors["rows.1.label"][0]


# ---------------------------------------------------------------- task data cap


BIG = "x" * (1024 * 1024 + 1)


def test_a_completion_larger_than_the_cap_is_refused_whoever_sends_it(world):
    # the review form lets undeclared fields through: only the overall cap stops this one
    with pytest.raises(FormValidationError) as refused:
        complete(world.pf, world.task_own, "claire", {"decision": "done", "annex": BIG})
    [message] = refused.value.errors["_form"]
    assert "trop volumineuses" in message and "1024 Ko au plus" in message
    assert task_row(world.pf, world.task_own).state == "open"


def test_drafts_and_start_data_are_capped_too(world):
    from partnerflow.engine.runtime import services

    with world.pf.uow() as uow, pytest.raises(FormValidationError):
        services.save_draft(uow, task_id=world.task_own, actor="claire", data={"comment": BIG})
    assert task_row(world.pf, world.task_own).draft is None
    with world.pf.uow() as uow, pytest.raises(FormValidationError):
        services.start_instance(uow, partnership_id=world.own, process_key="review_loop",
                                actor="claire", data={"rounds": 0, "blob": BIG})


def test_the_cap_is_a_setting(world):
    small = world.pf.settings.with_(max_task_data_bytes=2000)
    assert world.pf.settings.max_task_data_bytes == 1024 * 1024
    assert small.from_env({"PARTNERFLOW_MAX_TASK_DATA_BYTES": "2000"}).max_task_data_bytes == 2000
    world.pf.settings = small
    try:
        with pytest.raises(FormValidationError):
            complete(world.pf, world.task_own, "claire", {"decision": "done", "comment": "c" * 1990})
    finally:
        world.pf.settings = small.with_(max_task_data_bytes=1024 * 1024)


# ---------------------------------------------------------------- audit events


def _completion_events(pf) -> list[AuditEvent]:
    with pf.read() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.type == "task_completed")
                               .order_by(AuditEvent.id)))


def test_a_completion_event_references_the_data_before_instead_of_copying_it(world):
    pf = world.pf
    long_comment = ("Relu avec les partenaires. " * 70).strip()  # ~1,900 characters
    complete(pf, world.task_own, "claire", {"decision": "again", "comment": long_comment})
    with pf.read() as db:
        [second] = db.scalars(select(HumanTask.id).where(HumanTask.partnership_id == world.own,
                                                         HumanTask.state == "open")).all()
    complete(pf, second, "claire", {"decision": "done"})
    event = _completion_events(pf)[-1]
    assert task_row(pf, second).context["comment"] == long_comment  # the data did carry it
    before = event.payload["before"]
    assert set(before) == {"task_id", "sha256"} and before["task_id"] == second
    assert len(json.dumps(event.payload)) < 600  # the earlier comment is not copied again


def test_the_task_history_page_resolves_the_reference_and_says_if_it_still_matches(world, as_user):
    pf = world.pf
    complete(pf, world.task_own, "claire", {"decision": "again", "comment": "Premier tour"})
    client = as_user("alice")
    body = text_of(client.get(f"/taches/{world.task_own}/historique"))
    assert "correspondent à l’empreinte" in body
    assert "Premier tour" in body
    with pf.uow() as uow:  # someone edits the stored data behind the journal's back
        uow.session.execute(update(HumanTask).where(HumanTask.id == world.task_own)
                            .values(context={"rounds": 41}))
        uow.commit()
    body = text_of(client.get(f"/taches/{world.task_own}/historique"))
    assert "ne correspondent plus" in body


def test_a_start_task_row_keeps_the_data_the_reference_points_to(world):
    task = start_review(world.pf, world.own)
    complete(world.pf, task, "claire", {"decision": "done"})
    event = _completion_events(world.pf)[-1]
    with world.pf.read() as db:
        row = db.get(HumanTask, event.payload["before"]["task_id"])
        assert row.context == {"rounds": 0, "partnership_id": world.own, "initiator": "claire"}
