"""The genotype codes the reader hands to the matcher: part of the calling stage's records (the contract).

Data flows ingest -> pgx: the reader (ehrgen.ingest) writes these codes and reasons, the matcher and caller
read them, so they live here and pgx never imports the reader to know them.

Per (sample, position) a genotype is two codes: 0.. = allele index in the definition (0 = REF), or
- MISSING (-1): no usable genotype (no-call, filtered, too uncertain, ...): never assumed reference;
- UNDOC (-2): an ALT allele that is not in the definitions;
- PARTIAL (-3): the unknown half of a partial genotype such as `1/.` (the ALT is kept);
- ABSENT (-9): the second allele of a haploid call.
"""

from __future__ import annotations

MISSING, UNDOC, PARTIAL, ABSENT = -1, -2, -3, -9

# Why one sample's genotype at one position counts as missing, stored per (sample, position) as an index into
# this tuple (0 = no sample-specific reason). Position-wide reasons ("not in file", "filter:X", "low_r2") are
# kept per position instead; both end up as PositionGenotype.missing_reason.
SAMPLE_REASONS: tuple[str, ...] = ("", "low_gp", "gp_disagrees", "low_ds", "low_ref_gq", "partial_call")
LOW_GP, GP_DISAGREES, LOW_DS, LOW_REF_GQ, PARTIAL_CALL = 1, 2, 3, 4, 5
IMPUTED_REASONS = frozenset({"low_gp", "gp_disagrees", "low_ds"})

# the reason strings a missing position can carry in calls.json (plus "filter:<FILTER>" per filtered record)
NOT_IN_FILE = "not in file"
NO_CALL = "no-call"
LOW_R2 = "low_r2"
