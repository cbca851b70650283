"""The law language's grammar as GBNF, the grammar format of llama.cpp servers, for constrained
decoding: a model sampled under it can only write text that `dsl.parse` accepts.

The GBNF is derived from `dsl/grammar.lark` itself (lark's compiled BNF rules and terminals), so it
follows the grammar when the grammar changes:
- literal terminals become GBNF literals, regular-expression terminals are translated from Python's
  own regex parse tree (`re._parser`);
- lark ignores whitespace between tokens; GBNF must spell it out, so a separator goes between
  symbols: required where both sides may be word characters (`law foo`, `a and b`), optional
  elsewhere (`material(ahead)`), at most 16 characters (comments are not generated);
- left recursion (`sum: sum "+" product`), which LALR likes and llama.cpp rejects, becomes
  repetition: `sum ::= product ("+" product)*`;
- identifiers exclude the reserved words (lark's basic lexer never reads `then` as a name);
- with a schema, identifiers are narrowed by their place: after `.` an attribute or counts key of
  the schema, before `(` a built-in function, after `for each`/`exists(`/`spawn` a kind, bound
  variables one letter and an optional digit, a bare name a constant of the schema or a variable.
  Law, parameter and outcome names stay free.

    text = to_gbnf(schema, max_laws=4)     # pass as extra_body={"grammar": text}
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
import string

import lark
from lark.grammar import NonTerminal, Terminal
from lark.lexer import PatternStr

from lawsmith.dsl.check import BUILTIN_NAMES, FUNCTIONS
from lawsmith.dsl.ir import DIRECTIONS
from lawsmith.synth.errors import ProposerError

try:
    from re import _parser as _sre
    from re import _constants as _sre_constants
except ImportError:  # Python < 3.11
    import sre_constants as _sre_constants
    import sre_parse as _sre

GRAMMAR_PATH = pathlib.Path(__file__).resolve().parent.parent / "dsl" / "grammar.lark"
IDENTIFIER_TERMINAL = "NAME"
MAX_WS = 16
WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_WS_CLASS = "[ \\t\\n]"


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(GRAMMAR_PATH.read_text(), parser="lalr", lexer="basic",
                     maybe_placeholders=True)


def to_gbnf(schema: dict | None = None, max_laws: int | None = None) -> str:
    """GBNF text for one or more laws (at most `max_laws`), narrowed to `schema`'s names if given."""
    key = json.dumps(schema, sort_keys=True) if schema is not None else None
    return _to_gbnf(key, max_laws)


@functools.lru_cache(maxsize=32)
def _to_gbnf(schema_key: str | None, max_laws: int | None) -> str:
    schema = json.loads(schema_key) if schema_key is not None else None
    return _Exporter(_lark(), schema).export(max_laws)


# --- rendering helpers ------------------------------------------------------------------------

def _escape_char(char: str, in_class: bool) -> str:
    special = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}
    if char in special:
        return special[char]
    if in_class and char in "]^-[":
        return "\\" + char
    if not in_class and char == '"':
        return '\\"'
    if not char.isprintable() or ord(char) > 126:
        return f"\\x{ord(char):02X}" if ord(char) < 256 else f"\\u{ord(char):04X}"
    return char


def literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + "".join(_escape_char(c, False) for c in text) + '"'


def char_class(chars, negate: bool = False) -> str:
    """A GBNF character class for a set of characters, with runs written as ranges."""
    codes = sorted({ord(c) for c in chars})
    parts, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        first, last = chr(codes[i]), chr(codes[j])
        if j - i >= 2:
            parts.append(f"{_escape_char(first, True)}-{_escape_char(last, True)}")
        else:
            parts.extend(_escape_char(chr(c), True) for c in codes[i:j + 1])
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "(" + " | ".join(items) + ")"


# --- regular expressions ----------------------------------------------------------------------

def regex_to_gbnf(pattern: str) -> str:
    """A GBNF expression matching what the Python regex `pattern` matches (the subset lark
    terminals use: literals, classes, groups, alternation, repetition)."""
    return _sre_sequence(_sre.parse(pattern), pattern)


def _sre_sequence(items, pattern: str) -> str:
    parts = [_sre_item(op, av, pattern) for op, av in items]
    return " ".join(parts) if parts else '""'


def _sre_item(op, av, pattern: str) -> str:
    c = _sre_constants
    if op is c.LITERAL:
        return literal(chr(av))
    if op is c.NOT_LITERAL:
        return char_class(chr(av), negate=True)
    if op is c.ANY:
        return "[^\\n]"
    if op is c.IN:
        return _sre_class(av, pattern)
    if op is c.SUBPATTERN:
        return "(" + _sre_sequence(av[-1], pattern) + ")"
    if op is c.BRANCH:
        return "(" + " | ".join(_sre_sequence(branch, pattern) for branch in av[1]) + ")"
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, sub = av
        body = "(" + _sre_sequence(sub, pattern) + ")"
        if (low, high) == (0, 1):
            return body + "?"
        if high is c.MAXREPEAT and low in (0, 1):
            return body + ("*" if low == 0 else "+")
        if high is not c.MAXREPEAT and high <= 16:
            return " ".join([body] * low + [body + "?"] * (high - low))
        if high is c.MAXREPEAT and low <= 16:
            return " ".join([body] * low + [body + "*"])
    raise ProposerError(f"cannot export the regular expression {pattern!r} to GBNF "
                        f"(unsupported part {op})")


def regex_edge_is_word(pattern: str, first: bool) -> bool:
    """Whether a match of `pattern` may start (or end) with a word character; unknown parts: yes."""
    return _sre_edge(list(_sre.parse(pattern)), first)[0]


def _sre_edge(items, first: bool) -> tuple[bool, bool]:
    """(may start/end with a word character, may be empty) for a regex parse sequence."""
    c = _sre_constants
    word = False
    for op, av in (items if first else items[::-1]):
        if op is c.LITERAL:
            return word or chr(av) in WORD_CHARS, False
        if op is c.SUBPATTERN:
            sub_word, empty = _sre_edge(list(av[-1]), first)
        elif op is c.BRANCH:
            edges = [_sre_edge(list(branch), first) for branch in av[1]]
            sub_word, empty = any(e[0] for e in edges), any(e[1] for e in edges)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            sub_word, empty = _sre_edge(list(av[2]), first)
            empty = empty or av[0] == 0
        elif op is c.IN and not any(o is c.NEGATE for o, _ in av):
            chars = set()
            for o, v in av:
                if o is c.LITERAL:
                    chars.add(chr(v))
                elif o is c.RANGE:
                    chars.update(chr(code) for code in range(v[0], v[1] + 1))
                else:
                    chars.add("a")
            sub_word, empty = bool(chars & WORD_CHARS), False
        else:
            sub_word, empty = True, False
        word = word or sub_word
        if not empty:
            return word, False
    return word, True


_CATEGORIES = {"CATEGORY_DIGIT": string.digits, "CATEGORY_WORD": "".join(sorted(WORD_CHARS)),
               "CATEGORY_SPACE": " \t\n\r\f\v"}


def _sre_class(items, pattern: str) -> str:
    c = _sre_constants
    chars, negate = set(), False
    for op, av in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            chars.add(chr(av))
        elif op is c.RANGE:
            chars.update(chr(code) for code in range(av[0], av[1] + 1))
        elif op is c.CATEGORY and str(av) in _CATEGORIES:
            chars.update(_CATEGORIES[str(av)])
        else:
            raise ProposerError(f"cannot export the character class in {pattern!r} to GBNF")
    return char_class(chars, negate)


# --- the exporter -----------------------------------------------------------------------------

def _gbnf_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "rule"


class _Exporter:
    """Turns lark's compiled rules into GBNF rules (a dict name -> body, in order)."""

    def __init__(self, parser: lark.Lark, schema: dict | None):
        self.schema = schema
        self.terminals = {t.name: t.pattern for t in parser.terminals}
        self.alts: dict[str, list[list]] = {}
        for rule in parser.rules:
            self.alts.setdefault(rule.origin.name, []).append(
                [self._symbol(rule, i) for i in range(len(rule.expansion))])
        ident = self.terminals[IDENTIFIER_TERMINAL]
        self.keywords = sorted({p.value for p in self.terminals.values() if isinstance(p, PatternStr)
                                and re.fullmatch(ident.to_regexp(), p.value)})
        self.rules: dict[str, str] = {}
        self.names = {lark_name: _gbnf_name(lark_name) for lark_name in self.alts}
        self._nullable_first_last()

    # Symbols: ("rule", lark name) | ("term", terminal name) | ("ident", role)
    def _symbol(self, rule, index: int):
        symbol = rule.expansion[index]
        if isinstance(symbol, NonTerminal):
            return ("rule", symbol.name)
        if symbol.name != IDENTIFIER_TERMINAL:
            return ("term", symbol.name)
        return ("ident", self._role(rule, index))

    def _role(self, rule, index: int) -> str:
        expansion = rule.expansion

        def value(i: int) -> str | None:
            if 0 <= i < len(expansion) and isinstance(expansion[i], Terminal):
                pattern = self.terminals[expansion[i].name]
                return pattern.value if isinstance(pattern, PatternStr) else expansion[i].name
            return None

        before, after = value(index - 1), value(index + 1)
        if before == ".":
            return "attr"
        if after == "(":
            return "function"
        if after == IDENTIFIER_TERMINAL or before == "spawn":
            return "kind"
        if before == IDENTIFIER_TERMINAL or before == "remove":
            return "var"
        if rule.alias == "name" and len(expansion) == 1:
            return "value"
        return "free"

    # nullable / may start with a word character / may end with one, by fixed point
    def _nullable_first_last(self) -> None:
        self.nullable = {name: False for name in self.alts}
        self.first = {name: False for name in self.alts}
        self.last = {name: False for name in self.alts}
        changed = True
        while changed:
            changed = False
            for name, alts in self.alts.items():
                nullable = any(all(self._nullable(s) for s in alt) for alt in alts)
                first = any(self._edge(alt, True) for alt in alts)
                last = any(self._edge(alt[::-1], False) for alt in alts)
                if (nullable, first, last) != (self.nullable[name], self.first[name], self.last[name]):
                    self.nullable[name], self.first[name], self.last[name] = nullable, first, last
                    changed = True

    def _nullable(self, symbol) -> bool:
        return symbol[0] == "rule" and self.nullable[symbol[1]]

    def _edge(self, symbols, first: bool) -> bool:
        for symbol in symbols:
            if self._word_edge(symbol, first):
                return True
            if not self._nullable(symbol):
                return False
        return False

    def _word_edge(self, symbol, first: bool) -> bool:
        kind, name = symbol
        if kind == "rule":
            return (self.first if first else self.last)[name]
        if kind == "ident":
            return True
        pattern = self.terminals[name]
        if isinstance(pattern, PatternStr):
            return pattern.value[0 if first else -1] in WORD_CHARS
        return regex_edge_is_word(pattern.value, first)

    def _separator(self, left, right) -> str:
        needs_space = self._word_edge(left, False) and (
            self._word_edge(right, True) or self._nullable(right))
        return "wsp" if needs_space else "ws"

    # rendering
    def _render_symbol(self, symbol) -> str:
        kind, name = symbol
        if kind == "rule":
            return self.names[name]
        if kind == "ident":
            return "name-" + name
        pattern = self.terminals[name]
        if isinstance(pattern, PatternStr):
            return literal(pattern.value)
        rule_name = "tok-" + _gbnf_name(name)
        if rule_name not in self.rules:
            self.rules[rule_name] = regex_to_gbnf(pattern.value)
        return rule_name

    def _render_sequence(self, symbols) -> str:
        if not symbols:
            return '""'
        parts = [self._render_symbol(symbols[0])]
        for left, right in zip(symbols, symbols[1:]):
            parts += [self._separator(left, right), self._render_symbol(right)]
        return " ".join(parts)

    def _render_rule(self, name: str) -> str:
        alts = self.alts[name]
        recursive = [alt[1:] for alt in alts if alt and alt[0] == ("rule", name)]
        base = [alt for alt in alts if not (alt and alt[0] == ("rule", name))]
        if not recursive:
            return " | ".join(self._render_sequence(alt) for alt in base)
        if not base:
            raise ProposerError(f"the grammar rule {name!r} never ends")
        # A ::= A t1 | A t2 | b1 | b2   ==>   A ::= (b1 | b2) (t1 | t2)*
        me = ("rule", name)
        heads = _alternatives([self._render_sequence(alt) for alt in base])
        tails = [f"{self._separator(me, tail[0])} {self._render_sequence(tail)}" for tail in recursive]
        return f"{heads} ({' | '.join(tails)})*"

    def _check_no_left_recursion(self) -> None:
        """After removing direct left recursion, no rule may start with itself through others."""
        def leftmost(name):
            return {alt[0][1] for alt in self.alts[name]
                    if alt and alt[0][0] == "rule" and alt[0][1] != name}

        for start in self.alts:
            seen, todo = set(), list(leftmost(start))
            while todo:
                name = todo.pop()
                if name == start:
                    raise ProposerError(f"the grammar rule {start!r} is indirectly left-recursive")
                if name not in seen:
                    seen.add(name)
                    todo.extend(leftmost(name))

    def export(self, max_laws: int | None) -> str:
        self._check_no_left_recursion()
        law = ("rule", "law")
        separator = self._separator(law, law)
        if max_laws is None:
            more = f"({separator} law)*"
        else:
            if max_laws < 1:
                raise ProposerError(f"max_laws must be at least 1, not {max_laws}")
            more = ""
            for _ in range(max_laws - 1):
                more = f"({separator} law{' ' + more if more else ''})?"
        self.rules["root"] = " ".join(part for part in ("ws law", more, "ws") if part)
        for name in self._reachable("law"):
            self.rules[self.names[name]] = self._render_rule(name)
        self._name_rules()
        self._ws_rules()
        return "".join(f"{name} ::= {body}\n" for name, body in self.rules.items())

    def _reachable(self, start: str) -> list[str]:
        order, todo = [], [start]
        while todo:
            name = todo.pop(0)
            if name in order:
                continue
            order.append(name)
            todo.extend(s[1] for alt in self.alts[name] for s in alt if s[0] == "rule")
        return order

    # identifiers
    def _name_rules(self) -> None:
        used = {m for m in re.findall(r"name-(\w+)", " ".join(self.rules.values()))}
        self._identifier_rules()
        schema = self.schema
        var = "[a-z] [0-9]?"
        for role in sorted(used):
            if role == "function":
                body = _alternatives([literal(f) for f in FUNCTIONS])
            elif schema is None or role == "free":
                body = "ident"
            elif role == "attr":
                body = _alternatives([literal(n) for n in self._attribute_names()])
            elif role == "kind":
                body = _alternatives([literal(k) for k in schema["kinds"]])
            elif role == "var":
                body = var
            elif role == "value":
                body = _alternatives([literal(n) for n in self._constants()] + [var])
            else:
                body = "ident"
            self.rules["name-" + role] = body

    def _attribute_names(self) -> list[str]:
        names = {"x", "y"}
        for attrs in self.schema["kinds"].values():
            for attr, spec in attrs.items():
                names.add(attr)
                if spec.get("type") == "counts":
                    keys = spec.get("keys")
                    names.update(self.schema.get("items", {}) if keys == "items" else keys or ())
        return sorted(names, key=lambda n: (-len(n), n))

    def _constants(self) -> list[str]:
        schema = self.schema
        names = (set(schema.get("materials", {})) | set(schema.get("actions", []))
                 | set(schema["kinds"]) | set(DIRECTIONS) | set(BUILTIN_NAMES)
                 | set(schema.get("globals", {})))
        return sorted(names - set(self.keywords), key=lambda n: (-len(n), n))

    def _identifier_rules(self) -> None:
        """`ident`: a NAME that is not a reserved word, as a trie over the reserved words whose
        nodes may end (if not a reserved word) or go on with any other character."""
        ident = self.terminals[IDENTIFIER_TERMINAL].value
        if ident != "[A-Za-z_][A-Za-z0-9_]*":
            raise ProposerError(f"the identifier terminal changed to {ident!r}; update synth/gbnf.py")
        first_chars = set(string.ascii_letters + "_")
        trie: dict = {}
        for word in self.keywords:
            node = trie
            for char in word:
                node = node.setdefault(char, {})
        counter = iter(range(10 ** 6))

        def node_rule(node: dict, prefix: str) -> str:
            name = "ident" if not prefix else f"ident-{next(counter)}"
            allowed = first_chars if not prefix else WORD_CHARS
            alts = [f"{literal(char)} {node_rule(child, prefix + char)}"
                    for char, child in sorted(node.items())]
            others = allowed - set(node)
            if others:
                alts.append(f"{char_class(others)} ident-rest")
            body = " | ".join(alts)
            if prefix and prefix not in self.keywords:
                body = f"({body})?"
            self.rules[name] = body
            return name

        node_rule(trie, "")
        self.rules["ident-rest"] = char_class(WORD_CHARS) + "*"

    def _ws_rules(self) -> None:
        self.rules["ws"] = f"({_WS_CLASS} ws-1)?"
        for i in range(1, MAX_WS - 1):
            self.rules[f"ws-{i}"] = f"({_WS_CLASS} ws-{i + 1})?"
        self.rules[f"ws-{MAX_WS - 1}"] = f"{_WS_CLASS}?"
        self.rules["wsp"] = f"{_WS_CLASS} ws-1"
