"""Parsing, printing and bad input: located errors, parse(format(ast)) == ast, formatting is a fixed point."""

from __future__ import annotations

import pathlib
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lawsmith.dsl import DslError, ast, format_program, parse
from lawsmith.dsl.parse import MAX_DEPTH

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
KEYWORDS = {"law", "for", "each", "when", "then", "remove", "spawn", "at", "with", "probability",
            "beta", "init", "choose", "dirichlet", "if", "else", "or", "and", "not", "true",
            "false", "none", "exists", "count", "where"}

names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
numbers = st.one_of(st.integers(0, 10 ** 9),
                    st.floats(0, 1e9, allow_nan=False, allow_infinity=False))
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
comments = st.lists(texts.map(str.rstrip), max_size=2).map(tuple)


def exprs(depth: int = 3):
    leaves = st.one_of(
        numbers.map(ast.Number), st.booleans().map(ast.Bool), st.just(ast.NoneValue()),
        names.map(ast.Name))
    if depth == 0:
        return leaves
    sub = exprs(depth - 1)
    return st.one_of(
        leaves,
        st.builds(ast.Attr, sub, names),
        st.builds(ast.Call, names, st.lists(sub, max_size=3).map(tuple)),
        st.builds(ast.Unary, st.sampled_from(["not", "-"]), sub),
        st.builds(ast.Binary, st.sampled_from(["and", "or", "+", "-", "*", "==", "!=", "<", "<=",
                                               ">", ">="]), sub, sub),
        st.builds(ast.If, sub, sub, sub),
        st.builds(ast.Quantifier, st.sampled_from(["exists", "count"]), names, names,
                  st.none() | sub),
    )


targets = st.one_of(st.builds(ast.Attr, names.map(ast.Name), names),
                    st.builds(lambda f, a: ast.Call(f, (a,)), names, exprs(1)))
chances = st.none() | st.builds(lambda p: ast.Chance(fixed=p), numbers) | st.builds(
    lambda n, prior, init: ast.Chance(param=n, prior=prior, init=init), names,
    st.none() | st.builds(ast.Beta, numbers, numbers), st.none() | numbers)
choices = st.builds(
    lambda param, outcomes, with_prior, with_init: ast.Choice(
        param, tuple(outcomes), tuple(1.0 for _ in outcomes) if with_prior else None,
        tuple(0.5 for _ in outcomes) if with_init else None),
    names, st.lists(st.builds(ast.Outcome, names, exprs(2)), min_size=1, max_size=3),
    st.booleans(), st.booleans())
effects = st.one_of(
    st.builds(ast.Update, targets, st.sampled_from(["=", "+=", "-="]), exprs(), chances),
    st.builds(lambda t, op, c: ast.Update(t, op, c), targets, st.sampled_from(["=", "+="]),
              choices),
    st.builds(ast.Remove, names, chances),
    st.builds(ast.Spawn, names, exprs(2), chances))
laws = st.builds(ast.Law, names, st.lists(effects, min_size=1, max_size=3).map(tuple),
                 st.none() | texts, st.none() | st.builds(ast.Subject, names, names),
                 st.none() | exprs(), comments)
programs = st.builds(  # a header comment exists only above a law
    lambda laws, trailing, header: ast.Program(laws, trailing, header if laws else ()),
    st.lists(laws, max_size=3).map(tuple), comments, comments)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_parse_of_format_is_identity(program):
    text = format_program(program)
    assert parse(text) == program
    assert format_program(parse(text)) == text


@pytest.mark.parametrize("name", ["crafter.law", "toy.law"])
def test_examples_are_formatted_fixed_points(name):
    text = (EXAMPLES / name).read_text()
    program = parse(text)
    assert format_program(program) == text
    assert parse(format_program(program)) == program


def test_crafter_law_parses_well_under_a_second():
    text = (EXAMPLES / "crafter.law").read_text()
    parse(text)  # build the parser once
    start = time.perf_counter()
    program = parse(text)
    assert time.perf_counter() - start < 0.5
    assert len(program.laws) >= 30


def test_comments_are_kept_with_their_law():
    program = parse("# header\n\n# about a\nlaw a then x.y = 1 # inline\n# end\n")
    assert program.header_comments == (" header",)
    assert program.laws[0].comments == (" about a", " inline")
    assert program.trailing_comments == (" end",)


def test_description_escapes_round_trip():
    program = parse('law a "say \\"hi\\" \\\\ ok" then x.y = 1')
    assert program.laws[0].description == 'say "hi" \\ ok'
    assert parse(format_program(program)) == program
    # \n is a newline (printed back as \n); an unknown escape keeps its backslash.
    program = parse('law a "one\\ntwo \\q" then x.y = 1')
    assert program.laws[0].description == "one\ntwo \\q"
    assert '"one\\ntwo \\\\q"' in format_program(program)
    assert parse(format_program(program)) == program


@pytest.mark.parametrize("text, line, column, expected", [
    ("law", 1, 4, "a name"),
    ("law a\n  when x >\n  then y.z = 1", 3, 3, "a number"),
    ("law a then x.y = 1 +", 1, 21, "a name"),
    ("law a then x.y == 1", 1, 16, "'=', '+=' or '-='"),
    ("law a then x.y = $", 1, 18, None),
])
def test_syntax_errors_point_at_the_text(text, line, column, expected):
    with pytest.raises(DslError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert error.source_line is not None and "^" in str(error)
    if expected:
        assert expected in error.expected


@pytest.mark.parametrize("text", [
    "law a then x.y = 1" + "0" * 40,
    "law a then x.y = 99999999999",
    "law a then x.y = 1e999",
    "law a then x.y = " + "-" * (MAX_DEPTH + 5) + "1",
    "law a then x.y = " + "not " * (MAX_DEPTH + 5) + "true",
    "law a then x.y = " + "(" * 5000 + "1" + ")" * 5000,
    "law a then x.y = " + " + ".join(["1"] * 200),
    "law ünïcödé then x.y = 1",
    "law a \"ok\" then x.y = \u2028 1",
    "\x00\x01\x02",
    "law a \"unterminated then x.y = 1",
    "x" * 2_000_000,
])
def test_bad_input_gives_only_dsl_error(text):
    try:
        parse(text)
    except DslError as error:
        assert error.message
    # A long flat sum or deep parentheses may parse; what matters is no other exception.


def test_mutated_examples_give_only_dsl_error():
    """A small version of experiments/fuzz_dsl.py: cut, splice and corrupt the example file."""
    text = (EXAMPLES / "crafter.law").read_text()
    rng = random.Random(0)
    alphabet = "()[]{},.:~=+-*<>!#\"\\ \n\tlawforeachwhenthen0123456789_xyzé€\u2028"
    for _ in range(300):
        chars = list(text[rng.randrange(len(text)):][:rng.randrange(1, 400)])
        for _ in range(rng.randrange(1, 6)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        try:
            parse("".join(chars))
        except DslError:
            pass


def test_definitions_parse_format_and_keep_comments():
    text = ('# header\n\n# how tired\nlet tired "Low energy." = player.inventory.energy < 3\n'
            'law a when tired then player.facing = left\nlet b = 1 + 2\n')
    program = parse(text)
    assert [d.name for d in program.definitions] == ["tired", "b"]
    assert program.definitions[0].description == "Low energy."
    assert program.definitions[0].comments == (" how tired",)
    formatted = format_program(program)
    assert formatted.index("let b") < formatted.index("law a")   # definitions first
    assert parse(formatted) == program and format_program(parse(formatted)) == formatted
    with pytest.raises(DslError, match="in a definition"):
        parse("let a += 1")
