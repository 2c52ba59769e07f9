"""calls.json: the memoised cohort writer gives the same bytes as the plain one, and reads back."""

from __future__ import annotations

from pathlib import Path

from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.output import read_sample_calls, write_sample_calls

SD = Path(__file__).resolve().parents[2] / "sample_data"
COHORT = Path(__file__).resolve().parents[1] / "data" / "1kgp-pgx"


def _both(tmp_path: Path, vcf: Path) -> int:
    calls = call_vcf(vcf)
    plain, memo_dir = tmp_path / "plain", tmp_path / "memo"
    memo: dict[int, dict] = {}
    for c in calls:
        a = write_sample_calls(c, plain)
        b = write_sample_calls(c, memo_dir, memo)
        assert a.read_bytes() == b.read_bytes(), c.sample
        assert read_sample_calls(b).to_dict() == c.to_dict()
    return len(memo)


def test_memoised_writer_is_byte_identical_on_sample_data(tmp_path):
    _both(tmp_path, SD / "vcf" / "multisample.vcf")


def test_memoised_writer_is_byte_identical_on_real_genotypes(tmp_path):
    vcf = next(COHORT.glob("*dense*.vcf.gz"))
    distinct = _both(tmp_path, vcf)
    assert distinct < 300 * 19  # people share gene calls: that is what the memo saves


def test_gene_dict_fast_path_equals_asdict_on_every_field(tmp_path):
    """GeneCall.to_dict's hand-written conversion must follow the dataclass fields exactly (a new field that the
    fast path forgets would silently drop from calls.json)."""
    from dataclasses import asdict, fields

    from ehrgen.pgx.model import Diplotype, GeneCall, PositionGenotype

    names = [f.name for f in fields(GeneCall)]
    assert [f.name for f in fields(Diplotype)] == ["allele1", "allele2", "score", "functions", "activity_values",
                                                   "phenotype", "activity_score"]
    assert [f.name for f in fields(PositionGenotype)] == ["position", "rsid", "alleles", "phased", "missing_reason"]
    for c in call_vcf(next(COHORT.glob("*dense*.vcf.gz")))[:40]:
        for gc in c.genes.values():
            fast = gc._plain_dict()
            assert list(fast) == names and fast == asdict(gc)
