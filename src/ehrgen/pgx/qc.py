"""Per-gene and per-sample QC summary of the calls: how many defining positions were read, how many are missing
and why (pure functions over the positions a GeneCall already carries, so the summary can never disagree
with the per-position detail or with `missing_positions`).

calls.json contract (added in ehrgen.calls/1, fields only ever added):
  gene:   "qc": {"positions": N, "read": N, "missing": N, "missing_by_reason": {"<reason>": N, ...},
                 "low_quality_ref_blocks": N, "partial_calls": N}
  sample: "qc": the same sums over the genes read from the VCF, plus "genes": N and "genes_with_missing": [...]
- read: the position has a genotype the matcher used (a `1/.` partial call is read, and also counted in
  partial_calls); missing: it has none (exactly `missing_positions`);
- reasons as the reader names them: "not in file", "no-call", "filter:<FILTER>", "low_r2", "low_gp",
  "gp_disagrees", "low_ds", "low_ref_gq", "partial_call" (`0/.`), ...;
- low_quality_ref_blocks: positions covered only by a gVCF reference block (or a 0/0 call) with GQ below
  `calling.min_ref_gq`, counted missing (reason low_ref_gq), never as reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ehrgen.pgx.genotype_codes import LOW_REF_GQ, NO_CALL, SAMPLE_REASONS

if TYPE_CHECKING:  # pragma: no cover
    from ehrgen.pgx.model import PositionGenotype

LOW_REF_GQ_REASON = SAMPLE_REASONS[LOW_REF_GQ]  # "low_ref_gq"


@dataclass
class GeneQc:
    positions: int = 0
    read: int = 0
    missing: int = 0
    missing_by_reason: dict[str, int] = field(default_factory=dict)
    low_quality_ref_blocks: int = 0
    partial_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing_by_reason"] = dict(sorted(self.missing_by_reason.items()))
        return d


def gene_qc(positions: Iterable["PositionGenotype"]) -> GeneQc:
    qc = GeneQc()
    for p in positions:
        qc.positions += 1
        if p.alleles:
            qc.read += 1
            if "." in p.alleles:
                qc.partial_calls += 1
            continue
        qc.missing += 1
        reason = p.missing_reason or NO_CALL
        qc.missing_by_reason[reason] = qc.missing_by_reason.get(reason, 0) + 1
        if reason == LOW_REF_GQ_REASON:
            qc.low_quality_ref_blocks += 1
    return qc


def sample_qc(gene_qcs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sums over the genes' qc dicts (genes without positions, i.e. outside calls, add nothing)."""
    total = GeneQc()
    with_missing = []
    n = 0
    for gene, q in sorted(gene_qcs.items()):
        if not q or not q.get("positions"):
            continue
        n += 1
        total.positions += int(q.get("positions", 0))
        total.read += int(q.get("read", 0))
        total.missing += int(q.get("missing", 0))
        total.low_quality_ref_blocks += int(q.get("low_quality_ref_blocks", 0))
        total.partial_calls += int(q.get("partial_calls", 0))
        for r, k in (q.get("missing_by_reason") or {}).items():
            total.missing_by_reason[r] = total.missing_by_reason.get(r, 0) + int(k)
        if q.get("missing"):
            with_missing.append(gene)
    return {**total.to_dict(), "genes": n, "genes_with_missing": with_missing}
