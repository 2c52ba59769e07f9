"""The ehrgen command group itself."""

from __future__ import annotations

from typer.testing import CliRunner

from ehrgen import __version__
from ehrgen.cli.main import app


def test_version_flag_prints_the_version_and_exits_0():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"ehrgen {__version__}"


def test_every_command_is_listed_in_help():
    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("call", "interpret", "export", "deliver", "run", "serve", "audit", "card", "cohort"):
        assert cmd in res.stdout
