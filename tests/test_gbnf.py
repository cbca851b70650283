"""The GBNF export of the law grammar: well-formed, accepts the example laws, rejects what the
parser rejects or the schema does not know. GBNF is read back into a lark Earley grammar here (a
small translator below), so the test needs no llama.cpp (experiments/llm_smoke.py runs the grammar
in a real llama.cpp server)."""

from __future__ import annotations

import codecs
import pathlib
import re

import lark
import pytest

from lawsmith.dsl import format_law, parse
from lawsmith.dsl.ast import inline_definitions
from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.toy_world import toy_schema
from lawsmith.synth.errors import ProposerError
from lawsmith.synth.gbnf import char_class, literal, regex_to_gbnf, to_gbnf

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
_TOKEN = re.compile(r'\s*(::=|\||\(|\)|\*|\+|\?|"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[A-Za-z0-9-]+)')


def _rules(gbnf: str) -> dict[str, list[str]]:
    """GBNF text -> rule name -> tokens of its body; fails on anything that is not GBNF."""
    rules = {}
    for line in gbnf.strip().split("\n"):
        name, sep, body = line.partition(" ::= ")
        assert sep and re.fullmatch(r"[a-z0-9-]+", name), line
        assert name not in rules, f"rule {name} defined twice"
        tokens, pos = [], 0
        while pos < len(body):
            match = _TOKEN.match(body, pos)
            assert match and match.end() > pos, f"bad GBNF at {body[pos:pos + 20]!r} in {line}"
            tokens.append(match.group(1))
            pos = match.end()
        rules[name] = tokens
    return rules


def _to_lark(gbnf: str) -> lark.Lark:
    rules = _rules(gbnf)
    lines = []
    for name, tokens in rules.items():
        out = []
        for token in tokens:
            if token.startswith('"'):
                text = codecs.decode(token[1:-1], "unicode_escape")
                out.append("/" + re.escape(text).replace("/", "\\/") + "/")
            elif token.startswith("["):
                out.append("/" + token.replace("/", "\\/") + "/")
            elif re.fullmatch(r"[A-Za-z0-9-]+", token):
                assert token in rules, f"rule {token} is used but not defined"
                out.append(token.replace("-", "_"))
            else:
                out.append(token)
        lines.append(f"{name.replace('-', '_')}: {' '.join(out)}")
    return lark.Lark("\n".join(lines), start="root", parser="earley", lexer="dynamic")


def _accepts(parser: lark.Lark, text: str) -> bool:
    try:
        parser.parse(text)
        return True
    except lark.exceptions.LarkError:
        return False


def _laws(path: pathlib.Path) -> list[str]:
    """Each law of a file as text, its definitions (`let`) written in (the grammar takes laws)."""
    return [format_law(law.__class__(**{**law.__dict__, "comments": ()}))
            for law in inline_definitions(parse(path.read_text())).laws]


@pytest.fixture(scope="module")
def toy_parser() -> lark.Lark:
    return _to_lark(to_gbnf(toy_schema(), max_laws=2))


def test_well_formed_and_no_left_recursion():
    for schema in (None, toy_schema()):
        text = to_gbnf(schema, max_laws=3)
        rules = _rules(text)
        assert "root" in rules
        for name, tokens in rules.items():
            assert tokens[0] != name, f"{name} is left-recursive"
            for token in tokens:
                if re.fullmatch(r"[A-Za-z0-9-]+", token):
                    assert token in rules, token


def test_accepts_the_toy_laws(toy_parser):
    laws = _laws(EXAMPLES / "toy.law")
    for law in laws:
        assert _accepts(toy_parser, law), law
    assert _accepts(toy_parser, laws[0] + "\n\n" + laws[1])
    assert _accepts(toy_parser, "  law a when action==do then player.inventory.berry+=1\n")


def test_rejects_what_the_parser_or_schema_rejects(toy_parser):
    good = "law a when action == do then player.inventory.berry += 1"
    assert _accepts(toy_parser, good)
    for bad in ["law then when action == do then player.inventory.berry += 1",  # reserved word
                "lawa when action == do then player.inventory.berry += 1",      # no space
                "law a when action == do then player.inventory.wod += 1",       # unknown item
                "law a when action == do then player.inventory.berry += 1 2",
                "law a when action == do then player.pos = teleport(ahead)",    # unknown function
                "law a for each cow c then c.pos = c.pos",                       # unknown kind
                "Here is a law: " + good,
                "def f(x): return x",
                "law a then player.pos = ahead law b then player.pos = ahead law c then player.pos = ahead"]:
        assert not _accepts(toy_parser, bad), bad


def test_without_schema_names_are_free_but_not_reserved():
    parser = _to_lark(to_gbnf(None, max_laws=1))
    assert _accepts(parser, "law a when action == dig then player.bag.gem += 1")
    assert _accepts(parser, "law notable then thing.andy = lawn")
    assert not _accepts(parser, "law a then player.not = 1")


def _crafter_laws(every: bool) -> None:
    parser = _to_lark(to_gbnf(CrafterWorld().schema, max_laws=1))
    # `for each cell` laws are not offered to language models (the grammar's kinds are the schema's)
    laws = [law for law in _laws(EXAMPLES / "crafter.law") if "for each cell" not in law]
    if not every:  # a law for each of several constructs
        laws = [next(law for law in laws if word in law)
                for word in ("choose", "dist(", "spawn", "near(", "min(", "beta(")]
    for law in laws:
        assert _accepts(parser, law), law


def test_accepts_crafter_laws_with_its_schema():
    _crafter_laws(every=False)


@pytest.mark.slow
def test_accepts_every_crafter_law_with_its_schema():
    _crafter_laws(every=True)


def test_regex_and_literal_translation():
    assert literal('a"b\\\n') == '"a\\"b\\\\\\n"'
    assert char_class("abcx-") == "[\\-a-cx]"
    assert regex_to_gbnf("[0-9]+(\\.[0-9]+)?") == '([0-9])+ (("." ([0-9])+))?'
    assert regex_to_gbnf("a{2,3}") == '("a") ("a") ("a")?'
    with pytest.raises(ProposerError):
        regex_to_gbnf("(?=a)b")
    with pytest.raises(ProposerError):
        to_gbnf(None, max_laws=0)


def test_accepts_quantifiers(toy_parser):
    assert _accepts(toy_parser, "law a when exists(sheep s where dist(s.pos, player.pos) <= 1) "
                                "and count(sheep t) > 1 then player.inventory.meat += 1")
