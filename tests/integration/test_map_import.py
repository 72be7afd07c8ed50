"""Importing the map from a spreadsheet: a 300-row inventory in CSV and XLSX with a few bad
rows; errors per row, nothing written before confirmation, idempotent re-import, and the
export read back unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from partnerflow.engine.errors import InvalidInput
from partnerflow.engine.method import map_io, registry
from partnerflow.engine.store.models import Document, Organisation, Relationship
from tests import map_data
from tests.conftest import make_user

BAD = {  # 0-based data row -> what is wrong; the spreadsheet line is index + 2
    11: ("SIRET", "123 456"),
    40: ("Relation", "amitié"),
    77: ("Fin de convention", "31/13/2025"),
    150: ("Partenaire", ""),
    299: ("FINESS", "3C1234567"),
}
EXPECTED_ERRORS = [
    "ligne 13 : SIRET invalide (14 chiffres attendus)",
    "ligne 42 : type de relation inconnu (réseau, coopération ou partenariat)",
    "ligne 79 : date invalide dans « Fin de convention » (31/13/2025 ; jj/mm/aaaa attendu)",
    "ligne 152 : nom du partenaire manquant",
    "ligne 301 : FINESS invalide (2 chiffres ou 2A/2B, puis 7 chiffres)",
]


@pytest.fixture
def world(pf):
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        registry.create_organisation(uow, actor="claire", data={
            "name": "Association Les Tilleuls", "is_own": True, "siret": "77567227200017"})
    return pf


def inventory() -> list[dict]:
    table = map_data.rows(300)
    for index, (header, value) in BAD.items():
        table[index][header] = value
    return table


def counts(pf) -> tuple[int, int]:
    with pf.read() as db:
        return (db.scalar(select(func.count()).select_from(Organisation)),
                db.scalar(select(func.count()).select_from(Relationship)))


def upload(pf, filename: str, content: bytes) -> str:
    with pf.uow() as uow:
        return map_io.store_upload(uow, filename=filename, content=content, actor="claire",
                                   max_bytes=pf.settings.max_upload_bytes)


def preview(pf, sha: str) -> map_io.ImportPreview:
    with pf.read() as db:
        return map_io.preview(db, sha256=sha, actor="claire")


def confirm(pf, sha: str) -> map_io.ImportResult:
    with pf.uow() as uow:
        return map_io.confirm(uow, sha256=sha, actor="claire")


FILES = {
    "csv-semicolon-bom": ("carte.csv", lambda t: map_data.to_csv(t, ";", bom=True)),
    "csv-comma-no-bom": ("carte.csv", lambda t: map_data.to_csv(t, ",", bom=False)),
    "xlsx": ("carte.xlsx", map_data.to_xlsx),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_preview_lists_every_bad_row_then_confirm_writes_the_good_ones_once(world, kind):
    pf = world
    filename, make = FILES[kind]
    sha = upload(pf, filename, make(inventory()))
    result = preview(pf, sha)
    assert len(result.rows) == 300
    assert [m for row in result.errors for m in row.errors] == EXPECTED_ERRORS
    assert (result.count("add"), result.count("error")) == (295, 5)
    # nothing of the map is written before the confirmation (only the upload is kept)
    assert counts(pf) == (1, 0)
    with pf.read() as db:
        assert db.scalar(select(Document.kind).where(Document.sha256 == sha)) == "import"

    done = confirm(pf, sha)
    assert (done.added, done.updated, done.unchanged, done.rejected) == (295, 0, 0, 5)
    assert counts(pf) == (296, 295)
    with pf.read() as db:
        lilas = db.scalars(select(Relationship).where(Relationship.kind == "cooperation")
                           .order_by(Relationship.id)).first()
        partner = db.get(Organisation, lilas.partner_id)
        assert partner.kind == "hospital"  # "Hôpital" in the file
        assert lilas.agreement == "written" and lilas.formalisation_level == "L2"
        assert registry.as_day(lilas.convention_end).isoformat() == "2022-12-31"
        assert registry.as_day(lilas.renewal_date).isoformat() == "2022-10-01"

    again = upload(pf, filename, make(inventory()))
    if kind != "xlsx":  # a workbook carries its creation time: new bytes, same rows
        assert again == sha
    assert preview(pf, again).count("add") == 0
    done = confirm(pf, again)
    assert (done.added, done.updated, done.unchanged) == (0, 0, 295)
    assert counts(pf) == (296, 295)


def test_a_corrected_file_adds_the_fixed_rows_and_updates_what_changed(world):
    pf = world
    confirm(pf, upload(pf, "carte.csv", map_data.to_csv(inventory())))
    fixed = map_data.rows(300)
    fixed[5]["Renouvellement"] = "15/06/2030"
    fixed[6]["Partenaire"] = fixed[6]["Partenaire"].upper()  # same SIRET: the same partner
    result = preview(pf, upload(pf, "carte-corrigee.csv", map_data.to_csv(fixed)))
    assert (result.count("add"), result.count("update"), result.count("unchanged")) == (5, 2, 293)
    done = confirm(pf, result.sha256)
    assert (done.added, done.updated, done.unchanged) == (5, 2, 293)
    assert counts(pf) == (301, 300)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_is_a_round_trip(world, fmt):
    pf = world
    confirm(pf, upload(pf, "carte.csv", map_data.to_csv(inventory())))
    with pf.read() as db:
        exported = map_io.export_rows(db)
    body = map_io.to_csv(exported) if fmt == "csv" else map_io.to_xlsx(exported)
    if fmt == "csv":
        assert body.startswith("\ufeffRéférence;Partenaire;Type de structure;SIRET".encode())
    result = preview(pf, upload(pf, f"export.{fmt}", body))
    assert (len(result.rows), result.count("unchanged"), result.count("error")) == (295, 295, 0)
    with pf.read() as db:
        assert map_io.export_rows(db) == exported
    assert [r for r in exported if r[map_io.HEADERS.index("Notes")]][0][-1] == "'- rencontre annuelle"


def test_duplicates_wrong_headers_and_wrong_files_are_refused(world):
    pf = world
    table = map_data.rows(3)
    table.append(dict(table[0]))
    result = preview(pf, upload(pf, "carte.csv", map_data.to_csv(table)))
    assert [m for r in result.errors for m in r.errors] == [
        "ligne 5 : même relation que la ligne 2 (doublon)"]
    with pytest.raises(InvalidInput) as error:
        upload(pf, "carte.csv", b"Nom;Ville\nEHPAD;Pantin\n")
    assert "Partenaire" in error.value.errors["file"][0]
    with pytest.raises(InvalidInput):
        upload(pf, "carte.pdf", b"%PDF-1.4")
    with pytest.raises(InvalidInput):
        upload(pf, "carte.csv", "Partenaire;Relation\nCafé;réseau\n".encode("latin-1"))
    assert counts(pf) == (1, 0)
