"""Imputed array data: genotype probabilities (FORMAT GP, DS) and site imputation quality (INFO R2/DR2/INFO).

Read only when present, so sequencing VCFs are unaffected. An imputed genotype is a best guess; the pipeline
reports it only when the imputation is good at the site and for the person:
- site: `R2` (Minimac), `DR2` (Beagle) or `INFO` (IMPUTE/others) below `calling.min_imputation_r2` -> the position
  is missing for everyone, reason `low_r2`;
- genotype: the largest `GP` below `calling.min_gp` -> missing for that person, reason `low_gp`; a GP whose most
  likely genotype is not the GT's ALT count -> `gp_disagrees`; with `DS` and no `GP`, a dosage further than
  `1 - min_gp` from the GT's ALT count -> `low_ds` (a necessary condition for P(GT) >= min_gp is
  |DS - k| <= 2 (1 - min_gp); the stricter bound is used because DS alone hides how the mass is spread).
Why strict defaults (GP 0.9, R2 0.8 rather than the 0.3 used to filter GWAS input): at a poorly imputed rare
site the GPs fall back to the population prior, so carriers get `0/0` with GP ~0.99; only the site filter
catches that, and a missed DPYD or TPMT carrier is a clinical harm, while a missing position only makes the
call less certain (the matcher never assumes reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# reason codes stored per (sample, position): the calling stage's vocabulary (index 0 = no problem)
from ehrgen.pgx.genotype_codes import GP_DISAGREES, LOW_DS, LOW_GP, LOW_R2, SAMPLE_REASONS  # noqa: F401
SITE_FIELDS = ("R2", "DR2", "INFO")


@dataclass(frozen=True)
class Thresholds:
    min_gp: float = 0.9
    min_r2: float = 0.8

    @classmethod
    def from_settings(cls, calling) -> "Thresholds":
        return cls(min_gp=float(calling.min_gp), min_r2=float(calling.min_imputation_r2))


def _info_value(rec, key: str) -> float | None:
    try:
        v = rec.INFO.get(key)
    except (KeyError, ValueError):
        return None
    if v is None or isinstance(v, (bool, str)):
        return None
    vals = np.atleast_1d(np.asarray(v, dtype=float))
    vals = vals[np.isfinite(vals)]
    return float(vals.min()) if vals.size else None


def site_quality(rec) -> tuple[str, float] | None:
    """(field, value) of the site's imputation quality, or None when the record carries none."""
    for key in SITE_FIELDS:
        v = _info_value(rec, key)
        if v is not None:
            return key, v
    return None


def site_reason(rec, t: Thresholds) -> str | None:
    """`low_r2` when the site's imputation quality is below the threshold, else None."""
    q = site_quality(rec)
    if q is not None and q[1] < t.min_r2:
        return LOW_R2
    return None


def _format(rec, key: str):
    try:
        v = rec.format(key)
    except (KeyError, ValueError):
        return None
    return None if v is None else np.asarray(v, dtype=float)


def genotype_reasons(rec, gt: np.ndarray, reorder, t: Thresholds) -> np.ndarray | None:
    """Per-sample reason codes (index into ehrgen.pgx.genotype_codes.SAMPLE_REASONS) for genotypes too uncertain to use, or None
    when the record has neither GP nor DS. `gt` is cyvcf2's genotype array (already reordered)."""
    gp = _format(rec, "GP")
    ds = _format(rec, "DS") if gp is None else None
    if gp is None and ds is None:
        return None
    alleles = gt[:, :-1]
    called = alleles >= 0
    alt_count = ((alleles > 0) & called).sum(axis=1)
    any_called = called.any(axis=1)
    codes = np.zeros(len(gt), dtype=np.uint8)
    if gp is not None:
        gp = gp.reshape(gp.shape[0], -1)
        if reorder is not None:
            gp = gp[reorder]
        finite = np.where(np.isfinite(gp) & (gp >= 0), gp, -1.0)
        has = (finite >= 0).any(axis=1)
        best = finite.max(axis=1)
        codes[has & any_called & (best < t.min_gp)] = LOW_GP
        # biallelic (GP has ploidy + 1 values): the most likely genotype must be the GT's ALT count
        if len(rec.ALT) == 1:
            ploidy = (alleles != -2).sum(axis=1)
            complete = ((alleles >= 0) | (alleles == -2)).all(axis=1)
            fits = (finite >= 0).sum(axis=1) == ploidy + 1
            bad = has & complete & fits & (finite.argmax(axis=1) != alt_count) & (codes == 0)
            codes[bad] = GP_DISAGREES
        return codes
    ds = ds.reshape(ds.shape[0], -1)
    if reorder is not None:
        ds = ds[reorder]
    finite = np.isfinite(ds).all(axis=1)
    dose = np.where(np.isfinite(ds), ds, 0).sum(axis=1)
    far = np.abs(dose - alt_count) > (1.0 - t.min_gp) + 1e-9
    codes[finite & any_called & far] = LOW_DS
    return codes


def site_warning(rec, pos: int, t: Thresholds) -> str:
    key, value = site_quality(rec) or ("R2", float("nan"))
    return (f"position {pos}: imputation quality {key}={value:.2f} below calling.min_imputation_r2={t.min_r2}: "
            "counted as missing (low_r2)")
