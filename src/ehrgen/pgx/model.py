"""Typed records the calling stage produces (and writes as `<sample>.calls.json`).

Schema `ehrgen.calls/1`:
{
  "schema": "ehrgen.calls/1", "sample": str, "source": {"file": str, "sha256": str, "build": "GRCh38"},
  "ehrgen_version": str, "mappings_version": str,
  "calling": {option: value} (the calling options the file was read with, e.g. min_ref_gq),
  "qc": sample-level QC sums (ehrgen.pgx.qc),
  "genes": {GENE: GeneCall as dict, with its "qc" summary}
}
Fields are only ever added: readers of older files get defaults ("qc" is recomputed from the positions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ehrgen.pgx import qc as qc_summary

CallStatus = Literal["called", "ambiguous", "not_called", "no_data", "outside_call"]
STATUSES: tuple[str, ...] = ("called", "ambiguous", "not_called", "no_data", "outside_call")
INDETERMINATE = "Indeterminate"


@dataclass
class PositionGenotype:
    """The genotype read at one definition position (alleles as VCF bases, '.' = missing)."""

    position: int
    rsid: str | None
    alleles: list[str]  # e.g. ["C", "T"]; [] when missing
    phased: bool = False
    missing_reason: str | None = None  # "not in file", "no-call", "filter:LowQual", ...


@dataclass
class Diplotype:
    """One candidate diplotype with its interpretation."""

    allele1: str
    allele2: str | None  # None for haploid (chrX in males)
    score: int = 0
    functions: list[str | None] = field(default_factory=list)
    activity_values: list[str | None] = field(default_factory=list)
    phenotype: str | None = None
    activity_score: str | None = None

    @property
    def name(self) -> str:
        return self.allele1 if self.allele2 is None else f"{self.allele1}/{self.allele2}"


@dataclass
class GeneCall:
    gene: str
    status: CallStatus
    diplotypes: list[Diplotype] = field(default_factory=list)  # every tied top-scoring candidate
    phenotype: str | None = None  # CPIC term; "Indeterminate" when candidates disagree
    activity_score: str | None = None
    source: Literal["vcf", "outside"] = "vcf"
    phased: bool = False
    positions: list[PositionGenotype] = field(default_factory=list)
    missing_positions: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # key the rules look up (phenotype, activity score, or allele status such as HLA-B "*57:01 positive")
    lookup: dict[str, str] = field(default_factory=dict)

    @property
    def diplotype_text(self) -> str:
        return " OR ".join(d.name for d in self.diplotypes)

    @property
    def qc(self) -> dict[str, Any]:
        """Positions read / missing (by reason) / covered only by low-GQ reference calls (ehrgen.pgx.qc)."""
        return qc_summary.gene_qc(self.positions).to_dict()

    def to_dict(self) -> dict[str, Any]:
        from ehrgen import fastpath

        d = self._plain_dict() if fastpath.enabled() else asdict(self)
        d["diplotype_text"] = self.diplotype_text
        d["qc"] = self.qc
        return d

    def _plain_dict(self) -> dict[str, Any]:
        """What asdict gives (fields in order, lists and dicts copied), without its per-leaf deepcopy: a cohort's
        calls.json spent most of its time there. Kept in step with the fields by tests/pgx/test_calls_output.py."""
        return {
            "gene": self.gene, "status": self.status,
            "diplotypes": [{"allele1": x.allele1, "allele2": x.allele2, "score": x.score,
                            "functions": list(x.functions), "activity_values": list(x.activity_values),
                            "phenotype": x.phenotype, "activity_score": x.activity_score} for x in self.diplotypes],
            "phenotype": self.phenotype, "activity_score": self.activity_score, "source": self.source,
            "phased": self.phased,
            "positions": [{"position": p.position, "rsid": p.rsid, "alleles": list(p.alleles), "phased": p.phased,
                           "missing_reason": p.missing_reason} for p in self.positions],
            "missing_positions": list(self.missing_positions), "warnings": list(self.warnings),
            "lookup": dict(self.lookup),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneCall":
        d = dict(d)
        d.pop("diplotype_text", None)
        d.pop("qc", None)  # derived from the positions
        d["diplotypes"] = [Diplotype(**x) for x in d.get("diplotypes", [])]
        d["positions"] = [PositionGenotype(**x) for x in d.get("positions", [])]
        return cls(**d)


@dataclass
class SampleCalls:
    sample: str
    genes: dict[str, GeneCall]
    source_file: str = ""
    source_sha256: str = ""
    ehrgen_version: str = ""
    mappings_version: str = ""
    warnings: list[str] = field(default_factory=list)
    # assumptions the calls rest on (e.g. "absent_is_reference: ..."); written only when there are some
    assumptions: list[str] = field(default_factory=list)
    # the calling options the VCF was read with (min_ref_gq, min_gp, ...); written only when known
    calling: dict[str, Any] = field(default_factory=dict)

    @property
    def qc(self) -> dict[str, Any]:
        return qc_summary.sample_qc({g: c.qc for g, c in self.genes.items()})

    def to_dict(self, gene_dicts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """`gene_dicts`: the genes already converted (GeneCall.to_dict), e.g. memoised across a cohort."""
        genes = gene_dicts if gene_dicts is not None else {g: c.to_dict() for g, c in self.genes.items()}
        d = {
            "schema": "ehrgen.calls/1",
            "sample": self.sample,
            "source": {"file": self.source_file, "sha256": self.source_sha256, "build": "GRCh38"},
            "ehrgen_version": self.ehrgen_version,
            "mappings_version": self.mappings_version,
            "warnings": self.warnings,
        }
        if self.calling:
            d["calling"] = dict(self.calling)
        d["qc"] = qc_summary.sample_qc({g: gd.get("qc") or {} for g, gd in genes.items()})
        d["genes"] = genes
        if self.assumptions:
            d["assumptions"] = list(self.assumptions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SampleCalls":
        if d.get("schema") != "ehrgen.calls/1":
            raise ValueError(f"not an ehrgen calls file (schema={d.get('schema')!r})")
        return cls(
            sample=d["sample"],
            genes={g: GeneCall.from_dict(c) for g, c in d["genes"].items()},
            source_file=d.get("source", {}).get("file", ""),
            source_sha256=d.get("source", {}).get("sha256", ""),
            ehrgen_version=d.get("ehrgen_version", ""),
            mappings_version=d.get("mappings_version", ""),
            warnings=d.get("warnings", []),
            assumptions=d.get("assumptions", []),
            calling=d.get("calling", {}),
        )
