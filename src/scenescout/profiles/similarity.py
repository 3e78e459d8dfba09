"""User similarity: cosine over category and tag affinities, top-k per user, in chunks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np
import scipy.sparse as sp

from scenescout.profiles.profile import UserProfile

Neighbours = list[tuple[str, float]]
"""``(other user id, cosine similarity)`` pairs, most similar first."""

# Similarities computed at once: 2**25 float32 cells is 128 MiB per chunk.
_CHUNK_CELLS = 1 << 25
# One column in this many is partitioned to find a lower bound of each row's k-th best.
_SAMPLE_STRIDE = 16


def similar_users(profiles: Mapping[str, UserProfile], k: int) -> dict[str, Neighbours]:
    """The ``k`` most similar other users of every user, by cosine similarity.

    A user is the concatenation of two blocks, category affinities (``categories``, the
    explicit-preference prior included) and tag affinities, each scaled to unit length so
    that both count equally. Only positive similarities make neighbours, a user is never
    their own neighbour, and ties go to the user listed first in ``profiles``. No ``n x n``
    matrix is formed: rows are compared with everyone a chunk at a time. Memory is a dense
    float32 matrix of users by the features that at least two users share, plus one chunk.

    Parameters
    ----------
    profiles
        User id to profile.
    k
        Neighbours kept per user.

    Returns
    -------
    dict
        User id to at most ``k`` neighbours, for every user in ``profiles``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    user_ids = list(profiles)
    n = len(user_ids)
    keep = min(k, n - 1)
    if keep < 1:
        return {user_id: [] for user_id in user_ids}
    blocks = [
        _unit_rows(_affinity_matrix([p.categories for p in profiles.values()])),
        _unit_rows(_affinity_matrix([p.tags for p in profiles.values()])),
    ]
    vectors = _unit_rows(sp.hstack(blocks, format="csr"))
    # A feature held by a single user adds nothing to any pair (its norm share is already in).
    shared = np.diff(vectors.tocsc().indptr) >= 2
    dense = vectors[:, shared].toarray().astype(np.float32)
    dense_t = np.ascontiguousarray(dense.T)
    all_ids = np.array(user_ids, dtype=object)
    neighbours: dict[str, Neighbours] = {}
    rows_per_chunk = max(1, _CHUNK_CELLS // n)
    stride = max(1, min(_SAMPLE_STRIDE, n // keep))
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        sims = dense[start:stop] @ dense_t
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        # The keep-th best of a column sample is a lower bound of the keep-th best of the row,
        # so every true neighbour passes it; partitioning only the sample is much cheaper.
        sample = sims[:, ::stride]
        lower_bound = np.partition(sample, sample.shape[1] - keep, axis=1)[:, -keep]
        floor = np.maximum(lower_bound, np.finfo(np.float32).tiny)
        rows, columns = np.nonzero(sims >= floor[:, None])
        values = sims[rows, columns]
        order = np.lexsort((-values, rows))
        rows, columns, values = rows[order], columns[order], values[order]
        chosen = np.arange(len(rows)) - np.searchsorted(rows, rows) < keep
        rows, columns, values = rows[chosen], columns[chosen], values[chosen]
        names = all_ids[columns].tolist()
        similarities = values.tolist()
        bounds = np.searchsorted(rows, np.arange(stop - start + 1)).tolist()
        for offset, (a, b) in enumerate(pairwise(bounds)):
            neighbours[user_ids[start + offset]] = list(
                zip(names[a:b], similarities[a:b], strict=True)
            )
    return neighbours


def _affinity_matrix(maps: Sequence[Mapping[str, float]]) -> sp.csr_matrix:
    """One row per map, one column per key."""
    keys = [key for affinities in maps for key in affinities]
    values = [value for affinities in maps for value in affinities.values()]
    column_of = {key: column for column, key in enumerate(dict.fromkeys(keys))}
    indices = np.fromiter(map(column_of.__getitem__, keys), dtype=np.int64, count=len(keys))
    indptr = np.concatenate(([0], np.cumsum([len(affinities) for affinities in maps])))
    return sp.csr_matrix(
        (np.array(values, dtype=np.float64), indices, indptr),
        shape=(len(maps), len(column_of)),
    )


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0.0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)
