"""The sandbox in which BPMN conditions, scripts, timer expressions and DMN cells run.

SpiffWorkflow evaluates all of them as Python with plain eval/exec. We compile them with
RestrictedPython (no imports, no dunder access, no open()) and expose only the helpers we
register here. Service tasks may call only functions registered in services.py.
"""
from __future__ import annotations

import ast
import json
import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from RestrictedPython import compile_restricted, limited_builtins, safe_builtins, utility_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (full_write_guard, guarded_iter_unpack_sequence,
                                     guarded_unpack_sequence, safer_getattr)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from ..calendar.services import add_working_days, is_working_day, working_days_between
from ..core.clock import DISPLAY_TZ, today_local
from .services import call_registered_service


def _inplacevar(op, x, y):
    ops = {"+=": lambda a, b: a + b, "-=": lambda a, b: a - b, "*=": lambda a, b: a * b,
           "/=": lambda a, b: a / b, "//=": lambda a, b: a // b, "%=": lambda a, b: a % b}
    if op not in ops:
        raise SyntaxError(f"operator {op} is not allowed")
    return ops[op](x, y)


def _add_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=int(days))).isoformat()


def _days_between(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _today() -> str:
    return today_local().isoformat()


def deadline_end(day: str, offset_days: int = 0) -> str:
    """The instant a deadline day is over (next midnight, Asia/Shanghai), shifted by whole days;
    an ISO datetime with offset, as BPMN timeDate timers need."""
    end = date.fromisoformat(str(day)[:10]) + timedelta(days=int(offset_days) + 1)
    return datetime.combine(end, time(0, 0), DISPLAY_TZ).isoformat()


def _working_days(start: str, n: int) -> str:
    """The n-th working day after `start` (start not counted), on the China working-day calendar
    maintained at /admin/calendar: an ISO date, usable as dueIn or with deadline_end()."""
    return add_working_days(str(start)[:10], int(n)).isoformat()


def _working_days_between(start: str, end: str) -> int:
    return working_days_between(str(start)[:10], str(end)[:10])


def _is_working_day(day: str) -> bool:
    return is_working_day(str(day)[:10])


# A timeDate for "no such escalation level": far enough never to fire.
NEVER = "9999-12-31T00:00:00+00:00"


SAFE_BUILTINS = dict(safe_builtins)
SAFE_BUILTINS.update(limited_builtins)
SAFE_BUILTINS.update(utility_builtins)
for _name in ("sum", "min", "max", "any", "all", "enumerate", "sorted", "reversed", "dict", "list",
              "map", "filter"):
    SAFE_BUILTINS[_name] = __builtins__[_name] if isinstance(__builtins__, dict) else getattr(__builtins__, _name)
for _forbidden in ("string", "math", "random", "whrandom", "set", "frozenset", "DateTime", "same_type", "test",
                   "reorder"):
    SAFE_BUILTINS.pop(_forbidden, None)

# Helpers BPMN authors may use (documented in docs/流程开发指南.md); engine/decisions.py adds
# escalation_at (register_helper), as it evaluates a DMN table.
HELPERS = {
    "today": _today,
    "add_days": _add_days,
    "days_between": _days_between,
    "deadline_end": deadline_end,
    "working_days": _working_days,
    "working_days_between": _working_days_between,
    "is_working_day": _is_working_day,
}

GUARDS = {
    "__builtins__": SAFE_BUILTINS,
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}


@lru_cache(maxsize=4096)
def compile_expression(source: str):
    return compile_restricted(source, "<expression>", "eval")


@lru_cache(maxsize=4096)
def compile_script(source: str):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise SyntaxError("import is not allowed in BPMN scripts")
    return compile_restricted(source, "<string>", "exec")


class RestrictedEnvironment(TaskDataEnvironment):
    def __init__(self):
        super().__init__({**GUARDS, **HELPERS})

    def evaluate(self, expression, context, external_context=None):
        code = compile_expression(expression)
        env = dict(self.globals)
        env.update(external_context or {})
        env.update(context)
        return eval(code, env)  # noqa: S307 - restricted bytecode, guarded globals

    def execute(self, script, context, external_context=None):
        self.check_for_overwrite(context, external_context or {})
        code = compile_script(script)
        context.update(self.globals)
        context.update(external_context or {})
        try:
            exec(code, context)  # noqa: S102 - restricted bytecode, guarded globals
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


class CaseScriptEngine(PythonScriptEngine):
    """Restricted scripts; service tasks dispatch to our registry (and fix 3.2.0's call_service NameError)."""

    def __init__(self):
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression):
        compile_expression(expression)

    def call_service(self, task, operation_name=None, operation_params=None, **_):
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        result = call_registered_service(operation_name, task, params)
        return json.dumps(result, default=_json_default)


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


SCRIPT_ENGINE = CaseScriptEngine()


def register_helper(name: str, fn) -> None:
    """Add a helper for BPMN expressions and scripts (from a module this one cannot import)."""
    HELPERS[name] = fn
    SCRIPT_ENGINE.environment.globals[name] = fn


# Names that are not in the sandbox anyway; naming them at deploy time beats a NameError in a case.
FORBIDDEN_NAMES = frozenset({"open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr",
                             "setattr", "delattr", "breakpoint", "input", "exit", "quit", "help", "memoryview",
                             "os", "sys", "subprocess", "importlib", "builtins"})


def _forbidden_names(source: str, mode: str) -> list[str]:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return []
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in FORBIDDEN_NAMES})


def _syntax_message(err: SyntaxError) -> str:
    """RestrictedPython reports a tuple of English strings; say it in Chinese where we can."""
    parts = err.msg if isinstance(err.msg, (tuple, list)) else (err.msg,)
    out = []
    for part in parts:
        part = str(part)
        m = re.match(r"Line (\d+): SyntaxError: (?:invalid syntax|.*?) at statement: '(.*)'$", part, re.S)
        if m:
            out.append(f"第 {m.group(1)} 行语法错误: {m.group(2)}")
            continue
        m = re.match(r'Line (\d+): "(.*)" is an invalid variable name because it starts with "_"', part)
        if m:
            out.append(f"第 {m.group(1)} 行: 不允许使用以下划线开头的名字 {m.group(2)}")
            continue
        out.append(part)
    return "; ".join(out)


def check_expression(source: str) -> str | None:
    """Compile-check an expression; return a Chinese error message or None."""
    try:
        compile_expression(source)
    except SyntaxError as err:
        return f"表达式无法编译: {_syntax_message(err)}"
    names = _forbidden_names(source, "eval")
    if names:
        return f"表达式中不允许使用 {'、'.join(names)}"
    return None


def check_script(source: str) -> str | None:
    try:
        compile_script(source)
    except SyntaxError as err:
        if "import" in str(err.msg):
            return "脚本中不允许使用 import"
        return f"脚本不允许或无法编译: {_syntax_message(err)}"
    names = _forbidden_names(source, "exec")
    if names:
        return f"脚本中不允许使用 {'、'.join(names)}"
    return None
