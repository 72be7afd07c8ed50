"""What can be checked in a BPMN or DMN file before anything is deployed: the files read
safely (hardened XML: no DTD, no entities, no network), then every condition, script, timer,
form, lane, reference, message, data store and service task linted; every problem names the
file, the element and what to change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from partnerflow.engine import spiff
from partnerflow.engine.errors import Problem, ScriptError
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
        remove_comments=False,
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
    hint = "save the file again as UTF-8 (the default of every BPMN modeller)"
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in content:
        raise UnsafeXml(Problem(filename, "the file is encoded in UTF-16 or UTF-32; only UTF-8 is "
                                          "accepted", hint=hint))
    declared = _DECLARED_ENCODING.match(content[:200])
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES:
        name = declared.group(1).decode("ascii", "replace")
        raise UnsafeXml(Problem(filename, f"the file declares the encoding {name!r}; only UTF-8 is "
                                          "accepted", hint=hint))
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise UnsafeXml(Problem(filename, f"the file is not valid UTF-8 (byte {exc.start + 1})",
                                line=line, hint=hint)) from None


def parse_xml(content: bytes, filename: str, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse a BPMN or DMN document, refusing anything that could expand or fetch."""
    if len(content) > max_bytes:
        raise UnsafeXml(
            Problem(
                filename,
                f"the file is {len(content) // 1024} KiB; the limit is {max_bytes // 1024} KiB",
                hint="split the model or remove embedded data",
            )
        )
    head = content[:4096].lstrip()
    scanned = _as_utf8(content).upper()
    if b"<!DOCTYPE" in scanned or b"<!ENTITY" in scanned:
        raise UnsafeXml(
            Problem(
                filename,
                "a DOCTYPE or ENTITY declaration is not allowed in a process file",
                hint="remove the <!DOCTYPE ...> block; BPMN and DMN files never need one",
            )
        )
    if not head:
        raise UnsafeXml(Problem(filename, "the file is empty"))
    _check_utf8(content, filename)
    try:
        root = etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise UnsafeXml(
            Problem(filename, f"not well-formed XML: {exc.msg}", line=line,
                    hint="open the file in a BPMN modeller and save it again")
        ) from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise UnsafeXml(Problem(filename, "a DOCTYPE is not allowed in a process file"))
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
            problems.append(Problem(filename, "not a BPMN 2.0 or DMN document (its root must be "
                                    "<definitions> in the BPMN or DMN namespace)"))
            continue
        found = spiff.xsd_problems(root, kind, filename)
        problems.extend(found)
        documents.append(Document(filename, content, root, kind))
    return documents, problems


# ---------------------------------------------------------------- linting


def _check_expression(problems, doc, element_id, text, what, script=False):
    if text is None or not text.strip():
        problems.append(Problem(doc.filename, f"the {what} is empty", element_id=element_id,
                                hint=f"write the {what} as a Python expression"))
        return
    try:
        (spiff.compile_script if script else spiff.compile_expression)(text.strip())
    except ScriptError as exc:
        problems.append(Problem(doc.filename, f"the {what} `{text.strip()}` is refused: {exc}",
                                element_id=element_id,
                                hint="fix the Python syntax; imports and names starting with _ are "
                                     "not allowed"))
    except SyntaxError as exc:
        problems.append(Problem(doc.filename, f"the {what} `{text.strip()}` is not valid: {exc}",
                                element_id=element_id))


def _lint_timer(problems, doc, event):
    for timer in event.iter(f"{B}timerEventDefinition"):
        for kind in ("timeDate", "timeDuration", "timeCycle"):
            expr = timer.find(f"{B}{kind}")
            if expr is None:
                continue
            text = (expr.text or "").strip()
            if BARE_ISO.match(text):
                problems.append(Problem(
                    doc.filename, f"the timer expression {text} is not quoted",
                    element_id=event.get("id"),
                    hint=f'timer expressions are Python: write "{text}" with quotes, or a '
                         "variable that holds a date"))
                continue
            _check_expression(problems, doc, event.get("id"), text, "timer expression")


def _lint_user_task(problems, doc, task, forms: FormRegistry):
    tid = task.get("id")
    form_key = task.get(f"{CAMUNDA}formKey")
    has_fields = task.find(f".//{CAMUNDA}formField") is not None
    # a Camunda form key falls back to the task's fields or a generic form (see warnings_for)
    if form_key is not None and not has_fields and not is_camunda_form_key(form_key):
        if not forms.exists(form_key):
            problems.append(Problem(doc.filename, f"the form key '{form_key}' has no form",
                                    element_id=tid,
                                    hint=f"create forms/{form_key}.json or choose one of: "
                                         + ", ".join(forms.form_keys()[:12])))
        else:
            problems.extend(Problem(p.file, p.message, element_id=tid) for p in forms.problems(form_key))
    # who the task is offered to (lanes, candidate groups and users, assignee): lanes.lint
    due = task.get(f"{CAMUNDA}dueDate")
    if due and not (VARIABLE.match(due) or ISO_DURATION.match(due) or _is_iso_date(due)):
        problems.append(Problem(doc.filename, f"the due date '{due}' is not understood",
                                element_id=tid,
                                hint="write an ISO duration (P5D), an ISO date (2026-12-31) or "
                                     "${variable}"))


def _is_iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _lint_flows(problems, doc, container):
    nodes = {el.get("id") for el in container if _local(el) in FLOW_NODES}
    for flow in container.iterfind(f"{B}sequenceFlow"):
        fid = flow.get("id")
        for end in ("sourceRef", "targetRef"):
            ref = flow.get(end)
            if not ref:
                problems.append(Problem(doc.filename, f"the sequence flow has no {end}",
                                        element_id=fid, hint="connect both ends of the flow"))
            elif ref not in nodes:
                problems.append(Problem(
                    doc.filename, f"the sequence flow's {end} '{ref}' is not an element of this "
                    "process", element_id=fid,
                    hint="reconnect the flow to an element inside the same process or subprocess"))
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
            problems.append(Problem(doc.filename, f"the start form key '{key}' has no form",
                                    element_id=start.get("id"), hint=f"create forms/{key}.json"))


def _lint_references(problems, doc, process, known_processes: set[str],
                     known_decisions: set[str], not_executable: set[str] = frozenset()) -> None:
    """Call activities and business rule tasks must point at something deployed."""
    for call in process.iter(f"{B}callActivity"):
        if call.get("calledElement") in not_executable:
            target = call.get("calledElement")
            problems.append(Problem(
                doc.filename, f"the called process '{target}' is not executable",
                element_id=call.get("id"),
                hint=f"tick 'Executable' in the properties of the process '{target}' "
                     '(isExecutable="true"), or call another process'))
    checks = (
        ("callActivity", lambda el: el.get("calledElement"), known_processes,
         "the call activity names no process", "set 'Called element' to a process id",
         "the called process '{}' is not deployed"),
        ("businessRuleTask", lambda el: el.get(f"{CAMUNDA}decisionRef"), known_decisions,
         "the business rule task names no decision", "set camunda:decisionRef to a DMN decision id",
         "the decision '{}' is not deployed"),
    )
    for tag, target_of, known, missing, missing_hint, unknown in checks:
        for element in process.iter(f"{B}{tag}"):
            target = target_of(element)
            if tag == "callActivity" and target in not_executable:
                continue  # said above
            if not target:
                problems.append(Problem(doc.filename, missing, element_id=element.get("id"),
                                        hint=missing_hint))
            elif target not in known:
                problems.append(Problem(doc.filename, unknown.format(target),
                                        element_id=element.get("id"),
                                        hint="deploy its file in the same upload, or fix the id"))


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
        problems.append(Problem(
            doc.filename, f"the data store '{name}' is not supported: a process's data is kept "
            "in its instance", element_id=ref.get("id"),
            hint="remove the data store and its data associations; to read or write an outside "
                 "system, use a service task"))
    for store_id, store in stores.items():
        if store_id not in referenced:
            problems.append(Problem(
                doc.filename, f"the data store '{store.get('name') or store_id}' is not supported",
                element_id=store_id, hint="remove the data store from the file"))


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
            what = re.sub(r"(?<!^)(?=[A-Z])", " ", _local(clash)).lower()
            label = clash.get("name") or clash.get("id")
            kind = "form field" if _local(field_el) == "formField" else "form field value"
            problems.append(Problem(
                doc.filename, f"the {kind} '{field_el.get('id')}' has the same id as the {what} "
                f"'{label}'", element_id=owner.get("id"),
                hint=f"rename the field (its id is the variable it fills, for example "
                     f"{field_el.get('id')}_answer): no two elements of a file may share an id"))


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
            problems.append(Problem(
                doc.filename, f"the event-based gateway waits for {len(timers)} timers; it can "
                "wait for one", element_id=gateway.get("id"),
                hint="keep the earliest timer after the gateway and move the others after it"))
        for timer in timers:
            if timer.find(f"{B}timerEventDefinition/{B}timeCycle") is not None:
                problems.append(Problem(
                    doc.filename, "a cycle timer cannot follow an event-based gateway",
                    element_id=timer.get("id"),
                    hint='use a duration ("P14D") or a date instead of a cycle'))


def _lint_messages(problems, doc, process) -> None:
    """A thrown message's payload expression is Python; its result variable a name."""
    for definition in process.iter(f"{B}messageEventDefinition"):
        event_id = definition.getparent().get("id")
        expression = definition.get(f"{CAMUNDA}expression")
        if expression is not None:
            _check_expression(problems, doc, event_id, expression, "message payload expression")
        result_var = definition.get(f"{CAMUNDA}resultVariable")
        if result_var is not None and not result_var.isidentifier():
            problems.append(Problem(
                doc.filename, f"the result variable '{result_var}' is not a variable name",
                element_id=event_id, hint="use letters, digits and _ (for example request)"))


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
        problems.append(Problem(doc.filename, "the file has no executable process",
                                hint="tick 'Executable' in the process's properties "
                                     '(isExecutable="true")'))
    return problems


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
                warnings.append(Problem(
                    doc.filename, f"the input '{label}' has no expression: the variable {label}, "
                    "named by its label, is read", element_id=column.get("id"),
                    hint=f"write {label} as the input's expression to make it explicit"))
        return warnings
    for process in doc.root.iterfind(f"{B}process"):
        if not is_executable(process):
            warnings.append(Problem(
                doc.filename, f"the process '{process.get('name') or process.get('id')}' is not "
                "executable: it is not deployed", element_id=process.get("id"),
                hint="tick 'Executable' in its properties (isExecutable=\"true\") to deploy it"))
            continue
        for task in process.iter(f"{B}userTask"):
            key, ref = task.get(f"{CAMUNDA}formKey"), task.get(f"{CAMUNDA}formRef")
            what = (f"the form key '{key}' is a Camunda form" if is_camunda_form_key(key)
                    else f"the Camunda Forms reference '{ref}'" if ref and not key else None)
            if what is None:
                continue
            if task.find(f".//{CAMUNDA}formField") is not None:
                warnings.append(Problem(
                    doc.filename, f"{what}, which Partnerflow cannot show: the task shows its "
                    "camunda:formData fields instead", element_id=task.get("id"),
                    hint="remove the Camunda form from the task to make this explicit"))
            else:
                warnings.append(Problem(
                    doc.filename, f"{what}, which Partnerflow cannot show: the task gets a generic "
                    "form (a comment and a confirmation)", element_id=task.get("id"),
                    hint="choose 'Generated Task Forms' and declare its fields (camunda:formData), "
                         "or write the key of a form of the method (forms/<key>.json)"))
        for start in process.iter(f"{B}startEvent"):
            key = start.get(f"{CAMUNDA}formKey")
            if is_camunda_form_key(key):
                warnings.append(Problem(
                    doc.filename, f"the start form key '{key}' is a Camunda form, which Partnerflow "
                    "cannot show: instances start without a start form",
                    element_id=start.get("id"),
                    hint="write the key of a form of the method (forms/<key>.json), or remove it"))
    return warnings


def lint_dmn(doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    ns = etree.QName(doc.root).namespace
    d = f"{{{ns}}}"
    for table in doc.root.iter(f"{d}decisionTable"):
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        if policy not in ("UNIQUE", "FIRST", "PRIORITY", "COLLECT"):
            problems.append(Problem(doc.filename, f"hit policy {policy} is not supported",
                                    element_id=table.get("id"),
                                    hint="use UNIQUE, FIRST, PRIORITY or COLLECT"))
        for column in table.iterfind(f"{d}input"):
            expr = column.find(f"{d}inputExpression")
            text = expr.findtext(f"{d}text") if expr is not None else None
            if not (text or "").strip():
                _lint_empty_input(problems, doc, column)
                continue
            _check_expression(problems, doc, expr.get("id"), text, "input expression")
        for entry in table.iter(f"{d}inputEntry"):
            text = (entry.findtext(f"{d}text") or "").strip()
            if text in ("", "-"):
                continue
            _check_cell(problems, doc, entry.get("id"), text)
        for entry in table.iter(f"{d}outputEntry"):
            text = (entry.findtext(f"{d}text") or "").strip()
            if text:
                _check_expression(problems, doc, entry.get("id"), text, "output cell")
    return problems


def _lint_empty_input(problems, doc, column) -> None:
    """An input with no expression reads the variable its label names (SpiffWorkflow's
    rule); a label that is no variable name leaves nothing to read."""
    label = (column.get("label") or "").strip()
    if label.isidentifier():
        return  # said in warnings_for
    problems.append(Problem(
        doc.filename, f"the input '{label}' has no expression" if label
        else "the input has no expression and no label", element_id=column.get("id"),
        hint="write the expression (a variable's name, for example amount) in the input's "
             "Expression field; an input whose label is a variable's name reads that variable"))


def _check_cell(problems, doc, element_id, text):
    candidate = re.sub(r"\?", "dmn_input", text)
    for attempt in (candidate, f"dmn_input {candidate}"):
        try:
            spiff.compile_expression(attempt)
            return
        except (ScriptError, SyntaxError):
            continue
    _check_expression(problems, doc, element_id, text, "decision table cell")
