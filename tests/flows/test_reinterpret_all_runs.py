"""The weekly re-interpretation re-checks every run stored in the work folder: a drop-folder sweep and an
on-demand `ehrgen run` alike (issue 12: on-demand patients were never re-checked)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

from typer.testing import CliRunner

from ehrgen.pipeline.dropfolder import DropFolder
from ehrgen.pipeline.reinterpret import stored_runs

RULES = Path(__file__).resolve().parents[2] / "rules"


def _settled(p: Path) -> None:
    t = time.time() - 10
    os.utime(p, (t, t))


def _on_demand_batch(tmp: Path, sample_data: Path, samples: list[str]) -> Path:
    b = tmp / "ondemand"
    (b / "vcf").mkdir(parents=True)
    with (sample_data / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["sample_id"] in samples]
    with (b / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        shutil.copy(sample_data / r["vcf"], b / r["vcf"])
    shutil.copytree(sample_data / "clinical", b / "clinical")
    return b


def _rule_ids(run_dir: Path) -> dict[str, set[str]]:
    out = {}
    for f in (run_dir / "recommendations").glob("*.recommendations.json"):
        doc = json.loads(f.read_text())
        out[doc["sample"]] = {r["rule_id"] for r in doc["recommendations"] if r["rule_id"]}
    return out


def _edited_rules(tmp: Path, rule_id: str) -> tuple[Path, str]:
    rules = tmp / "rules"
    shutil.copytree(RULES, rules)
    lines = (rules / "rules.tsv").read_text().splitlines()
    col = next(ln for ln in lines if ln.startswith("rule_id\t")).split("\t").index("summary")
    version = ""
    for n, ln in enumerate(lines):
        if ln.startswith(rule_id + "\t"):
            cells = ln.split("\t")
            cells[col] += " (edited for a test)"
            lines[n] = "\t".join(cells)
        elif ln.startswith("# rules_version:"):
            version = ln.split(":", 1)[1].strip() + "-weekly"
            lines[n] = f"# rules_version: {version}"
    (rules / "rules.tsv").write_text("\n".join(lines) + "\n")
    return rules, version


def _outcomes(run_dir: Path) -> dict[str, dict]:
    return {d["sample"]: d for d in json.loads((run_dir / "outcomes.json").read_text())}


def test_weekly_reinterpretation_covers_drop_folder_and_on_demand_runs(prefect_server, tmp_path, sample_data):
    from ehrgen.cli.main import app
    from flows.drop_folder import drop_folder
    from flows.reinterpret import reinterpret

    work = tmp_path / "work"
    # 1. the nightly sweep: two VCFs and the clinical files dropped in the inbox
    df = DropFolder(tmp_path / "drop").make()
    for name in ("S001.vcf", "S002.vcf"):
        _settled(Path(shutil.copy(sample_data / "vcf" / name, df.inbox / name)))
    for f in (sample_data / "clinical").glob("*.csv"):
        _settled(Path(shutil.copy(f, df.inbox / f.name)))
    state = drop_folder(root=str(df.root), work_dir=str(work), settle_seconds=0.1, return_state=True)
    assert state.is_completed(), state.message
    # 2. an on-demand run from the command line, into the same work folder
    batch = _on_demand_batch(tmp_path, sample_data, ["S003", "S004"])
    res = CliRunner().invoke(app, ["run", str(batch), "--work", str(work)])
    assert res.exit_code == 0, res.output
    assert stored_runs(work) == ["dropfolder", "ondemand"]

    # a rule that advice in both runs came from changes
    drop_rules, demand_rules = _rule_ids(work / "dropfolder"), _rule_ids(work / "ondemand")
    common = set.intersection(*drop_rules.values(), *demand_rules.values())
    assert common, "the four samples should share at least one recommendation"
    rule_id = sorted(common)[0]
    rules, version = _edited_rules(tmp_path, rule_id)

    # the weekly deployment's parameters: the work folder only, no run name
    state = reinterpret(work_dir=str(work), rules_dir=str(rules), return_state=True)
    assert state.is_completed(), state.message
    for run, samples in (("dropfolder", ["S001", "S002"]), ("ondemand", ["S003", "S004"])):
        snapshot = (work / run / "rules.snapshot.tsv").read_text()
        assert f"# rules_version: {version}" in snapshot, run  # re-checked against the new rules
        out = _outcomes(work / run)
        assert sorted(out) == samples
        assert {o["status"] for o in out.values()} == {"delivered"}, (run, out)  # the changed advice went out
        for s in samples:
            doc = json.loads((work / run / "recommendations" / f"{s}.recommendations.json").read_text())
            assert doc["rules_version"] == version
    # a second weekly run finds both runs up to date
    state = reinterpret(work_dir=str(work), rules_dir=str(rules), return_state=True)
    assert "nothing to do" in state.message
    assert "`dropfolder` (2 sample(s)): Rules unchanged" in state.message
    assert "`ondemand` (2 sample(s)): Rules unchanged" in state.message


def test_stored_runs_lists_only_run_folders(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name / "calls").mkdir(parents=True)
        (tmp_path / name / "run.json").write_text("{}")
    (tmp_path / "half" / "calls").mkdir(parents=True)  # never finished: no run.json
    for other in ("outbox", "dead-letter", ".prefect"):
        (tmp_path / other).mkdir()
    assert stored_runs(tmp_path) == ["a", "b"]
    assert stored_runs(tmp_path / "missing") == []
