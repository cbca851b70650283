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

from dsl.ast import Law, Program
from dsl.check import check, resolve
from dsl.compile_py import PythonLaws, compile_python
from dsl.compile_torch import Batch, LawOutput, TorchLaws, compile_torch, encode_batch
from dsl.errors import DslError
from dsl.parse import parse
from dsl.predictions import Firing, Prediction
from dsl.printer import format_expr, format_law, format_program

_LAZY = {
    "canonical_key": "dsl.canonical", "dedupe": "dsl.canonical", "same_law": "dsl.canonical",
    "simplify_condition": "dsl.canonical",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dsl' has no attribute {name!r}")


__all__ = [
    "Batch", "DslError", "Firing", "Law", "LawOutput", "Prediction", "Program", "PythonLaws",
    "TorchLaws", "canonical_key", "check", "compile_python", "compile_torch", "dedupe",
    "encode_batch", "format_expr", "format_law", "format_program", "parse", "resolve", "same_law",
    "simplify_condition",
]
