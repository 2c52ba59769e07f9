"""Batch planning and stage resumption, without Prefect."""

from __future__ import annotations

import json
from pathlib import Path

from ehrgen.pipeline.plan import VcfJob, SampleJob, pack, plan
from ehrgen.pipeline.run import RunConfig, run_local


def test_plan_reads_each_vcf_once(sample_data):
    p = plan(sample_data)
    vcfs = [Path(j.vcf).name for ch in p.chunks for j in ch.jobs]
    assert len(vcfs) == len(set(vcfs))  # one job per file
    multi = next(j for ch in p.chunks for j in ch.jobs if Path(j.vcf).name == "multisample.vcf")
    assert [s.sample for s in multi.samples] == [f"S0{n}" for n in range(10, 16)]
    assert sum(ch.size for ch in p.chunks) == 24
    s8 = next(s for ch in p.chunks for j in ch.jobs for s in (j.samples or []) if s.sample == "S008")
    assert s8.patient == "P008" and s8.outside_calls.endswith("S008.tsv")


def test_pack_splits_big_files_and_groups_small_ones():
    big = VcfJob("big.vcf", [SampleJob(f"s{i}") for i in range(1200)])
    small = [VcfJob(f"{i}.vcf", [SampleJob(f"x{i}")]) for i in range(3)]
    chunks = pack([big] + small, chunk_size=500)
    assert [c.size for c in chunks] == [500, 500, 200 + 3]
    assert all(j.vcf == "big.vcf" for c in chunks[:2] for j in c.jobs)


def test_manifest_row_without_vcf_is_reported_not_fatal(tmp_path, sample_data):
    (tmp_path / "clinical").mkdir()
    (tmp_path / "S001.vcf").write_bytes((sample_data / "vcf" / "S001.vcf").read_bytes())
    (tmp_path / "manifest.csv").write_text("sample_id,patient_id,vcf\nS001,P001,S001.vcf\nS002,P002,\n")
    p = plan(tmp_path)
    assert p.n_files == 1 and len(p.errors) == 1 and ":3:" in p.errors[0]


def test_rerun_reuses_every_stage_and_changes_no_export(tmp_path, sample_data):
    cfg = RunConfig(work_dir=str(tmp_path), run_name="sd")
    first = {o.sample: o for o in run_local(sample_data, cfg)}
    export = cfg.dirs.export
    before = {p.name: p.read_bytes() for p in export.iterdir() if p.is_file()}
    second = {o.sample: o for o in run_local(sample_data, RunConfig(work_dir=str(tmp_path), run_name="sd"))}
    assert first["S017"].status == second["S017"].status == "failed"
    ok = [s for s, o in second.items() if s != "S017"]
    assert all(second[s].skipped == ["call", "interpret", "export"] for s in ok)
    assert {second[s].status for s in ok} == {"unchanged", "withheld"}
    assert {p.name: p.read_bytes() for p in export.iterdir() if p.is_file()} == before
    outcomes = json.loads(cfg.dirs.outcomes.read_text())
    assert len(outcomes) == 24


def test_stamps_of_exports_without_the_optional_pdf_stay_current(tmp_path):
    """With no PDF engine the PDF is absent: the stamps written at export time must still match later (else a
    rerun's delivery re-reads every export), and a PDF appearing or vanishing afterwards makes them stale."""
    from types import SimpleNamespace

    from ehrgen.pipeline.stages import export_files, exports_complete, file_stamps, stamps_current

    files = export_files("P1", SimpleNamespace(export=tmp_path))
    for kind, f in files.items():
        if kind != "report-pdf":
            f.write_text(kind)
    assert exports_complete(files)
    stamps = file_stamps(files)
    assert "report-pdf" not in stamps and stamps_current(stamps, files)
    files["report-pdf"].write_bytes(b"%PDF")
    assert not stamps_current(stamps, files)
    stamps = file_stamps(files)
    assert stamps_current(stamps, files)
    files["report-pdf"].unlink()
    assert not stamps_current(stamps, files)
    files["oru"].unlink()
    assert not exports_complete(files)
