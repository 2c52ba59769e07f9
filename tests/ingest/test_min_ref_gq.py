"""calling.min_ref_gq / --min-ref-gq: a gVCF reference block (or a 0/0 call) with GQ below it is missing
(reason low_ref_gq), never reference; 0 (the default) keeps PharmCAT's behaviour; always recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrgen.ingest.vcf import read_genotypes
from ehrgen.pgx.caller import call_batch, call_vcf
from ehrgen.pgx.definitions import load_definitions
from ehrgen.pgx.genotype_codes import LOW_REF_GQ, MISSING
from ehrgen.settings import CallingSettings
from tests.pgx.vcf_factory import write_vcf

GQ_HEADER = ['##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">']
GD = load_definitions().genes["CYP2B6"]
P516 = next(p for p in GD.positions if p.rsid == "rs3745274")  # 516G>T: *9 alone, *6 with 785A>G
P785 = next(p for p in GD.positions if p.rsid == "rs2279343")  # 785A>G
LO, HI = GD.positions[0].pos, GD.positions[-1].pos


def _block(start: int, end: int, gts: list[str]) -> str:
    return "\t".join(["chr19", str(start), ".", "N", "<NON_REF>", ".", "PASS", f"END={end}", "GT:GQ", *gts])


def cyp2b6_gvcf(tmp_path: Path, gq785: list[str], rec785: str | None = None, name: str = "g") -> Path:
    """A tiny gVCF over CYP2B6: het 516G>T, and rs2279343 covered by a block with the given GT:GQ per sample
    (the GeT-RM case: a GQ 0 block over 785A>G turns *6 into a confident *9)."""
    n = len(gq785)
    recs = [_block(LO - 5, P516.pos - 1, ["0/0:60"] * n),
            "\t".join(["chr19", str(P516.pos), P516.rsid, P516.ref, "T,<NON_REF>", "50", "PASS", ".", "GT:GQ",
                       *(["0/1:99"] * n)]),
            _block(P516.pos + 1, P785.pos - 1, ["0/0:60"] * n),
            rec785 or _block(P785.pos, P785.pos, gq785),
            _block(P785.pos + 1, HI + 5, ["0/0:60"] * n)]
    return write_vcf(tmp_path / f"{name}.g.vcf", [f"S{i}" for i in range(n)], recs, extra=GQ_HEADER)


def _cyp2b6(path: Path, min_ref_gq: int | None):
    calling = None if min_ref_gq is None else CallingSettings(min_ref_gq=min_ref_gq)
    return [sc.genes["CYP2B6"] for sc in call_vcf(path, calling=calling)]


def _pos(call, p):
    return next(x for x in call.positions if x.position == p.pos)


def test_default_keeps_pharmcat_behaviour_gq0_block_is_reference(tmp_path):
    vcf = cyp2b6_gvcf(tmp_path, ["0/0:0"])
    for setting in (None, 0):
        c = _cyp2b6(vcf, setting)[0]
        assert (c.status, c.diplotype_text) == ("called", "*1/*9")
        assert c.qc["low_quality_ref_blocks"] == 0 and c.qc["missing"] == 0


def test_low_gq_block_is_missing_so_star6_stays_a_candidate(tmp_path):
    c = _cyp2b6(cyp2b6_gvcf(tmp_path, ["0/0:0"]), 20)[0]
    names = c.diplotype_text.split(" OR ")
    assert c.status != "called", "a GQ 0 block must not give the confident *9"
    assert "*1/*6" in names and "*1/*9" in names
    assert c.missing_positions == [P785.pos]
    assert _pos(c, P785).missing_reason == "low_ref_gq" and _pos(c, P785).alleles == []
    assert c.qc["low_quality_ref_blocks"] == 1
    assert c.qc["missing_by_reason"] == {"low_ref_gq": 1}
    assert c.qc["read"] == c.qc["positions"] - 1
    assert any("low_ref_gq" in w and "not as reference" in w for w in c.warnings)


def test_block_at_or_above_the_threshold_is_reference(tmp_path):
    c = _cyp2b6(cyp2b6_gvcf(tmp_path, ["0/0:20"]), 20)[0]
    assert (c.status, c.diplotype_text) == ("called", "*1/*9")
    assert c.qc["low_quality_ref_blocks"] == 0


def test_per_sample_in_a_multi_sample_gvcf(tmp_path):
    low, good = _cyp2b6(cyp2b6_gvcf(tmp_path, ["0/0:3", "0/0:45"]), 20)
    assert low.status == "ambiguous" and low.qc["low_quality_ref_blocks"] == 1
    assert (good.status, good.diplotype_text) == ("called", "*1/*9") and good.qc["missing"] == 0


def test_hom_ref_record_with_low_gq_is_missing(tmp_path):
    rec = "\t".join(["chr19", str(P785.pos), P785.rsid, P785.ref, "G,<NON_REF>", "0", "PASS", ".", "GT:GQ",
                     "0/0:4"])
    vcf = cyp2b6_gvcf(tmp_path, ["0/0:60"], rec785=rec)
    assert _cyp2b6(vcf, 0)[0].diplotype_text == "*1/*9"
    c = _cyp2b6(vcf, 20)[0]
    assert _pos(c, P785).missing_reason == "low_ref_gq" and c.status == "ambiguous"


def test_low_gq_variant_call_is_not_touched(tmp_path):
    """Only reference calls are judged: a het call keeps its ALT whatever its GQ."""
    rec = "\t".join(["chr19", str(P785.pos), P785.rsid, P785.ref, "G,<NON_REF>", "30", "PASS", ".", "GT:GQ",
                     "0/1:4"])
    c = _cyp2b6(cyp2b6_gvcf(tmp_path, ["0/0:60"], rec785=rec), 20)[0]
    assert c.qc["missing"] == 0 and "*6" in c.diplotype_text


def test_a_real_record_wins_over_a_low_gq_block_and_its_reason(tmp_path):
    """A low-GQ block overlapping a good record at the same position: the record is read, no reason left."""
    vcf = cyp2b6_gvcf(tmp_path, ["0/0:60"])
    lines = vcf.read_text().splitlines()
    lines.insert(next(i for i, l in enumerate(lines) if l.startswith(f"chr19\t{P785.pos}\t")),
                 _block(P785.pos - 1, P785.pos + 1, ["0/0:0"]))
    lines = [l for l in lines if not l.startswith(f"chr19\t{P785.pos}\t")]
    lines.insert(next(i for i, l in enumerate(lines) if l.startswith(f"chr19\t{P785.pos - 1}\t")) + 1,
                 "\t".join(["chr19", str(P785.pos), P785.rsid, P785.ref, "G,<NON_REF>", "40", "PASS", ".",
                            "GT:GQ", "0/1:50"]))
    vcf.write_text("\n".join(lines) + "\n")
    batch = read_genotypes(vcf, load_definitions(), calling=CallingSettings(min_ref_gq=20))
    gg = batch.genes["CYP2B6"]
    i = GD.positions.index(P785)
    assert gg.a1[0, i] != MISSING and (gg.low_quality is None or gg.low_quality[0, i] == 0)
    c = call_batch(batch)[0].genes["CYP2B6"]
    assert c.qc["low_quality_ref_blocks"] == 0 and "*6" in c.diplotype_text


def test_reference_calls_without_gq_are_kept_with_one_warning(tmp_path):
    vcf = cyp2b6_gvcf(tmp_path, ["0/0:60"])
    text = vcf.read_text().replace("GT:GQ\t0/0:60", "GT\t0/0")
    vcf.write_text(text)
    sc = call_vcf(vcf, calling=CallingSettings(min_ref_gq=20))[0]
    assert sc.genes["CYP2B6"].diplotype_text == "*1/*9"
    notes = [w for w in sc.warnings if "carry no GQ" in w]
    assert len(notes) == 1 and notes[0].startswith("calling.min_ref_gq=20:")


def test_recorded_in_calls_json_and_by_the_cli(tmp_path):
    from typer.testing import CliRunner

    from ehrgen.cli.main import app

    vcf = cyp2b6_gvcf(tmp_path, ["0/0:0"])
    r = CliRunner().invoke(app, ["call", str(vcf), "--out", str(tmp_path / "o"), "--min-ref-gq", "20"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o" / "S0.calls.json").read_text())
    assert doc["calling"]["min_ref_gq"] == 20
    assert doc["genes"]["CYP2B6"]["qc"]["low_quality_ref_blocks"] == 1
    assert doc["qc"]["low_quality_ref_blocks"] == 1 and "CYP2B6" in doc["qc"]["genes_with_missing"]
    tsv = (tmp_path / "o" / "calls.tsv").read_text()
    assert "*1/*6 OR *1/*9" in tsv
    r = CliRunner().invoke(app, ["call", str(vcf), "--out", str(tmp_path / "o2")])
    doc = json.loads((tmp_path / "o2" / "S0.calls.json").read_text())
    assert doc["calling"]["min_ref_gq"] == 0 and doc["genes"]["CYP2B6"]["diplotype_text"] == "*1/*9"
    r = CliRunner().invoke(app, ["call", str(vcf), "--out", str(tmp_path / "o3"), "--min-ref-gq", "-1"])
    assert r.exit_code != 0


def test_setting_from_the_environment(monkeypatch):
    from ehrgen.settings import load_settings

    monkeypatch.setenv("EHRGEN_CALLING__MIN_REF_GQ", "30")
    assert load_settings().calling.min_ref_gq == 30
    monkeypatch.setenv("EHRGEN_CALLING__MIN_REF_GQ", "-3")
    with pytest.raises(ValueError):
        load_settings()


def test_run_passes_the_option_to_the_flow():
    """`ehrgen run --min-ref-gq` reaches the flow's calling settings (checked on the signatures, no run)."""
    import inspect

    from ehrgen.cli.run import import_flows, run_flow

    assert "min_ref_gq" in inspect.signature(run_flow).parameters
    flows = import_flows()
    assert "min_ref_gq" in inspect.signature(flows.pgx_pipeline.pgx_pipeline.fn).parameters


def test_reason_code_is_the_records_vocabulary():
    from ehrgen.pgx.genotype_codes import SAMPLE_REASONS

    assert SAMPLE_REASONS[LOW_REF_GQ] == "low_ref_gq"
