"""The trajectory file: JSON Lines (gzipped when the name ends in .gz), a header then one line a step.

Format (docs/trace-format.md has a worked example):

    {"format": "lawsmith-trace", "version": 1, "world": "crafter", "config": {...}, "rules": {...},
     "schema": {...}, "recorder": {...}}
    {"episode": 0, "t": 0, "action": "move_left", "state": {...}}
    ...
    {"episode": 0, "t": 812, "action": null, "end": "dead", "state": {...}}

A step line holds a state and the action taken in it; an episode's last line has `"action": null` and
says why it ended. The transitions form, for hand-made files, has the header
`{"format": "lawsmith-transitions", "version": 1, "world": ..., "schema": ...}` (the schema may be
left out for a known world) and then lines `{"state": ..., "action": ..., "next_state": ...}`.
Readers stream, validate every line against the header's schema, and raise TraceError naming the
file, line and field. Writers write a temporary file and rename it, so no half-written file is left.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import tempfile
import zlib
from typing import Any, Iterator

from lawsmith.envs.errors import TraceError
from lawsmith.envs.schema import validate_header, validate_schema
from lawsmith.envs.state import decode_state, encode_state, validate_state

TRACE_FORMAT = "lawsmith-trace"
TRANSITIONS_FORMAT = "lawsmith-transitions"
VERSION = 1
END_REASONS = ("dead", "steps")


@dataclasses.dataclass(frozen=True)
class Step:
    """One line of a trace: `state` and the `action` taken in it (None on an episode's last line)."""
    episode: int
    t: int
    state: dict
    action: str | None
    end: str | None
    line: int


@dataclasses.dataclass(frozen=True)
class Transition:
    """(state, action, next_state), with where it came from."""
    state: dict
    action: str
    next_state: dict
    episode: int
    t: int
    line: int


def make_header(world: str, schema: dict, *, config: dict | None = None, rules: dict | None = None,
                recorder: dict | None = None) -> dict:
    """A trace header (deterministic: no timestamps, so equal runs give equal bytes)."""
    header = {"format": TRACE_FORMAT, "version": VERSION, "world": world, "config": config or {}}
    if rules is not None:
        header["rules"] = rules
    header["schema"] = schema
    header["recorder"] = recorder or {}
    return header


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class TraceWriter:
    """Writes a trace atomically: lines go to a temporary file that `close()` renames into place.

    Use as a context manager; when the block raises, the temporary file is removed and nothing is left.
    """

    def __init__(self, path: str | os.PathLike, header: dict):
        self.path = str(path)
        validate_schema(header.get("schema"))
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
        self._raw = os.fdopen(fd, "wb")
        stream: Any = self._raw
        if self.path.endswith(".gz"):
            # mtime=0 and no file name: the same content gives the same bytes.
            stream = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0,
                                   compresslevel=6)
        self._gz = stream if stream is not self._raw else None
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
        self._text.write(_dumps(header) + "\n")
        self.steps = 0

    def write_step(self, episode: int, t: int, state: dict, action: str | None,
                   end: str | None = None) -> None:
        """Append one step line (compact state encoding)."""
        record: dict[str, Any] = {"episode": episode, "t": t, "action": action}
        if end is not None:
            record["end"] = end
        record["state"] = encode_state(state)
        self._text.write(_dumps(record) + "\n")
        self.steps += 1

    def write_transition(self, state: dict, action: str, next_state: dict) -> None:
        """Append one line of the transitions form."""
        self._text.write(_dumps({"state": state, "action": action, "next_state": next_state}) + "\n")
        self.steps += 1

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        for stream in (self._gz, self._raw):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if os.path.exists(self._tmp):
            os.remove(self._tmp)

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a possibly gzipped file; read faults become TraceError."""
    line = 0
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                yield line, text
    except FileNotFoundError:
        raise TraceError("no such file", path=path) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise TraceError(f"the gzip stream is truncated or corrupt after this line ({error})",
                         path=path, line=line) from None
    except UnicodeDecodeError:
        raise TraceError("not UTF-8 text (a gzipped file must end in .gz)", path=path,
                         line=line + 1) from None
    except OSError as error:
        raise TraceError(f"cannot read: {error.strerror or error}", path=path, line=line) from None


def _parse(text: str, path: str, line: int) -> Any:
    try:
        return loads(text)
    except ValueError as error:
        raise TraceError(str(error), path=path, line=line) from None


def loads(text: str) -> Any:
    """json.loads, with every way it fails as a ValueError that says why in a line: bad JSON,
    nesting too deep for the parser, an integer over Python's digit limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise ValueError("not valid JSON here: nested too deeply") from None
    except ValueError as error:   # e.g. an integer of more than 4,300 digits
        raise ValueError(f"not valid JSON here: {str(error).split(';')[0]}") from None


def _check_header(header: Any, path: str, formats: tuple[str, ...]) -> dict:
    if not isinstance(header, dict) or header.get("format") not in formats:
        raise TraceError(f"the first line must be a header with format {' or '.join(formats)}",
                         path=path, line=1, field="format")
    if header.get("version") != VERSION:
        raise TraceError(f"unsupported version {header.get('version')!r} (this reader knows "
                         f"{VERSION})", path=path, line=1, field="version")
    if not isinstance(header.get("world"), str):
        raise TraceError("expected the world's name", path=path, line=1, field="world")
    try:
        validate_header(header)
    except TraceError as error:
        raise error.located(path=path, line=1) from None
    if "schema" not in header:
        from lawsmith.envs.worlds import default_schema
        try:
            header = {**header, "schema": default_schema(header["world"])}
        except TraceError as error:
            raise error.located(path=path, line=1, prefix="world") from None
    try:
        validate_schema(header["schema"])
    except TraceError as error:
        raise error.located(path=path, line=1) from None
    return header


class TraceReader:
    """A trace or transitions file, read lazily and validated line by line."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        first = next(_lines(self.path), None)
        if first is None:
            raise TraceError("empty file: expected a header line", path=self.path, line=1)
        self.header = _check_header(_parse(first[1], self.path, 1), self.path,
                                    (TRACE_FORMAT, TRANSITIONS_FORMAT))
        self.schema: dict = self.header["schema"]
        self.is_transitions = self.header["format"] == TRANSITIONS_FORMAT

    def _records(self) -> Iterator[tuple[int, dict]]:
        lines = _lines(self.path)
        next(lines, None)
        for line, text in lines:
            if not text.strip():
                continue
            record = _parse(text, self.path, line)
            if not isinstance(record, dict):
                raise TraceError("expected a JSON object", path=self.path, line=line)
            yield line, record

    def _state(self, value: Any, line: int, field: str) -> dict:
        try:
            state = decode_state(value)
            validate_state(state, self.schema)
        except TraceError as error:
            raise error.located(path=self.path, line=line, prefix=field) from None
        return state

    def _action(self, value: Any, line: int, allow_none: bool) -> str | None:
        if value is None and allow_none:
            return None
        if value not in self.schema["actions"]:
            raise TraceError(f"unknown action {value!r} (known: {', '.join(self.schema['actions'])})",
                             path=self.path, line=line, field="action")
        return value

    def steps(self) -> Iterator[Step]:
        """The step lines of a trace file, validated."""
        if self.is_transitions:
            raise TraceError("a transitions file has no step lines; use transitions()",
                             path=self.path, line=1, field="format")
        previous: Step | None = None
        for line, record in self._records():
            for key, kind in (("episode", int), ("t", int)):
                if not isinstance(record.get(key), kind) or record[key] < 0:
                    raise TraceError(f"expected a non-negative integer '{key}'", path=self.path,
                                     line=line, field=key)
            if "state" not in record:
                raise TraceError("missing field 'state'", path=self.path, line=line, field="state")
            if "action" not in record:
                raise TraceError("missing field 'action'", path=self.path, line=line, field="action")
            action = self._action(record["action"], line, allow_none=True)
            end = record.get("end")
            if (action is None) != (end is not None) or (end is not None and end not in END_REASONS):
                raise TraceError(f"an episode's last line has action null and end one of "
                                 f"{END_REASONS}; other lines have an action and no end",
                                 path=self.path, line=line, field="end")
            if previous is not None:
                same = record["episode"] == previous.episode
                if same and (previous.action is None or record["t"] != previous.t + 1):
                    raise TraceError(f"expected t={previous.t + 1} of episode {previous.episode}"
                                     " or a new episode", path=self.path, line=line, field="t")
                if not same and previous.action is not None:
                    raise TraceError(f"episode {previous.episode} has no last line (action null)",
                                     path=self.path, line=line, field="episode")
            step = Step(record["episode"], record["t"], self._state(record["state"], line, "state"),
                        action, end, line)
            yield step
            previous = step

    def transitions(self) -> Iterator[Transition]:
        """(state, action, next_state) triples, from either form."""
        if self.is_transitions:
            for index, (line, record) in enumerate(self._records()):
                for key in ("state", "action", "next_state"):
                    if key not in record:
                        raise TraceError(f"missing field '{key}'", path=self.path, line=line,
                                         field=key)
                yield Transition(self._state(record["state"], line, "state"),
                                 self._action(record["action"], line, allow_none=False),
                                 self._state(record["next_state"], line, "next_state"),
                                 0, index, line)
            return
        previous: Step | None = None
        for step in self.steps():
            if previous is not None and previous.action is not None:
                yield Transition(previous.state, previous.action, step.state, previous.episode,
                                 previous.t, previous.line)
            previous = step

    def triples(self) -> list[tuple[dict, str, dict]]:
        """Every transition as a (state, action, next_state) triple, the form fitting and
        learning take (read and validated in full)."""
        return self.triples_with_episodes()[0]

    def triples_with_episodes(self) -> tuple[list[tuple[dict, str, dict]], list[int]]:
        """The triples and, index for index, the episode each came from: what a held-out split
        by episode needs (`synth.fit.split`). A transitions file counts as one episode."""
        triples, episodes = [], []
        for t in self.transitions():
            triples.append((t.state, t.action, t.next_state))
            episodes.append(t.episode)
        return triples, episodes


def open_trace(path: str | os.PathLike) -> TraceReader:
    """Open a trace or transitions file (reads and checks the header now, the rest lazily)."""
    return TraceReader(path)
