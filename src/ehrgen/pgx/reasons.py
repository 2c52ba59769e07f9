"""Name the per-sample reason at each position whose genotype the reader counted missing (pure, no I/O).

The reader stores one reason code per (sample, position) (ehrgen.pgx.genotype_codes.SAMPLE_REASONS: an
imputed genotype too uncertain to use, a reference call below `calling.min_ref_gq`, a `0/.` partial call).
The matcher sees only MISSING; this puts the reason on the position and a warning on the gene, so the QC
summary and the report can say why, not only that, a position is missing.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Callable

import numpy as np

from ehrgen.pgx.genotype_codes import IMPUTED_REASONS, SAMPLE_REASONS
from ehrgen.pgx.model import GeneCall


def reason_warnings(gene: str, reasons: list[str]) -> list[str]:
    """One warning per kind of reason (the reasons of one sample's missing positions, with repeats)."""
    out = []
    imputed = sorted({r for r in reasons if r in IMPUTED_REASONS})
    if imputed:
        n = sum(1 for r in reasons if r in IMPUTED_REASONS)
        out.append(f"{gene}: {n} imputed genotype(s) too uncertain to use counted as missing ({', '.join(imputed)})")
    n_ref = reasons.count("low_ref_gq")
    if n_ref:
        out.append(f"{gene}: {n_ref} position(s) covered only by a reference call with GQ below calling.min_ref_gq "
                   "counted as missing, not as reference (low_ref_gq)")
    return out


def call_with_reasons(gd, sample_reasons: np.ndarray, call_column: Callable[[], list[GeneCall]]) -> list[GeneCall]:
    """Call a gene column with `call_column`, then name the reason at each position where a sample's genotype
    was dropped. `sample_reasons`: (n_samples, n_positions) codes. Samples with the same genotype pattern and
    the same reasons share one GeneCall (treated as immutable, as call_batch does)."""
    calls = call_column()
    out = []
    cache: dict[tuple[int, bytes], GeneCall] = {}
    for j, c in enumerate(calls):
        row = sample_reasons[j]
        if not row.any():
            out.append(c)
            continue
        key = (id(c), row.tobytes())
        hit = cache.get(key)
        if hit is None:
            hit = copy.copy(c)
            # only where the genotype is missing: a reason left on a position a later record filled is moot
            hit.positions = [replace(p, missing_reason=SAMPLE_REASONS[int(row[k])]) if row[k] and not p.alleles
                             else p for k, p in enumerate(c.positions)]
            named = [SAMPLE_REASONS[int(row[k])] for k, p in enumerate(c.positions) if row[k] and not p.alleles]
            hit.warnings = list(c.warnings) + reason_warnings(gd.gene, named)
            cache[key] = hit
        out.append(hit)
    return out
