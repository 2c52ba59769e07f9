"""--absent-is-reference: positions absent from a joint-called VCF become reference only when asked, only for
"not in file", never in a gVCF, with chrX ploidy from the sample's own calls, and always recorded."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ehrgen.ingest.vcf import read_genotypes
from ehrgen.pgx.genotype_codes import ABSENT, MISSING
from ehrgen.pgx.caller import call_batch
from ehrgen.pgx.definitions import load_definitions
from ehrgen.settings import CallingSettings
from tests.pgx.vcf_factory import gene_records, write_vcf

ON = CallingSettings(absent_is_reference=True)
# the first 300 people of the 1000 Genomes PGx cohort, vendored (tools/gen_cohort_slice.py, tests/data/1kgp-pgx)
COHORT = Path(__file__).resolve().parents[1] / "data" / "1kgp-pgx"


def _ref_positions(gene: str, alleles: tuple[str, ...] = (), keep: int = 0) -> set[int]:
    """Positions where every allele in `alleles` (and the reference allele) is the VCF REF: dropping them from
    the file must not change a correct reference-assuming call. The first `keep` such positions stay."""
    from tests.pgx.vcf_factory import allele_bases

    gd = load_definitions().genes[gene]
    names = {gd.reference_allele.name, *alleles}
    bases = [allele_bases(gd, n) for n in names]
    out = [p.pos for i, p in enumerate(gd.positions) if all(b[i] == p.ref for b in bases)]
    return set(out[keep:])


def _calls(path, calling=None):
    defs = load_definitions()
    return call_batch(read_genotypes(path, defs, calling=calling), defs)


def test_off_by_default_absent_positions_stay_missing(tmp_path):
    drop = _ref_positions("CYP2C19")
    vcf = write_vcf(tmp_path / "c.vcf", ["A", "B"], gene_records("CYP2C19", [("*38", "*38"), ("*38", "*38")],
                                                                    drop=drop))
    for calling in (None, CallingSettings()):
        sc = _calls(vcf, calling)[0]
        c = sc.genes["CYP2C19"]
        assert sc.assumptions == []
        assert set(c.missing_positions) == drop
        assert all(p.missing_reason == "not in file" for p in c.positions if p.position in drop)
        assert "assumptions" not in sc.to_dict()


def test_flag_gives_the_full_file_calls_and_records_the_assumption(tmp_path):
    g19 = [("*38", "*38"), ("*2", "*17"), ("*1", "*2")]
    g9 = [("*1", "*1"), ("*1", "*3"), ("*2", "*3")]
    drop = _ref_positions("CYP2C19", ("*1", "*2", "*17")) | _ref_positions("CYP2C9", ("*2", "*3"))
    full = write_vcf(tmp_path / "full.vcf", ["A", "B", "C"], gene_records("CYP2C19", g19) + gene_records("CYP2C9", g9))
    sparse = write_vcf(tmp_path / "sparse.vcf", ["A", "B", "C"],
                       gene_records("CYP2C19", g19, drop=drop) + gene_records("CYP2C9", g9, drop=drop))
    want = _calls(full)
    got = _calls(sparse, ON)
    for w, g in zip(want, got):
        for gene in ("CYP2C19", "CYP2C9"):
            assert (g.genes[gene].diplotype_text, g.genes[gene].phenotype, g.genes[gene].status) == \
                   (w.genes[gene].diplotype_text, w.genes[gene].phenotype, w.genes[gene].status)
            assert g.genes[gene].missing_positions == []
            assert any("assumed homozygous reference" in x for x in g.genes[gene].warnings)
        assert g.assumptions and g.assumptions[0].startswith("absent_is_reference:")
        assert g.to_dict()["assumptions"] == g.assumptions


def test_only_absent_positions_change_not_filtered_or_no_calls(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    p_nc, p_filt = gd.positions[0].pos, gd.positions[1].pos
    drop = {p.pos for p in gd.positions[4:]}
    recs = gene_records("CYP2C19", [("*38", "*38")], drop=drop, override={p_nc: ["./."]})
    recs = [r.replace("\tPASS\t", "\tLowQual\t") if r.split("\t")[1] == str(p_filt) else r for r in recs]
    vcf = write_vcf(tmp_path / "f.vcf", ["A"], recs)
    c = _calls(vcf, ON)[0].genes["CYP2C19"]
    assert set(c.missing_positions) == {p_nc, p_filt}
    reasons = {p.position: p.missing_reason for p in c.positions}
    assert reasons[p_filt] == "filter:LowQual" and reasons[p_nc] == "no-call"


def test_never_applied_to_a_gvcf(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    drop = _ref_positions("CYP2C19", keep=1)
    first = gd.positions[0].pos
    drop.discard(first)
    recs = gene_records("CYP2C19", [("*38", "*38")], drop=drop)
    # a reference block over the first position makes this a gVCF
    recs = [r for r in recs if r.split("\t")[1] != str(first)]
    recs.append("\t".join([gd.chromosome, str(first), ".", gd.positions[0].ref[0], "<NON_REF>", ".", "PASS",
                           f"END={first}", "GT", "0/0"]))
    vcf = write_vcf(tmp_path / "g.vcf", ["A"], recs)
    batch = read_genotypes(vcf, load_definitions(), calling=ON)
    assert batch.gvcf and batch.assumptions == []
    assert any("not applied: the file is a gVCF" in w for w in batch.warnings)
    c = call_batch(batch, load_definitions())[0].genes["CYP2C19"]
    assert set(c.missing_positions) == drop


def test_gene_without_any_record_is_left_alone(tmp_path):
    vcf = write_vcf(tmp_path / "one.vcf", ["A"], gene_records("CYP2C19", [("*38", "*38")]))
    sc = _calls(vcf, ON)[0]
    assert sc.genes["DPYD"].status == "no_data"
    assert any("not applied" in w for w in sc.genes["DPYD"].warnings)
    assert sc.genes["CYP2C19"].status == "called"


def test_chrx_ploidy_from_the_samples_own_calls(tmp_path):
    gd = load_definitions().genes["G6PD"]
    keep = {p.pos for p in gd.positions[:2]}
    drop = {p.pos for p in gd.positions} - keep
    ref = gd.reference_allele.name
    recs = gene_records("G6PD", [(ref, None), (ref, ref), (ref, ref)], drop=drop,
                        override={p: ["0", "0/0", "./."] for p in keep})
    vcf = write_vcf(tmp_path / "x.vcf", ["male", "female", "unknown"], recs)
    batch = read_genotypes(vcf, load_definitions(), calling=ON)
    gg = batch.genes["G6PD"]
    i = [k for k, p in enumerate(gd.positions) if p.pos in drop]
    assert (gg.a1[0, i] == 0).all() and (gg.a2[0, i] == ABSENT).all()  # haploid reference
    assert (gg.a1[1, i] == 0).all() and (gg.a2[1, i] == 0).all()  # diploid reference
    assert (gg.a1[2, i] == MISSING).all()  # no call to take the ploidy from: stays missing
    calls = call_batch(batch, load_definitions())
    assert calls[0].genes["G6PD"].diplotypes[0].allele2 is None
    assert calls[1].genes["G6PD"].status == "called"
    assert calls[2].genes["G6PD"].status == "no_data"


def test_cli_flag_on_call(tmp_path):
    from typer.testing import CliRunner

    from ehrgen.cli.main import app

    vcf = write_vcf(tmp_path / "c.vcf", ["A"], gene_records("CYP2C19", [("*1", "*17")],
                                                             drop=_ref_positions("CYP2C19", ("*1", "*17"))))
    r = CliRunner().invoke(app, ["call", str(vcf), "--out", str(tmp_path / "o"), "--absent-is-reference"])
    assert r.exit_code == 0, r.output
    import json
    doc = json.loads((tmp_path / "o" / "A.calls.json").read_text())
    assert doc["assumptions"][0].startswith("absent_is_reference:")
    r = CliRunner().invoke(app, ["call", str(vcf), "--out", str(tmp_path / "o2")])
    assert "assumptions" not in json.loads((tmp_path / "o2" / "A.calls.json").read_text())


# -- the real cohort: sparse joint-called file vs the dense one ---------------------------------------------
# A vendored slice (300 people) keeps it quick and lets a clone without ../shared run it; the bench runs the
# whole cohort.
N_SAMPLES = 300


@pytest.fixture(scope="module")
def cohort_calls():
    from cyvcf2 import VCF

    defs = load_definitions()
    samples = list(VCF(str(COHORT / "1kgp-pgx.dense.vcf.gz")).samples)[:N_SAMPLES]
    assert len(samples) == N_SAMPLES, COHORT

    def run(name, calling):
        b = read_genotypes(COHORT / f"1kgp-pgx.{name}.vcf.gz", defs, samples=samples, calling=calling)
        return b, call_batch(b, defs)
    return {"dense": run("dense", None), "sparse": run("sparse", None), "sparse_ref": run("sparse", ON)}


def _key(c):
    return c.diplotype_text, c.phenotype, c.status


def test_cohort_sparse_with_flag_equals_dense(cohort_calls):
    sparse_batch, sparse = cohort_calls["sparse_ref"]
    _, dense = cohort_calls["dense"]
    # genes with at least one record in the sparse file (a gene with none is deliberately left alone)
    covered = [g for g, gg in cohort_calls["sparse"][0].genes.items()
               if len(gg.file_missing) < gg.a1.shape[1]]
    assert len(covered) >= 14
    for s, d in zip(sparse, dense):
        for g in covered:
            assert _key(s.genes[g]) == _key(d.genes[g]), (s.sample, g)
        assert s.assumptions


def _confident(c) -> bool:
    return c.status == "called" and c.phenotype not in (None, "", "Indeterminate")


GENES = sorted(set(load_definitions().vcf_genes) - {"CYP2D6", "HLA-A", "HLA-B", "MT-RNR1"})
KNOWN_WRONG = {"CYP2B6"}  # see the xfail below


def _confidently_wrong(cohort_calls, gene: str) -> list[str]:
    _, sparse = cohort_calls["sparse"]
    _, dense = cohort_calls["dense"]
    return [s.sample for s, d in zip(sparse, dense)
            if _confident(s.genes[gene]) and _key(s.genes[gene]) != _key(d.genes[gene])]


def test_cohort_sparse_without_flag_never_confidently_wrong(cohort_calls):
    """Where the sparse file's missing positions change the answer (dense = the same people with those
    positions present as reference), the sparse call must not be a confident one. One test over every gene
    (a clone without the cohort then skips one test, not twenty)."""
    wrong = {g: w for g in GENES if g not in KNOWN_WRONG and (w := _confidently_wrong(cohort_calls, g))}
    assert not wrong, {g: f"{len(w)} confident sparse call(s) the missing positions change, e.g. {w[:3]}"
                       for g, w in wrong.items()}


@pytest.mark.xfail(strict=True, reason=(
    "known: CYP2B6*7 is matched on its present positions when rs2279343 (785A>G) is absent, while with "
    "785A it is not_called (PharmCAT's partial-position scoring); issue 9"))
def test_cohort_sparse_without_flag_cyp2b6(cohort_calls):
    assert not _confidently_wrong(cohort_calls, "CYP2B6")
