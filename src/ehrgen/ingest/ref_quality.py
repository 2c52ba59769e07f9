"""`calling.min_ref_gq` / `--min-ref-gq`: reference calls too weak to count as reference.

A gVCF reference block says "no variant seen here" with a genotype quality (FORMAT GQ); a block with GQ 0
(typically no reads at all) is not evidence of reference. PharmCAT takes every block as reference (the default
here too, `min_ref_gq = 0`); with a threshold, a reference call (a block, or a `0/0` / haploid `0` genotype in a
record) whose GQ is below it counts as missing with reason `low_ref_gq`, so the matcher keeps every allele the
position could carry among the candidates instead of calling reference. A real GeT-RM slice has a GQ 0 block
over CYP2B6 rs2279343 that otherwise turns `*6` into a confident `*9`.

A reference call without a GQ value cannot be judged: it stays reference and the file gets one warning.
"""

from __future__ import annotations

import numpy as np

from ehrgen.pgx.genotype_codes import ABSENT


def reference_calls(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Samples whose genotype (as definition codes) is all reference: `0/0`, or haploid `0`."""
    return (a1 == 0) & ((a2 == 0) | (a2 == ABSENT))


def gq_values(rec, reorder) -> np.ndarray | None:
    """Per-sample GQ (-1 where missing), or None when the record has no GQ field."""
    try:
        gq = rec.format("GQ")
    except (KeyError, ValueError):
        return None
    if gq is None:
        return None
    gq = np.asarray(gq).reshape(len(gq), -1)[:, 0].astype(np.float64)
    gq = np.where(np.isfinite(gq) & (gq >= 0), gq, -1.0)  # int32 missing sentinel / NaN -> -1
    if reorder is not None:
        gq = gq[reorder]
    return gq


def low_reference(rec, is_ref: np.ndarray, reorder, min_ref_gq: int) -> tuple[np.ndarray, int]:
    """(mask of reference calls with GQ below `min_ref_gq`, number of reference calls without a GQ)."""
    if min_ref_gq <= 0 or not is_ref.any():
        return np.zeros(len(is_ref), dtype=bool), 0
    gq = gq_values(rec, reorder)
    if gq is None:
        return np.zeros(len(is_ref), dtype=bool), int(is_ref.sum())
    low = is_ref & (gq >= 0) & (gq < min_ref_gq)
    return low, int((is_ref & (gq < 0)).sum())


def unjudged_warning(min_ref_gq: int, n: int) -> str:
    return (f"calling.min_ref_gq={min_ref_gq}: {n} reference call(s) at PGx positions carry no GQ and could not be "
            "checked; they were kept as reference")
