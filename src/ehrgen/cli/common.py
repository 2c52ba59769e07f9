"""Shared CLI helpers: one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer
from rich.console import Console

from ehrgen.errors import EhrgenError

err_console = Console(stderr=True, soft_wrap=True)  # messages stay on one line
F = TypeVar("F", bound=Callable)


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
