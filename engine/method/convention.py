"""The convention document: generated from the negotiation's data, as HTML and PDF, kept in
the document base with its SHA-256; the signatures given on it; the certificate of those
signatures and the action-sheet annex, each a document of its own.

The document follows the plan of a French "convention de partenariat": the parties and their
representatives, a preamble, numbered articles (purpose; each party's commitments; means;
duration and renewal; evaluation; termination; disputes; personal data), one signature block
per party, then the annexes. It reads the convention form's answers and, where they say
more, the formalisation criteria of the same process (personal data shared, money flows,
staff made available, premises lent); an answer that is absent leaves its sentence out.

What the parties signed is the stored file whose SHA-256 the signatures carry: it is served
as stored. The certificate of the signatures and the action sheets written after signing are
separate documents that name that file by its SHA-256; nothing is merged into it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Conflict, NotFound
from partnerflow.engine.runtime.documents import render_pdf
from partnerflow.engine.store.models import Document, HumanTask, Partnership, Signature

TEMPLATES = Path(__file__).resolve().parent / "templates"

SHEET_FIELDS = [
    ("Objectif servi", "objective_served"), ("Constat de départ", "starting_observation"),
    ("Objectif général", "general_objective"), ("Objectifs opérationnels", "operational_objectives"),
    ("Public et effectifs", "public_concerned"), ("Effectifs attendus", "expected_numbers"),
    ("Lieu", "place"), ("Pilote", "pilot"), ("Étapes", "steps"), ("Moyens (ETP)", "means_fte"),
    ("Équipements", "means_equipment"), ("Budget (€)", "budget_eur"), ("Financeur", "funder"),
    ("Début", "start_date"), ("Fin", "end_date"), ("Résultats attendus", "expected_results"),
    ("Indicateurs", "indicators"), ("Évaluation intermédiaire", "intermediate_evaluation_date"),
    ("Évaluation finale", "final_evaluation_date"), ("Risques", "risks"), ("Période", "period"),
]
SHEET_DATES = {"start_date", "end_date", "intermediate_evaluation_date", "final_evaluation_date",
               "due_date"}
SIGNATURE_METHOD = "mot de passe ressaisi et consentement explicite"
SHARING_ROLES = ("separate_controllers", "joint_controllers", "processor")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["fr_date"] = french_date
    env.filters["euros"] = euros
    env.filters["fr_number"] = lambda value: str(value).replace(".", ",")
    return env


# ---------------------------------------------------------------- formatting


def french_date(value) -> str:
    """A date as a French text writes it: « 1er avril 2026 », « 10 décembre 2026 ». A value
    that is not a date is shown as given."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            return str(value)
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


def french_moment(moment: datetime) -> str:
    """« 2 mars 2026 à 09:00:00 UTC »."""
    moment = as_utc(moment)
    return f"{french_date(moment)} à {moment:%H:%M:%S} UTC"


def euros(value) -> str:
    """« 1 200 € », « 1 200,50 € » (non-breaking spaces)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{amount:,.2f}".replace(",", "\u00a0").replace(".", ",")
    return f"{text[:-3] if text.endswith(',00') else text}\u00a0€"


def present(value, prop: dict | None):
    """A form value as the document shows it: an option's label, or a table for rows."""
    prop = prop or {}
    options = {o.get("const"): o.get("title") for o in prop.get("oneOf", []) if "const" in o}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        item = prop.get("items", {}).get("properties", {})
        keys = [k for k in item if any(k in row for row in value)] or sorted({k for r in value for k in r})
        return {"headers": [item.get(k, {}).get("title", k) for k in keys],
                "rows": [[present(row.get(k), item.get(k)) for k in keys] for row in value]}
    if isinstance(value, list):
        return ", ".join(str(options.get(v, v)) for v in value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    return options.get(value, value)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _flag(data: dict, *names: str) -> bool | None:
    """The first yes/no answer among these fields (the forms may name it one way or another)."""
    for name in names:
        value = data.get(name)
        if isinstance(value, bool):
            return value
    return None


def _first(data: dict, *names: str) -> str:
    for name in names:
        if _text(data.get(name)):
            return _text(data.get(name))
    return ""


def _lower_first(text: str) -> str:
    """« Directeur adjoint » → « directeur adjoint »; an acronym (« DG ») stays."""
    word = text.split(" ", 1)[0]
    return text if len(word) > 1 and word.isupper() else text[:1].lower() + text[1:]


# ---------------------------------------------------------------- the parties

# the first word of a name or a legal form: the grammatical gender of the party
_FEMININE = {"association", "fondation", "commune", "ville", "société", "sas", "sasu", "sarl", "sa",
             "eurl", "scop", "scic", "mutuelle", "région", "agence", "union", "fédération", "maison",
             "communauté", "congrégation", "caisse", "métropole", "coopérative", "entreprise",
             "clinique", "résidence", "université", "école", "collectivité", "mission", "plateforme",
             "ligue", "organisation", "pharmacie", "structure", "préfecture", "mairie", "assistance",
             "œuvre", "oeuvre", "maternité", "polyclinique", "direction"}
_MASCULINE = {"centre", "ch", "chu", "chr", "chi", "chs", "établissement", "etablissement",
              "groupement", "gcs", "gcsms", "gip", "gie", "département", "conseil", "syndicat",
              "institut", "office", "ehpad", "ccas", "cias", "foyer", "service", "esat", "ime",
              "itep", "sessad", "samsah", "savs", "hôpital", "pôle", "réseau", "comité", "cabinet",
              "ministère", "dispositif", "lycée", "collège", "club", "laboratoire", "groupe",
              "epsms", "eps", "epsm", "établissements", "hôpitaux", "espace", "accueil"}
_PRIVATE_FORM = re.compile(r"\b(association|fondation|société|sas|sasu|sarl|eurl|scop|scic|"
                           r"mutuelle|congrégation|coopérative|entreprise|droit privé)\b", re.I)
_PUBLIC_FORM = re.compile(r"\b(établissement public|etablissement public|collectivité|"
                          r"personne morale de droit public|droit public|groupement d'intérêt public|"
                          r"commune|département|région|epci|administration de l'état)\b", re.I)
_PUBLIC_NAME = re.compile(r"^(centre hospitalier|chu|chr|chi|ch|hôpital|hôpitaux|assistance publique|"
                          r"commune|ville|département|conseil départemental|conseil régional|région|"
                          r"métropole|communauté (de communes|d'agglomération|urbaine)|ccas|cias|"
                          r"centre (inter)?communal d'action sociale|agence régionale de santé|ars|"
                          r"gip|groupement d'intérêt public|établissement public|mairie|préfecture|"
                          r"epsms|epsm|eps)\b", re.I)
_COMPANY_FORM = re.compile(r"\b(société|sas|sasu|sarl|eurl|sa|scop|scic|entreprise|gie)\b", re.I)
_CIVILITY = re.compile(r"^(m\.|mme|mlle|monsieur|madame|dr|docteur|pr|professeur|me|maître)\b\.?\s",
                       re.I)


def _noun_gender(text: str) -> str | None:
    words = re.findall(r"[\wœ']+", (text or "").lower())
    for word in words[:2]:
        word = word.split("'", 1)[-1]  # « l'association » → « association »
        if word in ("le", "la", "les", "l"):
            continue
        if word in _FEMININE:
            return "f"
        if word in _MASCULINE:
            return "m"
        return None
    return None


def _person_gender(party: dict) -> str | None:
    """The representative's gender, for « M./Mme », « son/sa » and « habilité(e) »: a civility
    field if the form has one, else the civility written in the name, else the quality."""
    civility = _first(party, "representative_civility", "civility", "representative_title").lower()
    if civility.startswith(("mme", "madame", "mlle", "f")):
        return "f"
    if civility.startswith(("m", "monsieur", "mr")):
        return "m"
    name = _text(party.get("legal_representative")).lower()
    if name.startswith(("mme ", "mme. ", "madame ", "mlle ")):
        return "f"
    if name.startswith(("m. ", "monsieur ")):
        return "m"
    # the quality's noun and the adjectives right after it, up to a comma or a preposition:
    # « Directrice générale », « Maire adjointe » (not « Responsable du développement »)
    head = re.split(r",|\s(?:de|du|des|d'|chargée?|en|aux?|pour)\s",
                    _text(party.get("representative_quality")).lower() + " ", maxsplit=1)[0]
    for word in head.split():
        if re.search(r"(trice|ente|ière|esse|euse|ée|cheffe|adjointe|ante|ale)$", word):
            return "f"
        if re.search(r"(teur|ent|ier|é|eur|chef|adjoint|ant|al)$", word):
            return "m"
    return None


def _public(party: dict) -> bool:
    explicit = _flag(party, "public_body", "is_public", "public_entity")
    if explicit is not None:
        return explicit
    category = _first(party, "legal_category", "legal_nature", "party_type", "party_kind",
                      "legal_status", "sector").lower()
    if category:
        if "utilité publique" in category or "priv" in category:
            return False
        if "public" in category:
            return True
    form = _text(party.get("legal_form"))
    if form and _PRIVATE_FORM.search(form):
        return False
    return bool((form and _PUBLIC_FORM.search(form)) or _PUBLIC_NAME.search(_text(party.get("legal_name"))))


@dataclass
class Party:
    name: str
    label: str  # « Dénomination » or « Raison sociale »
    public: bool
    legal_form: str
    address: str
    identifiers: list[str]
    represented: str  # « représenté par son directeur, M. Jean Dupont, habilité … »
    representative: str  # « M. Jean Dupont »
    quality: str
    signature_place: str
    signature_date: str

    @property
    def legal_form_lc(self) -> str:
        return _lower_first(self.legal_form)


def party_view(party: dict, data: dict) -> Party:
    name = _text(party.get("legal_name")) or "—"
    public = _public(party)
    form = _text(party.get("legal_form"))
    private_company = not public and bool(form and _COMPANY_FORM.search(form))
    party_gender = _noun_gender(name) or _noun_gender(form)
    person_gender = _person_gender(party)
    rep = _text(party.get("legal_representative"))
    if rep and not _CIVILITY.match(rep + " ") and person_gender:
        rep = f"{'Mme' if person_gender == 'f' else 'M.'} {rep}"
    quality = _text(party.get("representative_quality"))
    represented = ""
    if rep or quality:
        who = rep
        if quality:
            possessive = "sa" if person_gender == "f" and not re.match(r"[aeiouyéèêàâîôûh]",
                                                                      quality.lower()) else "son"
            who = f"{possessive} {_lower_first(quality)}" + (f", {rep}" if rep else "")
        verb = {"m": "représenté par", "f": "représentée par"}.get(party_gender, "agissant par")
        represented = f"{verb} {who}"
        mandate = _text(party.get("mandate")).rstrip(" .")
        if mandate and person_gender:
            represented += (f", {'habilitée' if person_gender == 'f' else 'habilité'} à signer la "
                            f"présente convention ({mandate})")
        elif mandate:
            represented += f" (habilitation à signer : {mandate})"
    identifiers = [f"{label} {party[key]}" for label, key in (("SIRET", "siret"), ("FINESS", "finess"))
                   if _text(party.get(key))]
    return Party(name=name, label="Raison sociale" if private_company else "Dénomination",
                 public=public, legal_form=form,
                 address=", ".join(line.strip() for line in _text(party.get("address")).splitlines()
                                   if line.strip()),
                 identifiers=identifiers, represented=represented, representative=rep,
                 quality=quality,
                 signature_place=_text(party.get("signature_place")) or _text(data.get("signature_place")),
                 signature_date=french_date(party.get("signature_date") or data.get("signature_date")))


# ---------------------------------------------------------------- the personal-data article

_HEALTH_WORDS = re.compile(r"santé|médic|soins?\b|diagnos|patholog|thérap|ordonnance|dossier "
                           r"(médical|de soins|patient)|\bdmp\b|consultation|hospitalis", re.I)


@dataclass
class DataClause:
    case: str  # none | separate_controllers | joint_controllers | processor
    data_shared: str = ""
    people: str = ""
    health: bool = False
    outside_care_team: bool | None = None
    controller: str = ""
    processor: str = ""
    agreement_annex: int | None = None
    duration: str = ""
    people_information: str = ""  # how the people are informed, and consent or object


def data_clause(data: dict) -> DataClause:
    """Which clause the personal-data article writes: one case only, never a sentence of
    another. The convention's answer on the GDPR roles decides; when it is absent, the
    criteria's answer (personal data shared, yes or no); when both are absent, whether the
    convention describes data shared. Data the criteria say are shared while the convention
    answers « none » are written as shared, each party a separate controller, which is what
    the law makes of an exchange no agreement organises. Health data: the convention's
    answer (none, within the care team, outside it), else whether the data described bear
    on health."""
    roles = data.get("data_protection_roles")
    criteria = _flag(data, "personal_data_shared", "shared_personal_data", "shares_personal_data")
    described = _first(data, "data_shared", "shared_data", "data_shared_description")
    if roles in SHARING_ROLES:
        case = roles
    elif roles == "none":
        case = "separate_controllers" if criteria is True else "none"
    elif criteria is True or (criteria is None and described):
        case = "separate_controllers"
    else:
        case = "none"
    if case == "none":
        return DataClause("none")
    sharing = data.get("health_data_sharing")
    if sharing in ("none", "care_team", "outside_care_team"):
        health = sharing != "none"
        outside = {"care_team": False, "outside_care_team": True}.get(sharing)
    else:  # no answer: the description of the data says whether they bear on health
        health = bool(described and _HEALTH_WORDS.search(described))
        outside = None
    return DataClause(case, data_shared=described,
                      people=_text(data.get("population_concerned")), health=health,
                      outside_care_team=outside if health else None,
                      controller=_first(data, "data_controller", "controller_party"),
                      processor=_first(data, "data_processor", "processor_party"),
                      people_information=(_text(data.get("people_information_and_consent"))
                                          if health else ""))


# ---------------------------------------------------------------- the document


@dataclass
class Annex:
    number: int
    title: str
    sha256: str | None = None
    kind: str = "document"  # action_sheets | secondment | data_agreement | document


@dataclass
class Means:
    financial: list[dict] = field(default_factory=list)
    financial_note: str = ""
    staff: list[Secondment] = field(default_factory=list)
    staff_note: str = ""
    premises: list[dict] = field(default_factory=list)
    premises_note: str = ""


def _rows(value) -> list[dict]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


# the documents of a staff row kept internal to the employer (x-audience internal): the
# convention, which every party reads, never names them
STAFF_STATUSES = {"private_law": "salarié de droit privé",
                  "public_hospital": "agent de la fonction publique hospitalière"}


@dataclass
class Secondment:
    """One person made available: the lines that make the convention the convention of
    « mise à disposition » (code du travail L8241-2; décret n° 88-976 for hospital staff)."""
    number: int
    employee: str
    qualification: str
    lender: str
    receiver: str
    status: str  # private_law | public_hospital | ""
    status_label: str
    work: str
    fte: object
    start: str
    end: str
    billing: str
    control: str
    cse: str
    cse_date: str
    agreement_sha256: str


def _secondments(rows: list[dict], item_props: dict) -> list[Secondment]:
    cse_options = {o.get("const"): o.get("title") for o in
                   item_props.get("cse_consultation", {}).get("oneOf", []) if "const" in o}
    found = []
    for number, row in enumerate(rows, 1):
        status = _text(row.get("staff_status"))
        cse = _text(row.get("cse_consultation"))
        found.append(Secondment(
            number=number, employee=_text(row.get("employee_name")),
            qualification=_text(row.get("qualification")), lender=_text(row.get("party")),
            receiver=_text(row.get("receiving_party")), status=status,
            status_label=STAFF_STATUSES.get(status, status), work=_text(row.get("description")),
            fte=row.get("fte"), start=french_date(row.get("start_date")),
            end=french_date(row.get("end_date")), billing=_text(row.get("billing_terms")),
            control=_text(row.get("activity_control_and_evaluation")),
            cse=_lower_first(cse_options.get(cse) or cse), cse_date=french_date(
                row.get("cse_consultation_date")),
            agreement_sha256=_text(row.get("secondment_agreement_document"))))
    return found


def _means(data: dict, props: dict) -> Means:
    staff_items = props.get("staff_made_available_details", {}).get("items", {}).get("properties", {})
    means = Means(financial=_rows(data.get("financial_contributions")),
                  staff=_secondments(_rows(data.get("staff_made_available_details")), staff_items),
                  premises=_rows(data.get("premises_and_equipment")))
    money = _flag(data, "money_flows")
    amount = data.get("money_flow_amount_eur")
    if not means.financial:
        if money:
            estimate = (f" (montant annuel estimé : {euros(amount)})"
                        if isinstance(amount, int | float) and amount > 0 else "")
            means.financial_note = (f"Les parties prévoient des flux financiers entre elles{estimate} ; "
                                    "leur répartition et leur échéancier sont fixés par avenant à la "
                                    "présente convention.")
        else:
            means.financial_note = ("La présente convention ne prévoit aucune contribution financière "
                                    "entre les parties : chacune supporte les charges de ses propres "
                                    "engagements.")
    if not means.staff:
        if _flag(data, "staff_made_available"):
            means.staff_note = ("Les personnes mises à disposition, leurs fonctions et les conditions "
                                "de la mise à disposition sont précisées par une convention de mise à "
                                "disposition conclue entre les parties concernées (articles L8241-1 et "
                                "L8241-2 du code du travail ; décret n° 88-976 du 13 octobre 1988 pour "
                                "un agent de la fonction publique hospitalière).")
        else:
            means.staff_note = "La présente convention ne prévoit aucune mise à disposition de personnel."
    if not means.premises:
        if _flag(data, "premises_or_equipment_lent"):
            means.premises_note = ("Les locaux et équipements prêtés, ainsi que les conditions du prêt "
                                   "(durée, assurance, charges), sont précisés par avenant.")
        else:
            means.premises_note = ("La présente convention ne prévoit aucun prêt de locaux ou "
                                   "d'équipements.")
    return means


def _commitments(data: dict) -> list[tuple[str, list[str]]]:
    """The commitments grouped by party, in the order they were written."""
    grouped: dict[str, list[str]] = {}
    for row in _rows(data.get("reciprocal_commitments")):
        text = _text(row.get("commitment"))
        if text:
            grouped.setdefault(_text(row.get("party")) or "Les parties", []).append(text)
    return list(grouped.items())


def _annexes(data: dict, clause: DataClause, means: Means) -> list[Annex]:
    annexes = [Annex(1, "Fiches-actions", kind="action_sheets")]
    for person in means.staff:
        if person.agreement_sha256:
            annexes.append(Annex(len(annexes) + 1, "Convention de mise à disposition"
                                 + (f" — {person.employee}" if person.employee else ""),
                                 person.agreement_sha256, kind="secondment"))
    agreement = _text(data.get("data_protection_agreement"))
    for row in _rows(data.get("annexes")):
        title, sha = _text(row.get("annex_title")), _text(row.get("annex_document")) or None
        if not title or ("fiche" in title.lower() and "action" in title.lower() and not sha):
            continue  # the action-sheet annex is always the first one
        if sha and sha == agreement and clause.case in ("joint_controllers", "processor"):
            continue  # written below, named for what it is
        annexes.append(Annex(len(annexes) + 1, title, sha))
    if agreement and clause.case in ("joint_controllers", "processor"):
        title = ("Accord de responsabilité conjointe (article 26 du RGPD)"
                 if clause.case == "joint_controllers"
                 else "Contrat de sous-traitance (article 28 du RGPD)")
        annexes.append(Annex(len(annexes) + 1, title, agreement, kind="data_agreement"))
        clause.agreement_annex = annexes[-1].number
    return annexes


def sheet_options(forms) -> dict[str, dict]:
    """The labels of the action sheets' options ({field: {value: label}}), from their form."""
    try:
        items = forms.get("action_sheets").schema["properties"]["action_sheets"]["items"]
    except Exception:  # noqa: BLE001 - no such form: the values are shown as they are
        return {}
    return {key: {o["const"]: o.get("title") for o in prop.get("oneOf", []) if "const" in o}
            for key, prop in items.get("properties", {}).items() if prop.get("oneOf")}


def document_model(data: dict, *, partnership_title: str, level: str | None,
                   version: int | None, sheets: list[dict], schema: dict | None = None,
                   options: dict | None = None) -> dict:
    """Everything the template lays out, computed from the process data."""
    props = (schema or {}).get("properties", {})
    parties = [party_view(p, data) for p in _rows(data.get("parties"))]
    clause = data_clause(data)
    means = _means(data, props)
    start, end = french_date(data.get("start_date")), french_date(data.get("end_date"))
    clause.duration = (f"du {start} au {end}" if start and end else
                       f"à compter du {start}" if start else "")
    renewal = data.get("renewal")
    if renewal is None and isinstance(data.get("tacit_renewal"), bool):
        renewal = "tacit" if data["tacit_renewal"] else None
    notice = data.get("termination_notice_months")
    return {
        "c": data,
        "title": _text(data.get("convention_title")) or "Convention de partenariat",
        "partnership_title": partnership_title, "level": level, "version": version,
        "parties": parties, "commitments": _commitments(data), "means": means,
        "start": start, "end": end, "renewal": renewal,
        "duration_months": data.get("duration_months"),
        "notice": notice if isinstance(notice, int) and not isinstance(notice, bool) else None,
        "frequency": present(data.get("steering_meeting_frequency"),
                             props.get("steering_meeting_frequency")) or "",
        "intermediate": french_date(data.get("intermediate_evaluation_date")),
        "final": french_date(data.get("final_evaluation_date")),
        "indicators": _rows(data.get("evaluation_indicators")),
        "referents": _rows(data.get("referents")),
        "clause": clause, "annexes": _annexes(data, clause, means), "sheets": sheets,
        "sheet_fields": SHEET_FIELDS, "sheet_dates": SHEET_DATES, "sheet_options": options or {},
        "signature_place": _text(data.get("signature_place")),
        "signature_date": french_date(data.get("signature_date")),
        # one place and date for all, or each party's own under its block
        "signed_together": len({(p.signature_place, p.signature_date) for p in parties}) <= 1,
    }


def render_html(data: dict, *, partnership_title: str, level: str | None, version: int | None,
                sheets: list[dict], schema: dict | None = None,
                sheet_labels: dict | None = None) -> str:
    """The convention as a standalone HTML document (French), escaping every value.
    `schema` is the convention form's (its options' labels), `sheet_labels` those of the
    action sheets' options (sheet_options)."""
    return _env().get_template("convention.html").render(
        **document_model(data, partnership_title=partnership_title, level=level, version=version,
                         sheets=sheets, schema=schema, options=sheet_labels))


def action_sheets(session, partnership_id: int) -> list[dict]:
    """The latest validated action sheets of a partnership, from the inbox projection."""
    result = session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "action_sheets",
        HumanTask.state == "completed").order_by(HumanTask.id.desc()).limit(1))
    return list((result or {}).get("action_sheets", []))


def _store(session, *, partnership_id: int, content: bytes, filename: str, content_type: str,
           label: str, actor: str, at: datetime) -> str:
    digest = hashlib.sha256(content).hexdigest()
    exists = session.scalar(select(Document.id).where(Document.partnership_id == partnership_id,
                                                      Document.sha256 == digest))
    if exists is None:
        session.add(Document(partnership_id=partnership_id, sha256=digest, filename=filename,
                             content_type=content_type, size=len(content), content=content,
                             kind="convention", label=label, uploaded_by=actor, created_at=at))
    return digest


def generate(uow, *, partnership_id: int, data: dict, actor: str | None,
             form_key: str = "convention") -> str:
    """Store a new version of the convention (HTML and PDF); returns the PDF's SHA-256,
    which is what the directors sign."""
    session = uow.session
    partnership = session.get(Partnership, partnership_id)
    version = (session.scalar(select(func.count()).select_from(Document).where(
        Document.partnership_id == partnership_id, Document.kind == "convention",
        Document.content_type == "application/pdf")) or 0) + 1
    sheets = action_sheets(session, partnership_id)
    html = render_html(data, partnership_title=partnership.title,
                       level=partnership.formalisation_level, version=version, sheets=sheets,
                       schema=uow.forms.get(form_key).schema,
                       sheet_labels=sheet_options(uow.forms) if sheets else None)
    pdf = render_pdf(html, root=TEMPLATES)
    now = uow.clock()
    label = f"Convention v{version}"
    html_hash = _store(session, partnership_id=partnership_id, content=html.encode("utf-8"),
                       filename=f"convention-v{version}.html", content_type="text/html",
                       label=label, actor=actor, at=now)
    pdf_hash = _store(session, partnership_id=partnership_id, content=pdf,
                      filename=f"convention-v{version}.pdf", content_type="application/pdf",
                      label=label, actor=actor, at=now)
    audit.append(session, type="convention_generated", actor=actor, at=now,
                 partnership_id=partnership_id,
                 payload={"version": version, "pdf_sha256": pdf_hash, "html_sha256": html_hash})
    return pdf_hash


def adopt_upload(session, partnership_id: int, sha256: str) -> None:
    """A convention formatted elsewhere and uploaded becomes the document to sign."""
    doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                Document.sha256 == sha256))
    if doc is None:
        raise NotFound("the uploaded convention is not in this partnership's document base")
    doc.kind = "convention"
    doc.label = doc.label or "Convention (document déposé)"


def sign(uow, *, partnership_id: int, digest: str | None, actor: str, full_name: str,
         quality: str, task_id: int | None, element_id: str | None) -> Signature:
    """Record who signed which document, when and how. The signatory typed their password
    again when completing the signature task (accounts.confirm_password, in the same
    transaction); the document must be in the partnership's document base."""
    session = uow.session
    if not digest or session.scalar(select(Document.id).where(
            Document.partnership_id == partnership_id, Document.sha256 == digest)) is None:
        raise NotFound("the document to sign is not in this partnership's document base")
    signature = Signature(partnership_id=partnership_id, document_sha256=digest,
                          username=actor, full_name=full_name, quality=quality,
                          method=SIGNATURE_METHOD, task_id=task_id, signed_at=uow.clock())
    session.add(signature)
    audit.append(session, type="document_signed", actor=actor, at=uow.clock(),
                 partnership_id=partnership_id, element_id=element_id,
                 payload={"document_sha256": digest, "full_name": signature.full_name,
                          "quality": signature.quality, "method": SIGNATURE_METHOD})
    return signature


@dataclass
class SignatureStatus:
    full_name: str
    quality: str
    username: str
    signed_at: str
    method: str
    document_sha256: str
    valid: bool
    reason: str | None
    signed_on: str = ""  # « 2 mars 2026 à 09:00:00 UTC »


def current_convention(session, partnership_id: int) -> Document | None:
    """The convention document signatures should be on: the newest one that was signed
    or prepared for signature (the newest PDF, or an uploaded file)."""
    return session.scalar(select(Document).where(
        Document.partnership_id == partnership_id, Document.kind == "convention",
        Document.content_type != "text/html").order_by(Document.id.desc()).limit(1))


def signature_statuses(session, partnership_id: int) -> list[SignatureStatus]:
    """Every signature, valid only while its document is still the current one, unaltered."""
    current = current_convention(session, partnership_id)
    statuses = []
    for s in session.scalars(select(Signature).where(Signature.partnership_id == partnership_id)
                             .order_by(Signature.id)):
        doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                    Document.sha256 == s.document_sha256))
        reason = None
        if doc is None:
            reason = "le document signé n'est plus dans la base documentaire"
        elif hashlib.sha256(doc.content).hexdigest() != s.document_sha256:
            reason = "le document signé a été modifié après la signature"
        elif current is not None and doc.kind == "convention" and current.sha256 != s.document_sha256:
            reason = f"une nouvelle version ({current.label or current.filename}) remplace le document signé"
        statuses.append(SignatureStatus(s.full_name, s.quality, s.username,
                                        as_utc(s.signed_at).strftime("%Y-%m-%d %H:%M:%S"), s.method,
                                        s.document_sha256, reason is None, reason,
                                        french_moment(s.signed_at)))
    return statuses


def signed_document(session, partnership_id: int, *, check: bool = True) -> Document:
    """The file the signatures were given on, exactly as stored: the current convention if
    anyone signed it, else the file of the latest signature. NotFound before any signature;
    Conflict when the stored bytes no longer have the SHA-256 that was signed (unless
    `check` is false: the certificate shows the difference)."""
    digests = list(session.scalars(select(Signature.document_sha256).where(
        Signature.partnership_id == partnership_id).order_by(Signature.id.desc())))
    if not digests:
        raise NotFound("nobody has signed a convention of this partnership yet")
    current = current_convention(session, partnership_id)
    digest = current.sha256 if current is not None and current.sha256 in digests else digests[0]
    doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                Document.sha256 == digest))
    if doc is None:
        raise NotFound("the signed document is no longer in this partnership's document base")
    if check and hashlib.sha256(doc.content).hexdigest() != digest:
        raise Conflict(f"the stored file no longer has the SHA-256 {digest} that was signed")
    return doc


def signed_filename(doc: Document) -> str:
    """« convention-signee-<12 first hex digits>.<the stored file's extension> »."""
    ext = doc.filename.rsplit(".", 1)[-1].lower() if "." in doc.filename else "pdf"
    return f"convention-signee-{doc.sha256[:12]}.{re.sub(r'[^a-z0-9]', '', ext) or 'pdf'}"


def _convention_data(session, partnership_id: int) -> dict:
    return session.scalar(select(HumanTask.result).where(
        HumanTask.partnership_id == partnership_id, HumanTask.form_key == "convention",
        HumanTask.state == "completed").order_by(HumanTask.id.desc()).limit(1)) or {}


def _signatory_parties(session, partnership_id: int, data: dict) -> list[str]:
    """The party each signature engages, in the order of signature_statuses: the party its
    signature task named (signing_party_name), else the party whose representative the
    convention names with the signatory's name, else an empty string."""
    by_name = {_text(p.get("legal_representative")).lower(): _text(p.get("legal_name"))
               for p in _rows(data.get("parties"))}
    parties = []
    for signature in session.scalars(select(Signature).where(
            Signature.partnership_id == partnership_id).order_by(Signature.id)):
        task = session.get(HumanTask, signature.task_id) if signature.task_id else None
        named = _first((task.result or {}) if task else {}, "signing_party_name") or _first(
            (task.context or {}) if task else {}, "signing_party_name")
        parties.append(named or by_name.get(signature.full_name.strip().lower(), ""))
    return parties


def certificate_pdf(session, partnership_id: int, now: datetime) -> tuple[bytes, str]:
    """The certificate of the signatures: the signed file (name, size, SHA-256, recomputed
    from the stored bytes) and every signature given in the partnership (who, for which
    party, quality, when, how, on which SHA-256, still valid or not). A document of its own:
    the signed file is never re-rendered; a stored file altered since shows as such.
    Returns the PDF and the signed SHA-256."""
    partnership = session.get(Partnership, partnership_id)
    doc = signed_document(session, partnership_id, check=False)
    statuses = signature_statuses(session, partnership_id)
    data = _convention_data(session, partnership_id)
    html = _env().get_template("signature_certificate.html").render(
        partnership_title=partnership.title, title=_text(data.get("convention_title")),
        doc=doc, recomputed=hashlib.sha256(doc.content).hexdigest(),
        stored_on=french_moment(doc.created_at), signed_name=signed_filename(doc),
        rows=list(zip(statuses, _signatory_parties(session, partnership_id, data), strict=True)),
        generated_on=french_moment(now), method=SIGNATURE_METHOD)
    return render_pdf(html, root=TEMPLATES), doc.sha256


def action_sheets_pdf(session, partnership_id: int, now: datetime, forms=None) -> bytes:
    """The action sheets as an annex of their own, naming the convention they complete by
    its SHA-256 (the signed file, else the current convention): written after the signature,
    they are joined to the convention by an annex or an amendment the parties sign, never
    merged into the signed file."""
    partnership = session.get(Partnership, partnership_id)
    sheets = action_sheets(session, partnership_id)
    if not sheets:
        raise NotFound("this partnership has no action sheets yet")
    try:
        convention_doc, signed = signed_document(session, partnership_id), True
    except (NotFound, Conflict):
        convention_doc, signed = current_convention(session, partnership_id), False
    data = _convention_data(session, partnership_id)
    html = _env().get_template("action_sheets_annex.html").render(
        partnership_title=partnership.title, title=_text(data.get("convention_title")),
        doc=convention_doc, signed=signed, sheets=sheets, sheet_fields=SHEET_FIELDS,
        sheet_dates=SHEET_DATES, sheet_options=sheet_options(forms) if forms else {},
        generated_on=french_moment(now))
    return render_pdf(html, root=TEMPLATES)
