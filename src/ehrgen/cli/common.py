"""Shared CLI helpers: one-line errors instead of tracebacks; help settings and examples."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer
from rich.console import Console

from ehrgen.errors import EhrgenError

err_console = Console(stderr=True, soft_wrap=True)  # messages stay on one line
F = TypeVar("F", bound=Callable)

# Help is formatted the plain (click) way: typer's rich help panels print a `<bool>` type placeholder after
# every flag (typer 0.29, e.g. `--json <bool>`), which reads as if the flag took a value; the plain formatter
# follows click's rule (flags have no metavar). Every ehrgen Typer uses these settings.
TYPER_SETTINGS = {"rich_markup_mode": None, "add_completion": False, "pretty_exceptions_enable": False,
                  "context_settings": {"max_content_width": 120}}  # wide terminals see whole command summaries


def examples(*lines: str) -> str:
    """A command's help epilog: "Examples:" and the command lines as written (the \\b line keeps click from
    re-wrapping them into one paragraph)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {ln}" for ln in lines)


def one_line_errors(fn: F) -> F:
    """Turn expected errors into `error: <message>` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (EhrgenError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            sys.stderr.write(f"error: {msg}\n")  # plain: one line, never wrapped
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
