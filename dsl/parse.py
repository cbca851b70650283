"""Text to syntax tree: the lark LALR parser for `grammar.lark` and a Transformer building `dsl.ast`.

Law text comes from people and from language models, so it is untrusted: nothing is evaluated, the
input size, nesting depth and number sizes are bounded, and every failure is a located `DslError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import threading

import lark
from lark import Token, Transformer, v_args

from lawsmith.dsl import ast
from lawsmith.dsl.errors import DslError, located

MAX_SOURCE_CHARS = 1_000_000
MAX_DEPTH = 60
MAX_NUMBER = 10 ** 9
MAX_NUMBER_CHARS = 32
MAX_ITEMS = 1000   # laws and `let` definitions in one text: fitting 10,000 laws takes minutes a step

_comments = threading.local()


def _collect_comment(token: Token) -> Token:
    _comments.tokens.append(token)
    return token


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (pathlib.Path(__file__).parent / "grammar.lark").read_text()
    # The basic lexer makes every keyword reserved (`then` is never a name), so errors stay local.
    return lark.Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True,
                     maybe_placeholders=True, lexer_callbacks={"COMMENT": _collect_comment})


def parse(text: str, filename: str | None = None) -> ast.Program:
    """Parse a laws file into a Program; raise DslError (line, column, caret, expected) on bad text."""
    try:
        return _parse(text)
    except DslError as error:
        raise error.with_filename(filename) if filename else error


def _parse(text: str) -> ast.Program:
    if not isinstance(text, str):
        raise DslError(f"expected law text (a string), got {type(text).__name__}")
    if len(text) > MAX_SOURCE_CHARS:
        raise DslError(f"law text too long ({len(text)} characters, at most {MAX_SOURCE_CHARS})")
    _comments.tokens = []
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as error:
        raise _syntax_error(error, text) from None
    finally:
        comments, _comments.tokens = _comments.tokens, []
    _check_depth(tree, text)
    try:
        laws = _Build(text).transform(tree).children
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, DslError):
            raise error.orig_exc from None
        raise
    if len(laws) > MAX_ITEMS:
        raise DslError(f"too many laws and definitions ({len(laws)}, at most {MAX_ITEMS})")
    return _attach_comments(laws, comments, text)


def _syntax_error(error: lark.exceptions.UnexpectedInput, text: str) -> DslError:
    line, column = getattr(error, "line", None), getattr(error, "column", None)
    at_end = isinstance(error, lark.exceptions.UnexpectedEOF) or (
        isinstance(error, lark.exceptions.UnexpectedToken) and error.token.type == "$END")
    if at_end or not isinstance(line, int) or line < 1:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = text[error.pos_in_stream] if 0 <= error.pos_in_stream < len(text) else "?"
        message = f"unexpected character {char!r}"
        expected = error.allowed
    elif isinstance(error, lark.exceptions.UnexpectedToken) and error.token.type != "$END":
        message = f"unexpected {_describe_token(error.token)}"
        expected = error.expected
    else:
        message = "unexpected end of text"
        expected = getattr(error, "expected", None)
    return located(message, text, line, column, _describe_expected(expected))


def _describe_token(token: Token) -> str:
    if token.type in ("NAME", "NUMBER", "STRING"):
        return f"{token.type.lower()} {str(token)[:40]!r}"
    return repr(str(token))


_TERMINAL_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a quoted description",
                   "ASSIGN": "'=', '+=' or '-='", "COMPARE": "a comparison", "$END": "end of text"}


def _describe_expected(names) -> str | None:
    if not names:
        return None
    terminals = {t.name: t for t in _parser().terminals}
    words = []
    for name in sorted(names):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
        elif name in terminals and terminals[name].pattern.type == "str":
            words.append(repr(terminals[name].pattern.value))
        else:
            words.append(name.lower())
    words = sorted(set(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _check_depth(tree: lark.Tree, text: str) -> None:
    """Reject trees nested deeper than MAX_DEPTH before anything recursive walks them."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            raise located(f"expression nested too deeply (more than {MAX_DEPTH} levels)", text,
                          getattr(meta, "line", None), getattr(meta, "column", None),
                          "a flatter expression")
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))


def _attach_comments(laws: list, comments: list[Token], text: str) -> ast.Program:
    """Give each comment to the law it precedes or sits in. Comments above the first law that end
    before a blank line are the file's header; comments after the last law trail."""
    pending = sorted(comments, key=lambda t: t.line)
    lines = text.split("\n")
    first_line = min((item.span.line for item, _ in laws), default=0)
    header_end = 0
    for i, token in enumerate(pending):
        if token.line >= first_line:
            break
        if token.line < len(lines) and not lines[token.line].strip():
            header_end = i + 1
    header = tuple(_comment_text(t) for t in pending[:header_end])
    attached, definitions, index = [], [], header_end
    for item, end_line in laws:
        own = []
        while index < len(pending) and pending[index].line <= end_line:
            own.append(_comment_text(pending[index]))
            index += 1
        if isinstance(item, ast.Definition):
            definitions.append(dataclasses.replace(item, comments=tuple(own)))
        else:
            attached.append(dataclasses.replace(item, comments=tuple(own)))
    trailing = tuple(_comment_text(t) for t in pending[index:])
    return ast.Program(tuple(attached), trailing, header, source=text,
                       definitions=tuple(definitions))


def _comment_text(token: Token) -> str:
    return str(token)[1:].rstrip()


def _span(meta) -> ast.Span | None:
    return ast.Span(meta.line, meta.column) if not meta.empty else None


def _token_span(token: Token) -> ast.Span:
    return ast.Span(token.line, token.column)


@v_args(meta=True)
class _Build(Transformer):
    """Parse tree -> ast nodes. Laws come out as (law, end line) for comment attachment."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def _error(self, message: str, token: Token, expected: str | None = None) -> DslError:
        return located(message, self.text, token.line, token.column, expected)

    def _number(self, token: Token) -> int | float:
        text = str(token)
        if len(text) > MAX_NUMBER_CHARS:
            raise self._error("number too long", token, f"at most {MAX_NUMBER_CHARS} characters")
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if not math.isfinite(value) or value > MAX_NUMBER:
            raise self._error("number too large", token, f"a number up to {MAX_NUMBER}")
        return value

    def start(self, meta, children):
        return lark.Tree("laws", children)

    def law(self, meta, children):
        name, description, subject, condition, *effects = children
        text = None
        if description is not None:
            text = _unescape(str(description)[1:-1])
        law = ast.Law(str(name), tuple(effects), text, subject, condition, (), _span(meta))
        return law, meta.end_line

    def definition(self, meta, children):
        name, description, op, value = children
        if str(op) != "=":
            raise self._error(f"unexpected '{op}' in a definition", op, "'='")
        text = _unescape(str(description)[1:-1]) if description is not None else None
        return ast.Definition(str(name), value, text, (), _span(meta)), meta.end_line

    def subject(self, meta, children):
        kind, var = children
        return ast.Subject(str(kind), str(var))

    def condition(self, meta, children):
        return children[0]

    def update(self, meta, children):
        target, op, value, *rest = children
        chance = rest[0] if rest else None
        return ast.Update(target, str(op), value, chance, _span(meta))

    def remove(self, meta, children):
        var, chance = children
        return ast.Remove(str(var), chance, _span(meta))

    def spawn(self, meta, children):
        kind, at, chance = children
        return ast.Spawn(str(kind), at, chance, _span(meta))

    def fixed_chance(self, meta, children):
        return ast.Chance(fixed=self._number(children[0]))

    def param_chance(self, meta, children):
        name, prior, init = children
        return ast.Chance(param=str(name), prior=prior, init=init)

    def beta(self, meta, children):
        return ast.Beta(*(self._number(t) for t in children))

    def init_one(self, meta, children):
        return self._number(children[0])

    def choice(self, meta, children):
        name, *outcomes, prior, init = children
        return ast.Choice(str(name), tuple(outcomes), prior, init, _span(meta))

    def outcome(self, meta, children):
        label, value = children
        return ast.Outcome(str(label), value)

    def dirichlet(self, meta, children):
        return children[0]

    def init_many(self, meta, children):
        return children[0]

    def numbers(self, meta, children):
        return tuple(self._number(t) for t in children)

    def if_(self, meta, children):
        return ast.If(*children, span=_span(meta))

    def _binary(op):
        def build(self, meta, children):
            left, right = children[0], children[-1]
            return ast.Binary(op, left, right, _span(meta))
        return build

    or_ = _binary("or")
    and_ = _binary("and")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")

    def compare(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, _span(meta))

    def not_(self, meta, children):
        return ast.Unary("not", children[0], _span(meta))

    def neg(self, meta, children):
        return ast.Unary("-", children[0], _span(meta))

    def name(self, meta, children):
        return ast.Name(str(children[0]), _token_span(children[0]))

    def attr(self, meta, children):
        base, name = children  # located at the attribute's name, where a misspelling would be
        return ast.Attr(base, str(name), _token_span(name))

    def number(self, meta, children):
        return ast.Number(self._number(children[0]), _token_span(children[0]))

    def true(self, meta, children):
        return ast.Bool(True, _span(meta))

    def false(self, meta, children):
        return ast.Bool(False, _span(meta))

    def none(self, meta, children):
        return ast.NoneValue(_span(meta))

    def call(self, meta, children):
        function, *args = children
        args = tuple(a for a in args if a is not None)
        return ast.Call(str(function), args, _span(meta))

    def _quantifier(word):
        def build(self, meta, children):
            kind, var, where = children
            return ast.Quantifier(word, str(kind), str(var), where, _span(meta))
        return build

    exists = _quantifier("exists")
    count = _quantifier("count")


# A description's escapes: \n, \t, \r, \\ and \"; any other backslash stays as written.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}
_QUOTED = {value: "\\" + key for key, value in _ESCAPES.items()}


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def escape(text: str) -> str:
    """Quote `text` as a description string (the inverse of the parser's unescaping)."""
    return '"' + "".join(_QUOTED.get(char, char) for char in text) + '"'
