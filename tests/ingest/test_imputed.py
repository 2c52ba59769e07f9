"""Imputed array data: low GP / DS genotypes and low-R2 sites count as missing, with the reason per position;
files without GP/DS/R2 read exactly as before."""

from __future__ import annotations

from ehrgen.ingest.vcf import read_genotypes
from ehrgen.pgx.genotype_codes import MISSING
from ehrgen.pgx.caller import call_batch
from ehrgen.pgx.definitions import load_definitions
from ehrgen.settings import CallingSettings
from tests.pgx.vcf_factory import header

GENE = "CYP2C19"
EXTRA = ['##INFO=<ID=R2,Number=1,Type=Float,Description="Estimated imputation accuracy">',
         '##INFO=<ID=DR2,Number=1,Type=Float,Description="Dosage R-squared">',
         '##FORMAT=<ID=GP,Number=G,Type=Float,Description="Genotype probabilities">',
         '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Dosage">']


def _vcf(tmp_path, rows: dict[int, tuple[str, str, list[str]]], samples=("A", "B")):
    """rows: position index -> (INFO, FORMAT, per-sample values); other positions hom-ref GT only."""
    gd = load_definitions().genes[GENE]
    recs = []
    for i, p in enumerate(gd.positions):
        if len(p.ref) != 1 or any(len(a) != 1 for a in p.alts):
            continue  # SNVs only: enough for these tests
        info, fmt, vals = rows.get(i, (".", "GT", ["0/0"] * len(samples)))
        recs.append("\t".join([gd.chromosome, str(p.pos), ".", p.ref, p.alts[0], ".", "PASS", info, fmt, *vals]))
    path = tmp_path / "imp.vcf"
    path.write_text(header(list(samples), extra=EXTRA) + "\n".join(recs) + "\n")
    return path, gd


def _snv(gd, k=0):
    return [i for i, p in enumerate(gd.positions) if len(p.ref) == 1 and all(len(a) == 1 for a in p.alts)][k]


def test_low_gp_genotype_is_missing_with_reason(tmp_path):
    gd = load_definitions().genes[GENE]
    i = _snv(gd)
    path, gd = _vcf(tmp_path, {i: ("R2=0.99", "GT:GP", ["0/1:0.05,0.6,0.35", "0/1:0.01,0.97,0.02"])})
    b = read_genotypes(path, load_definitions())
    gg = b.genes[GENE]
    assert gg.a1[0, i] == MISSING and gg.a2[0, i] == MISSING  # max GP 0.6 < 0.9
    assert gg.a1[1, i] == 0 and gg.a2[1, i] == 1
    calls = call_batch(b, load_definitions())
    pos = {p.position: p for p in calls[0].genes[GENE].positions}
    assert pos[gd.positions[i].pos].missing_reason == "low_gp"
    assert gd.positions[i].pos in calls[0].genes[GENE].missing_positions
    assert any("low_gp" in w for w in calls[0].genes[GENE].warnings)
    pos_b = {p.position: p for p in calls[1].genes[GENE].positions}
    assert pos_b[gd.positions[i].pos].missing_reason is None


def test_low_r2_site_is_missing_for_everyone(tmp_path):
    gd = load_definitions().genes[GENE]
    i, j = _snv(gd, 0), _snv(gd, 1)
    path, gd = _vcf(tmp_path, {i: ("R2=0.42", "GT:GP", ["0/0:0.99,0.01,0", "0/0:0.99,0.01,0"]),
                               j: ("DR2=0.95", "GT:GP", ["0/0:0.99,0.01,0", "0/0:0.99,0.01,0"])})
    b = read_genotypes(path, load_definitions())
    gg = b.genes[GENE]
    assert gg.file_missing[i] == "low_r2" and (gg.a1[:, i] == MISSING).all()
    assert j not in gg.file_missing and (gg.a1[:, j] == 0).all()
    c = call_batch(b, load_definitions())[0].genes[GENE]
    assert {p.position: p.missing_reason for p in c.positions}[gd.positions[i].pos] == "low_r2"
    assert any("R2=0.42" in w for w in c.warnings)


def test_thresholds_come_from_settings(tmp_path):
    gd = load_definitions().genes[GENE]
    i = _snv(gd)
    path, _ = _vcf(tmp_path, {i: ("R2=0.5", "GT:GP", ["0/1:0.1,0.8,0.1", "0/0:0.99,0.01,0"])})
    lax = CallingSettings(min_gp=0.7, min_imputation_r2=0.3)
    gg = read_genotypes(path, load_definitions(), calling=lax).genes[GENE]
    assert i not in gg.file_missing and gg.a2[0, i] == 1
    gg = read_genotypes(path, load_definitions()).genes[GENE]  # defaults 0.9 / 0.8
    assert gg.file_missing[i] == "low_r2"


def test_gp_that_disagrees_with_gt_and_ds_only(tmp_path):
    gd = load_definitions().genes[GENE]
    i, j = _snv(gd, 0), _snv(gd, 1)
    path, _ = _vcf(tmp_path, {i: (".", "GT:GP", ["0/0:0.0,0.02,0.98", "0/0:0.98,0.02,0"]),
                              j: (".", "GT:DS", ["0/1:0.7", "0/1:1.02"])})
    b = read_genotypes(path, load_definitions())
    gg = b.genes[GENE]
    assert gg.a1[0, i] == MISSING and gg.a1[1, i] == 0  # GP says 1/1, GT says 0/0
    assert gg.a1[0, j] == MISSING and gg.a2[1, j] == 1  # dosage 0.7 is not a confident 1
    calls = call_batch(b, load_definitions())
    reasons = {p.position: p.missing_reason for p in calls[0].genes[GENE].positions}
    assert reasons[gd.positions[i].pos] == "gp_disagrees" and reasons[gd.positions[j].pos] == "low_ds"


def test_haploid_gp_and_no_imputation_fields(tmp_path):
    gd = load_definitions().genes["G6PD"]
    p = next(p for p in gd.positions if len(p.ref) == 1 and all(len(a) == 1 for a in p.alts))
    rec = "\t".join([gd.chromosome, str(p.pos), ".", p.ref, p.alts[0], ".", "PASS", ".", "GT:GP", "0:0.6,0.4",
                     "1:0.01,0.99"])
    path = tmp_path / "x.vcf"
    path.write_text(header(["M1", "M2"], extra=EXTRA) + rec + "\n")
    gg = read_genotypes(path, load_definitions(), genes=["G6PD"]).genes["G6PD"]
    k = gd.positions.index(p)
    assert gg.a1[0, k] == MISSING and gg.a1[1, k] == 1
    # a plain sequencing VCF (no GP/DS/R2): nothing is marked
    plain = tmp_path / "plain.vcf"
    plain.write_text(header(["M1"]) + "\t".join([gd.chromosome, str(p.pos), ".", p.ref, p.alts[0], ".", "PASS",
                                                 ".", "GT", "1"]) + "\n")
    gg = read_genotypes(plain, load_definitions(), genes=["G6PD"]).genes["G6PD"]
    assert gg.low_quality is None and gg.a1[0, k] == 1
