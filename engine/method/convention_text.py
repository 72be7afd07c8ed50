"""What the convention says: the text of a French "convention de partenariat" built from the
negotiation's data, as HTML.

The parties and their representatives, a preamble, numbered articles (purpose; each party's
commitments; means; duration and renewal; evaluation; termination; disputes; personal data),
one signature block per party, then the annexes. It reads the convention form's answers and,
where they say more, the formalisation criteria of the same process (personal data shared,
money flows, staff made available, premises lent); an answer that is absent leaves its
sentence out. convention.py stores, signs and certifies what this module writes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from partnerflow.engine.config import as_utc

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


def environment() -> Environment:
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


def text_of(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _flag(data: dict, *names: str) -> bool | None:
    """The first yes/no answer among these fields (the forms may name it one way or another)."""
    for name in names:
        value = data.get(name)
        if isinstance(value, bool):
            return value
    return None


def first_of(data: dict, *names: str) -> str:
    for name in names:
        if text_of(data.get(name)):
            return text_of(data.get(name))
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
    civility = first_of(party, "representative_civility", "civility", "representative_title").lower()
    if civility.startswith(("mme", "madame", "mlle", "f")):
        return "f"
    if civility.startswith(("m", "monsieur", "mr")):
        return "m"
    name = text_of(party.get("legal_representative")).lower()
    if name.startswith(("mme ", "mme. ", "madame ", "mlle ")):
        return "f"
    if name.startswith(("m. ", "monsieur ")):
        return "m"
    # the quality's noun and the adjectives right after it, up to a comma or a preposition:
    # « Directrice générale », « Maire adjointe » (not « Responsable du développement »)
    head = re.split(r",|\s(?:de|du|des|d'|chargée?|en|aux?|pour)\s",
                    text_of(party.get("representative_quality")).lower() + " ", maxsplit=1)[0]
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
    category = first_of(party, "legal_category", "legal_nature", "party_type", "party_kind",
                      "legal_status", "sector").lower()
    if category:
        if "utilité publique" in category or "priv" in category:
            return False
        if "public" in category:
            return True
    form = text_of(party.get("legal_form"))
    if form and _PRIVATE_FORM.search(form):
        return False
    return bool((form and _PUBLIC_FORM.search(form)) or _PUBLIC_NAME.search(text_of(party.get("legal_name"))))


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
    name = text_of(party.get("legal_name")) or "—"
    public = _public(party)
    form = text_of(party.get("legal_form"))
    private_company = not public and bool(form and _COMPANY_FORM.search(form))
    party_gender = _noun_gender(name) or _noun_gender(form)
    person_gender = _person_gender(party)
    rep = text_of(party.get("legal_representative"))
    if rep and not _CIVILITY.match(rep + " ") and person_gender:
        rep = f"{'Mme' if person_gender == 'f' else 'M.'} {rep}"
    quality = text_of(party.get("representative_quality"))
    represented = ""
    if rep or quality:
        who = rep
        if quality:
            possessive = "sa" if person_gender == "f" and not re.match(r"[aeiouyéèêàâîôûh]",
                                                                      quality.lower()) else "son"
            who = f"{possessive} {_lower_first(quality)}" + (f", {rep}" if rep else "")
        verb = {"m": "représenté par", "f": "représentée par"}.get(party_gender, "agissant par")
        represented = f"{verb} {who}"
        mandate = text_of(party.get("mandate")).rstrip(" .")
        if mandate and person_gender:
            represented += (f", {'habilitée' if person_gender == 'f' else 'habilité'} à signer la "
                            f"présente convention ({mandate})")
        elif mandate:
            represented += f" (habilitation à signer : {mandate})"
    identifiers = [f"{label} {party[key]}" for label, key in (("SIRET", "siret"), ("FINESS", "finess"))
                   if text_of(party.get(key))]
    return Party(name=name, label="Raison sociale" if private_company else "Dénomination",
                 public=public, legal_form=form,
                 address=", ".join(line.strip() for line in text_of(party.get("address")).splitlines()
                                   if line.strip()),
                 identifiers=identifiers, represented=represented, representative=rep,
                 quality=quality,
                 signature_place=(text_of(party.get("signature_place"))
                                  or text_of(data.get("signature_place"))),
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
    described = first_of(data, "data_shared", "shared_data", "data_shared_description")
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
                      people=text_of(data.get("population_concerned")), health=health,
                      outside_care_team=outside if health else None,
                      controller=first_of(data, "data_controller", "controller_party"),
                      processor=first_of(data, "data_processor", "processor_party"),
                      people_information=(text_of(data.get("people_information_and_consent"))
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


def rows_of(value) -> list[dict]:
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
        status = text_of(row.get("staff_status"))
        cse = text_of(row.get("cse_consultation"))
        found.append(Secondment(
            number=number, employee=text_of(row.get("employee_name")),
            qualification=text_of(row.get("qualification")), lender=text_of(row.get("party")),
            receiver=text_of(row.get("receiving_party")), status=status,
            status_label=STAFF_STATUSES.get(status, status), work=text_of(row.get("description")),
            fte=row.get("fte"), start=french_date(row.get("start_date")),
            end=french_date(row.get("end_date")), billing=text_of(row.get("billing_terms")),
            control=text_of(row.get("activity_control_and_evaluation")),
            cse=_lower_first(cse_options.get(cse) or cse), cse_date=french_date(
                row.get("cse_consultation_date")),
            agreement_sha256=text_of(row.get("secondment_agreement_document"))))
    return found


def _means(data: dict, props: dict) -> Means:
    staff_items = props.get("staff_made_available_details", {}).get("items", {}).get("properties", {})
    means = Means(financial=rows_of(data.get("financial_contributions")),
                  staff=_secondments(rows_of(data.get("staff_made_available_details")), staff_items),
                  premises=rows_of(data.get("premises_and_equipment")))
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
    for row in rows_of(data.get("reciprocal_commitments")):
        text = text_of(row.get("commitment"))
        if text:
            grouped.setdefault(text_of(row.get("party")) or "Les parties", []).append(text)
    return list(grouped.items())


def _annexes(data: dict, clause: DataClause, means: Means) -> list[Annex]:
    annexes = [Annex(1, "Fiches-actions", kind="action_sheets")]
    for person in means.staff:
        if person.agreement_sha256:
            annexes.append(Annex(len(annexes) + 1, "Convention de mise à disposition"
                                 + (f" — {person.employee}" if person.employee else ""),
                                 person.agreement_sha256, kind="secondment"))
    agreement = text_of(data.get("data_protection_agreement"))
    for row in rows_of(data.get("annexes")):
        title, sha = text_of(row.get("annex_title")), text_of(row.get("annex_document")) or None
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
    parties = [party_view(p, data) for p in rows_of(data.get("parties"))]
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
        "title": text_of(data.get("convention_title")) or "Convention de partenariat",
        "partnership_title": partnership_title, "level": level, "version": version,
        "parties": parties, "commitments": _commitments(data), "means": means,
        "start": start, "end": end, "renewal": renewal,
        "duration_months": data.get("duration_months"),
        "notice": notice if isinstance(notice, int) and not isinstance(notice, bool) else None,
        "frequency": present(data.get("steering_meeting_frequency"),
                             props.get("steering_meeting_frequency")) or "",
        "intermediate": french_date(data.get("intermediate_evaluation_date")),
        "final": french_date(data.get("final_evaluation_date")),
        "indicators": rows_of(data.get("evaluation_indicators")),
        "referents": rows_of(data.get("referents")),
        "committee": [{**row, "party": text_of(row.get("organisation"))
                       or {"ours": "Notre organisation", "partner": "Partenaire"}.get(row.get("side"), "")}
                      for row in rows_of(data.get("steering_committee"))],
        "clause": clause, "annexes": _annexes(data, clause, means), "sheets": sheets,
        "sheet_fields": SHEET_FIELDS, "sheet_dates": SHEET_DATES, "sheet_options": options or {},
        "signature_place": text_of(data.get("signature_place")),
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
    return environment().get_template("convention.html").render(
        **document_model(data, partnership_title=partnership_title, level=level, version=version,
                         sheets=sheets, schema=schema, options=sheet_labels))
