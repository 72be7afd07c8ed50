"""The one adapter around SpiffWorkflow: nothing else in Partnerflow imports it."""

from partnerflow.engine.spiff.model import (
    CompiledProcess,
    ParserErrors,
    ServiceCall,
    ServiceTaskMeta,
    UserTaskMeta,
    compile_process,
    is_camunda_form_key,
    read_decisions,
    read_names,
    read_processes,
    read_service_tasks,
    translate_parser_error,
    xsd_problems,
)
from partnerflow.engine.spiff.runtime import Changes, ThrownMessage, UserTaskView, WorkflowRun
from partnerflow.engine.spiff.sandbox import (
    StepMemoryExceeded,
    StepTimeout,
    compile_expression,
    compile_script,
)
from partnerflow.engine.spiff.sandbox import configure as configure_sandbox
from partnerflow.engine.spiff.steps import StepEvent

__all__ = [
    "Changes", "CompiledProcess", "ParserErrors", "StepEvent", "StepMemoryExceeded", "StepTimeout",
    "ServiceCall", "ServiceTaskMeta", "ThrownMessage", "UserTaskMeta", "UserTaskView", "WorkflowRun",
    "compile_expression", "compile_process", "compile_script", "configure_sandbox",
    "is_camunda_form_key", "read_decisions", "read_names",
    "read_processes", "read_service_tasks", "translate_parser_error", "xsd_problems",
]
