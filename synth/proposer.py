"""What every proposer takes and gives: a request to explain one aspect of some transitions, and
candidate laws as DSL text that parse and check against the world schema.

Proposers emit text, never code: the learner reads each candidate through `dsl.parse` and
`dsl.check` like a law a person wrote. `extract_laws` and `checked_laws` are the shared untrusted-text
path (an LLM's answer may hold prose, Markdown fences or several laws).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from lawsmith.dsl import DslError, Program, check, format_law, parse


@dataclass(frozen=True)
class ProposalRequest:
    """Explain `aspect` (a change label from envs/changes.py, e.g. "player.inventory.wood+1") as
    shown by `examples` (transitions rendered as text), given the world `schema` and the current
    laws (DSL text, possibly empty). `count` is how many candidate laws to return."""
    schema: dict
    laws_text: str
    aspect: str
    examples: tuple[str, ...]
    count: int = 4


@dataclass(frozen=True)
class Candidate:
    """One law as DSL text, parsed and checked against the request's schema."""
    text: str
    source: str
    note: str = ""


@dataclass
class ProposerStats:
    """Running totals of a proposer. `calls` are requests sent to a model (retries included),
    `cached` answers read from the cache instead, `failures` requests given up after their retries,
    `rejected` law texts that did not parse or check, `repaired` candidates that passed after one
    repair turn; tokens as reported by the server; `seconds` of wall time spent proposing."""
    calls: int = 0
    cached: int = 0
    failures: int = 0
    rejected: int = 0
    repaired: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class Proposer(Protocol):
    name: str
    stats: ProposerStats

    def propose(self, requests: Sequence[ProposalRequest]) -> list[list[Candidate]]:
        """Per request, candidate laws that parse and check against the request's schema."""
        ...


# A law starts at `law NAME` followed by a description, `for`, `when`, `then` or the line's end,
# so "the law that explains it" in prose is not a law.
# A list marker before it ("1. law ...", "- law ...") is dropped.
_LAW_START = re.compile(r'^[ \t]*(?:(?:\d+[.)]|[-*])[ \t]+)?(law[ \t]+[A-Za-z_]\w*[ \t]*'
                        r'(?:"|for\b|when\b|then\b|$))', re.M)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)
# A line that ends a law block: a Markdown fence, an English sentence ("This law ...", "Note: ...")
# or a list item that starts one; law lines start with a keyword, a lower-case name or a symbol
# (`- noop` may go on an expression).
_PROSE = re.compile(r"^[ \t]*(?:```|(?:[-*]|\d+[.)])[ \t]+[A-Z]|[A-Z][a-z]*[,:]?[ \t]+\S)")


def extract_laws(text: str) -> list[str]:
    """The law blocks in a model's answer, one `law ...` block per item, prose and fences dropped.

    Fenced code is preferred when the answer has any. An answer that parses whole (as one written
    under the grammar does) gives its laws; otherwise each block runs from its `law NAME` line to
    the next law or the first line that looks like prose."""
    text = _THINK.sub("", text)
    fenced = _FENCE.findall(text)
    if fenced:
        text = "\n".join(fenced)
    try:
        return [format_law(law) for law in parse(text).laws]
    except DslError:
        pass
    starts = [m.start(1) for m in _LAW_START.finditer(text)]
    blocks = []
    ends = [m.start() for m in _LAW_START.finditer(text)][1:] + [len(text)]
    for start, end in zip(starts, ends):
        lines = text[start:end].split("\n")
        kept = lines[:1]
        for line in lines[1:]:
            if _PROSE.match(line):
                break
            kept.append(line)
        blocks.append("\n".join(kept).strip())
    return blocks


@dataclass
class Checked:
    """The outcome of checking law blocks: accepted law texts (canonical layout) and the rejected
    blocks with the error that rejected each."""
    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[str, DslError]] = field(default_factory=list)


def checked_laws(blocks: Sequence[str], schema: dict) -> Checked:
    """Parse and check each block on its own against `schema`; a block may hold several laws."""
    result = Checked()
    for block in blocks:
        try:
            program = parse(block)
        except DslError as error:
            result.rejected.append((block, error))
            continue
        if not program.laws:
            result.rejected.append((block, DslError("no law found", expected="law NAME ... then EFFECT")))
        for law in program.laws:
            errors = check(Program(laws=(law,)), schema)
            if errors:
                result.rejected.append((format_law(law), errors[0]))
            else:
                result.accepted.append(format_law(law))
    return result
