"""`ehrgen serve` refuses to start without JWT settings unless told it is a test network."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrgen.cli.main import app


@pytest.mark.parametrize("toml, message", [
    ("", "jwks_file or cds.jwks_url"),
    ('[cds]\njwks_file = "/nonexistent/jwks.json"\n', "allowed issuer"),
])
def test_serve_needs_jwt_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, message: str) -> None:
    cfg = tmp_path / "ehrgen.toml"
    cfg.write_text(toml)
    monkeypatch.setenv("EHRGEN_CONFIG", str(cfg))
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")
