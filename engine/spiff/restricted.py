"""The restricted language of diagrams, and the sandbox process that runs it.

This module is imported by the engine (to compile and to lint at deploy time) and run as
a script in each sandbox process (``python -I restricted.py``): it imports only the
standard library and RestrictedPython, so that a sandbox process starts in a few tens of
milliseconds and never loads the engine, SpiffWorkflow or a database driver.

RestrictedPython is the language guard: attribute access, item access and iteration go
through guards, and names starting with an underscore are refused at compile time (the
``().__class__.__base__.__subclasses__()`` escape). It bounds neither time nor memory; the
process does (``sandbox.py``): address-space and CPU limits set here, and a parent that
kills it at the deadline.
"""

from __future__ import annotations

import ast
import builtins as _builtins
import contextlib
import datetime as _dt
import math
import operator
import os
import pickle
import resource
import struct
import sys
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

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "|=": operator.ior, "&=": operator.iand,
}
GUARD_NAMES = ("_getattr_", "_getitem_", "_getiter_", "_iter_unpack_sequence_",
               "_unpack_sequence_", "_write_", "_inplacevar_", "_print_", "__builtins__")

# Names a diagram may believe exist but that the sandbox never provides: refused when the
# diagram is deployed, naming the element and the name, rather than failing at run time.
UNAVAILABLE_NAMES = frozenset({
    "getattr", "setattr", "delattr", "hasattr", "vars", "dir", "type", "open", "eval", "exec",
    "compile", "globals", "locals", "help", "input", "memoryview", "breakpoint", "exit", "quit",
    "super", "object", "classmethod", "staticmethod", "property", "copyright", "credits",
    "license", "id",
})
# (`__import__`, `__builtins__` and every other name starting with an underscore are refused
# by RestrictedPython itself.)

# Modules that the standard library's own C code imports on behalf of a safe value
# (`date.today()` imports `time`, `datetime.strptime` imports `_strptime`). A diagram
# cannot name `__import__` (underscore) and `import` statements are refused at compile
# time, so only these internal imports ever reach the importer.
_INTERNAL_IMPORTS = frozenset({"time", "_strptime"})

# Values a script may produce beyond strings, numbers and containers.
SAFE_MODULE_VALUES = {"date": _dt.date, "datetime": _dt.datetime, "timedelta": _dt.timedelta}


class Refused(Exception):
    """The code is not allowed in a diagram (compile time)."""


def _inplacevar(op: str, x, y):
    if op not in _INPLACE:
        raise Refused(f"the operator {op} is not allowed in a script")
    return _INPLACE[op](x, y)


def _internal_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in _INTERNAL_IMPORTS:
        return _builtins.__import__(name, globals, locals, fromlist, level)
    raise Refused(f"importing modules is not allowed in a script (tried '{name}')")


def make_globals() -> dict:
    allowed = dict(safe_builtins)
    allowed.update(limited_builtins)
    allowed.update(utility_builtins)
    allowed.update({
        "sum": sum, "min": min, "max": max, "any": any, "all": all, "enumerate": enumerate,
        "dict": dict, "list": list, "map": map, "filter": filter, "reversed": reversed,
        "__import__": _internal_import, "round": round, "abs": abs, "len": len, "sorted": sorted,
    })
    for unsafe in UNAVAILABLE_NAMES:
        allowed.pop(unsafe, None)
    return {
        "__builtins__": allowed,
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


GLOBALS = make_globals()


def _unavailable(tree: ast.AST) -> list[str]:
    return sorted({node.id for node in ast.walk(tree)
                   if isinstance(node, ast.Name) and node.id in UNAVAILABLE_NAMES})


def _refuse_unavailable(text: str, mode: str) -> None:
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError:
        return  # RestrictedPython reports it with its line
    names = _unavailable(tree)
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise Refused(f"{listed} {'is' if len(names) == 1 else 'are'} not available in a "
                      "diagram's expressions and scripts")
    if mode == "exec":
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        if imports:
            raise Refused(f"Line {imports[0].lineno}: importing modules is not allowed in a script")


@lru_cache(maxsize=4096)
def compile_expression(expression: str):
    """Compile an expression in restricted mode; Refused says what is not allowed."""
    _refuse_unavailable(expression, "eval")
    result = compile_restricted_eval(expression)
    if result.errors:
        raise Refused("; ".join(result.errors))
    return result.code


@lru_cache(maxsize=1024)
def compile_script(script: str):
    """Compile a script in restricted mode; Refused says what is not allowed."""
    _refuse_unavailable(script, "exec")
    result = compile_restricted_exec(script)
    if result.errors:
        raise Refused("; ".join(result.errors))
    return result.code


# ---------------------------------------------------------------- bounded expressions

# An expression made only of these nodes runs in time and memory proportional to the task
# data it reads: no call, no power, no repetition, no comprehension. Such expressions (most
# gateway conditions, decision cells and timer literals) are evaluated in the engine's own
# process; every other expression and every script goes to a sandbox process.
_BOUNDED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.UnaryOp, ast.Not, ast.USub,
    ast.UAdd, ast.Name, ast.Load, ast.Constant, ast.Attribute, ast.Subscript, ast.Tuple,
    ast.List, ast.Set, ast.IfExp, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is,
    ast.IsNot, ast.In, ast.NotIn, ast.BinOp, ast.Add, ast.Sub, ast.Div, ast.Mod, ast.FloorDiv,
)
_MAX_CONSTANT = 10**18


@lru_cache(maxsize=4096)
def is_bounded(expression: str) -> bool:
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _BOUNDED_NODES):
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                and abs(node.value) > _MAX_CONSTANT:
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) \
                and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            return False  # '%*d' % (10**9, 1): formatting can be told to pad without bound
    return True


def scope_for(context: dict, external_context: dict | None) -> dict:
    scope = dict(GLOBALS)
    scope.update(external_context or {})
    scope.update(context)
    # task data may not replace the guards (a submitted key named `_getattr_`)
    scope.update({name: GLOBALS[name] for name in GUARD_NAMES})
    return scope


def evaluate(expression: str, context: dict, external_context: dict | None = None):
    return eval(compile_expression(expression), scope_for(context, external_context))


def execute(script: str, context: dict, external_context: dict | None = None) -> dict:
    """Run a script on a copy of the task data; the data it leaves, without helpers."""
    code = compile_script(script)
    scope = dict(context)
    scope.update(GLOBALS)
    scope.update(external_context or {})
    exec(code, scope)
    external = external_context or {}
    return {k: v for k, v in scope.items()
            if not (k in GLOBALS or k in external or k in GUARD_NAMES or callable(v))}


# ---------------------------------------------------------------- the sandbox process

_FRAME = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024


def write_frame(fd: int, payload: bytes) -> None:
    data = _FRAME.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _virtual_size() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit(kind, value) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (value, value))


NOBODY = 65534


def _drop_privileges() -> None:
    """A server started as root runs diagram code as nobody: even code that escaped the
    restricted language could then read or write nothing that is not world-readable."""
    if os.geteuid() != 0:
        return
    import _strptime  # noqa: F401 - imported while the standard library is still readable

    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _answer(request) -> tuple:
    op, text, context, external, _ = request
    if op == "eval":
        return ("ok", evaluate(text, context, external))
    return ("ok", execute(text, context, external))


def serve(memory_bytes: int) -> None:
    """Answer evaluation requests on fd 0 until the parent closes it."""
    requests, replies = 0, os.dup(1)
    os.dup2(2, 1)  # print() inside the standard library never reaches the reply channel
    # no new processes, no files, no core dumps; the address space is bounded
    for kind, value in ((resource.RLIMIT_NPROC, 0), (resource.RLIMIT_FSIZE, 0),
                        (resource.RLIMIT_CORE, 0)):
        _limit(kind, value)
    _limit(resource.RLIMIT_AS, _virtual_size() + memory_bytes)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    _drop_privileges()
    sys.setrecursionlimit(400)
    while True:
        try:
            size = _FRAME.unpack(_read_exact(requests, _FRAME.size))[0]
            request = pickle.loads(_read_exact(requests, size))
        except EOFError:
            return
        seconds = request[4]
        cpu_limit = int(_cpu_seconds() + seconds) + 2
        if cpu_hard != resource.RLIM_INFINITY:
            cpu_limit = min(cpu_limit, cpu_hard)
        # only the soft limit moves: a hard limit, once lowered, can never be raised again by
        # a process without privileges (these never have any: nobody when started as root),
        # so a warm process was killed by the limit of its first request once the CPU of all
        # it served passed it
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_hard))
        try:
            reply = pickle.dumps(_answer(request), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            reply = pickle.dumps(("memory", ""))
        except RecursionError:
            reply = pickle.dumps(("error", "RecursionError",
                                  "trop de récursion : le script s'appelle lui-même trop profondément"))
        except Refused as exc:
            reply = pickle.dumps(("error", "Refused", str(exc)))
        except BaseException as exc:  # the diagram's error, reported to the engine
            try:
                reply = pickle.dumps(("error", type(exc).__name__, str(exc)[:2000]))
            except MemoryError:
                reply = pickle.dumps(("memory", ""))
        if len(reply) > MAX_FRAME:
            reply = pickle.dumps(("error", "ValueError", "the result is too large to keep"))
        write_frame(replies, reply)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 256 * 1024 * 1024)
