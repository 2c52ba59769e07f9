"""The QC summary in calls.json: per gene positions read / missing by reason / low-quality reference blocks,
summed per sample; derived from the positions so it always agrees with them; old files still read."""

from __future__ import annotations

import json

from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from ehrgen.pgx.model import GeneCall, PositionGenotype, SampleCalls
from ehrgen.pgx.output import read_sample_calls, write_sample_calls
from ehrgen.pgx.qc import gene_qc, sample_qc
from tests.pgx.vcf_factory import gene_records, write_vcf


def test_gene_qc_counts_each_reason():
    ps = [PositionGenotype(1, None, ["A", "A"]),
          PositionGenotype(2, None, ["A", "."]),  # 1/. partial call: read, ALT kept
          PositionGenotype(3, None, [], missing_reason="not in file"),
          PositionGenotype(4, None, [], missing_reason="not in file"),
          PositionGenotype(5, None, [], missing_reason="filter:LowQual"),
          PositionGenotype(6, None, [], missing_reason="low_ref_gq"),
          PositionGenotype(7, None, [], missing_reason=None)]
    qc = gene_qc(ps).to_dict()
    assert qc == {"positions": 7, "read": 2, "missing": 5, "partial_calls": 1, "low_quality_ref_blocks": 1,
                  "missing_by_reason": {"filter:LowQual": 1, "low_ref_gq": 1, "no-call": 1, "not in file": 2}}


def test_sample_qc_sums_the_vcf_genes_only():
    a = {"positions": 3, "read": 1, "missing": 2, "missing_by_reason": {"no-call": 2}, "low_quality_ref_blocks": 0,
         "partial_calls": 0}
    b = {"positions": 2, "read": 1, "missing": 1, "missing_by_reason": {"no-call": 1, }, "low_quality_ref_blocks": 0,
         "partial_calls": 1}
    outside = {"positions": 0, "read": 0, "missing": 0, "missing_by_reason": {}, "low_quality_ref_blocks": 0,
               "partial_calls": 0}
    s = sample_qc({"B": b, "A": a, "CYP2D6": outside})
    assert (s["positions"], s["read"], s["missing"], s["partial_calls"]) == (5, 2, 3, 1)
    assert s["missing_by_reason"] == {"no-call": 3}
    assert s["genes"] == 2 and s["genes_with_missing"] == ["A", "B"]


def _calls(tmp_path, **kw):
    gd = load_definitions().genes["CYP2C19"]
    p_nc, p_filt, p_part = gd.positions[0].pos, gd.positions[1].pos, gd.positions[2].pos
    drop = {gd.positions[3].pos, gd.positions[4].pos}
    recs = gene_records("CYP2C19", [("*38", "*38")], drop=drop, override={p_nc: ["./."], p_part: ["0/."]})
    recs = [r.replace("\tPASS\t", "\tLowQual\t") if r.split("\t")[1] == str(p_filt) else r for r in recs]
    return call_vcf(write_vcf(tmp_path / "q.vcf", ["S0"], recs))[0], (p_nc, p_filt, p_part, drop)


def test_calls_json_qc_agrees_with_positions_and_missing_positions(tmp_path):
    sc, (p_nc, p_filt, p_part, drop) = _calls(tmp_path)
    c = sc.genes["CYP2C19"]
    qc = c.to_dict()["qc"]
    assert qc["missing"] == len(c.missing_positions) == 5
    assert qc["read"] + qc["missing"] == qc["positions"] == len(c.positions)
    assert qc["missing_by_reason"] == {"no-call": 1, "filter:LowQual": 1, "partial_call": 1, "not in file": 2}
    reasons = {p.position: p.missing_reason for p in c.positions}
    assert reasons[p_part] == "partial_call" and reasons[p_nc] == "no-call"
    doc = sc.to_dict()
    gene_sum = sum(g["qc"]["positions"] for g in doc["genes"].values())
    assert doc["qc"]["positions"] == gene_sum
    assert doc["qc"]["missing"] == sum(g["qc"]["missing"] for g in doc["genes"].values())
    assert doc["qc"]["missing_by_reason"]["partial_call"] == 1


def test_written_file_round_trips_and_the_fast_writer_agrees(tmp_path):
    sc, _ = _calls(tmp_path)
    slow = json.loads(write_sample_calls(sc, tmp_path / "slow").read_text())
    fast = json.loads(write_sample_calls(sc, tmp_path / "fast", {}).read_text())
    assert slow == fast
    assert slow["qc"]["genes_with_missing"]
    back = read_sample_calls(tmp_path / "slow" / "S0.calls.json")
    assert back.to_dict() == sc.to_dict()


def test_a_calls_file_without_qc_still_reads_and_gets_its_qc(tmp_path):
    """Backward compatible: files written before the QC summary have neither "qc" nor "calling"."""
    sc, _ = _calls(tmp_path)
    doc = sc.to_dict()
    doc.pop("qc")
    doc.pop("calling", None)
    for g in doc["genes"].values():
        g.pop("qc")
    old = SampleCalls.from_dict(doc)
    assert old.calling == {}
    assert old.genes["CYP2C19"].qc == sc.genes["CYP2C19"].qc
    assert "calling" not in old.to_dict()


def test_outside_call_has_an_empty_qc():
    c = GeneCall(gene="CYP2D6", status="outside_call", source="outside")
    assert c.qc["positions"] == 0 and c.to_dict()["qc"]["missing"] == 0
