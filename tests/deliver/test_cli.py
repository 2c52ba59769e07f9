from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from ehrgen.cli import deliver as deliver_cli
from tests.net import closed_port

from .conftest import default_script


def _app() -> typer.Typer:
    app = typer.Typer()
    deliver_cli.register(app)

    @app.command("noop")  # a second command keeps typer from collapsing to a single-command app
    def _noop() -> None:
        pass

    return app


def _args(tmp_path, *extra):
    return ["deliver", *extra, "--ledger", str(tmp_path / "l.sqlite"), "--dead-letter", str(tmp_path / "dl")]


def test_outbox_with_consent_file(tmp_path, export_dir, monkeypatch):
    monkeypatch.setenv("EHRGEN_CONFIG", str(tmp_path / "none.toml"))
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps({"P001": True, "P002": False}))
    runner = CliRunner()
    args = _args(tmp_path, str(export_dir), "--outbox", str(tmp_path / "box"), "--consent", str(consent))
    res = runner.invoke(_app(), args)
    assert res.exit_code == 0, res.output
    assert "P001" in res.output and "withheld" in res.output and "sent: 2" in res.output
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["P001.bundle.json", "P001.oru.hl7"]
    res = runner.invoke(_app(), args)
    assert res.exit_code == 0 and "unchanged: 2" in res.output


def test_rejection_exits_non_zero(tmp_path, export_dir, fake_fhir, monkeypatch):
    monkeypatch.setenv("EHRGEN_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("EHRGEN_FHIR__BACKOFF_S", "0.01")

    def script(req, n):
        if req.path == "/fhir":
            return 422, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}, 0
        return default_script(req, n)

    srv = fake_fhir(script)
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps({"P001": True}))
    res = CliRunner().invoke(_app(), _args(tmp_path, str(export_dir), "--fhir", srv.base, "--consent",
                                           str(consent), "--token", "abc"))
    assert res.exit_code == 1, res.output
    assert "rejected" in res.output
    assert srv.posts("/fhir")[0].headers["authorization"] == "Bearer abc"


def test_bad_mllp_address_is_a_one_line_error(tmp_path, export_dir):
    res = CliRunner().invoke(_app(), _args(tmp_path, str(export_dir), "--mllp", "localhost"))
    assert res.exit_code == 2
    assert "expected HOST:PORT" in res.output


def test_missing_export_dir_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(_app(), _args(tmp_path, str(tmp_path / "nope"), "--outbox", str(tmp_path / "b")))
    assert res.exit_code == 2 and "ehrgen export" in res.output


def test_unreachable_target_is_not_explained_as_missing_consent(tmp_path, export_dir, monkeypatch):
    """Patients queued for a dead target were released (consent given): the note speaks only of the withheld."""
    monkeypatch.setenv("EHRGEN_CONFIG", str(tmp_path / "none.toml"))
    port = closed_port()
    consent = tmp_path / "consent.json"
    consent.write_text(json.dumps({"P001": True, "P002": False}))
    res = CliRunner().invoke(_app(), _args(tmp_path, str(export_dir), "--fhir", f"http://127.0.0.1:{port}/fhir",
                                           "--consent", str(consent)))
    assert res.exit_code == 1, res.output
    assert "failed" in res.output
    assert "nothing was released" not in res.output and "1 patient(s) withheld" in res.output
