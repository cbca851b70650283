"""The LLM proposer: asks any OpenAI-compatible chat endpoint for laws that explain one aspect of
some transitions, and keeps the answers that parse and check.

    proposer = LLMProposer("http://127.0.0.1:8765/v1", "smollm2", cache_path="runs/llm.sqlite")
    candidates = proposer.propose(requests)     # per request, checked Candidates
    proposer.stats                              # calls, cached, failures, rejected, repaired, tokens

The answer is untrusted text: law blocks are cut out of it and read by `dsl.parse`/`dsl.check`,
never run. Rejected laws go back once, with the checker's message, for repair. Where the server
takes a GBNF grammar (llama.cpp), decoding is constrained to the law language (synth/gbnf.py);
`grammar="auto"` tries that and falls back when the server refuses it. Requests run concurrently
(a bounded pool), with a timeout, retries with exponential backoff on timeouts, 5xx and connection
errors, and an SQLite cache keyed by (endpoint, model, messages, sampling, sample index), so a
rerun is free and gives the same laws. A request that fails after its retries gives no candidates
and counts in `stats.failures`; `propose` itself does not raise.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import openai

from lawsmith.dsl import DslError
from lawsmith.synth.errors import ProposerError
from lawsmith.synth.gbnf import to_gbnf
from lawsmith.synth.proposer import (Candidate, Checked, ProposalRequest, ProposerStats, checked_laws,
                            extract_laws)

DEFAULT_CACHE = pathlib.Path("~/.cache/lawsmith/llm.sqlite")
MAX_LAWS_CHARS = 4000
MAX_EXAMPLES_CHARS = 4000
GRAMMAR_MODES = ("auto", "gbnf", "off")

# Example laws for the prompt, from a made-up world: the learner must find the real world's rules
# in its data, so no example names a Crafter material, item or recipe.
EXAMPLE_LAWS = '''\
law dig_moss "Digging moss with a free cell ahead gives a pebble and leaves rock."
  when action == dig and material(ahead) == moss and kind_at(ahead) == none
  then player.inventory.pebble += 1
       material(ahead) = rock

law polish_gem "Polishing turns two pebbles into a gem next to a pool."
  when action == polish and player.inventory.pebble >= 2 and near(player.pos, pool, 1)
  then player.inventory.pebble -= 2
       player.inventory.gem += 1

law slime_sting "A slime next to the player sometimes stings it."
  for each slime s
  when dist(s.pos, player.pos) <= 1
  then player.health -= 1 with probability sting_chance ~ beta(1, 1) init 0.5

law slime_drifts "A slime drifts left or right, or stays."
  for each slime s
  then s.pos = choose slime_step {
           stay: s.pos,
           left: moved(s.pos, left),
           right: moved(s.pos, right)
       } ~ dirichlet(2, 1, 1) init (0.5, 0.25, 0.25)'''

LANGUAGE = f'''\
A law says: when a condition holds in a state (for the action taken), then these parts of the
next state become this. Conditions and values read the state before the step.

law NAME "one-line description"
  for each KIND VAR      (optional: applies to every object of KIND, bound as VAR)
  when CONDITION         (optional: absent means always)
  then EFFECT
       EFFECT ...

Expressions:
- action == ACTION; ahead (the cell the player faces); player.pos, player.facing
- VAR.ATTR (player.sleeping, s.health), player.inventory.ITEM, p.x, p.y, globals by name
- directions left right up down; pos + dir is a position; -dir turns around
- constants: material, kind and action names of the world; none (no object, outside the grid)
- material(p); kind_at(p) (kind of the object at p, or none); free(p) (walkable, no object);
  moved(p, d) (p + d if free, else p); dist(p, q); near(p, MATERIAL, R) (that material within
  R cells of p); toward(p, q) (one step from p toward q along the longer axis; -toward(p, q)
  away); toward_short(p, q) (the other axis); mod(a, N) (N a whole number); min(a, b);
  max(a, b); abs(a)
- exists(KIND v where CONDITION), count(KIND v where CONDITION)
- + - *, == != < <= > >=, and or not, if C then A else B (no division)

Effects (a law sets each thing once; effects are separated by line breaks, not commas):
- TARGET = value, TARGET += n, TARGET -= n (e.g. player.inventory.ITEM += 1)
- material(p) = MATERIAL (a grid cell changes)
- remove VAR (the law's own object disappears); spawn KIND at p (an object appears)
- EFFECT with probability 0.3; EFFECT with probability NAME ~ beta(1, 1) init 0.5 (a chance
  fitted from data)
- TARGET = choose NAME {{ label: value, label: value }} ~ dirichlet(1, 1) init (0.5, 0.5)

Examples from a made-up world (moss, rock and pool; pebble and gem; slime; dig and polish):

{EXAMPLE_LAWS}'''

SYSTEM = ("You write world-model laws in a small law language. You reply with laws only: "
          "no explanations, no Markdown, no code.\n\n" + LANGUAGE)


# --- the prompt -------------------------------------------------------------------------------

def describe_schema(schema: dict) -> str:
    """The world's names in a few lines: materials, actions, items, kinds with attributes, globals."""
    lines = []
    materials = ", ".join(schema.get("materials", {}))
    walkable = ", ".join(schema.get("walkable", []))
    lines.append(f"materials: {materials}" + (f" (walkable: {walkable})" if walkable else ""))
    lines.append(f"actions: {', '.join(schema.get('actions', []))}")
    items = schema.get("items", {})
    if items:
        lines.append("items (player.inventory.ITEM, min..max): " + ", ".join(
            f"{name} {spec.get('min', 0)}..{spec.get('max', '')}" for name, spec in items.items()))
    lines.append("kinds and their attributes:")
    for kind, attrs in schema.get("kinds", {}).items():
        lines.append(f"  {kind}: " + ", ".join(_describe_attr(name, spec)
                                               for name, spec in attrs.items()))
    globals_ = schema.get("globals", {})
    if globals_:
        lines.append("globals: " + ", ".join(_describe_attr(name, spec)
                                             for name, spec in globals_.items()))
    return "\n".join(lines)


def _describe_attr(name: str, spec: dict) -> str:
    kind = spec.get("type", "?")
    if kind == "counts":
        keys = spec.get("keys")
        text = "counts of items" if keys == "items" else "counts of " + ", ".join(keys or [])
    else:
        bounds = [str(spec[b]) for b in ("min", "max") if b in spec]
        text = kind + (" " + "..".join(bounds) if len(bounds) == 2 else "")
    return f"{name} ({text}{', hidden' if spec.get('hidden') else ''})"


def _laws_digest(laws_text: str) -> str:
    laws_text = laws_text.strip()
    if not laws_text:
        return "(none yet)"
    if len(laws_text) <= MAX_LAWS_CHARS:
        return laws_text
    heads = [line.strip() for line in laws_text.split("\n") if re.match(r"\s*law\s", line)]
    digest = "\n".join(heads)
    if len(digest) > MAX_LAWS_CHARS:
        cut = digest[:MAX_LAWS_CHARS].rsplit("\n", 1)[0]
        digest = cut + f"\n... ({len(heads) - cut.count(chr(10)) - 1} more laws)"
    return "(names and descriptions only)\n" + digest


def _examples_text(examples: Sequence[str]) -> str:
    parts, used = [], 0
    for i, example in enumerate(examples, 1):
        text = f"Example {i}:\n{example.strip()}"
        if parts and used + len(text) > MAX_EXAMPLES_CHARS:
            break
        parts.append(text[:MAX_EXAMPLES_CHARS])
        used += len(text)
    return "\n\n".join(parts) or "(no examples)"


def prompt_messages(request: ProposalRequest) -> list[dict]:
    """The chat messages for one request: the language, the world, the laws so far, the change."""
    user = (f"The world:\n{describe_schema(request.schema)}\n\n"
            f"Laws so far:\n{_laws_digest(request.laws_text)}\n\n"
            f"Change to explain: {request.aspect}\n\n"
            f"Transitions that show it:\n{_examples_text(request.examples)}\n\n"
            f"Write {request.count} different small laws that could explain the change "
            f"{request.aspect}. Each law has a condition saying when it happens and only the effects "
            f"this change needs; vary the conditions between laws. Use only names of this world. "
            f"Reply with the {request.count} laws only, nothing else.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def repair_message(rejected: Sequence[tuple[str, DslError]]) -> str:
    """The follow-up turn that sends rejected laws back with the checker's messages."""
    if not rejected:
        raise ValueError("nothing to repair")
    parts = ["Some of your laws were rejected by the checker:"]
    for text, error in rejected:
        parts.append(f"{text}\nerror: {error.report()}")
    parts.append("Write corrected versions of these laws, in the law language only, nothing else.")
    return "\n\n".join(parts)


_NO_LAW = "the reply has no law; a law starts with `law NAME`"


# --- the cache --------------------------------------------------------------------------------

class _Cache:
    """Answers by request key in SQLite, shared by the worker threads."""

    def __init__(self, path: str | os.PathLike):
        path = str(pathlib.Path(path).expanduser()) if str(path) != ":memory:" else ":memory:"
        if path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, "
                             "text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, "
                             "created REAL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT)")

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT text FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                             (key, text, prompt_tokens, completion_tokens, time.time()))

    def fact(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_fact(self, key: str, value: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO facts VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _sha(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class _Refused(Exception):
    """The server answered 4xx: the request itself is wrong (or it does not take a grammar)."""


# --- the proposer -----------------------------------------------------------------------------

class LLMProposer:
    """Candidate laws from a chat model behind an OpenAI-compatible endpoint (see the module doc).

    `samples` answers are asked per request (each with its own seed and cache entry), each for
    `request.count` laws; `backoff` is the first retry's wait in seconds, doubled each retry."""

    def __init__(self, base_url: str, model: str, api_key_env: str = "LAWSMITH_LLM_API_KEY",
                 temperature: float = 0.7, max_tokens: int = 600, samples: int = 1,
                 concurrency: int = 4, timeout: float = 60, retries: int = 3,
                 cache_path: str | os.PathLike | None = None, grammar: str = "auto",
                 backoff: float = 1.0, seed: int = 0):
        if grammar not in GRAMMAR_MODES:
            raise ValueError(f"grammar must be one of {', '.join(GRAMMAR_MODES)}, not {grammar!r}")
        if samples < 1 or concurrency < 1 or retries < 0:
            raise ValueError("samples and concurrency must be at least 1, retries at least 0")
        self.name = f"llm:{model}"
        self.stats = ProposerStats()
        self.last_error: str | None = None
        self.base_url, self.model = base_url, model
        self.temperature, self.max_tokens, self.samples = temperature, max_tokens, samples
        self.concurrency, self.timeout, self.retries = concurrency, timeout, retries
        self.grammar, self.backoff, self.seed = grammar, backoff, seed
        api_key = os.environ.get(api_key_env) or "none"  # local servers take any key
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                                     max_retries=0)
        self._cache = _Cache(cache_path if cache_path is not None else DEFAULT_CACHE)
        self._lock = threading.Lock()
        self._grammar_fact = _sha({"grammar_refused": [base_url, model]})

    def close(self) -> None:
        self._client.close()
        self._cache.close()

    def propose(self, requests: Sequence[ProposalRequest]) -> list[list[Candidate]]:
        """Per request, the checked candidates of all its samples (duplicates dropped)."""
        started = time.monotonic()
        down = threading.Event()  # set when the endpoint is unreachable: the rest give up at once
        jobs = [(i, sample) for i in range(len(requests)) for sample in range(self.samples)]
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                answers = list(pool.map(lambda job: self._sample(requests[job[0]], job[1], down),
                                        jobs))
        finally:
            with self._lock:
                self.stats.seconds += time.monotonic() - started
        results: list[list[Candidate]] = [[] for _ in requests]
        seen: list[set[str]] = [set() for _ in requests]
        for (i, _), candidates in zip(jobs, answers):
            for candidate in candidates:
                if candidate.text not in seen[i]:
                    seen[i].add(candidate.text)
                    results[i].append(candidate)
        return results

    def _sample(self, request: ProposalRequest, sample: int, down: threading.Event) -> list[Candidate]:
        messages = prompt_messages(request)
        try:
            grammar = self._grammar_text(request)
            answer = self._chat(messages, sample, grammar, down)
        except ProposerError as error:
            self._failed(error)
            return []
        checked, rejected = _read(answer, request.schema)
        candidates = [Candidate(text, self.name) for text in checked.accepted]
        self._count(rejected=len(rejected))
        if rejected and len(candidates) < request.count:
            followup = messages + [{"role": "assistant", "content": answer},
                                   {"role": "user", "content": repair_message(rejected)}]
            try:
                answer = self._chat(followup, sample, grammar, down)
            except ProposerError as error:
                self._failed(error)
                return candidates[:request.count]
            repaired, still_rejected = _read(answer, request.schema)
            self._count(rejected=len(still_rejected), repaired=len(repaired.accepted))
            candidates += [Candidate(text, self.name, "repaired once") for text in repaired.accepted]
        return candidates[:request.count]

    def _failed(self, error: ProposerError) -> None:
        with self._lock:
            self.stats.failures += 1
            self.last_error = str(error)

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self.stats, name, getattr(self.stats, name) + amount)

    def _grammar_text(self, request: ProposalRequest) -> str | None:
        if self.grammar == "off":
            return None
        if self.grammar == "auto" and self._cache.fact(self._grammar_fact) == "refused":
            return None
        return to_gbnf(request.schema, max_laws=request.count)

    def _chat(self, messages: list[dict], sample: int, grammar: str | None,
              down: threading.Event) -> str:
        """The model's answer to `messages`, from the cache or the endpoint."""
        params = {"model": self.model, "messages": messages, "temperature": self.temperature,
                  "max_tokens": self.max_tokens, "seed": self.seed + sample}
        extra = {"grammar": grammar} if grammar is not None else None
        key = _sha({"endpoint": self.base_url, "params": params, "extra": extra, "sample": sample})
        cached = self._cache.get(key)
        if cached is not None:
            self._count(cached=1)
            return cached
        try:
            response = self._request(params, extra, down)
        except _Refused as error:
            if extra is not None and self.grammar == "auto":
                self._cache.set_fact(self._grammar_fact, "refused")
                return self._chat(messages, sample, None, down)
            raise ProposerError(f"{self.base_url} refused the request: {error}") from None
        text, prompt_tokens, completion_tokens = _answer(response)
        self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        self._cache.put(key, text, prompt_tokens, completion_tokens)
        return text

    def _request(self, params: dict, extra: dict | None, down: threading.Event):
        """One chat completion with retries and exponential backoff on timeouts, 5xx, 429 and
        connection errors (a `Retry-After` up to MAX_RETRY_AFTER seconds is honoured instead of
        the backoff); `_Refused` on other 4xx; ProposerError when the retries run out. Each try
        has `timeout` seconds in all, not only between bytes: a server that sends a byte every
        few seconds is cut off."""
        error: Exception | None = None
        wait = 0.0
        for attempt in range(self.retries + 1):
            if down.is_set():
                raise ProposerError(f"{self.base_url} is unreachable (an earlier request gave up)")
            if attempt:
                time.sleep(wait or self.backoff * 2 ** (attempt - 1))
            wait = 0.0
            self._count(calls=1)
            try:
                return self._within_deadline(params, extra)
            except openai.APIStatusError as status_error:
                code = status_error.status_code
                if code < 500 and code not in (408, 429):
                    raise _Refused(f"HTTP {code}: {_short(status_error)}") from None
                # A server asking for a longer wait than an answer may take is not waited for.
                error, wait = status_error, min(_retry_after(status_error), self.timeout)
            except (openai.APIConnectionError, _Deadline) as connection_error:
                error = connection_error
            except (ValueError, TypeError, AttributeError, KeyError) as bad:
                # Not a chat completion at all (a body that is not JSON, of another shape).
                raise ProposerError(f"{self.base_url} answered with something that is not a "
                                    f"chat completion ({type(bad).__name__}: "
                                    f"{_short(bad)[:120]})") from None
        if isinstance(error, openai.APIConnectionError) and not isinstance(error, openai.APITimeoutError):
            down.set()
        timed_out = isinstance(error, (openai.APITimeoutError, _Deadline))
        what = "timed out" if timed_out else _short(error)
        raise ProposerError(f"{self.base_url}: {self.retries + 1} tries failed, the last: {what}")

    def _within_deadline(self, params: dict, extra: dict | None):
        """The completion, or _Deadline once `timeout` seconds have passed in all (the
        abandoned call runs on in its thread until the client's own gap timeout ends it)."""
        done: dict = {}

        def call():
            try:
                done["response"] = self._client.chat.completions.create(**params,
                                                                        extra_body=extra)
            except BaseException as failure:   # handed to the waiting thread
                done["error"] = failure

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise _Deadline()
        if "error" in done:
            raise done["error"]
        return done["response"]


class _Deadline(Exception):
    """A try that ran past its whole-answer deadline."""


MAX_RETRY_AFTER = 60.0   # seconds: a longer Retry-After is capped (the run would seem hung)


def _retry_after(error: "openai.APIStatusError") -> float:
    """The server's Retry-After in seconds (0 when absent or not a number), at most
    MAX_RETRY_AFTER."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        seconds = float(headers.get("retry-after", 0))
    except (TypeError, ValueError):
        return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if seconds == seconds else 0.0


def _answer(response: Any) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) of a chat completion, whatever its shape: the
    server is untrusted, so a `content` that is not text, a `message` that is not an object or
    usage counts that are not numbers give ProposerError (a bad answer, counted as a failure),
    and token counts that are not non-negative integers count 0."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise ProposerError(f"the answer has no list of choices (got {type(choices).__name__})")
    if not choices:
        return "", *_tokens(response)
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None) if message is not None else None
    if message is not None and not hasattr(message, "content"):
        raise ProposerError(f"the answer's message is not an object (got "
                            f"{type(message).__name__})")
    if content is not None and not isinstance(content, str):
        raise ProposerError(f"the answer's content is not text (got {type(content).__name__})")
    return content or "", *_tokens(response)


def _tokens(response: Any) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(usage, name, 0) if usage is not None else 0
        counts.append(value if isinstance(value, int) and not isinstance(value, bool)
                      and 0 <= value < 2 ** 53 else 0)
    return counts[0], counts[1]


def _read(answer: str, schema: dict) -> tuple[Checked, list[tuple[str, DslError]]]:
    """The checked laws of an answer, and what to reject: the failing laws, or the whole answer
    when it has no law at all."""
    checked = checked_laws(extract_laws(answer), schema)
    if not checked.accepted and not checked.rejected:
        return checked, [(answer.strip()[:400], DslError(_NO_LAW))]
    return checked, checked.rejected


def _short(error: Exception | None) -> str:
    text = str(error) if error is not None else "no answer"
    return text if len(text) <= 300 else text[:300] + "..."
