"""Issue 14: a multi-sample VCF spread over several chunks is called ahead in groups (one read of the file per group
instead of one per chunk, which grew as N x N / chunk size). The groups change how often the file is read, never
what is written: every file of the run is the same as when each chunk reads its own samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrgen.pipeline.plan import Chunk, SampleJob, VcfJob, call_groups, pack
from ehrgen.pipeline.run import RunConfig, run_local
from tests.flows.test_fastpath_identity import _assert_same, _cohort_batch, _settings, _tree, frozen  # noqa: F401


def _jobs(vcf: str, n: int) -> VcfJob:
    return VcfJob(vcf, [SampleJob(f"{vcf}-{i}") for i in range(n)])


def test_groups_cover_only_files_that_span_chunks_in_plan_order():
    chunks = pack([_jobs("big.vcf", 7), _jobs("small.vcf", 2)], chunk_size=3)
    groups = call_groups(chunks, 4)
    assert [(g.vcf, [s.sample for s in g.samples]) for g in groups] == [
        ("big.vcf", ["big.vcf-0", "big.vcf-1", "big.vcf-2", "big.vcf-3"]),
        ("big.vcf", ["big.vcf-4", "big.vcf-5", "big.vcf-6"])]
    assert call_groups(chunks, 0) == []
    assert call_groups(pack([_jobs("a.vcf", 3)], chunk_size=3), 10) == []  # one chunk reads the file once anyway
    assert call_groups([Chunk(0, [VcfJob("scan.vcf", None)])], 10) == []  # every sample of a file: one job


def _run(batch: Path, work: Path, key: Path, group: int) -> list:
    s = _settings(key)
    s.pipeline.call_group = group
    return run_local(batch, RunConfig(work_dir=str(work), run_name="run", settings=s), chunk_size=4)


@pytest.fixture
def count_reads(monkeypatch):
    import ehrgen.ingest.vcf as vcf

    reads: list[int] = []
    real = vcf.read_genotypes

    def counted(*a, **k):
        reads.append(len(k.get("samples") or []))
        return real(*a, **k)

    monkeypatch.setattr(vcf, "read_genotypes", counted)
    return reads


def test_call_ahead_reads_the_file_once_per_group_and_writes_the_same_files(tmp_path, frozen, count_reads):
    batch = _cohort_batch(tmp_path / "batch", 22)
    _run(batch, tmp_path / "per-chunk", frozen, 0)
    assert count_reads == [4, 4, 4, 4, 4, 2]  # six chunks: six reads of the whole file
    count_reads.clear()
    outcomes = _run(batch, tmp_path / "ahead", frozen, 10)
    assert count_reads == [10, 10, 2]  # three groups, and no chunk read it again
    assert {o.status for o in outcomes} == {"delivered"} and not any("call" in o.skipped for o in outcomes)
    _assert_same(_tree(tmp_path / "ahead"), _tree(tmp_path / "per-chunk"))

    count_reads.clear()
    again = _run(batch, tmp_path / "ahead", frozen, 10)
    assert count_reads == []  # every call stored and up to date: no group reads the file
    assert all("call" in o.skipped for o in again)


def test_a_sample_the_group_cannot_call_is_reported_by_its_chunk(tmp_path, frozen, count_reads):
    batch = _cohort_batch(tmp_path / "batch", 10)
    manifest = batch / "manifest.csv"
    rows = manifest.read_text().splitlines()
    rows.insert(3, "NOT-IN-VCF,BP9999,vcf/1kgp-pgx.dense.vcf.gz,")
    manifest.write_text("\n".join(rows) + "\n")
    outcomes = {o.sample: o for o in _run(batch, tmp_path / "work", frozen, 6)}
    assert outcomes["NOT-IN-VCF"].failed and "sample not found" in outcomes["NOT-IN-VCF"].reason
    assert sum(o.status == "delivered" for o in outcomes.values()) == 10


def test_the_flow_calls_ahead_on_worker_processes_and_writes_the_same_stage_files(tmp_path, frozen, monkeypatch,
                                                                                 capfd, caplog):
    """The pgx-pipeline flow submits the groups as tasks on the local process pool before the chunks."""
    import json
    import logging

    from flows.common import task_runner
    from flows.pgx_pipeline import pgx_pipeline

    caplog.set_level(logging.INFO)
    batch = _cohort_batch(tmp_path / "batch", 12)
    _run(batch, tmp_path / "per-chunk", frozen, 0)
    monkeypatch.setenv("EHRGEN_PIPELINE__CALL_GROUP", "5")
    monkeypatch.setenv("EHRGEN_REPORT__CARD_SIGNING_KEY", str(frozen))
    state = pgx_pipeline.with_options(task_runner=task_runner(None, chunks=3, workers=2))(
        input_dir=str(batch), work_dir=str(tmp_path / "flow"), run_name="run", chunk_size=4, return_state=True)
    assert state.is_completed()
    # the flow's log line, on Prefect's console handler or, when pytest has taken the logs over, in caplog
    assert "called 12 sample(s) ahead in 3 group(s)" in caplog.text + "".join(capfd.readouterr())
    rows = json.loads((tmp_path / "flow" / "run" / "outcomes.json").read_text())  # one object per sample
    assert len(rows) == 12 and not any("call" in (r.get("skipped") or []) for r in rows)
    for stage in ("calls", "recommendations"):
        a, b = tmp_path / "per-chunk" / "run" / stage, tmp_path / "flow" / "run" / stage
        names = sorted(p.name for p in a.glob("*.json"))
        assert names and names == sorted(p.name for p in b.glob("*.json"))
        assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names), stage
