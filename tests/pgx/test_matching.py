"""Per-gene calling on small VCFs built from the definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from tests.pgx.vcf_factory import allele_bases, gene_records, write_vcf


def call(tmp_path: Path, gene: str, genotypes, **kw):
    samples = [f"S{i}" for i in range(len(genotypes))]
    rec_kw = {k: kw.pop(k) for k in ("phased", "drop", "override", "chr_prefix") if k in kw}
    p = write_vcf(tmp_path / "t.vcf", samples, gene_records(gene, genotypes, **rec_kw),
                  chr_prefix=rec_kw.get("chr_prefix", True))
    return [c.genes[gene] for c in call_vcf(p, **kw)]


@pytest.mark.parametrize("gene,a,b,dip,pheno", [
    ("CYP2C19", "*38", "*38", "*38/*38", "Normal Metabolizer"),
    ("CYP2C19", "*1", "*2", "*1/*2", "Intermediate Metabolizer"),
    ("CYP2C19", "*2", "*2", "*2/*2", "Poor Metabolizer"),
    ("CYP2C19", "*1", "*17", "*1/*17", "Rapid Metabolizer"),
    ("CYP2C9", "*1", "*3", "*1/*3", "Intermediate Metabolizer"),
    ("TPMT", "*3A", "*3A", "*3A/*3A", "Poor Metabolizer"),
    ("SLCO1B1", "*5", "*5", "*5/*5", "Poor Function"),
    ("CYP3A5", "*1", "*3", "*1/*3", "Intermediate Metabolizer"),
    ("UGT1A1", "*1", "*28", "*1/*28", "Intermediate Metabolizer"),  # TA-repeat indel
    ("NUDT15", "*1", "*3", "*1/*3", "Intermediate Metabolizer"),
])
def test_hom_ref_het_hom_alt(tmp_path, gene, a, b, dip, pheno):
    got = call(tmp_path, gene, [(a, b)])[0]
    assert got.status == "called"
    assert got.diplotype_text == dip
    assert got.phenotype == pheno
    assert got.lookup["phenotype"] == pheno


def test_activity_scores(tmp_path):
    c9 = call(tmp_path, "CYP2C9", [("*1", "*3")])[0]
    assert c9.activity_score == "1.0"
    dpyd = call(tmp_path, "DPYD", [("c.1905+1G>A (*2A)", "c.1905+1G>A (*2A)")])[0]
    assert dpyd.activity_score == "0.0" and dpyd.phenotype == "Poor Metabolizer"


def test_nat2_unphased_priority_is_applied_with_a_note(tmp_path):
    # *5/*15, *6/*29, *30/*46 fit the same unphased data: PharmCAT's priority list picks *5/*15
    got = call(tmp_path, "NAT2", [("*5", "*15")])[0]
    assert got.status == "called" and got.diplotype_text == "*5/*15"
    assert any("priority rule" in w and "*30/*46" in w for w in got.warnings)


def test_nat2_priority_wins_over_a_higher_scoring_fit(tmp_path):
    # PharmCAT applies the list when all its diplotypes fit, whatever their scores (measured on the oracle)
    got = call(tmp_path, "NAT2", [("*5", "*36")])[0]
    assert got.diplotype_text == "*5/*36"


def test_missing_star17_position_is_reported_missing(tmp_path):
    # rs12248560 (the only *17 position) missing: measured on PharmCAT 3.1.1, *1 (defined at every position)
    # still outscores *17 (score 0), so *1/*1; the missing position is listed, never assumed reference
    got = call(tmp_path, "CYP2C19", [("*1", "*1")], drop={94761900})[0]
    assert got.diplotype_text == "*1/*1" and got.missing_positions == [94761900]
    assert any("not assumed reference" in w for w in got.warnings)


def test_g6pd_chatham_male_and_female(tmp_path):
    male = call(tmp_path, "G6PD", [("Chatham", None)])[0]
    assert male.diplotype_text == "Chatham" and "Deficient" in (male.phenotype or "")
    het = call(tmp_path, "G6PD", [("B (reference)", "Chatham")])[0]
    assert "Chatham" in het.diplotype_text and het.status == "called"
    hom = call(tmp_path, "G6PD", [("Chatham", "Chatham")])[0]
    assert hom.diplotype_text == "Chatham/Chatham" and "Deficient" in (hom.phenotype or "")


def test_phased_data_resolves_the_tie(tmp_path):
    got = call(tmp_path, "NAT2", [("*5", "*15")], phased=True)[0]
    assert got.status == "called" and got.diplotype_text == "*5/*15" and got.phased


def test_missing_positions_are_not_assumed_reference(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    star2 = next(a for a in gd.alleles if a.name == "*2")
    # drop every position that defines *2 except the shared *1/*38 split: *2 can no longer be seen
    drop = {gd.positions[i].pos for i in range(len(gd.positions)) if star2.defined[i]
            and gd.positions[i].pos != 94842866}
    got = call(tmp_path, "CYP2C19", [("*2", "*2")], drop=drop)[0]
    assert got.missing_positions and set(got.missing_positions) == drop
    assert "*2/*2" not in got.diplotype_text
    assert any("not assumed reference" in w for w in got.warnings)


def test_missing_key_position_makes_an_indeterminate_tie(tmp_path):
    # TPMT *3A = *3B + *3C positions; with the *3C position missing, *1/*3B and *1/*3A... are not distinguishable
    gd = load_definitions().genes["TPMT"]
    star3c = next(a for a in gd.alleles if a.name == "*3C")
    pos3c = [gd.positions[i].pos for i in range(len(gd.positions)) if star3c.defined[i]]
    got = call(tmp_path, "TPMT", [("*1", "*3A")], drop=set(pos3c))[0]
    assert got.status in ("ambiguous", "called")
    names = got.diplotype_text.split(" OR ")
    assert "*1/*3B" in names or "*1/*3A" in names
    assert got.missing_positions == pos3c


def test_no_call_is_missing_not_reference(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    star2_pos = [gd.positions[i].pos for i in range(len(gd.positions))
                 if next(a for a in gd.alleles if a.name == "*2").defined[i] and gd.positions[i].pos != 94842866]
    got = call(tmp_path, "CYP2C19", [("*1", "*1")], override={p: ["./."] for p in star2_pos})[0]
    assert set(got.missing_positions) == set(star2_pos)
    assert any(p.missing_reason == "no-call" for p in got.positions)


def test_all_positions_missing_is_no_data(tmp_path):
    gd = load_definitions().genes["CYP3A5"]
    got = call(tmp_path, "CYP3A5", [("*1", "*1")], override={p.pos: ["./."] for p in gd.positions})[0]
    assert got.status == "no_data" and got.diplotypes == []


def test_undocumented_allele_is_not_called(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    p = gd.positions[0]
    rec = "\t".join(["chr10", str(p.pos), ".", p.ref, "A" if "A" not in p.alleles else "G", ".", "PASS", ".", "GT",
                     "0/1"])
    others = [r for r in gene_records("CYP2C19", [("*38", "*38")]) if f"\t{p.pos}\t" not in r]
    path = write_vcf(tmp_path / "u.vcf", ["S0"], others + [rec])
    got = call_vcf(path)[0].genes["CYP2C19"]
    assert got.status == "not_called"
    assert any("not in the definitions" in w for w in got.warnings)


def test_undocumented_allele_is_reference_for_toxicity_genes(tmp_path):
    gd = load_definitions().genes["TPMT"]
    p = gd.positions[0]
    new = next(b for b in "ACGT" if b not in p.alleles)
    rec = "\t".join([gd.chromosome, str(p.pos), ".", p.ref, new, ".", "PASS", ".", "GT", "0/1"])
    others = [r for r in gene_records("TPMT", [("*1", "*1")]) if f"\t{p.pos}\t" not in r]
    got = call_vcf(write_vcf(tmp_path / "u.vcf", ["S0"], others + [rec]))[0].genes["TPMT"]
    assert got.status == "called" and got.diplotype_text == "*1/*1"
    assert any("treated as reference" in w for w in got.warnings)


def test_gvcf_reference_blocks_are_reference_calls(tmp_path):
    gd = load_definitions().genes["CYP2C19"]
    lo, hi = gd.positions[0].pos, gd.positions[-1].pos
    # one block covering the gene, plus a real het *2 record inside it
    star2 = allele_bases(gd, "*2")
    recs = [f"chr10\t{lo - 10}\t.\tN\t<NON_REF>\t.\tPASS\tEND={hi + 10}\tGT\t0/0"]
    for i, p in enumerate(gd.positions):
        if star2[i] != gd.positions[i].ref:
            recs.append(f"chr10\t{p.pos}\t.\t{p.ref}\t{star2[i]},<NON_REF>\t.\tPASS\t.\tGT\t0/1")
    got = call_vcf(write_vcf(tmp_path / "g.vcf", ["S0"], recs))[0].genes["CYP2C19"]
    # 94842866 is G in *1/*2 but A (ref) in *38: the block says reference -> *38-backbone
    assert got.missing_positions == []
    assert got.status == "called", got.warnings
    assert got.diplotype_text in ("*2/*38",)


def test_non_pass_filter_is_missing(tmp_path):
    gd = load_definitions().genes["CYP3A5"]
    recs = gene_records("CYP3A5", [("*1", "*3")])
    p = gd.positions[0].pos
    recs = [r.replace("\tPASS\t", "\tLowQual\t") if f"\t{p}\t" in r else r for r in recs]
    got = call_vcf(write_vcf(tmp_path / "f.vcf", ["S0"], recs))[0].genes["CYP3A5"]
    assert p in got.missing_positions
    assert next(x for x in got.positions if x.position == p).missing_reason == "filter:LowQual"


def test_split_multiallelic_records_are_joined(tmp_path):
    # UGT1A1 TA repeat: *28 (TA8) and *37 (TA9) on two split records at one position
    gd = load_definitions().genes["UGT1A1"]
    p = next(x for x in gd.positions if len(x.alts) > 1)
    recs = [r for r in gene_records("UGT1A1", [("*1", "*1")]) if f"\t{p.pos}\t" not in r]
    recs.append(f"chr2\t{p.pos}\t.\t{p.ref}\t{allele_bases(gd, '*28')[gd.positions.index(p)]}\t.\tPASS\t.\tGT\t0/1")
    recs.append(f"chr2\t{p.pos}\t.\t{p.ref}\t{allele_bases(gd, '*37')[gd.positions.index(p)]}\t.\tPASS\t.\tGT\t0/1")
    got = call_vcf(write_vcf(tmp_path / "m.vcf", ["S0"], recs))[0].genes["UGT1A1"]
    assert got.diplotype_text == "*28/*37"


def test_equivalent_indel_representation(tmp_path):
    # C>CAT written instead of CAT>CATAT for UGT1A1*28 (same insertion, other trailing context)
    gd = load_definitions().genes["UGT1A1"]
    p = next(x for x in gd.positions if len(x.alts) > 1)
    recs = [r for r in gene_records("UGT1A1", [("*1", "*1")]) if f"\t{p.pos}\t" not in r]
    recs.append(f"chr2\t{p.pos}\t.\tC\tCAT\t.\tPASS\t.\tGT\t1/1")
    got = call_vcf(write_vcf(tmp_path / "e.vcf", ["S0"], recs))[0].genes["UGT1A1"]
    assert got.diplotype_text == "*28/*28"


def test_overlapping_unnormalised_indel_is_reported(tmp_path):
    gd = load_definitions().genes["UGT1A1"]
    p = next(x for x in gd.positions if len(x.alts) > 1)
    recs = [r for r in gene_records("UGT1A1", [("*1", "*1")]) if f"\t{p.pos}\t" not in r]
    recs.append(f"chr2\t{p.pos - 1}\t.\tNCAT\tN\t.\tPASS\t.\tGT\t0/1")
    got = call_vcf(write_vcf(tmp_path / "o.vcf", ["S0"], recs))[0].genes["UGT1A1"]
    assert p.pos in got.missing_positions
    assert any("overlaps" in w for w in got.warnings)


def test_chr_prefix_or_not(tmp_path):
    a = call(tmp_path, "CYP2C9", [("*1", "*2")], chr_prefix=False)[0]
    assert a.diplotype_text == "*1/*2"


def test_haploid_chrx(tmp_path):
    got = call(tmp_path, "G6PD", [("A- 202A_376G", None), ("B (reference)", None)])
    assert got[0].diplotype_text == "A- 202A_376G" and got[0].diplotypes[0].allele2 is None
    assert got[0].phenotype == "Deficient"
    assert got[1].diplotype_text == "B (reference)" and got[1].phenotype == "Normal"


def test_dpyd_unphased_lowest_function_rule(tmp_path):
    # two different decreased/no-function variants, unphased: presumed on different strands
    got = call(tmp_path, "DPYD", [("c.1905+1G>A (*2A)", "c.2846A>T")])[0]
    assert got.status == "called"
    assert got.activity_score == "0.5"  # 0 (*2A) + 0.5 (c.2846A>T)
    assert got.phenotype == "Poor Metabolizer"


def test_multi_sample_patterns_share_work(tmp_path):
    gts = [("*1", "*2"), ("*2", "*2"), ("*1", "*2"), ("*38", "*38")]
    got = call(tmp_path, "CYP2C19", gts)
    assert [g.diplotype_text for g in got] == ["*1/*2", "*2/*2", "*1/*2", "*38/*38"]
    assert got[0] is got[2]  # same genotype pattern computed once


def test_sample_selection(tmp_path):
    got = call(tmp_path, "CYP2C19", [("*1", "*2"), ("*2", "*2")], samples=["S1"])
    assert len(got) == 1 and got[0].diplotype_text == "*2/*2"


def test_indeterminate_when_tied_candidates_disagree():
    from ehrgen.pgx.matcher import summarise
    from ehrgen.pgx.model import Diplotype
    w: list[str] = []
    status, pheno, score = summarise("X", [Diplotype("*1", "*2", phenotype="Normal Metabolizer"),
                                           Diplotype("*3", "*4", phenotype="Poor Metabolizer")], w)
    assert status == "ambiguous" and pheno == "Indeterminate" and w
