"""The one exception of the law language: `DslError`, pointing at the text that caused it."""

from __future__ import annotations


class DslError(Exception):
    """A problem with law text: where it is (line, column, the line with a caret) and what was expected.

    `line` and `column` are 1-based and None when the problem has no place in a text (an AST built in
    code). `str(error)` is the full report a user sees.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 source_line: str | None = None, expected: str | None = None,
                 filename: str | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.expected = expected
        self.filename = filename
        super().__init__(self.report())

    def report(self) -> str:
        place = self.filename or "<laws>"
        if self.line is not None:
            place += f":{self.line}:{self.column}"
        text = f"{place}: {self.message}"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.source_line is not None and self.column is not None:
            shown = self.source_line.expandtabs(1)
            text += f"\n    {shown}\n    {' ' * (self.column - 1)}^"
        return text

    def with_filename(self, filename: str) -> "DslError":
        """The same error, reported as being in `filename`."""
        return DslError(self.message, line=self.line, column=self.column,
                        source_line=self.source_line, expected=self.expected, filename=filename)


def located(message: str, source: str | None, line: int | None, column: int | None,
            expected: str | None = None) -> DslError:
    """A DslError at (line, column) of `source`, quoting that line when the source is known."""
    source_line = None
    if source is not None and line is not None:
        lines = source.split("\n")
        if 1 <= line <= len(lines):
            source_line = lines[line - 1].rstrip("\r")
    return DslError(message, line=line, column=column, source_line=source_line, expected=expected)
