"""RestrictedPython script environment for scripts, conditions, timers and DMN cells.

SpiffWorkflow's default environment is plain exec/eval: a diagram could run
``__import__('os').system(...)``. Stripping builtins is not enough (the
``().__class__.__base__.__subclasses__()`` escape); RestrictedPython rewrites the code
so attribute access, item access and iteration go through guards, and refuses
names starting with an underscore at compile time.

RestrictedPython bounds neither time nor memory: a line tracer enforces a wall-clock
deadline on every sandboxed evaluation, so `while True: pass` stops with a clear error.
"""

from __future__ import annotations

import ast
import copy
import datetime as _dt
import math
import operator
import sys
import time
from collections.abc import Callable
from functools import lru_cache

from RestrictedPython import (
    compile_restricted_eval,
    compile_restricted_exec,
    limited_builtins,
    safe_builtins,
    utility_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from ..errors import ScriptError

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "|=": operator.ior, "&=": operator.iand,
}
_GUARD_NAMES = ("_getattr_", "_getitem_", "_getiter_", "_iter_unpack_sequence_",
                "_unpack_sequence_", "_write_", "_inplacevar_", "_print_", "__builtins__")

# Values a script may produce beyond strings, numbers and containers.
SAFE_MODULE_VALUES = {"date": _dt.date, "datetime": _dt.datetime, "timedelta": _dt.timedelta}


def _inplacevar(op: str, x, y):
    if op not in _INPLACE:
        raise ScriptError(f"the operator {op} is not allowed in a script")
    return _INPLACE[op](x, y)


def _no_import(name, *_args, **_kwargs):
    raise ScriptError(f"importing modules is not allowed in a script (tried '{name}')")


class StepTimeout(ScriptError):
    """A sandboxed evaluation ran past its deadline."""


def _make_globals() -> dict:
    builtins = dict(safe_builtins)
    builtins.update(limited_builtins)
    builtins.update(utility_builtins)
    builtins.update({
        "sum": sum, "min": min, "max": max, "any": any, "all": all, "enumerate": enumerate,
        "dict": dict, "list": list, "map": map, "filter": filter, "reversed": reversed,
        "__import__": _no_import, "round": round, "abs": abs, "len": len, "sorted": sorted,
    })
    for unsafe in ("getattr", "setattr", "delattr", "vars", "dir", "type", "open", "eval",
                   "exec", "compile", "globals", "locals", "help", "input", "memoryview"):
        builtins.pop(unsafe, None)
    return {
        "__builtins__": builtins,
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_print_": PrintCollector,  # print() in a script is harmless and goes nowhere
        # dmn-js writes booleans as the FEEL literals true / false
        "true": True, "false": False, "null": None,
        "math": math,
        **SAFE_MODULE_VALUES,
    }


@lru_cache(maxsize=4096)
def compile_expression(expression: str):
    """Compile an expression in restricted mode; ScriptError lists what is refused."""
    result = compile_restricted_eval(expression)
    if result.errors:
        raise ScriptError("; ".join(result.errors))
    return result.code


@lru_cache(maxsize=1024)
def compile_script(script: str):
    """Compile a script in restricted mode; ScriptError lists what is refused."""
    result = compile_restricted_exec(script)
    if result.errors:
        raise ScriptError("; ".join(result.errors))
    # RestrictedPython compiles `import x` (it fails only when run); refuse it at deploy time.
    imports = [node for node in ast.walk(ast.parse(script))
               if isinstance(node, ast.Import | ast.ImportFrom)]
    if imports:
        raise ScriptError(f"Line {imports[0].lineno}: importing modules is not allowed in a script")
    return result.code


class _Deadline:
    """A line tracer that raises once the wall-clock budget of an evaluation is spent."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds
        self.seconds = seconds

    def _trace(self, frame, event, arg):
        if time.monotonic() > self.until:
            raise StepTimeout(
                f"a script ran longer than {self.seconds:g} s and was stopped"
            )
        return self._trace

    def run(self, fn: Callable):
        previous = sys.gettrace()
        sys.settrace(self._trace)
        try:
            return fn()
        finally:
            sys.settrace(previous)


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, evaluating through RestrictedPython."""

    def __init__(self, time_limit_s: float = 5.0):
        super().__init__(_make_globals())
        self.time_limit_s = time_limit_s

    def evaluate(self, expression, context, external_context=None):
        code = compile_expression(expression)
        scope = copy.copy(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        # task data may not replace the guards (a submitted key named `_getattr_`)
        scope.update({name: self.globals[name] for name in _GUARD_NAMES if name in self.globals})
        return _Deadline(self.time_limit_s).run(lambda: eval(code, scope))

    def execute(self, script, context, external_context=None):
        code = compile_script(script)
        self.check_for_overwrite(context, external_context or {})
        scope = copy.copy(self.globals)
        scope.update(external_context or {})
        context.update(scope)
        try:
            _Deadline(self.time_limit_s).run(lambda: exec(code, context))
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            for name in _GUARD_NAMES:
                context.pop(name, None)
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """The script engine every workflow runs with, re-attached after every restore."""

    def __init__(self, time_limit_s: float = 5.0):
        super().__init__(environment=RestrictedEnvironment(time_limit_s))

    def validate(self, expression):
        # Used by SpiffWorkflow's DMN engine to decide whether a cell needs '=='.
        try:
            compile_expression(expression)
        except ScriptError as exc:
            raise SyntaxError(str(exc)) from None
