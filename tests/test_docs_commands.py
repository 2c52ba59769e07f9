"""The ehrgen command lines in the integration and operations guides use commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrgen.cli.main import app

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ("ehr-integration.md", "operations.md")


def _command_lines(text: str) -> list[str]:
    """Every `ehrgen ...` line of the bash blocks (continuations joined, comments and env assignments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(" #", 1)[0].strip().rstrip("&"), comments=True)
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                words.pop(0)
            if words and words[0].endswith("ehrgen") and words[0] in ("ehrgen", ".venv/bin/ehrgen"):
                out.append(" ".join(words[1:]))
    return out


def _help(path: list[str]) -> str:
    res = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert res.exit_code == 0, (path, res.output)
    return res.output


@pytest.mark.parametrize("guide", GUIDES)
def test_documented_ehrgen_commands_exist_with_their_options(guide):
    lines = _command_lines((DOCS / guide).read_text(encoding="utf-8"))
    assert lines, guide
    for line in lines:
        words = shlex.split(line)
        path = [words[0]] + ([words[1]] if words[0] == "sandbox" else [])
        text = _help(path)
        for opt in (w.split("=", 1)[0] for w in words if w.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(opt)}(\s|$|,|/)", text, re.M), f"{guide}: ehrgen {line}: {opt}"
