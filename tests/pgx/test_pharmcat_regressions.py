"""Differences the PharmCAT differential run found (tools/pharmcat_diff.py), kept as plain unit tests that need no
oracle: each expected answer is PharmCAT 3.1.1's own, or, where ehrgen deliberately says less, PharmCAT's answer
plus the candidates ehrgen keeps."""

from __future__ import annotations

from ehrgen.pgx.definitions import load_definitions
from tests.pgx.test_matching import call


def _ref(gene: str) -> str:
    return load_definitions().genes[gene].reference_allele.name


def _sub(tmp_path, name: str):
    (tmp_path / name).mkdir()
    return tmp_path / name


def _dips(c) -> set[str]:
    """Diplotypes as PharmCAT's harness compares them: the two names sorted."""
    return {"/".join(sorted(d.name.split("/"))) for d in c.diplotypes}


def test_chrx_partial_call_in_a_woman_is_not_called(tmp_path):
    # '0/.' on chrX reads as one allele (PharmCAT): with her other diploid calls G6PD is mixed ploidy, not
    # a confident B (reference)/B (reference)
    got = call(tmp_path, "G6PD", [(_ref("G6PD"), _ref("G6PD"))], override={154546116: ["./0"]})[0]
    assert got.status == "not_called" and any("mixed haploid" in w for w in got.warnings)


def test_partial_call_on_an_autosome_is_a_missing_position(tmp_path):
    got = call(tmp_path, "CYP2C9", [("*1", "*1")], override={94981296: ["0/."]})[0]
    assert 94981296 in got.missing_positions


def test_dpyd_hapb3_takes_its_intronic_snp(tmp_path):
    # both HapB3 SNPs and c.967G>A heterozygous, unphased: HapB3 + c.967G>A (PharmCAT), never the intronic
    # SNP counted a second time as the allele c.1129-5923C>G
    ref = _ref("DPYD")
    het = {97573863: ["0/1"], 97579893: ["0/1"], 97593379: ["1/0"]}
    got = call(tmp_path, "DPYD", [(ref, ref)], override=het)[0]
    assert _dips(got) == {"c.1129-5923C>G, c.1236G>A (HapB3)/c.967G>A"}
    got = call(_sub(tmp_path, "b"), "DPYD", [(ref, ref)], override={97573863: ["0/1"], 97579893: ["1/0"]})[0]
    assert _dips(got) == {"/".join(sorted([ref, "c.1129-5923C>G, c.1236G>A (HapB3)"]))}
    got = call(_sub(tmp_path, "c"), "DPYD", [(ref, ref)], override={97573863: ["1/1"], 97579893: ["1/1"]})[0]
    assert _dips(got) == {"c.1129-5923C>G, c.1236G>A (HapB3)/c.1129-5923C>G, c.1236G>A (HapB3)"}


def test_ryr1_two_alts_at_one_site_are_one_per_strand(tmp_path):
    ref = _ref("RYR1")
    got = call(tmp_path, "RYR1", [(ref, ref)], override={38444212: ["1/2"]})[0]
    assert _dips(got) == {"c.488G>A/c.488G>T"}  # not Reference/[c.488G>A + c.488G>T]


def test_ambiguity_cell_scores_only_with_a_non_reference_base(tmp_path):
    # CYP2B6 *18 is 'R' at 41009358: PharmCAT ties *6/*18, *9/*18 and *18/*39 here (41004380 absent)
    got = call(tmp_path, "CYP2B6", [("*1", "*1")], drop={41004380},
               override={41006936: ["1/0"], 41009358: ["1/0"], 41012316: ["0/1"]})[0]
    assert {"*18/*6", "*18/*9", "*18/*39"} <= _dips(got)


def test_unassessable_allele_is_listed_and_blocks_the_nat2_priority(tmp_path):
    # *41 is defined only at 18400581 (absent): PharmCAT ties *1/*49 and *1/*5 and does not apply the
    # *1/*49|*5/*41 priority; ehrgen lists the same two plus the diplotypes with *41, which it cannot exclude
    ref = _ref("NAT2")
    got = call(tmp_path, "NAT2", [(ref, ref)], drop={18400581}, override={18400344: ["1/0"]})[0]
    dips = _dips(got)
    assert {"/".join(sorted([ref, "*49"])), "/".join(sorted([ref, "*5"]))} <= dips
    assert any("*41" in d for d in dips)
    assert not any("priority rule" in w for w in got.warnings)
    assert any("can be neither confirmed nor excluded" in w for w in got.warnings)


def test_ambiguity_cell_with_the_variant_base_scores(tmp_path):
    # CYP2C19 *4 is 'Y' at 94761900: carrying T there it ties with *17 (PharmCAT: *4/*18 | *17/*18)
    got = call(tmp_path, "CYP2C19", [("*38", "*38")],
               override={94761900: ["0/1"], 94762706: ["./."], 94775367: ["./."], 94842861: ["1/0"],
                         94842866: ["1/1"]})[0]
    assert {"*17/*18", "*18/*4"} <= _dips(got)
