"""The map as a spreadsheet: export to CSV/XLSX, and import with a preview before anything is
written. One row per relationship, with the partner organisation's details; French headers.

An upload is kept in the document table (kind "import", no partnership) under its SHA-256:
the preview and the confirmation read the same bytes, whichever web process serves them,
and nothing of the map is written until the confirmation."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from partnerflow.engine import audit
from partnerflow.engine.config import Settings
from partnerflow.engine.errors import InvalidInput, NotFound
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import auditlog
from partnerflow.engine.store.models import Document, Organisation, Relationship

IMPORT_KIND = "import"
# (column header, field) in file order; the export writes exactly these headers
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Référence", "external_ref"),
    ("Partenaire", "name"),
    ("Type de structure", "org_kind"),
    ("SIRET", "siret"),
    ("FINESS", "finess"),
    ("Adresse", "address"),
    ("Contact", "contacts"),
    ("Relation", "kind"),
    ("Depuis", "since"),
    ("Accord", "agreement"),
    ("Début de convention", "convention_start"),
    ("Fin de convention", "convention_end"),
    ("Renouvellement", "renewal_date"),
    ("Niveau de formalisation", "formalisation_level"),
    ("Référents", "referents"),
    ("Notes", "notes"),
)
HEADERS = tuple(h for h, _ in COLUMNS)
_BY_HEADER = {registry.fold(h): f for h, f in COLUMNS} | {registry.fold(f): f for _, f in COLUMNS} | {
    registry.fold("Nom"): "name", registry.fold("Organisation"): "name",
    registry.fold("Type"): "org_kind", registry.fold("Type de relation"): "kind",
    registry.fold("Contacts"): "contacts", registry.fold("Date de renouvellement"): "renewal_date",
    registry.fold("Niveau"): "formalisation_level"}
KIND_LABELS = {"network": "réseau", "cooperation": "coopération", "partnership": "partenariat"}
AGREEMENT_LABELS = {"oral": "oral", "written": "écrit"}
FIELD_LABELS = {"name": "nom du partenaire manquant", "siret": "SIRET invalide (14 chiffres attendus)",
                "finess": "FINESS invalide (2 chiffres ou 2A/2B, puis 7 chiffres)",
                "kind": "type de relation inconnu (réseau, coopération ou partenariat)",
                "agreement": "accord inconnu (oral ou écrit)",
                "formalisation_level": "niveau de formalisation inconnu (L0 à L4)"}
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class ImportRow:
    line: int
    values: dict
    errors: list[str] = field(default_factory=list)
    action: str = "add"  # add | update | unchanged | error
    changes: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return row_key(self.values)


@dataclass
class ImportPreview:
    sha256: str
    filename: str
    rows: list[ImportRow]

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def errors(self) -> list[ImportRow]:
        return [r for r in self.rows if r.errors]


# ---------------------------------------------------------------- reading files

# The most rows an import reads (the settings' import_max_rows), the columns read in each
# row, and what an .xlsx may unpack to: a file is read as a stream, once, and refused as soon
# as it goes past a bound.
DEFAULT_MAX_ROWS = Settings.import_max_rows
MAX_COLUMNS = 64
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024
# empty rows between or after the data are skipped, but not without end
EMPTY_ROWS_FACTOR = 2


def read_table(filename: str, content: bytes, max_rows: int = DEFAULT_MAX_ROWS) -> list[tuple[int, dict]]:
    """(line number, {field: text}) for every non-empty row under the header row.

    The file is read row by row and only once; past `max_rows` rows (or twice as many with
    the empty ones) the whole file is refused, with a message saying how to split it."""
    xlsx = content.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx")
    source = _xlsx_rows(content) if xlsx else _csv_rows(content)
    try:
        first = next(source, None)
        if first is None:
            raise InvalidInput("the file is empty", {"file": ["Le fichier est vide."]})
        header = [_BY_HEADER.get(registry.fold(str(h or ""))) for h in first[:MAX_COLUMNS]]
        if "name" not in header or "kind" not in header:
            raise InvalidInput("the header row lacks required columns",
                               {"file": ["La première ligne doit porter les en-têtes, dont « Partenaire » "
                                         "et « Relation ». En-têtes attendus : " + " ; ".join(HEADERS)]})
        return _data_rows(source, header, max_rows)
    finally:
        source.close()


def _data_rows(source, header: list, max_rows: int) -> list[tuple[int, dict]]:
    rows = []
    for number, cells in enumerate(source, start=2):
        values = {f: _value(f, cells[i]) for i, f in enumerate(header) if f and i < len(cells)}
        if any(str(v).strip() for v in values.values() if v is not None):
            if len(rows) == max_rows:
                raise _too_many(max_rows, f"la ligne {number} dépasse la limite de {max_rows} lignes")
            rows.append((number, values))
        elif number - 1 > EMPTY_ROWS_FACTOR * max_rows:
            raise _too_many(max_rows, f"plus de {EMPTY_ROWS_FACTOR * max_rows} lignes, vides comprises")
    return rows


def _too_many(max_rows: int, detail: str) -> InvalidInput:
    return InvalidInput(f"the file has more than {max_rows} rows",
                        {"file": [f"Fichier trop long : {detail}. Un import compte au plus {max_rows} "
                                  "lignes ; découpez le fichier en plusieurs imports."]})


def _value(name: str, cell):
    """A cell as text: numbers typed into SIRET/FINESS get back their leading zeros, and the
    quote the export puts before a formula-like text (csvsafe) is removed."""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool) and name in ("siret", "finess"):
        if not math.isfinite(cell) or abs(cell) >= 10**15:
            return str(cell)  # not a number of this kind: the check says so
        return str(int(cell)).zfill(14 if name == "siret" else 9)
    if isinstance(cell, str):
        return auditlog.unquote_cell(cell)
    return cell


def _csv_rows(content: bytes):
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("a CSV file must be UTF-8",
                           {"file": ["Le fichier CSV doit être encodé en UTF-8."]}) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield ["" if v is None else v for v in row[:MAX_COLUMNS]]
    except csv.Error as exc:
        raise InvalidInput(f"unreadable CSV at line {reader.line_num}: {exc}",
                           {"file": [f"Le fichier CSV est illisible à la ligne {reader.line_num} "
                                     "(cellule trop longue ou guillemets mal fermés)."]}) from None


def _xlsx_rows(content: bytes):
    import zipfile

    unreadable = InvalidInput("the workbook cannot be read", {"file": ["Le classeur XLSX est illisible."]})
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise unreadable from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise InvalidInput("the workbook unpacks to too much data",
                           {"file": [f"Le classeur XLSX est trop volumineux une fois décompressé "
                                     f"({unpacked // 1024 // 1024} Mo ; "
                                     f"{MAX_XLSX_UNPACKED_BYTES // 1024 // 1024} Mo au plus)."]})
    try:
        archive, sheet = _first_sheet(content)
    except Exception:  # openpyxl raises many kinds on a damaged file
        raise unreadable from None
    try:
        if sheet is None:
            raise unreadable
        # the sheet is parsed as it is read: rows are never all in memory
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception:  # a damaged sheet part, found while reading it
                raise unreadable from None
            yield ["" if v is None else v for v in row]
    finally:
        archive.close()


def _first_sheet(content: bytes):
    """The workbook's first worksheet in openpyxl's read-only mode, and the archive to close.

    openpyxl's own `load_workbook(read_only=True)` first probes each sheet's size, and when a
    file has no <dimension> element (some programs write none) the probe parses the whole
    sheet before a single row is read: a hostile file costs its full size however early the
    reading stops. The sheet here is the same read-only sheet without that probe."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class StreamedSheet(ReadOnlyWorksheet):
        def _get_size(self):  # rows are counted as they come instead
            return None

    reader = ExcelReader(io.BytesIO(content), read_only=True, data_only=True)
    try:
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)  # the date formats of date cells
        for found, rel in reader.parser.find_sheets():
            if rel.target in reader.valid_files and "chartsheet" not in (rel.Type or ""):
                return reader.archive, StreamedSheet(reader.wb, found.name, rel.target,
                                                     reader.shared_strings)
    except Exception:
        reader.archive.close()
        raise
    return reader.archive, None


# ---------------------------------------------------------------- checking rows


def row_key(values: dict) -> tuple:
    """What identifies a relationship across imports: its reference, else the partner
    (SIRET, FINESS or name) and the kind of relationship."""
    if values.get("external_ref"):
        return ("ref", values["external_ref"])
    partner = (("siret", values["siret"]) if values.get("siret") else
               ("finess", values["finess"]) if values.get("finess") else
               ("name", registry.fold(values.get("name"))))
    return (*partner, values.get("kind"))


def check_row(line: int, raw: dict) -> ImportRow:
    """Clean one row; every problem becomes "ligne N : ..." in French."""
    org, org_errors = registry.clean_organisation({
        "name": raw.get("name"), "kind": raw.get("org_kind"), "siret": raw.get("siret"),
        "finess": raw.get("finess"), "address": raw.get("address"), "contacts": raw.get("contacts")})
    rel, rel_errors = registry.clean_relationship(raw)
    values = {**{k: v for k, v in org.items() if k not in ("is_own", "kind")}, "org_kind": org["kind"],
              **{k: v for k, v in rel.items() if k not in ("partner_id", "partnership_id")}}
    row = ImportRow(line, values)
    for name, messages in {**org_errors, **rel_errors}.items():
        if name in FIELD_LABELS:
            detail = FIELD_LABELS[name]
            if name == "kind" and not raw.get("kind"):
                detail = "type de relation manquant"
            row.errors.append(f"ligne {line} : {detail}")
        elif name in registry.DATE_FIELDS:
            header = next(h for h, f in COLUMNS if f == name)
            row.errors.append(f"ligne {line} : date invalide dans « {header} » "
                              f"({_shown(raw.get(name))} ; jj/mm/aaaa attendu)")
        else:
            row.errors.extend(f"ligne {line} : {m[0].lower()}{m[1:].rstrip('.')}" for m in messages)
    return row


def _shown(value) -> str:
    return str(value).strip() or "vide"


@dataclass
class _Existing:
    """The map as it stands, indexed the way rows are matched."""

    own_id: int
    orgs_by_id: dict[int, Organisation]
    orgs: registry.OrganisationIndex
    rels: dict[tuple, Relationship]


def _existing(session: Session, own_id: int) -> _Existing:
    orgs = session.scalars(select(Organisation).where(Organisation.archived.is_(False))).all()
    by_id = {o.id: o for o in orgs}
    rels: dict[tuple, Relationship] = {}
    for rel in session.scalars(select(Relationship).where(Relationship.organisation_id == own_id,
                                                          Relationship.archived.is_(False))):
        partner = by_id.get(rel.partner_id)
        if partner is None:
            continue
        if rel.external_ref:
            rels[("ref", rel.external_ref)] = rel
        for key in _keys_of(partner, rel.kind):
            rels.setdefault(key, rel)
    return _Existing(own_id, by_id, registry.OrganisationIndex(orgs), rels)


def _keys_of(org: Organisation, kind: str) -> list[tuple]:
    keys = [("name", registry.fold(org.name), kind)]
    if org.finess:
        keys.append(("finess", org.finess, kind))
    if org.siret:
        keys.append(("siret", org.siret, kind))
    return keys


def _match_org(existing: _Existing, values: dict) -> Organisation | None:
    return existing.orgs.match(values)


def _match_rel(existing: _Existing, values: dict) -> Relationship | None:
    found = existing.rels.get(row_key(values))
    if found is None:
        # by partner and kind; a line given a reference later still finds its relationship
        org = _match_org(existing, values)
        candidates = [existing.rels[k] for k in _keys_of(org, values.get("kind"))
                      if k in existing.rels] if org is not None else []
        found = next((r for r in candidates if not r.external_ref), None)
    return found


ORG_UPDATABLE = ("name", "siret", "finess", "address", "contacts")


def _org_changes(org: Organisation | None, values: dict) -> dict:
    if org is None:
        return {}
    changes = {k: values[k] for k in ORG_UPDATABLE if values.get(k) and values[k] != getattr(org, k)}
    if values.get("org_kind") and values["org_kind"] != org.kind:
        changes["kind"] = values["org_kind"]
    return changes


REL_UPDATABLE = ("kind", "since", "agreement", "convention_start", "convention_end", "renewal_date",
                 "formalisation_level", "referents", "notes", "external_ref")


def _rel_changes(rel: Relationship, values: dict) -> dict:
    changes = {}
    for name in REL_UPDATABLE:
        new = values.get(name)
        old = getattr(rel, name)
        old = old.date() if isinstance(old, datetime) else old
        if name == "external_ref" and not new:
            continue
        if new != old:
            changes[name] = new
    return changes


def check_rows(session: Session, rows: list[tuple[int, dict]], own_id: int) -> list[ImportRow]:
    """Clean every row and say what confirming would do with it."""
    existing = _existing(session, own_id)
    seen: dict[tuple, int] = {}
    checked = []
    for line, raw in rows:
        row = check_row(line, raw)
        if not row.errors:
            first = seen.setdefault(row.key, line)
            if first != line:
                row.errors.append(f"ligne {line} : même relation que la ligne {first} (doublon)")
        if row.errors:
            row.action = "error"
        else:
            rel = _match_rel(existing, row.values)
            org = _match_org(existing, row.values) if rel is None else None
            if rel is not None:
                org = existing.orgs_by_id.get(rel.partner_id)
            row.changes = {**_org_changes(org, row.values),
                           **(_rel_changes(rel, row.values) if rel is not None else {})}
            row.action = "add" if rel is None else ("update" if row.changes else "unchanged")
        checked.append(row)
    return checked


# ---------------------------------------------------------------- upload, preview, confirm


def store_upload(uow, *, filename: str, content: bytes, actor: str, max_bytes: int) -> str:
    """Keep an uploaded spreadsheet (once per content) and return its SHA-256; the file is
    read now so that a wrong format is refused at once."""
    registry._editor(uow.session, actor)
    _check_name(filename)
    if len(content) > max_bytes:
        raise InvalidInput("the file is too large",
                           {"file": [f"Fichier trop volumineux (maximum {max_bytes // 1024 // 1024} Mo)."]})
    read_table(filename, content, _max_rows(uow))
    digest = hashlib.sha256(content).hexdigest()
    session = uow.session
    if _upload(session, digest) is None:
        xlsx = content.startswith(XLSX_MAGIC)
        session.add(Document(partnership_id=None, sha256=digest, filename=filename[-255:],
                             content_type=("application/vnd.openxmlformats-officedocument."
                                           "spreadsheetml.sheet" if xlsx else "text/csv"),
                             size=len(content), content=content, kind=IMPORT_KIND,
                             uploaded_by=actor, created_at=uow.clock()))
        audit.append(session, type="map_import_uploaded", actor=actor, at=uow.clock(),
                     payload={"filename": filename, "sha256": digest, "size": len(content)})
    uow.commit()
    return digest


def _check_name(filename: str) -> None:
    if not (filename or "").lower().endswith((".csv", ".xlsx")):
        raise InvalidInput("only CSV and XLSX files are accepted",
                           {"file": ["Choisissez un fichier .csv ou .xlsx."]})


def _upload(session: Session, sha256: str) -> Document | None:
    return session.scalar(select(Document).where(Document.kind == IMPORT_KIND,
                                                 Document.partnership_id.is_(None),
                                                 Document.sha256 == sha256))


def _max_rows(uow) -> int:
    return uow.settings.import_max_rows


def preview(session: Session, *, sha256: str, actor: str,
            max_rows: int = DEFAULT_MAX_ROWS) -> ImportPreview:
    """What the upload contains and what confirming it would do; writes nothing."""
    doc = _upload(session, sha256)
    if doc is None:
        raise NotFound(f"no uploaded map {sha256}")
    own_id = registry.own_organisation_id(session, actor)
    rows = check_rows(session, read_table(doc.filename, doc.content, max_rows), own_id)
    return ImportPreview(sha256, doc.filename, rows)


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


def confirm(uow, *, sha256: str, actor: str) -> ImportResult:
    """Write the valid rows of an upload: add what is new, update what changed; rows with
    errors are left out. Importing the same file again changes nothing."""
    session = uow.session
    registry._editor(session, actor)
    result = apply_rows(uow, preview(session, sha256=sha256, actor=actor,
                                     max_rows=_max_rows(uow)).rows, actor)
    audit.append(session, type="map_imported", actor=actor, at=uow.clock(),
                 payload={"sha256": sha256, "added": result.added, "updated": result.updated,
                          "unchanged": result.unchanged, "rejected": result.rejected})
    uow.commit()
    return result


def apply_rows(uow, rows: list[ImportRow], actor: str) -> ImportResult:
    session, now = uow.session, uow.clock()
    own_id = registry.own_organisation_id(session, actor)
    existing = _existing(session, own_id)
    result = ImportResult()
    for row in rows:
        if row.errors:
            result.rejected += 1
            continue
        org = _write_org(session, existing, row.values, actor, now)
        rel = _match_rel(existing, row.values)
        if rel is None:
            rel = _write_new_rel(session, existing, org, row.values, actor, now)
            result.added += 1
        elif _update_rel(session, rel, row.values, actor, now) or row.action == "update":
            result.updated += 1
        else:
            result.unchanged += 1
    return result


def _write_org(session: Session, existing: _Existing, values: dict, actor: str, now) -> Organisation:
    org = _match_org(existing, values)
    if org is None:
        org = Organisation(name=values["name"], kind=values["org_kind"], siret=values.get("siret"),
                           finess=values.get("finess"), address=values.get("address"),
                           contacts=values.get("contacts"), is_own=False, archived=False)
        session.add(org)
        session.flush()
        audit.append(session, type="organisation_created", actor=actor, at=now,
                     payload={"organisation_id": org.id, "name": org.name, "source": "import"})
    else:
        changes = _org_changes(org, values)
        for key, value in changes.items():
            setattr(org, key, value)
        if changes:
            audit.append(session, type="organisation_updated", actor=actor, at=now,
                         payload={"organisation_id": org.id, "changes": registry._public(changes),
                                  "source": "import"})
    existing.orgs.add(org)
    existing.orgs_by_id[org.id] = org
    return org


def _write_new_rel(session: Session, existing: _Existing, org: Organisation, values: dict,
                   actor: str, now) -> Relationship:
    stored = {k: (registry.as_moment(values.get(k)) if k in registry.DATE_FIELDS else values.get(k))
              for k in REL_UPDATABLE}
    rel = Relationship(organisation_id=existing.own_id, partner_id=org.id, archived=False, **stored)
    session.add(rel)
    session.flush()
    if rel.external_ref:
        existing.rels[("ref", rel.external_ref)] = rel
    for key in _keys_of(org, rel.kind):
        existing.rels.setdefault(key, rel)
    audit.append(session, type="relationship_created", actor=actor, at=now,
                 payload={"relationship_id": rel.id, "partner": org.name, "kind": rel.kind,
                          "source": "import"})
    return rel


def _update_rel(session: Session, rel: Relationship, values: dict, actor: str, now) -> bool:
    changes = _rel_changes(rel, values)
    for name, value in changes.items():
        setattr(rel, name, registry.as_moment(value) if name in registry.DATE_FIELDS else value)
    if changes:
        audit.append(session, type="relationship_updated", actor=actor, at=now,
                     partnership_id=rel.partnership_id,
                     payload={"relationship_id": rel.id, "changes": registry._public(changes),
                              "source": "import"})
    return bool(changes)


# ---------------------------------------------------------------- export


def export_rows(session: Session) -> list[list[str]]:
    """The current map (archived lines left out) as rows of text under HEADERS."""
    rows = []
    for rel, partner in registry.relationships(session):
        values = {"external_ref": rel.external_ref, "name": partner.name, "org_kind": partner.kind,
                  "siret": partner.siret, "finess": partner.finess, "address": partner.address,
                  "contacts": partner.contacts, "kind": KIND_LABELS.get(rel.kind, rel.kind),
                  "since": rel.since, "agreement": AGREEMENT_LABELS.get(rel.agreement, rel.agreement),
                  "convention_start": rel.convention_start, "convention_end": rel.convention_end,
                  "renewal_date": rel.renewal_date, "formalisation_level": rel.formalisation_level,
                  "referents": rel.referents, "notes": rel.notes}
        rows.append([_cell(values[f]) for _, f in COLUMNS])
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return auditlog.safe_cell(value)  # never a formula in a spreadsheet program (CSV and XLSX alike)


def to_csv(rows: list[list[str]]) -> bytes:
    """Semicolon-separated UTF-8 with a BOM: what French spreadsheet programs open directly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Carte des partenariats")
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
