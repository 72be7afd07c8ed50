"""What can be checked in a BPMN or DMN file before anything is deployed: the files read
safely (hardened XML: no DTD, no entities, no network), then every condition, script, timer,
form, lane, reference, message, data store and service task linted; every problem names the
file, the element and what to change."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from lxml import etree

from partnerflow.engine import spiff
from partnerflow.engine.errors import N_, Problem, ScriptError
from partnerflow.engine.runtime import connectors
from partnerflow.engine.runtime.forms import FormRegistry
from partnerflow.engine.spiff import is_camunda_form_key

# --- Hardened XML parsing for uploaded diagrams: no DTD, no entities, no network.

MAX_XML_BYTES = 5 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)


class UnsafeXml(ValueError):
    """The document was refused before any of it was interpreted."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,  # a designer's note is no element: nothing downstream sees it
        remove_pis=True,
    )


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


def _as_utf8(content: bytes) -> bytes:
    """The bytes to scan for declarations: a UTF-16 or UTF-32 file decoded first."""
    if not (content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in content[:4096]):
        return content
    for codec in ("utf-32", "utf-16", "utf-16-le", "utf-16-be"):
        try:
            return content.decode(codec).encode("utf-8", "replace")
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
    return content.replace(b"\x00", b"")


def _check_utf8(content: bytes, filename: str) -> None:
    """Process files are UTF-8 (every BPMN modeller writes them so, and they are stored as
    text): UTF-16 or UTF-32, with or without a byte order mark, another declared encoding or
    bytes that are not UTF-8 are refused before the parser guesses anything."""
    hint = N_("enregistrez de nouveau le fichier en UTF-8 (ce que fait par défaut tout modeleur BPMN)")
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in content:
        raise UnsafeXml(Problem.of(filename, N_("le fichier est encodé en UTF-16 ou en UTF-32 ; seul "
                                                "l’UTF-8 est accepté"), hint=hint))
    declared = _DECLARED_ENCODING.match(content[:200])
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES:
        name = declared.group(1).decode("ascii", "replace")
        raise UnsafeXml(Problem.of(filename, N_("le fichier déclare l’encodage « %(encoding)s » ; "
                                                "seul l’UTF-8 est accepté"), hint=hint, encoding=name))
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise UnsafeXml(Problem.of(filename, N_("le fichier n’est pas de l’UTF-8 valide (octet "
                                                "%(byte)s)"), line=line, hint=hint,
                                   byte=exc.start + 1)) from None


def parse_xml(content: bytes, filename: str, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse a BPMN or DMN document, refusing anything that could expand or fetch."""
    if len(content) > max_bytes:
        raise UnsafeXml(Problem.of(
            filename, N_("le fichier fait %(size)s Kio ; la limite est de %(limit)s Kio"),
            hint=N_("découpez le modèle ou retirez-en les données embarquées"),
            size=len(content) // 1024, limit=max_bytes // 1024))
    head = content[:4096].lstrip()
    scanned = _as_utf8(content).upper()
    if b"<!DOCTYPE" in scanned or b"<!ENTITY" in scanned:
        raise UnsafeXml(Problem.of(
            filename, N_("une déclaration DOCTYPE ou ENTITY n’est pas permise dans un fichier de "
                         "processus"),
            hint=N_("retirez le bloc <!DOCTYPE ...> : un fichier BPMN ou DMN n’en a jamais besoin")))
    if not head:
        raise UnsafeXml(Problem.of(filename, N_("le fichier est vide")))
    _check_utf8(content, filename)
    try:
        root = etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise UnsafeXml(Problem.of(
            filename, N_("le XML est mal formé : %(detail)s"), line=line,
            hint=N_("ouvrez le fichier dans un modeleur BPMN et enregistrez-le de nouveau"),
            detail=exc.msg)) from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise UnsafeXml(Problem.of(filename, N_("une déclaration DOCTYPE n’est pas permise dans un "
                                                "fichier de processus")))
    return root


def document_kind(root: etree._Element) -> str | None:
    """'bpmn' or 'dmn' from the root element's namespace, else None."""
    ns = etree.QName(root).namespace
    local = etree.QName(root).localname
    if local != "definitions":
        return None
    if ns == BPMN_NS:
        return "bpmn"
    if ns in DMN_NAMESPACES:
        return "dmn"
    return None


# --- What can be checked in a BPMN or DMN file before anything is deployed.

B = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
BARE_ISO = re.compile(r"^(R\d*/)?P[0-9YMWDTHS.]+$|^\d{4}-\d{2}-\d{2}")
FLOW_NODES = {"startEvent", "endEvent", "task", "userTask", "scriptTask", "serviceTask",
              "businessRuleTask", "manualTask", "sendTask", "receiveTask", "callActivity",
              "subProcess", "transaction", "exclusiveGateway", "parallelGateway",
              "inclusiveGateway", "eventBasedGateway", "intermediateCatchEvent",
              "intermediateThrowEvent", "boundaryEvent", "complexGateway", "adHocSubProcess"}


@dataclass
class Document:
    filename: str
    content: bytes
    root: etree._Element
    kind: str  # bpmn | dmn



def _local(el) -> str:
    return etree.QName(el).localname



# ---------------------------------------------------------------- reading files


def read_documents(files: list[tuple[str, bytes]], max_bytes: int) -> tuple[list[Document], list[Problem]]:
    documents, problems = [], []
    for filename, content in files:
        try:
            root = parse_xml(content, filename, max_bytes=max_bytes)
        except UnsafeXml as exc:
            problems.append(exc.problem)
            continue
        kind = document_kind(root)
        if kind is None:
            problems.append(Problem.of(filename, N_("ce n’est pas un document BPMN 2.0 ou DMN (sa "
                                                    "racine doit être <definitions> dans l’espace de "
                                                    "noms BPMN ou DMN)")))
            continue
        found = spiff.xsd_problems(root, kind, filename)
        problems.extend(found)
        documents.append(Document(filename, content, root, kind))
    return documents, problems


# ---------------------------------------------------------------- linting


# What each kind of expression is called when it is empty, refused by the sandbox or not Python.
_EXPRESSIONS = {
    "condition": (N_("la condition est vide"),
                  N_("la condition `%(expression)s` est refusée : %(reason)s"),
                  N_("la condition `%(expression)s` n’est pas valide : %(reason)s"),
                  N_("écrivez la condition comme une expression Python")),
    "script": (N_("le script est vide"),
               N_("le script `%(expression)s` est refusé : %(reason)s"),
               N_("le script `%(expression)s` n’est pas valide : %(reason)s"),
               N_("écrivez le script en Python")),
    "timer": (N_("l’expression du minuteur est vide"),
              N_("l’expression du minuteur `%(expression)s` est refusée : %(reason)s"),
              N_("l’expression du minuteur `%(expression)s` n’est pas valide : %(reason)s"),
              N_("écrivez l’expression du minuteur en Python")),
    "message": (N_("l’expression du contenu du message est vide"),
                N_("l’expression du contenu du message `%(expression)s` est refusée : %(reason)s"),
                N_("l’expression du contenu du message `%(expression)s` n’est pas valide : "
                   "%(reason)s"),
                N_("écrivez l’expression du contenu du message en Python")),
    "input": (N_("l’expression de l’entrée est vide"),
              N_("l’expression de l’entrée `%(expression)s` est refusée : %(reason)s"),
              N_("l’expression de l’entrée `%(expression)s` n’est pas valide : %(reason)s"),
              N_("écrivez l’expression de l’entrée en Python")),
    "output": (N_("la cellule de sortie est vide"),
               N_("la cellule de sortie `%(expression)s` est refusée : %(reason)s"),
               N_("la cellule de sortie `%(expression)s` n’est pas valide : %(reason)s"),
               N_("écrivez la cellule de sortie comme une expression Python")),
    "cell": (N_("la cellule de la table de décision est vide"),
             N_("la cellule de la table de décision `%(expression)s` est refusée : %(reason)s"),
             N_("la cellule de la table de décision `%(expression)s` n’est pas valide : %(reason)s"),
             N_("écrivez la cellule comme une expression Python")),
}
_FIX_SYNTAX = N_("corrigez la syntaxe Python ; les imports et les noms qui commencent par _ ne sont "
                 "pas permis")


def _check_expression(problems, doc, element_id, text, what, script=False):
    empty, refused, invalid, write = _EXPRESSIONS[what]
    if text is None or not text.strip():
        problems.append(Problem.of(doc.filename, empty, element_id=element_id, hint=write))
        return
    try:
        (spiff.compile_script if script else spiff.compile_expression)(text.strip())
    except ScriptError as exc:
        problems.append(Problem.of(doc.filename, refused, element_id=element_id, hint=_FIX_SYNTAX,
                                   expression=text.strip(), reason=str(exc)))
    except SyntaxError as exc:
        problems.append(Problem.of(doc.filename, invalid, element_id=element_id,
                                   expression=text.strip(), reason=str(exc)))


def _lint_timer(problems, doc, event):
    for timer in event.iter(f"{B}timerEventDefinition"):
        for kind in ("timeDate", "timeDuration", "timeCycle"):
            expr = timer.find(f"{B}{kind}")
            if expr is None:
                continue
            text = (expr.text or "").strip()
            if BARE_ISO.match(text):
                problems.append(Problem.of(
                    doc.filename, N_("l’expression du minuteur %(expression)s n’est pas entre "
                                     "guillemets"), element_id=event.get("id"),
                    hint=N_("les expressions des minuteurs sont en Python : écrivez "
                            "\"%(expression)s\" entre guillemets, ou une variable qui contient une "
                            "date"), expression=text))
                continue
            _check_expression(problems, doc, event.get("id"), text, "timer")


def _lint_user_task(problems, doc, task, forms: FormRegistry):
    tid = task.get("id")
    form_key = task.get(f"{CAMUNDA}formKey")
    has_fields = task.find(f".//{CAMUNDA}formField") is not None
    # a Camunda form key falls back to the task's fields or a generic form (see warnings_for)
    if form_key is not None and not has_fields and not is_camunda_form_key(form_key):
        if not forms.exists(form_key):
            problems.append(Problem.of(
                doc.filename, N_("la clé de formulaire « %(form_key)s » ne désigne aucun formulaire"),
                element_id=tid, hint=N_("créez forms/%(form_key)s.json ou choisissez parmi : "
                                        "%(choices)s"),
                form_key=form_key, choices=", ".join(forms.form_keys()[:12])))
        else:
            problems.extend(replace(p, element_id=tid) for p in forms.problems(form_key))
    # who the task is offered to (lanes, candidate groups and users, assignee): lanes.lint
    due = task.get(f"{CAMUNDA}dueDate")
    if due and not (VARIABLE.match(due) or ISO_DURATION.match(due) or _is_iso_date(due)):
        problems.append(Problem.of(
            doc.filename, N_("l’échéance « %(due)s » n’est pas comprise"), element_id=tid,
            hint=N_("écrivez une durée ISO (P5D), une date ISO (2026-12-31) ou ${variable}"),
            due=due))


def _is_iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


_FLOW_ENDS = (
    ("sourceRef", N_("le flux de séquence n’a pas d’origine (sourceRef)"),
     N_("l’origine « %(ref)s » du flux de séquence n’est pas un élément de ce processus")),
    ("targetRef", N_("le flux de séquence n’a pas de destination (targetRef)"),
     N_("la destination « %(ref)s » du flux de séquence n’est pas un élément de ce processus")),
)


def _lint_flows(problems, doc, container):
    nodes = {el.get("id") for el in container if _local(el) in FLOW_NODES}
    for flow in container.iterfind(f"{B}sequenceFlow"):
        fid = flow.get("id")
        for end, missing, elsewhere in _FLOW_ENDS:
            ref = flow.get(end)
            if not ref:
                problems.append(Problem.of(doc.filename, missing, element_id=fid,
                                           hint=N_("reliez les deux extrémités du flux")))
            elif ref not in nodes:
                problems.append(Problem.of(
                    doc.filename, elsewhere, element_id=fid, ref=ref,
                    hint=N_("reliez le flux à un élément du même processus ou sous-processus")))
        condition = flow.find(f"{B}conditionExpression")
        if condition is not None:
            _check_expression(problems, doc, fid, condition.text, "condition")
    for sub in container:
        if _local(sub) in ("subProcess", "transaction", "adHocSubProcess"):
            _lint_flows(problems, doc, sub)


def _lint_lanes_and_scripts(problems, doc, process) -> None:
    for script in process.iter(f"{B}scriptTask"):
        body = script.find(f"{B}script")
        _check_expression(problems, doc, script.get("id"), body.text if body is not None else None,
                          "script", script=True)


def _lint_starts(problems, doc, process, forms: FormRegistry) -> None:
    for start in process.iter(f"{B}startEvent"):
        key = start.get(f"{CAMUNDA}formKey")
        if key and not is_camunda_form_key(key) and not forms.exists(key):
            problems.append(Problem.of(
                doc.filename, N_("la clé du formulaire de démarrage « %(form_key)s » ne désigne aucun "
                                 "formulaire"), element_id=start.get("id"),
                hint=N_("créez forms/%(form_key)s.json"), form_key=key))


def _lint_references(problems, doc, process, known_processes: set[str],
                     known_decisions: set[str], not_executable: set[str] = frozenset()) -> None:
    """Call activities and business rule tasks must point at something deployed."""
    for call in process.iter(f"{B}callActivity"):
        if call.get("calledElement") in not_executable:
            target = call.get("calledElement")
            problems.append(Problem.of(
                doc.filename, N_("le processus appelé « %(process)s » n’est pas exécutable"),
                element_id=call.get("id"), process=target,
                hint=N_("cochez « Exécutable » dans les propriétés du processus « %(process)s » "
                        "(isExecutable=\"true\"), ou appelez un autre processus")))
    checks = (
        ("callActivity", lambda el: el.get("calledElement"), known_processes,
         N_("l’activité d’appel ne désigne aucun processus"),
         N_("renseignez « Élément appelé » avec l’identifiant d’un processus"),
         N_("le processus appelé « %(target)s » n’est pas déployé")),
        ("businessRuleTask", lambda el: el.get(f"{CAMUNDA}decisionRef"), known_decisions,
         N_("la tâche de règle métier ne désigne aucune décision"),
         N_("renseignez « Référence de la décision » (camunda:decisionRef) avec l’identifiant "
            "d’une décision DMN"),
         N_("la décision « %(target)s » n’est pas déployée")),
    )
    for tag, target_of, known, missing, missing_hint, unknown in checks:
        for element in process.iter(f"{B}{tag}"):
            target = target_of(element)
            if tag == "callActivity" and target in not_executable:
                continue  # said above
            if not target:
                problems.append(Problem.of(doc.filename, missing, element_id=element.get("id"),
                                           hint=missing_hint))
            elif target not in known:
                problems.append(Problem.of(
                    doc.filename, unknown, element_id=element.get("id"), target=target,
                    hint=N_("déployez son fichier dans le même envoi, ou corrigez l’identifiant")))


def is_executable(process) -> bool:
    # SpiffWorkflow, like Camunda, runs a process unless it says isExecutable="false"
    return process.get("isExecutable", "true") == "true"


def _lint_data_stores(problems, doc) -> None:
    """Data stores: SpiffWorkflow needs an implementation for each, and Partnerflow has none."""
    stores = {s.get("id"): s for s in doc.root.iter(f"{B}dataStore")}
    referenced = set()
    for ref in doc.root.iter(f"{B}dataStoreReference"):
        store = stores.get(ref.get("dataStoreRef"))
        referenced.add(ref.get("dataStoreRef"))
        name = ref.get("name") or (store.get("name") if store is not None else None) or ref.get("id")
        problems.append(Problem.of(
            doc.filename, N_("le magasin de données « %(name)s » n’est pas pris en charge : les "
                             "données d’un processus sont gardées dans son instance"),
            element_id=ref.get("id"), name=name,
            hint=N_("retirez le magasin de données et ses associations ; pour lire ou écrire dans "
                    "un système extérieur, utilisez une tâche de service")))
    for store_id, store in stores.items():
        if store_id not in referenced:
            problems.append(Problem.of(
                doc.filename, N_("le magasin de données « %(name)s » n’est pas pris en charge"),
                element_id=store_id, name=store.get("name") or store_id,
                hint=N_("retirez le magasin de données du fichier")))


def _lint_form_field_ids(problems, doc) -> None:
    """A camunda:formData field (or one of its values) must not reuse an element's id: the
    field's id names the variable it fills, but SpiffWorkflow looks elements up by id and finds
    the field instead of the task."""
    elements = {}
    for el in doc.root.iter():
        if isinstance(el.tag, str) and el.get("id") and etree.QName(el).namespace != CAMUNDA[1:-1]:
            elements.setdefault(el.get("id"), el)
    for owner in doc.root.iter(f"{B}userTask", f"{B}startEvent"):
        for field_el in owner.iter(f"{CAMUNDA}formField", f"{CAMUNDA}value"):
            clash = elements.get(field_el.get("id"))
            if clash is None:
                continue
            label = clash.get("name") or clash.get("id")
            message = (N_("le champ de formulaire « %(field)s » a le même identifiant que l’élément "
                          "« %(label)s » (%(kind)s)") if _local(field_el) == "formField"
                       else N_("la valeur de champ de formulaire « %(field)s » a le même identifiant "
                               "que l’élément « %(label)s » (%(kind)s)"))
            problems.append(Problem.of(
                doc.filename, message, element_id=owner.get("id"), field=field_el.get("id"),
                label=label, kind=_local(clash), suggestion=f"{field_el.get('id')}_answer",
                hint=N_("renommez le champ (son identifiant est la variable qu’il remplit, par "
                        "exemple %(suggestion)s) : deux éléments d’un fichier ne peuvent pas "
                        "partager un identifiant")))


def _lint_event_gateways(problems, doc, process) -> None:
    """After an event-based gateway the engine can wait for one timer, a date or a duration."""
    targets = {}
    for flow in process.iter(f"{B}sequenceFlow"):
        targets.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    by_id = {el.get("id"): el for el in process.iter() if isinstance(el.tag, str) and el.get("id")}
    for gateway in process.iter(f"{B}eventBasedGateway"):
        timers = [by_id[t] for t in targets.get(gateway.get("id"), []) if t in by_id
                  and by_id[t].find(f"{B}timerEventDefinition") is not None]
        if len(timers) > 1:
            problems.append(Problem.of(
                doc.filename, N_("la passerelle basée sur les événements attend %(count)s "
                                 "minuteurs ; elle ne peut en attendre qu’un"),
                element_id=gateway.get("id"), count=len(timers),
                hint=N_("gardez le minuteur le plus proche après la passerelle et placez les autres "
                        "après lui")))
        for timer in timers:
            if timer.find(f"{B}timerEventDefinition/{B}timeCycle") is not None:
                problems.append(Problem.of(
                    doc.filename, N_("un minuteur cyclique ne peut pas suivre une passerelle basée "
                                     "sur les événements"), element_id=timer.get("id"),
                    hint=N_("utilisez une durée (\"P14D\") ou une date au lieu d’un cycle")))


def _lint_messages(problems, doc, process) -> None:
    """A thrown message's payload expression is Python; its result variable a name."""
    for definition in process.iter(f"{B}messageEventDefinition"):
        event_id = definition.getparent().get("id")
        expression = definition.get(f"{CAMUNDA}expression")
        if expression is not None:
            _check_expression(problems, doc, event_id, expression, "message")
        result_var = definition.get(f"{CAMUNDA}resultVariable")
        if result_var is not None and not result_var.isidentifier():
            problems.append(Problem.of(
                doc.filename, N_("la variable de résultat « %(name)s » n’est pas un nom de variable"),
                element_id=event_id, name=result_var,
                hint=N_("utilisez des lettres, des chiffres et _ (par exemple request)")))


def _lint_service_tasks(problems, doc, process) -> None:
    """Every service and send task runs a known connector with its required inputs; Java
    implementations are refused with what to use instead (engine/connectors.py)."""
    confirming = {t.get("id") for t in process.iter(f"{B}userTask")
                  if any(p.get("name") == "confirm_password" and (p.get("value") or "").strip().lower()
                         == "true" for p in t.iter(f"{CAMUNDA}property"))}
    sources: dict[str, set[str]] = {}
    for flow in process.iter(f"{B}sequenceFlow"):
        sources.setdefault(flow.get("targetRef"), set()).add(flow.get("sourceRef"))
    for service in spiff.read_service_tasks(process):
        before = sources.get(service.element_id, set())
        problems.extend(connectors.check(service, doc.filename,
                                         follows_confirmation=bool(before) and before <= confirming))


def lint_bpmn(doc: Document, forms: FormRegistry, known_processes: set[str],
              known_decisions: set[str], not_executable: set[str] = frozenset()) -> list[Problem]:
    """Everything SpiffWorkflow would only find when an instance gets there."""
    problems: list[Problem] = []
    _lint_data_stores(problems, doc)
    _lint_form_field_ids(problems, doc)
    for process in doc.root.iterfind(f"{B}process"):
        if not is_executable(process):
            continue  # not deployed (see warnings_for)
        _lint_event_gateways(problems, doc, process)
        _lint_messages(problems, doc, process)
        _lint_flows(problems, doc, process)
        _lint_lanes_and_scripts(problems, doc, process)
        for event_tag in ("startEvent", "intermediateCatchEvent", "boundaryEvent"):
            for event in process.iter(f"{B}{event_tag}"):
                _lint_timer(problems, doc, event)
        for task in process.iter(f"{B}userTask"):
            _lint_user_task(problems, doc, task, forms)
        _lint_starts(problems, doc, process, forms)
        _lint_references(problems, doc, process, known_processes, known_decisions, not_executable)
        _lint_service_tasks(problems, doc, process)
    if not any(is_executable(p) for p in doc.root.iterfind(f"{B}process")):
        problems.append(Problem.of(doc.filename, N_("le fichier n’a aucun processus exécutable"),
                                   hint=N_("cochez « Exécutable » dans les propriétés du processus "
                                           "(isExecutable=\"true\")")))
    return problems


# A Camunda form on a user task, by whether the task declares camunda:formData fields.
_CAMUNDA_FORM_KEY = {
    True: N_("la clé de formulaire « %(key)s » désigne un formulaire Camunda, que Partnerflow ne "
             "peut pas afficher : la tâche montre à la place ses champs camunda:formData"),
    False: N_("la clé de formulaire « %(key)s » désigne un formulaire Camunda, que Partnerflow ne "
              "peut pas afficher : la tâche reçoit un formulaire générique (un commentaire et une "
              "confirmation)"),
}
_CAMUNDA_FORM_REF = {
    True: N_("la référence Camunda Forms « %(ref)s » ne peut pas être affichée par Partnerflow : la "
             "tâche montre à la place ses champs camunda:formData"),
    False: N_("la référence Camunda Forms « %(ref)s » ne peut pas être affichée par Partnerflow : la "
              "tâche reçoit un formulaire générique (un commentaire et une confirmation)"),
}


def warnings_for(doc: Document) -> list[Problem]:
    """What deploys but does not do what the diagram says in Camunda: its Camunda forms are
    shown as the task's camunda:formData fields or a generic form, a process that is not
    executable is left out, a decision input with no expression reads its label's variable."""
    warnings: list[Problem] = []
    if doc.kind == "dmn":
        ns = etree.QName(doc.root).namespace
        for column in doc.root.iter(f"{{{ns}}}input"):
            expr = column.find(f"{{{ns}}}inputExpression")
            text = (expr.findtext(f"{{{ns}}}text") if expr is not None else None) or ""
            label = (column.get("label") or "").strip()
            if not text.strip() and label.isidentifier():
                warnings.append(Problem.of(
                    doc.filename, N_("l’entrée « %(label)s » n’a pas d’expression : la variable "
                                     "%(label)s, que nomme son libellé, est lue"),
                    element_id=column.get("id"), label=label,
                    hint=N_("écrivez %(label)s comme expression de l’entrée pour le rendre "
                            "explicite")))
        return warnings
    for process in doc.root.iterfind(f"{B}process"):
        if not is_executable(process):
            warnings.append(Problem.of(
                doc.filename, N_("le processus « %(name)s » n’est pas exécutable : il n’est pas "
                                 "déployé"), element_id=process.get("id"),
                name=process.get("name") or process.get("id"),
                hint=N_("cochez « Exécutable » dans ses propriétés (isExecutable=\"true\") pour le "
                        "déployer")))
            continue
        for task in process.iter(f"{B}userTask"):
            key, ref = task.get(f"{CAMUNDA}formKey"), task.get(f"{CAMUNDA}formRef")
            inline = task.find(f".//{CAMUNDA}formField") is not None
            if is_camunda_form_key(key):
                message = _CAMUNDA_FORM_KEY[inline]
            elif ref and not key:
                message = _CAMUNDA_FORM_REF[inline]
            else:
                continue
            warnings.append(Problem.of(
                doc.filename, message, element_id=task.get("id"), key=key, ref=ref,
                hint=N_("retirez le formulaire Camunda de la tâche pour le rendre explicite") if inline
                else N_("choisissez « Formulaires générés » et déclarez ses champs (camunda:formData), "
                        "ou écrivez la clé d’un formulaire de la démarche (forms/<clé>.json)")))
        for start in process.iter(f"{B}startEvent"):
            key = start.get(f"{CAMUNDA}formKey")
            if is_camunda_form_key(key):
                warnings.append(Problem.of(
                    doc.filename, N_("la clé du formulaire de démarrage « %(key)s » désigne un "
                                     "formulaire Camunda, que Partnerflow ne peut pas afficher : les "
                                     "instances démarrent sans formulaire de démarrage"),
                    element_id=start.get("id"), key=key,
                    hint=N_("écrivez la clé d’un formulaire de la démarche (forms/<clé>.json), ou "
                            "retirez-la")))
    return warnings


def lint_dmn(doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    ns = etree.QName(doc.root).namespace
    d = f"{{{ns}}}"
    for table in doc.root.iter(f"{d}decisionTable"):
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        if policy not in ("UNIQUE", "FIRST", "PRIORITY", "COLLECT"):
            problems.append(Problem.of(
                doc.filename, N_("la politique de sélection %(policy)s n’est pas prise en charge"),
                element_id=table.get("id"), policy=policy,
                hint=N_("utilisez UNIQUE, FIRST, PRIORITY ou COLLECT")))
        for column in table.iterfind(f"{d}input"):
            expr = column.find(f"{d}inputExpression")
            text = expr.findtext(f"{d}text") if expr is not None else None
            if not (text or "").strip():
                _lint_empty_input(problems, doc, column)
                continue
            _check_expression(problems, doc, expr.get("id"), text, "input")
        for entry in table.iter(f"{d}inputEntry"):
            text = (entry.findtext(f"{d}text") or "").strip()
            if text in ("", "-"):
                continue
            _check_cell(problems, doc, entry.get("id"), text)
        for entry in table.iter(f"{d}outputEntry"):
            text = (entry.findtext(f"{d}text") or "").strip()
            if text:
                _check_expression(problems, doc, entry.get("id"), text, "output")
    return problems


def _lint_empty_input(problems, doc, column) -> None:
    """An input with no expression reads the variable its label names (SpiffWorkflow's
    rule); a label that is no variable name leaves nothing to read."""
    label = (column.get("label") or "").strip()
    if label.isidentifier():
        return  # said in warnings_for
    problems.append(Problem.of(
        doc.filename, N_("l’entrée « %(label)s » n’a pas d’expression") if label
        else N_("l’entrée n’a ni expression ni libellé"), element_id=column.get("id"), label=label,
        hint=N_("écrivez l’expression (le nom d’une variable, par exemple amount) dans le champ "
                "« Expression » de l’entrée ; une entrée dont le libellé est un nom de variable lit "
                "cette variable")))


def _check_cell(problems, doc, element_id, text):
    candidate = re.sub(r"\?", "dmn_input", text)
    for attempt in (candidate, f"dmn_input {candidate}"):
        try:
            spiff.compile_expression(attempt)
            return
        except (ScriptError, SyntaxError):
            continue
    _check_expression(problems, doc, element_id, text, "cell")
