"""Every command's --help shows an example, and no flag carries a value placeholder such as `<bool>`."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from ehrgen.cli.main import app


def _command_paths() -> list[list[str]]:
    """[[], ["call"], ..., ["sandbox"], ["sandbox", "start"], ...]: the root, every command and subcommand."""
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:  # typer's own command classes (it vendors click)
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(root, [])
    return out


PATHS = _command_paths()


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p in PATHS}
    assert {"call", "interpret", "export", "validate", "deliver", "serve", "run", "replay", "audit", "card",
            "verify-card", "cohort", "sandbox", "sandbox build", "sandbox start", "sandbox stop",
            "sandbox status"} <= names
    assert len(PATHS) >= 18


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "ehrgen")
def test_help_has_an_example_and_no_bool_placeholder(path):
    res = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "Example" in out, out
    assert "<bool>" not in out, out
    # every example line is an ehrgen command line for this command
    block = out.split("Examples:", 1)[1]
    lines = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("ehrgen")]
    assert lines and all(ln.startswith(" ".join(["ehrgen", *path]).strip()) or not path for ln in lines), lines
    # a flag (no value) is listed bare: "--json   print ..." not "--json <bool> ..."
    for flag in re.findall(r"^\s+(--[a-z-]+)\s{2,}", out, re.M):
        assert f"{flag} <" not in out
