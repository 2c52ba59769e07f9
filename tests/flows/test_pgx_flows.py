"""pgx-pipeline and pgx-reinterpret flows on sample_data/ against a Prefect test server.

Flow runs are few on purpose (each costs seconds): one full batch shared by several tests, one rerun,
one re-interpretation after a rule edit, one Dask run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.replay import compare
from ehrgen.pipeline.run import RunConfig


def _outcomes(work: Path, run: str = "sample_data") -> dict[str, SampleOutcome]:
    data = json.loads((work / run / "outcomes.json").read_text())
    return {d["sample"]: SampleOutcome.from_dict(d) for d in data}


def _sent(work: Path) -> int:
    with sqlite3.connect(work / "ledger.sqlite") as con:
        return con.execute("SELECT count(*) FROM deliveries WHERE status='sent'").fetchone()[0]


@pytest.fixture(scope="module")
def first_run(prefect_server, tmp_path_factory, sample_data):
    from flows.pgx_pipeline import pgx_pipeline

    work = tmp_path_factory.mktemp("work")
    state = pgx_pipeline(input_dir=str(sample_data), work_dir=str(work), chunk_size=8, return_state=True)
    return work, state


def test_full_batch_to_outbox_with_one_bad_sample(first_run):
    work, state = first_run
    # the flow finished; the malformed sample failed alone
    assert state.is_completed() and state.name == "Partially Failed"
    assert "1 of 24" in state.message
    out = _outcomes(work)
    assert [s for s, o in out.items() if o.failed] == ["S017"]
    assert out["S017"].stage == "call" and "S017_malformed.vcf" in out["S017"].reason
    assert out["S016"].status == "withheld"  # no consent: nothing released
    delivered = [o for o in out.values() if o.status == "delivered"]
    assert len(delivered) == 22
    outbox = work / "outbox"
    for o in delivered:
        for suffix in (".bundle.json", ".oru.hl7", ".report.html"):
            assert (outbox / f"{o.patient}{suffix}").stat().st_size > 0
        bundle = json.loads((outbox / f"{o.patient}.bundle.json").read_text())
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        assert (outbox / f"{o.patient}.oru.hl7").read_text().startswith("MSH|")
    assert not list(outbox.glob("P016.*")) and not list(outbox.glob("P017.*"))
    assert any(o.actionable > 0 for o in delivered)
    assert (work / "sample_data" / "recommendations.tsv").read_text().startswith("patient\tsample\tdrug")


def test_no_task_results_persisted(first_run):
    # PHI rule: nothing cloudpickled into Prefect's result storage
    storage = Path(os.environ["PREFECT_HOME"]) / "storage"
    assert not storage.exists() or not any(storage.rglob("*"))


def test_artifacts_published(first_run):
    import asyncio

    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_artifacts()

    arts = asyncio.run(read())
    keys = {a.key for a in arts if a.key}
    assert {"pgx-run-samples", "pgx-run-summary"} <= keys
    table = next(a for a in arts if a.key == "pgx-run-samples")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert {r["sample"] for r in rows} >= {"S001", "S017"}
    assert all("patient" not in r for r in rows)  # no patient identifiers in the Prefect database
    assert any(a.type == "progress" for a in arts)


def test_replay_comparison_passes_and_detects_a_difference(first_run, sample_data, tmp_path):
    work, _ = first_run
    cfg = RunConfig(work_dir=str(work), run_name="sample_data")
    outcomes = list(_outcomes(work).values())
    checks = compare(sample_data / "expected", cfg.dirs, outcomes)
    assert len(checks) == 24 and all(c.passed for c in checks), [c.problems for c in checks if not c.passed]
    # tamper with one expected diplotype: the comparison must fail that sample
    exp = tmp_path / "expected"
    exp.mkdir()
    lines = (sample_data / "expected" / "calls.tsv").read_text().splitlines()
    i = next(n for n, l in enumerate(lines) if l.startswith("S001\tCYP2C19\t"))
    lines[i] = lines[i].replace("*2/*2", "*1/*2")
    (exp / "calls.tsv").write_text("\n".join(lines) + "\n")
    bad = [c for c in compare(exp, cfg.dirs, outcomes) if not c.passed]
    assert [c.sample for c in bad] == ["S001"] and "CYP2C19" in bad[0].problems[0]


def test_rerun_delivers_nothing_new(first_run, sample_data):
    from flows.pgx_pipeline import pgx_pipeline

    work, _ = first_run
    sent = _sent(work)
    state = pgx_pipeline(input_dir=str(sample_data), work_dir=str(work), chunk_size=8, return_state=True)
    assert state.name == "Partially Failed"
    out = _outcomes(work)
    assert {o.status for s, o in out.items() if s not in ("S016", "S017")} == {"unchanged"}
    assert _sent(work) == sent


def test_rules_change_redelivers_only_changed_advice(first_run, tmp_path):
    from flows.reinterpret import reinterpret

    work, _ = first_run
    run = work / "sample_data"
    rule_id = "PA166297572/clopidogrel"  # CPIC clopidogrel, ACS/PCI population
    users = set()
    for f in (run / "recommendations").glob("*.recommendations.json"):
        doc = json.loads(f.read_text())
        if any(r["rule_id"] == rule_id for r in doc["recommendations"]):
            users.add(doc["sample"])
    assert users, "sample data should exercise the edited rule"
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parents[2] / "rules", rules)
    lines = (rules / "rules.tsv").read_text().splitlines()
    header = next(l for l in lines if l.startswith("rule_id\t")).split("\t")
    col = header.index("summary")
    for n, l in enumerate(lines):
        if l.startswith(rule_id + "\t"):
            cells = l.split("\t")
            cells[col] = cells[col] + " (edited for a test)"
            lines[n] = "\t".join(cells)
        if l.startswith("# rules_version:"):
            old_version = l.split(":", 1)[1].strip()
            lines[n] = f"# rules_version: {old_version}-test2"
    (rules / "rules.tsv").write_text("\n".join(lines) + "\n")
    before = {p.name: p.read_bytes() for p in (work / "outbox").glob("*.bundle.json")}
    sent = _sent(work)

    state = reinterpret(work_dir=str(work), run_name="sample_data", rules_dir=str(rules), return_state=True)
    assert state.is_completed(), state.message
    out = _outcomes(work)
    changed = {s for s, o in out.items() if o.status == "delivered"}
    assert changed == users - {"S016"}  # S016 has no consent: re-interpreted, still withheld
    assert _sent(work) - sent == 3 * len(changed)  # bundle, ORU and report per changed patient
    after = {p.name: p.read_bytes() for p in (work / "outbox").glob("*.bundle.json")}
    for name, data in after.items():
        patient = name.split(".")[0]
        sample = next(s for s, o in out.items() if o.patient == patient)
        assert (data != before[name]) == (sample in changed)
        if sample in changed:
            # new advice supersedes the old: Provenance links the earlier resources, the clinician is notified
            entries = [e["resource"] for e in json.loads(data)["entry"]]
            notice = [r for r in entries if r["resourceType"] == "Communication"]
            assert len(notice) == 1 and "clopidogrel" in notice[0]["payload"][0]["contentString"]
            prov = next(r for r in entries if r["resourceType"] == "Provenance")
            revised = [e for e in prov["entity"] if e["role"] == "revision"]
            assert revised and all(old_version in e["what"]["display"] for e in revised)
    # the rules snapshot now holds the edited rules: a second sweep has nothing to do
    state = reinterpret(work_dir=str(work), run_name="sample_data", rules_dir=str(rules), return_state=True)
    assert "nothing to do" in state.message


@pytest.mark.parametrize("runner", ["dask", "process-pool"])
def test_worker_processes_give_the_same_outputs(first_run, sample_data, tmp_path, runner):
    """Chunks of 8 on worker processes (Dask's LocalCluster, or the local process pool that `ehrgen run` uses for
    batches of several chunks) give the outcomes and stage files of the one-process run."""
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows.common import task_runner
    from flows.pgx_pipeline import pgx_pipeline

    work, _ = first_run
    dwork = tmp_path / runner
    tr = task_runner("local") if runner == "dask" else task_runner(None, chunks=3, workers=2)
    assert runner == "dask" or isinstance(tr, ProcessPoolTaskRunner)
    state = pgx_pipeline.with_options(task_runner=tr)(
        input_dir=str(sample_data), work_dir=str(dwork), chunk_size=8, return_state=True)
    assert state.name == "Partially Failed"
    a, b = _outcomes(work), _outcomes(dwork)  # a: last written by the re-interpretation (stored calls only)
    assert [s for s, o in b.items() if o.failed] == ["S017"] and len(b) == 24
    assert {s: (o.failed, o.actionable) for s, o in a.items()} == {s: (b[s].failed, b[s].actionable) for s in a}
    for stage in ("calls", "recommendations"):
        left = sorted((work / "sample_data" / stage).glob("*.json"))
        assert [p.name for p in left] == [p.name for p in sorted((dwork / "sample_data" / stage).glob("*.json"))]
        for p in left:
            x = json.loads(p.read_text())
            y = json.loads((dwork / "sample_data" / stage / p.name).read_text())
            if stage == "recommendations":  # the first run was re-interpreted with edited rules (new version) meanwhile
                for d in (x, y):
                    d.pop("rules_sha256")
                    d.pop("rules_version")
                    for r in d["recommendations"]:
                        r.pop("summary")
                        r.pop("rules_version")
            assert x == y, p.name
