"""`ehrgen run` / `ehrgen replay` through the CLI (one flow run each, on the session's test server)."""

from __future__ import annotations

from typer.testing import CliRunner

from ehrgen.cli.main import app


def test_run_cli_exit_3_with_one_failed_sample(prefect_server, sample_data, tmp_path):
    res = CliRunner().invoke(app, ["run", str(sample_data), "--work", str(tmp_path / "w")])
    assert res.exit_code == 3, res.output  # completed, with one bad input (README "Exit codes")
    assert "Partially Failed" in res.output and "S017" in res.output and "failed" in res.output
    outbox = tmp_path / "w" / "outbox"
    assert len(list(outbox.glob("*.bundle.json"))) == 22
    assert len(list(outbox.glob("*.oru.hl7"))) == 22 and len(list(outbox.glob("*.report.html"))) == 22


def test_run_cli_rejects_unusable_input_fast(sample_data, tmp_path):
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["run", str(tmp_path / "empty"), "--work", str(tmp_path / "w")])
    assert res.exit_code == 2 and "no manifest.csv" in res.output
    res = CliRunner().invoke(app, ["run", str(sample_data), "--mllp", "nohost", "--work", str(tmp_path / "w")])
    assert res.exit_code == 2 and "HOST:PORT" in res.output


def test_replay_cli_passes_on_sample_data(prefect_server, sample_data, tmp_path):
    res = CliRunner().invoke(app, ["replay", str(sample_data), "--work", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "24 of 24 sample(s) pass" in res.output and "FAIL" not in res.output
    # the title is the replay's verdict; the flow's Partially Failed (S017 is malformed on purpose) is explained
    title = " ".join(res.output.split("┏")[0].split("ehrgen replay ")[-1].split())
    assert title.endswith("all 24 sample(s) pass") and "Failed" not in title, title
    assert "failing as the scenario expects (input error): S017" in " ".join(res.output.split())
