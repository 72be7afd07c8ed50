"""The script environment every workflow runs with: RestrictedPython in sandbox processes.

SpiffWorkflow's default environment is plain exec/eval: a diagram could run
``__import__('os').system(...)``. RestrictedPython (``restricted.py``) is the language
guard. It bounds neither time nor memory, and no tracer can interrupt work done inside C
(``10**10**7`` held a whole server for 19 s). So scripts, and every expression that is not
bounded by construction, run in a warm pool of sandbox processes, each with an address-space
limit and a CPU limit, killed and replaced by the engine at the deadline. The request that
asked waits on a pipe (the GIL is released): the server keeps serving other requests.

Expressions made only of names, constants, comparisons and simple arithmetic (most gateway
conditions, decision cells and timer literals) cannot run away; they are evaluated in the
engine's process, under the same restricted compiler, which keeps the cost of isolation
off the common path.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import io
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from partnerflow.engine.errors import ScriptError
from partnerflow.engine.spiff import restricted

SAFE_MODULE_VALUES = restricted.SAFE_MODULE_VALUES
_CHILD = Path(restricted.__file__).resolve()


class StepTimeout(ScriptError):
    """A sandboxed evaluation ran past its deadline (« trop long »)."""


class StepMemoryExceeded(ScriptError):
    """A sandboxed evaluation needed more memory than allowed (« trop de mémoire »)."""


def compile_expression(expression: str):
    """Compile an expression in restricted mode; ScriptError lists what is refused."""
    try:
        return restricted.compile_expression(expression)
    except restricted.Refused as exc:
        raise ScriptError(str(exc)) from None


def compile_script(script: str):
    """Compile a script in restricted mode; ScriptError lists what is refused."""
    try:
        return restricted.compile_script(script)
    except restricted.Refused as exc:
        raise ScriptError(str(exc)) from None


# ---------------------------------------------------------------- results coming back

_ALLOWED_CLASSES = {
    ("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "bytearray"), ("builtins", "slice"), ("builtins", "range"),
    ("collections", "OrderedDict"), ("RestrictedPython.PrintCollector", "PrintCollector"),
}


class _ResultUnpickler(pickle.Unpickler):
    """What a sandbox process sends back is data: dates, numbers, containers; never code."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a script produced a value of type {module}.{name}, "
                                     "which cannot be kept in the process data")


def _loads(payload: bytes):
    return _ResultUnpickler(io.BytesIO(payload)).load()


# ---------------------------------------------------------------- the pool


class _Worker:
    def __init__(self, memory_bytes: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(_CHILD), str(memory_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_child_environment(), close_fds=True, cwd="/")

    def ask(self, request: tuple, timeout: float):
        """Send one request and wait for its reply; None when the deadline passed."""
        restricted.write_frame(self.proc.stdin.fileno(), pickle.dumps(request, pickle.HIGHEST_PROTOCOL))
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        header = self._read(fd, restricted._FRAME.size, deadline)
        if header is None:
            return None
        size = restricted._FRAME.unpack(header)[0]
        if size > restricted.MAX_FRAME:
            raise EOFError
        return self._read(fd, size, deadline)

    @staticmethod
    def _read(fd: int, size: int, deadline: float) -> bytes | None:
        chunks, left = [], size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> int | None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        return code


def _child_environment() -> dict[str, str]:
    # -I already ignores PYTHON* variables; nothing of the server's environment (database
    # URL, secret key, SMTP password) is handed to code a diagram runs.
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


class SandboxPool:
    """Warm sandbox processes of this server process (a new pool after a fork)."""

    def __init__(self, size: int = 2, memory_mb: int = 256):
        self.size = max(1, size)
        self.memory_bytes = memory_mb * 1024 * 1024
        self.memory_mb = memory_mb
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def warm(self) -> None:
        with self._lock:
            while len(self._idle) < self.size:
                self._idle.append(_Worker(self.memory_bytes))

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.proc.poll() is None:
                    return worker
                worker.kill()
        return _Worker(self.memory_bytes)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(worker)
                return
        worker.kill()

    def _replace(self) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(_Worker(self.memory_bytes))

    def run(self, op: str, text: str, context: dict, external: dict | None, timeout: float,
            limit_s: float | None = None):
        """Evaluate in a sandbox process; `timeout` is what is left of the step's budget,
        `limit_s` the configured limit that an error message names."""
        limit_s = limit_s or timeout
        try:
            request = (op, text, context, external or {}, timeout)
            pickle.dumps(request)  # fail here, with a clear message, on data that cannot travel
        except Exception as exc:
            raise ScriptError(f"the task data cannot be handed to the sandbox: {exc}") from None
        worker = self._take()
        try:
            reply = worker.ask(request, timeout)
        except (EOFError, BrokenPipeError, OSError):
            code = worker.kill()
            self._replace()
            raise self._died(code, limit_s) from None
        if reply is None:
            worker.kill()
            self._replace()
            raise StepTimeout(f"trop long : le calcul a dépassé la limite de {limit_s:g} s et a été "
                              "arrêté")
        self._give_back(worker)
        try:
            answer = _loads(reply)
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise ScriptError(str(exc)) from None
        return self._unpack(answer)

    def _unpack(self, answer: tuple):
        kind = answer[0]
        if kind == "ok":
            return answer[1]
        if kind == "memory":
            raise StepMemoryExceeded(f"trop de mémoire : le calcul a demandé plus de {self.memory_mb} Mio "
                                     "et a été arrêté")
        name, message = answer[1], answer[2]
        if name in ("Refused", "RecursionError"):
            raise ScriptError(message)
        # a diagram's own mistake comes back as the built-in error it raised (a NameError
        # lets SpiffWorkflow suggest the variable meant); anything else as a ScriptError
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            raise builtin(message)
        raise ScriptError(f"{name}: {message}" if message else name)

    def _died(self, code: int | None, timeout: float) -> ScriptError:
        # SIGXCPU (-24): the CPU limit; SIGKILL/SIGSEGV without our kill: memory or the stack
        if code in (-24, 152):
            return StepTimeout(f"trop long : le calcul a dépassé la limite de {timeout:g} s et a "
                               "été arrêté")
        return StepMemoryExceeded(f"trop de mémoire : le processus de calcul s'est arrêté "
                                  f"(limite {self.memory_mb} Mio)")

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.kill()


_pool: SandboxPool | None = None
_pool_lock = threading.Lock()
_pool_settings = {"size": 2, "memory_mb": 256}


def configure(size: int = 2, memory_mb: int = 256) -> None:
    """Set the pool's size and memory limit (from the settings); applies to the next pool."""
    global _pool
    with _pool_lock:
        if _pool_settings == {"size": size, "memory_mb": memory_mb}:
            return
        _pool_settings.update(size=size, memory_mb=memory_mb)
        old, _pool = _pool, None
    if old is not None and old._pid == os.getpid():
        old.close()


def pool() -> SandboxPool:
    global _pool
    current = _pool
    if current is not None and current._pid == os.getpid():
        return current
    with _pool_lock:
        if _pool is None or _pool._pid != os.getpid():
            _pool = SandboxPool(**_pool_settings)
        return _pool


@atexit.register
def _close_pool() -> None:
    if _pool is not None and _pool._pid == os.getpid():
        _pool.close()


# ---------------------------------------------------------------- SpiffWorkflow's side


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, evaluating in the sandbox."""

    def __init__(self, time_limit_s: float = 5.0):
        super().__init__(restricted.GLOBALS)
        self.time_limit_s = time_limit_s
        # set by the engine around its steps: every evaluation shares the step's budget
        self.deadline: float | None = None

    def _timeout(self) -> float:
        if self.deadline is None:
            return self.time_limit_s
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepTimeout(f"trop long : les étapes du moteur ont dépassé la limite de "
                              f"{self.time_limit_s:g} s")
        return min(self.time_limit_s, left)

    def evaluate(self, expression, context, external_context=None):
        if restricted.is_bounded(expression):
            try:
                return restricted.evaluate(expression, context, external_context)
            except restricted.Refused as exc:
                raise ScriptError(str(exc)) from None
        compile_expression(expression)  # refused before any process is asked
        return pool().run("eval", expression, context, external_context, self._timeout(),
                           self.time_limit_s)

    def execute(self, script, context, external_context=None):
        compile_script(script)
        self.check_for_overwrite(context, external_context or {})
        result = pool().run("exec", script, context, external_context, self._timeout(),
                             self.time_limit_s)
        context.clear()
        context.update(result)
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
