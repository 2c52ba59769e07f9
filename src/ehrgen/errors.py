"""Errors that carry a user-facing, one-line message naming the file/record at fault."""

from __future__ import annotations


class EhrgenError(Exception):
    """Base for errors the CLI reports as a one-line message (never a traceback)."""


class InputError(EhrgenError):
    """Unreadable or invalid input: names the file, line/record and what was expected."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
