"""The one adapter around SpiffWorkflow: nothing else in Partnerflow imports it."""

from .model import (
    CompiledProcess,
    ParserErrors,
    ServiceCall,
    ServiceTaskMeta,
    UserTaskMeta,
    compile_process,
    read_decisions,
    read_processes,
    read_service_tasks,
    translate_parser_error,
    xsd_problems,
)
from .runtime import Changes, ThrownMessage, UserTaskView, WorkflowRun
from .sandbox import StepMemoryExceeded, StepTimeout, compile_expression, compile_script
from .sandbox import configure as configure_sandbox
from .steps import StepEvent

__all__ = [
    "Changes", "CompiledProcess", "ParserErrors", "StepEvent", "StepMemoryExceeded", "StepTimeout",
    "ServiceCall", "ServiceTaskMeta", "ThrownMessage", "UserTaskMeta", "UserTaskView", "WorkflowRun",
    "compile_expression", "compile_process", "compile_script", "configure_sandbox", "read_decisions",
    "read_processes", "read_service_tasks", "translate_parser_error", "xsd_problems",
]
