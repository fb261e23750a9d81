"""A RestrictedPython sandbox for every script, condition and expression the engine runs.

SpiffWorkflow's stock environment hands BPMN scripts to plain eval/exec, so a designer's
``import os`` runs on the server. Here every source is compiled with RestrictedPython under a
policy that also refuses imports and classes, puts a deadline check in every loop, function and
comprehension, and routes ``+ * ** << %`` through size checks. The deadline lives in a
ContextVar: per thread, no signals (scripts run in web worker threads). Single allocations are
bounded, total memory is not: cap worker memory at the process level as well.
"""

from __future__ import annotations

import ast
import builtins
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache, partial
from time import perf_counter
from types import CodeType, ModuleType
from typing import Any, Literal

from RestrictedPython import Guards, PrintCollector, RestrictingNodeTransformer, safe_builtins
from RestrictedPython import compile_restricted_eval as _compile_eval
from RestrictedPython import compile_restricted_exec as _compile_exec
from RestrictedPython.transformer import IOPERATOR_TO_STR
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

MAX_ITEMS = 1_000_000  # longest str/bytes/list/tuple/range one operation may build
MAX_INT_BITS = 100_000  # biggest int one ``*``, ``**`` or ``<<`` may build (~30k digits)
# Absent from the builtins anyway; refused at compile time so deploy reports say why.
_FORBIDDEN_CALLS = frozenset(
    ["open", "exec", "eval", "compile", "globals", "locals", "vars", "breakpoint", "input",
     "getattr", "dir", "help", "exit", "quit", "type", "super", "memoryview"]
)


class SandboxError(Exception):
    """Base of everything the sandbox itself raises."""


class ScriptRefused(SandboxError):
    """The source does not compile under the sandbox policy; nothing of it ran."""


class ScriptTimeout(SandboxError):
    """The evaluation ran out of its time budget or tried to build an oversized value."""


_DEADLINE: ContextVar[float] = ContextVar("gridcase_sandbox_deadline", default=float("inf"))


def _tick() -> bool:
    """Inserted into every loop, function, lambda and comprehension: the cheap deadline check."""
    if perf_counter() > _DEADLINE.get():
        raise ScriptTimeout("script ran past its time budget")
    return True


def _too_big(what: str) -> None:
    raise ScriptTimeout(f"{what} exceeds the sandbox size budget")


# Exact types (a set lookup is 5x cheaper than isinstance on a tuple): scripts cannot define
# subclasses, and task data arrives as JSON.
_SEQS = frozenset({str, bytes, bytearray, list, tuple})
_INTS = frozenset({int, bool})
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


def _huge_width(width: str, args: Any = ()) -> bool:
    """A format width/precision over MAX_ITEMS; ``*`` takes it from the %-args."""
    if width == "*":
        args = args if isinstance(args, tuple) else (args,)
        return any(type(x) in _INTS and x > MAX_ITEMS for x in args)
    width = width.lstrip("0")  # no int() on 5000 digits
    return len(width) > 7 or (bool(width) and int(width) > MAX_ITEMS)


def _ints(a: Any, b: Any) -> bool:
    return type(a) in _INTS and type(b) in _INTS


def _mul_too_big(a: Any, b: Any) -> bool:
    if type(b) in _SEQS:
        a, b = b, a
    if _ints(a, b):
        return a.bit_length() + b.bit_length() > MAX_INT_BITS
    return type(a) in _SEQS and type(b) in _INTS and len(a) * b > MAX_ITEMS


# Would ``a <op> b`` build something huge? Asked before Python builds it.
_TOO_BIG: dict[str, Callable[[Any, Any], bool]] = {
    "+": lambda a, b: type(a) in _SEQS and type(b) in _SEQS and len(a) + len(b) > MAX_ITEMS,
    "*": _mul_too_big,
    "**": lambda a, b: _ints(a, b) and b > 1 and abs(a) > 1 and (
        (abs(a).bit_length() - 1) * b > MAX_INT_BITS),
    "<<": lambda a, b: _ints(a, b) and a != 0 and a.bit_length() + b > MAX_INT_BITS,
    "%": lambda a, b: type(a) is str and any(  # '%999999999d' % 1 builds a gigabyte
        _huge_width(w, b) for groups in _PERCENT.findall(a) for w in groups if w),
}
# ast operator -> (symbol, guard name, operation); ``x *= y`` & co. share the checks.
_BINOPS: dict[type[ast.operator], tuple[str, str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", "_add_", operator.add), ast.Mult: ("*", "_mul_", operator.mul),
    ast.Pow: ("**", "_pow_", operator.pow), ast.LShift: ("<<", "_lshift_", operator.lshift),
    ast.Mod: ("%", "_mod_", operator.mod),
}
_IOPS: dict[str, Callable[[Any, Any], Any]] = {
    IOPERATOR_TO_STR[op]: getattr(operator, f"i{name}")
    for op, name in [(ast.Add, "add"), (ast.Sub, "sub"), (ast.Mult, "mul"), (ast.Div, "truediv"),
                     (ast.FloorDiv, "floordiv"), (ast.Mod, "mod"), (ast.Pow, "pow"),
                     (ast.LShift, "lshift"), (ast.RShift, "rshift"), (ast.BitAnd, "and"),
                     (ast.BitOr, "or"), (ast.BitXor, "xor"), (ast.MatMult, "matmul")]
}


def _check(symbol: str, a: Any, b: Any) -> None:
    if _TOO_BIG[symbol](a, b):
        _too_big(f"'{symbol}' result")


def _guarded(symbol: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    too_big = _TOO_BIG[symbol]

    def binop(a: Any, b: Any) -> Any:
        if too_big(a, b):
            _too_big(f"'{symbol}' result")
        return op(a, b)

    return binop


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    """``x += y`` (RestrictedPython's rewrite): in place as in Python, size-checked like ``+``."""
    too_big = _TOO_BIG.get(op[:-1])
    if too_big is not None and too_big(x, y):
        _too_big(f"'{op}' result")
    return _IOPS[op](x, y)


def _inplaceitem(obj: Any, key: Any, op: str, y: Any) -> None:
    """``d[k] += y``: RestrictedPython refuses it, task-data scripts write it all the time."""
    Guards.full_write_guard(obj)[key] = _inplacevar(op, obj[key], y)


def _spec(spec: str) -> str:
    """An f-string format spec, refused when a width or precision in it is huge."""
    if any(_huge_width(n) for n in re.findall(r"\d+", spec)):
        _too_big("format width")
    return spec


def _width(s: Any, width: Any, *_: Any) -> int:
    return width if isinstance(width, int) else 0


# Methods whose result can dwarf their inputs -> an estimate of the result's length.
_SIZED: dict[str, Callable[..., int]] = {
    "ljust": _width, "rjust": _width, "center": _width, "zfill": _width,
    "replace": lambda s, old, new, *_: len(s) + (s.count(old) if old else len(s) + 1) * max(
        len(new) - len(old), 0),
    "expandtabs": lambda s, tabsize=8: len(s) + tabsize * s.count(
        b"\t" if isinstance(s, bytes) else "\t"),
    "translate": lambda s, table: len(s) * max(
        (len(v) for v in table.values() if type(v) in _SEQS), default=1),
    "join": lambda sep, parts: len(sep) * len(parts) + sum(
        len(p) for p in parts if type(p) in _SEQS),
    "extend": lambda lst, items: len(lst) + (len(items) if type(items) in _SEQS else 0),
    "to_bytes": lambda n, length=1, *_, **__: length,
}
_SIZED_TYPES = (str, bytes, list, int)


def _sized_call(name: str, obj: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``obj.name(*args)`` only if its estimated result is within MAX_ITEMS."""
    if name == "join" and args:  # the estimate must not consume a generator
        args = (list(args[0]), *args[1:])
    try:
        size = _SIZED[name](obj, *args, **kwargs)
    except TypeError:  # bad arguments: let the real method say so
        size = 0
    if size > MAX_ITEMS:
        _too_big(f"{name}()")
    return getattr(obj, name)(*args, **kwargs)


def _getattr(obj: Any, name: str) -> Any:
    """safer_getattr (no ``_`` names, no str.format), raising on a missing name like Python,
    with the methods in _SIZED (bound or unbound) wrapped by _sized_call."""
    value = Guards.safer_getattr_raise(obj, name)
    if name not in _SIZED:
        return value
    if isinstance(obj, _SIZED_TYPES):
        return partial(_sized_call, name, obj)
    if isinstance(obj, type) and issubclass(obj, _SIZED_TYPES):
        return partial(_sized_call, name)
    return value


def _range(*args: int) -> range:
    r = range(*args)
    try:
        size = len(r)
    except OverflowError:  # more items than a C ssize_t
        size = MAX_ITEMS + 1
    if size > MAX_ITEMS:
        _too_big("range()")
    return r


def _pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        _check("**", base, exp)
    elif any(isinstance(x, int) and x.bit_length() > 4096 for x in (base, exp, mod)):
        _too_big("pow()")
    return pow(base, exp, mod)


def _round(number: Any, ndigits: Any = None) -> Any:
    """round(5, -10**8) computes 10**10**8 first; the answer is plainly 0."""
    if isinstance(number, int) and isinstance(ndigits, int) and (
        -ndigits > number.bit_length() // 3 + 2
    ):
        return 0
    return round(number, ndigits)


def _sum(items: Iterable[Any], /, start: Any = 0) -> Any:
    """sum(lists, []) concatenates in C: step through it here so each step is size-checked."""
    if type(start) not in (list, tuple):  # numbers; str/bytes start: sum() refuses them itself
        return sum(items, start)
    for item in items:
        _tick()
        _check("+", start, item)
        start = start + item
    return start


def _import(name: str, *args: Any, **kwargs: Any) -> ModuleType:
    """Not for scripts (they cannot name it): datetime's C code imports ``time`` and
    ``_strptime`` through the caller's builtins, so strftime/strptime/today need it."""
    if name not in ("time", "_strptime"):
        raise ImportError(f"import of {name!r} is not allowed")
    return builtins.__import__(name, *args, **kwargs)


_UNSAFE = {"__build_class__", "_getattr_", "BaseException", "SystemExit", "KeyboardInterrupt",
           "GeneratorExit"}  # the last four: a script's ``raise SystemExit`` would kill a worker
_BUILTINS: dict[str, object] = {k: v for k, v in safe_builtins.items() if k not in _UNSAFE}
_BUILTINS.update({f.__name__: f for f in (
    len, min, max, sorted, any, all, abs, enumerate, zip, dict, list, set, tuple, str, int, float,
    bool, isinstance, map, filter, reversed, datetime, timedelta, date, timezone)})
_BUILTINS.update(range=_range, pow=_pow, round=_round, sum=_sum, __import__=_import)
_GUARDS: dict[str, object] = {
    "__builtins__": _BUILTINS, "_getattr_": _getattr, "_getitem_": operator.getitem,
    "_getiter_": lambda obj: _tick() and obj, "_write_": Guards.full_write_guard,
    "_iter_unpack_sequence_": Guards.guarded_iter_unpack_sequence,
    "_unpack_sequence_": Guards.guarded_unpack_sequence,
    "_inplacevar_": _inplacevar, "_inplaceitem_": _inplaceitem, "_print_": PrintCollector,
    "_apply_": lambda f, *a, **k: f(*a, **k), "_tick_": _tick, "_spec_": _spec,
    **{name: _guarded(symbol, op) for symbol, name, op in _BINOPS.values()},
}


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus: no imports/classes, deadline checks, size checks.
    Generated calls are added after the parent's visit (it refuses names starting with ``_``)."""

    def visit_Module(self, node: ast.Module) -> ast.AST:
        return ast.fix_missing_locations(super().visit_Module(node))

    def visit_Expression(self, node: ast.Expression) -> ast.AST:
        return ast.fix_missing_locations(super().visit_Expression(node))

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> ast.AST:
        self.error(node, "import statements are not allowed in scripts.")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed in scripts.")
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name) and node.func.id in _FORBIDDEN_CALLS:
            self.error(node, f"{node.func.id}() is not available in scripts.")
        return super().visit_Call(node)

    def _ticking(self, node: ast.For | ast.While | ast.FunctionDef) -> ast.AST:
        node.body.insert(0, ast.Expr(_call("_tick_")))
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        return self._ticking(super().visit_For(node))

    def visit_While(self, node: ast.While) -> ast.AST:
        return self._ticking(super().visit_While(node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._ticking(super().visit_FunctionDef(node))  # recursion has no loop

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        node.body = ast.BoolOp(op=ast.And(), values=[_call("_tick_"), node.body])
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        node = super().visit_comprehension(node)  # _getiter_ alone runs once, not per item
        node.ifs.insert(0, _call("_tick_"))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = super().visit_BinOp(node)
        guard = _BINOPS.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(_call(guard[1], node.left, node.right), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        target = node.target
        if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
            return super().visit_AugAssign(node)
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        args = (self.visit(target.value), self.visit(target.slice), op, self.visit(node.value))
        return ast.copy_location(ast.Expr(_call("_inplaceitem_", *args)), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = super().visit_FormattedValue(node)
        if node.format_spec is not None:
            checked = ast.FormattedValue(_call("_spec_", node.format_spec), -1, None)
            node.format_spec = ast.JoinedStr([checked])
        return node


_Mode = Literal["eval", "exec"]


@lru_cache(maxsize=4096)
def _compiled(source: str, mode: _Mode) -> tuple[CodeType | None, tuple[str, ...]]:
    """Compile once per (source, mode): the engine re-evaluates the same few strings forever."""
    compile_ = _compile_eval if mode == "eval" else _compile_exec
    try:
        result = compile_(source, policy=_Policy)
    except SyntaxError as exc:  # compile()'s own checks ('return' outside function): uncaught
        return None, (f"Line {exc.lineno}: SyntaxError: {exc.msg}",)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return None, (f"{type(exc).__name__}: {exc}",)
    return result.code, tuple(result.errors)


def check_source(source: str, *, mode: _Mode) -> list[str]:
    """Compile without running (deploy time): the policy's complaints, empty when accepted."""
    return list(_compiled(source, mode)[1])


def _code(source: str, mode: _Mode) -> CodeType:
    code, errors = _compiled(source, mode)
    if code is None or errors:
        raise ScriptRefused("; ".join(errors) or "script refused")
    return code


class SandboxedEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment semantics (same data in, same data out), restricted code inside."""

    def __init__(
        self, extra_globals: Mapping[str, object] | None = None, *, time_limit: float = 1.0
    ) -> None:
        if time_limit <= 0:
            raise ValueError("time_limit must be positive")
        # Guards go in self.globals so that the base class strips them from task data after.
        super().__init__({**(extra_globals or {}), **_GUARDS})
        self.time_limit = time_limit

    def _start(self) -> Token[float]:
        return _DEADLINE.set(min(_DEADLINE.get(), perf_counter() + self.time_limit))

    def evaluate(
        self, expression: str, context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """The expression's value; the context (task data) is read, never written."""
        code = _code(expression, "eval")
        self._prepare_context(context)
        scope = {**self.globals, **(external_context or {}), **context, **_GUARDS}
        token = self._start()  # _GUARDS last above: task data never replaces a guard
        try:
            return eval(code, scope)
        finally:
            _DEADLINE.reset(token)

    def execute(
        self, script: str, context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Run in the task data itself, as the base class does, so assignments land there."""
        self.check_for_overwrite(context, external_context or {})
        code = _code(script, "exec")
        self._prepare_context(context)
        context.update({**self.globals, **(external_context or {}), **_GUARDS})
        token = self._start()
        try:
            exec(code, context)
        except Exception as err:
            _engine_safe(err)
            raise
        finally:
            _DEADLINE.reset(token)
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


def _engine_safe(err: Exception) -> None:
    """SpiffWorkflow reports a script error with ``":" + err.args[0]`` and ``lineno > 0``, so
    a script's ``KeyError(1)`` or bare ``SyntaxError()`` would surface as a TypeError."""
    if err.args and not isinstance(err.args[0], str):
        err.args = (str(err.args[0]), *err.args[1:])
    if isinstance(err, SyntaxError) and err.lineno is None:
        err.lineno = 0


def make_script_engine(
    extra_globals: Mapping[str, object] | None = None, *, time_limit: float = 1.0
) -> PythonScriptEngine:
    """The engine for every workflow of ours: sandboxed scripts, a time budget per call."""
    environment = SandboxedEnvironment(extra_globals, time_limit=time_limit)
    return PythonScriptEngine(environment=environment)
