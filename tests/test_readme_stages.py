"""The README's stage commands work verbatim: call -> interpret -> export -> deliver, each finding the previous
stage's inputs (inputs.json) without extra flags; and deliver without clinical data says why nothing left."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrgen.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def readme_stage_chain() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- stage-chain -->\s*```bash\n(.*?)```", text, re.S)
    assert m, "README.md lost its <!-- stage-chain --> block"
    lines = [shlex.split(ln) for ln in m.group(1).splitlines() if ln.strip()]
    assert [ln[:2] for ln in lines] == [["ehrgen", "call"], ["ehrgen", "interpret"], ["ehrgen", "export"],
                                        ["ehrgen", "deliver"]]
    return lines


@pytest.fixture
def in_copy(tmp_path, monkeypatch):
    """Run from a folder that looks like the repository root (sample_data/ there), writing into tmp."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EHRGEN_DELIVER__LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("EHRGEN_DELIVER__DEAD_LETTER", str(tmp_path / "dead"))
    return tmp_path


def _run(argv: list[str]):
    assert argv[0] == "ehrgen"
    return CliRunner().invoke(app, argv[1:])


def test_readme_stage_commands_chain_verbatim(in_copy):
    results = [_run(argv) for argv in readme_stage_chain()]
    for argv, r in zip(readme_stage_chain(), results):
        assert r.exit_code == 0, f"{shlex.join(argv)}: {r.output}"
    # export found the calls and the clinical identifiers through out/results/inputs.json
    export = in_copy / "out" / "export"
    assert (export / "P001.bundle.json").is_file() and (export / "P001.oru.hl7").is_file()
    rec = json.loads((export / "inputs.json").read_text())
    assert rec["stage"] == "export"
    assert Path(rec["inputs"]["calls_dir"]) == (in_copy / "out" / "calls").resolve()
    assert Path(rec["inputs"]["clinical"]).name == "clinical"
    # deliver took the consent from the recorded clinical data: P001 consents, so both artefacts went out
    assert "sent: 2" in results[-1].output, results[-1].output
    assert sorted(p.name for p in (in_copy / "out" / "outbox").rglob("*.*") if "P001" in p.name)


def test_calls_flag_still_overrides_the_record(in_copy):
    chain = readme_stage_chain()
    assert _run(chain[0]).exit_code == 0
    assert _run(chain[1]).exit_code == 0
    elsewhere = in_copy / "moved"
    (in_copy / "out" / "calls").rename(elsewhere)  # the recorded folder is gone: export needs --calls now
    r = _run(["ehrgen", "export", "out/results", "--out", "out/export"])
    assert r.exit_code != 0 and "--calls" in r.output
    r = _run(["ehrgen", "export", "out/results", "--out", "out/export", "--calls", str(elsewhere)])
    assert r.exit_code == 0, r.output


def test_deliver_without_clinical_data_says_why_nothing_was_released(in_copy):
    chain = readme_stage_chain()
    assert _run(chain[0]).exit_code == 0
    assert _run(["ehrgen", "interpret", "out/calls", "--out", "out/results"]).exit_code == 0
    assert _run(["ehrgen", "export", "out/results", "--out", "out/export"]).exit_code == 0
    r = _run(["ehrgen", "deliver", "out/export", "--outbox", "out/outbox"])
    assert r.exit_code == 0
    assert "withheld: 2" in r.output
    assert "nothing was released: no consent data was given" in r.output
    assert "--clinical" in r.output and "--consent" in r.output
