"""Form definitions (JSON Schema 2020-12 with x- hints) and server-side validation in French."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from partnerflow.engine.errors import FormValidationError, Problem
from partnerflow.engine.runtime.views import AUDIENCES, parse_shows
from partnerflow.engine.spiff import is_camunda_form_key

FORM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,119}$")
ROOT = "_form"


@dataclass(frozen=True)
class FormDefinition:
    key: str
    schema: dict

    @property
    def title(self) -> str:
        return self.schema.get("title", self.key)

    @property
    def instructions(self) -> str | None:
        return self.schema.get("x-instructions") or self.schema.get("description")

    def ordered_fields(self) -> list[tuple[str, dict]]:
        props = self.schema.get("properties", {})
        return sorted(props.items(), key=lambda kv: (kv[1].get("x-order", 1000), list(props).index(kv[0])))


class FormRegistry:
    """Form definitions by key: the newest one saved from the browser, else forms/<key>.json."""

    def __init__(self, forms_dir: Path, saved: Callable[[], dict[str, dict]] | None = None):
        self.forms_dir = Path(forms_dir)
        self._saved = saved or (lambda: {})
        self._cache: dict[str, tuple[object, FormDefinition]] = {}

    def exists(self, key: str) -> bool:
        return bool(FORM_KEY.match(key or "")) and (
            key in self._saved() or (self.forms_dir / f"{key}.json").is_file())

    def form_keys(self) -> list[str]:
        return sorted({p.stem for p in self.forms_dir.glob("*.json")} | set(self._saved()))

    def file_schema(self, key: str) -> dict | None:
        path = self.forms_dir / f"{key}.json"
        return load_schema(path) if FORM_KEY.match(key or "") and path.is_file() else None

    def get(self, key: str) -> FormDefinition:
        if not FORM_KEY.match(key or ""):
            raise FormValidationError(f"'{key}' is not a valid form key")
        saved = self._saved().get(key)
        if saved is not None:
            return FormDefinition(key, saved)
        path = self.forms_dir / f"{key}.json"
        if not path.is_file():
            raise FormValidationError(f"no form '{key}' in {self.forms_dir}")
        mtime = path.stat().st_mtime
        cached = self._cache.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        definition = FormDefinition(key, load_schema(path))
        self._cache[key] = (mtime, definition)
        return definition

    def problems(self, key: str) -> list[Problem]:
        """What is wrong with a form, for deploy-time checks."""
        try:
            self.get(key)
        except FormValidationError as exc:
            return [Problem(f"forms/{key}.json", str(exc))]
        return []

    def validate(self, key: str, data: dict, previous: dict | None = None) -> dict:
        """Return the cleaned data or raise FormValidationError with every field error
        (`previous`: the task's data, see validate_against)."""
        return validate_against(self.get(key).schema, data, previous)


def load_schema(path: Path) -> dict:
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormValidationError(f"{path.name}: not readable JSON ({exc})") from None
    return check_schema(schema, path.name)


def check_schema(schema: dict, name: str) -> dict:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise FormValidationError(f"{name}: a form is a JSON Schema with \"type\": \"object\"")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise FormValidationError(f"{name}: invalid JSON Schema: {exc.message}") from None
    problem = (next(_schema_problems(schema, schema), None) or _rules_problem(schema.get("x-rules"))
               or _shows_problem(schema.get("x-shows")))
    if problem:
        raise FormValidationError(f"{name}: {problem}")
    return schema


# cross-field rules a form declares in `x-rules`: a date after another, a field required when
# another has a value, a box that must be ticked, rows that span at least `min` distinct
# values of one of their fields (a joint committee: members from each party)
_RULES = {"after": ("field", "other"), "required_if": ("field", "other"), "true": ("field",),
          "distinct": ("field", "key")}


def _schema_problems(node, root, path: str = "#"):
    """What valid JSON Schema still makes validating or drawing the form fail: a reference
    outside the form (never fetched) or to nothing, a field order that is not a number."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _schema_problems(item, root, f"{path}/{index}")
        return
    if not isinstance(node, dict):
        return
    for key in ("$ref", "$dynamicRef"):
        ref = node.get(key)
        if isinstance(ref, str) and not _local_target(root, ref):
            yield f"{path}: the reference {ref!r} does not point inside the form"
    order = node.get("x-order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
        yield f"{path}: x-order must be a number"
    if "x-personal" in node and not isinstance(node["x-personal"], bool):
        yield f"{path}: x-personal must be true or false"
    if "x-audience" in node and node["x-audience"] not in AUDIENCES:
        yield f"{path}: x-audience must be one of {', '.join(AUDIENCES)}"
    for key, value in node.items():
        if key not in ("const", "enum", "default", "examples", "x-rules", "x-shows"):
            yield from _schema_problems(value, root, f"{path}/{key}")


def _local_target(root: dict, ref: str) -> bool:
    if not ref.startswith("#"):
        return False
    target = root
    for part in (p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p):
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return False
    return True


def _shows_problem(shows) -> str | None:
    """What a form's `x-shows` (the earlier steps its task shows) gets wrong, if anything."""
    try:
        parse_shows(shows)
    except ValueError as exc:
        return str(exc)
    return None


def _rules_problem(rules) -> str | None:
    if rules is None:
        return None
    if not isinstance(rules, list):
        return "x-rules must be a list of rules"
    for index, rule in enumerate(rules):
        needed = _RULES.get(rule.get("rule")) if isinstance(rule, dict) else None
        if needed is None:
            return f"x-rules[{index}]: the rule must be one of {', '.join(_RULES)}"
        missing = [k for k in needed if not isinstance(rule.get(k), str)]
        if missing or ("in" in rule and not isinstance(rule["in"], str)):
            return f"x-rules[{index}]: {', '.join(missing) or 'in'} must name a field"
        least = rule.get("min", 2)
        if isinstance(least, bool) or not isinstance(least, int) or not 1 <= least <= 100:
            return f"x-rules[{index}]: min must be a whole number from 1 to 100"
    return None


def N_(text: str) -> str:
    """Marks a French text for the catalogue (babel.cfg extracts this module); the web layer
    translates form texts when it shows them."""
    return text


# What a task shows when its form cannot be shown here (a Camunda form key or a Camunda
# Forms reference) and the diagram declares no camunda:formData fields.
GENERIC_FORM: dict = {
    "type": "object",
    "title": N_("Tâche"),
    "x-instructions": N_("Le formulaire prévu pour cette tâche n’est pas disponible : notez ce "
                         "qui a été fait, puis confirmez."),
    "properties": {
        "comment": {"type": "string", "title": N_("Commentaire"), "x-widget": "textarea",
                    "x-order": 1},
        "confirmed": {"type": "boolean", "title": N_("J’ai fait ce que cette tâche demande"),
                      "x-widget": "checkbox", "const": True, "x-order": 2},
    },
    "required": ["confirmed"],
}


def task_form(form_key: str | None, form_fields=(), form_ref: str | None = None
              ) -> tuple[str | None, dict | None]:
    """The form a user task shows, as (form key, inline schema): its camunda:formData fields
    when it declares some, else its form key when it is one of the method's, else the generic
    form when its form was written for Camunda (a form key or a camunda:formRef), else none."""
    if form_fields:
        return None, schema_from_form_fields(list(form_fields))
    if form_key and not is_camunda_form_key(form_key):
        return form_key, None
    if form_key or form_ref:
        return None, json.loads(json.dumps(GENERIC_FORM))
    return None, None


def schema_from_form_fields(fields: list[dict]) -> dict:
    """A JSON Schema for the simple `camunda:formData` fields declared in a diagram."""
    types = {"long": "integer", "boolean": "boolean", "string": "string", "date": "string",
             "enum": "string"}
    props: dict = {}
    required = []
    for f in fields:
        prop: dict = {"type": types.get(f["type"], "string"), "title": f.get("label") or f["id"]}
        if f["type"] == "date":
            prop["format"] = "date"
        if f.get("options"):
            prop["oneOf"] = [{"const": o["id"], "title": o["name"]} for o in f["options"]]
        if f.get("required"):
            required.append(f["id"])
        props[f["id"]] = prop
    return {"type": "object", "properties": props, "required": required}


# ---------------------------------------------------------------- validation

_FORMAT_CHECKER = FormatChecker()


def _path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        if missing:
            parts.append(missing.group(1))
    return ".".join(parts) or ROOT


_TYPE_NAMES = {"string": "un texte", "number": "un nombre", "integer": "un nombre entier",
               "boolean": "oui ou non", "array": "une liste", "object": "un ensemble de champs"}
_FORMATS = {"date": "Date attendue au format AAAA-MM-JJ.", "email": "Adresse électronique invalide.",
            "date-time": "Date et heure attendues."}


def _type_message(value) -> str:
    expected = value if isinstance(value, str) else value[0]
    return f"Valeur attendue : {_TYPE_NAMES.get(expected, expected)}."


def _const_message(value) -> str:
    return "Cette case doit être cochée." if value is True else "Choisissez une des valeurs proposées."


_MESSAGES = {
    "required": lambda v, e: "Ce champ est obligatoire.",
    "type": lambda v, e: _type_message(v),
    "minLength": lambda v, e: "Ce champ est obligatoire." if v == 1 else f"Au moins {v} caractères.",
    "maxLength": lambda v, e: f"Au plus {v} caractères.",
    "minimum": lambda v, e: f"La valeur doit être supérieure ou égale à {v}.",
    "exclusiveMinimum": lambda v, e: f"La valeur doit être strictement supérieure à {v}.",
    "maximum": lambda v, e: f"La valeur doit être inférieure ou égale à {v}.",
    "enum": lambda v, e: "Choisissez une des valeurs proposées.",
    "oneOf": lambda v, e: "Choisissez une des valeurs proposées.",
    "anyOf": lambda v, e: _any_of_message(e),
    "const": lambda v, e: _const_message(v),
    "format": lambda v, e: _FORMATS.get(v, f"Format {v} attendu."),
    "pattern": lambda v, e: e.schema.get("x-pattern-message") or "Le format de cette valeur est incorrect.",
    "minItems": lambda v, e: f"Ajoutez au moins {v} ligne(s)." if v > 1 else "Ajoutez au moins une ligne.",
    "maxItems": lambda v, e: f"Au plus {v} lignes.",
    "additionalProperties": lambda v, e: "Champ inconnu : " + ", ".join(re.findall(r"'([^']+)'", e.message)),
}


def alternatives(schema: dict) -> list[str]:
    """The fields of an object of which at least one must be filled in (`anyOf` whose every
    branch only requires fields, as a party's SIRET or FINESS), in the schema's order."""
    branches = schema.get("anyOf") or []
    if not branches or any(set(b) != {"required"} for b in branches):
        return []
    keys = [key for b in branches for key in b["required"]]
    return [key for key in schema.get("properties", {}) if key in keys]


def _any_of_message(error) -> str:
    keys = alternatives(error.schema)
    if not keys:
        return "Valeur invalide."
    titles = [error.schema["properties"][key].get("title", key) for key in keys]
    return "Renseignez au moins un de ces champs : " + " ou ".join(f"« {t} »" for t in titles) + "."


def _french(error, schema: dict) -> str:
    """The French message for one JSON Schema error."""
    message = _MESSAGES.get(error.validator)
    return message(error.validator_value, error) if message else "Valeur invalide."


def _coerce(schema: dict, data):
    """Turn the strings an HTML form sends into the types the schema asks for."""
    if not isinstance(schema, dict):
        return data
    kind = schema.get("type")
    if kind == "object" and isinstance(data, dict):
        props = schema.get("properties", {})
        out = {}
        for key, value in data.items():
            out[key] = _coerce(props.get(key, {}), value)
        return out
    if kind == "array" and isinstance(data, list):
        return [_coerce(schema.get("items", {}), item) for item in data]
    if isinstance(data, str):
        text = data.strip()
        if kind in ("number", "integer"):
            if text == "":
                return None
            try:
                # French grouping: "1 234,50" with a space, a no-break or a narrow no-break space
                number = float(re.sub(r"\s", "", text).replace(",", "."))
            except ValueError:
                return data
            if not math.isfinite(number):  # "1e999", "inf": not an amount anyone typed
                return data
            return int(number) if kind == "integer" and number.is_integer() else number
        if kind == "boolean":
            return text.lower() in ("true", "on", "1", "oui", "yes")
        return text
    return data


def _drop_empty(schema: dict, data):
    """Empty optional strings are absent values, not answers."""
    if isinstance(data, dict):
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        return {k: _drop_empty(props.get(k, {}), v) for k, v in data.items()
                if not (v is None or (isinstance(v, str) and v == ""))}
    if isinstance(data, list):
        return [_drop_empty(schema.get("items", {}), item) for item in data]
    return data


def validate_against(schema: dict, data: dict, previous: dict | None = None) -> dict:
    """Validate and clean form data; every error is reported, in French, by field path.

    Every string field is bounded (its own maxLength, else a default) and refuses control
    characters (a long text keeps its line breaks and tabs). An optional field sent empty is
    no answer; but when the task's data (`previous`) holds a value for it, the field was
    emptied on purpose and is kept as None, so that the old value does not survive."""
    if not isinstance(data, dict):
        raise FormValidationError("Les données du formulaire doivent être un objet JSON.",
                                  {ROOT: ["Les données du formulaire doivent être un objet."]})
    schema = closed(bounded(schema))
    cleaned = _drop_empty(schema, _coerce(schema, data))
    errors: dict[str, list[str]] = {}
    for path, message in _character_errors(schema, cleaned, ()):
        errors.setdefault(path, []).append(message)
    validator = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(cleaned), key=lambda e: list(e.absolute_path)):
        if error.validator == "additionalProperties":
            for name in _undeclared(error):
                errors.setdefault(".".join([*map(str, error.absolute_path), name]), []).append(
                    UNDECLARED)
            continue
        errors.setdefault(_path(error), []).append(_french(error, schema))
    for path, message in _rule_errors(schema.get("x-rules", []), cleaned):
        errors.setdefault(path, []).append(message)
    if errors:
        raise FormValidationError("Le formulaire contient des erreurs.", errors)
    return _keep_emptied(schema, data, cleaned, previous or {})


UNDECLARED = "Ce champ n'existe pas dans ce formulaire : il ne peut pas être enregistré."


def closed(schema: dict) -> dict:
    """A form takes the fields it declares and nothing else, whoever calls the engine (the
    web, the command line): an undeclared key would become a process variable, which only
    the diagram may set. (Inside repeating rows, what the process wrote into a row, such
    as an action sheet's evaluation history, travels with the row.)"""
    if "additionalProperties" in schema or "patternProperties" in schema:
        return schema
    return {**schema, "additionalProperties": False}


def _undeclared(error) -> list[str]:
    instance, schema = error.instance, error.schema
    declared = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
    return sorted(str(k) for k in instance if k not in declared) if isinstance(instance, dict) else []


def _keep_emptied(schema: dict, sent: dict, cleaned: dict, previous: dict) -> dict:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for key, value in sent.items():
        emptied = value is None or (isinstance(value, str) and value.strip() == "")
        if emptied and key in props and key not in cleaned and previous.get(key) not in (None, ""):
            cleaned[key] = None
    return cleaned


def _as_date(value):
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _rule_errors(rules: list[dict], data: dict):
    for rule in rules:
        scopes: list[tuple[str, dict]] = [("", data)]
        if rule.get("in"):
            rows = data.get(rule["in"]) or []
            scopes = [(f"{rule['in']}.{i}.", row) for i, row in enumerate(rows)
                      if isinstance(row, dict)]
        for prefix, scope in scopes:
            if rule.get("rule") == "after":
                later, earlier = _as_date(scope.get(rule["field"])), _as_date(scope.get(rule["other"]))
                if later and earlier and later < earlier:
                    yield (prefix + rule["field"],
                           rule.get("message") or "Cette date doit suivre la précédente.")
            elif rule.get("rule") == "required_if":
                if scope.get(rule["other"]) == rule.get("equals") and scope.get(rule["field"]) in (
                        None, "", []):
                    yield prefix + rule["field"], rule.get("message") or "Ce champ est obligatoire."
            elif rule.get("rule") == "true" and scope.get(rule["field"]) is not True:
                yield prefix + rule["field"], rule.get("message") or "Cette case doit être cochée."
            elif rule.get("rule") == "distinct":
                rows = scope.get(rule["field"])
                values = {str(r.get(rule["key"])) for r in rows or ()
                          if isinstance(r, dict) and r.get(rule["key"]) not in (None, "")}
                if rows and len(values) < int(rule.get("min", 2)):
                    yield (prefix + rule["field"], rule.get("message")
                           or "Ces lignes doivent comporter des valeurs différentes.")


# ---------------------------------------------------------------- bounds and characters

# A string field whose form gives no maxLength gets one: a line, or a long text.
DEFAULT_MAX_LENGTH = 300
DEFAULT_MAX_LENGTH_MULTILINE = 20_000
MULTILINE_WIDGETS = frozenset({"textarea"})
# C0 controls, DEL and C1 controls; a long text keeps tab, line feed and carriage return
_REFUSED_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMAS = ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems",
               "contains", "propertyNames", "not", "if", "then", "else")
_SUBSCHEMA_LISTS = ("prefixItems", "oneOf", "anyOf", "allOf")


def is_multiline(schema) -> bool:
    """A long text (its widget is a text area): line breaks and tabs are allowed in it."""
    return isinstance(schema, dict) and (schema.get("x-widget") in MULTILINE_WIDGETS
                                         or schema.get("x-multiline") is True)


def _is_string(schema) -> bool:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def bounded(schema):
    """The schema with a maxLength on every string field that has none (a form file, a form
    saved from the modeller, a diagram's camunda:formData fields alike)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if _is_string(out) and "maxLength" not in out:
        out["maxLength"] = DEFAULT_MAX_LENGTH_MULTILINE if is_multiline(out) else DEFAULT_MAX_LENGTH
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: bounded(sub) for name, sub in out[key].items()}
    for key in _SUBSCHEMAS:
        if isinstance(out.get(key), dict):
            out[key] = bounded(out[key])
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [bounded(sub) for sub in out[key]]
    return out


def _refused_character(text: str, single_line: bool) -> str | None:
    found = (_REFUSED_SINGLE_LINE if single_line else _REFUSED_MULTILINE).search(text)
    return found.group() if found else None


def _character_message(char: str, label: str) -> str:
    kind = "invalide" if "\ud800" <= char <= "\udfff" else "de contrôle interdit"
    return f"Caractère {kind} (U+{ord(char):04X}) dans « {label} » : retirez-le."


def refused_text(text: str, label: str, *, single_line: bool = False) -> str | None:
    """The French message refusing a text no form accepts (a control character, a lone
    surrogate), or None: for the texts typed outside forms (comments, opinions)."""
    char = _refused_character(text, single_line)
    return _character_message(char, label) if char else None


def _character_errors(schema, data, path: tuple[str, ...]):
    """(field path, French message) for every value no form accepts: a control character
    (any string not declared as a long text is a single line; NUL is refused everywhere),
    a lone surrogate, a number that is not finite."""
    schema = schema if isinstance(schema, dict) else {}
    where = ".".join(path) or ROOT
    if isinstance(data, str):
        # a declared string is a line unless it is a long text; undeclared data keeps its lines
        char = _refused_character(data, single_line=_is_string(schema) and not is_multiline(schema))
        if char:
            yield where, _character_message(char, schema.get("title") or where)
    elif isinstance(data, float) and not math.isfinite(data):
        yield where, "Valeur attendue : un nombre."
    elif isinstance(data, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            name = str(key)
            char = _refused_character(name, single_line=True)
            if char:
                yield where, _character_message(char, "nom de champ")
                continue
            yield from _character_errors(props.get(name, extra), value, (*path, name))
    elif isinstance(data, list):
        items = schema.get("items")
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        for index, item in enumerate(data):
            sub = prefix[index] if index < len(prefix) else items
            yield from _character_errors(sub, item, (*path, str(index)))


# The JSON of one request's task data (a completion, a draft, a start form) stays below this
# unless the settings say otherwise (PARTNERFLOW_MAX_TASK_DATA_BYTES).
DEFAULT_MAX_DATA_BYTES = 1024 * 1024


def data_size(data) -> int:
    """Bytes of the data as stored (UTF-8 JSON)."""
    return len(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
               .encode("utf-8", "surrogatepass"))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(data, path: tuple[str, ...]):
    if isinstance(data, str):
        found = _UNSTORABLE.search(data)
        if found:
            where = ".".join(path) or ROOT
            yield where, _character_message(found.group(), where)
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _unstorable(str(key), path)
            yield from _unstorable(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _unstorable(item, (*path, str(index)))


def check_data_size(data, max_bytes: int = DEFAULT_MAX_DATA_BYTES) -> None:
    """Refuse task data larger than `max_bytes` of JSON, or holding a character no database
    stores (NUL, a lone surrogate), whoever sends it (web, command line) and whatever it is
    for (a completion, a draft, a start form)."""
    size = data_size(data)
    if size > max_bytes:
        raise FormValidationError(
            f"the task data is {size} bytes of JSON; at most {max_bytes} are accepted",
            {ROOT: [f"Les données envoyées sont trop volumineuses ({-(-size // 1024)} Ko) : "
                    f"{max_bytes // 1024} Ko au plus. Raccourcissez les textes ou joignez-les "
                    "en document."]})
    errors: dict[str, list[str]] = {}
    for where, message in _unstorable(data, ()):
        errors.setdefault(where, []).append(message)
    if errors:
        raise FormValidationError("Le formulaire contient des erreurs.", errors)
