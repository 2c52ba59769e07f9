"""The vectorised grouping of phased genotype patterns (pgx/caller.py) keys rows exactly as the row-by-row key."""

from __future__ import annotations

import numpy as np

from ehrgen.pgx.caller import _pattern_key, _row_ranks


def test_row_ranks_equal_numpy_unique_per_row():
    rng = np.random.default_rng(7)
    ps = rng.choice([0, 5, 17, 900, 12345], size=(200, 30))
    ranks = _row_ranks(ps)
    for j in range(len(ps)):
        assert (ranks[j] == np.unique(ps[j], return_inverse=True)[1].ravel()).all()


def test_vectorised_groups_are_the_row_by_row_groups():
    rng = np.random.default_rng(11)
    n, p = 300, 12
    a1 = rng.integers(0, 2, size=(n, p)).astype(np.int8)
    a2 = rng.integers(0, 2, size=(n, p)).astype(np.int8)
    phased = rng.random((n, p)) < 0.5
    phased[rng.random(n) < 0.3] = False  # some rows wholly unphased
    ps = np.where(phased, rng.choice([100, 200, 300], size=(n, p)), 0)
    ranks = _row_ranks(ps)
    rows = np.concatenate([a1.astype(np.int16), a2.astype(np.int16), phased.astype(np.int16),
                           np.where(phased.any(axis=1)[:, None], ranks, 0).astype(np.int16)], axis=1)
    vec = [r.tobytes() for r in rows]
    per_row = [_pattern_key(a1[j], a2[j], phased[j], ps[j]) for j in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            assert (vec[i] == vec[j]) == (per_row[i] == per_row[j])
