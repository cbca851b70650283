"""The law language: text <-> syntax tree, checking against a world schema, canonical forms, and
compilation to Python (one state) and torch (a batch of states). See docs/dsl.md.

    program = parse(text)                      # DslError with line:column on bad text
    errors = check(program, schema)            # [] when it fits the schema
    text = format_program(program)             # canonical layout
    firings = compile_python(program, schema).predict(state, action)
    laws = compile_torch(program, schema); outputs = laws.predict(encode_batch(states, actions, schema))

The sympy part (canonical forms) loads on first use.
"""

import importlib

from lawsmith.dsl.ast import Law, Program
from lawsmith.dsl.check import check, resolve
from lawsmith.dsl.compile_py import PythonLaws, compile_python
from lawsmith.dsl.compile_torch import Batch, LawOutput, TorchLaws, compile_torch, encode_batch
from lawsmith.dsl.errors import DslError
from lawsmith.dsl.parse import parse
from lawsmith.dsl.predictions import Firing, Prediction
from lawsmith.dsl.printer import format_expr, format_law, format_program

_LAZY = {
    name: "lawsmith.dsl.canonical"
    for name in ("canonical_key", "dedupe", "same_law", "simplify_condition")
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lawsmith.dsl' has no attribute {name!r}")


__all__ = [
    "Batch", "DslError", "Firing", "Law", "LawOutput", "Prediction", "Program", "PythonLaws",
    "TorchLaws", "canonical_key", "check", "compile_python", "compile_torch", "dedupe",
    "encode_batch", "format_expr", "format_law", "format_program", "parse", "resolve", "same_law",
    "simplify_condition",
]
