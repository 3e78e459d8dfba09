"""Jensen-Shannon divergence between taste distributions, row by row."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import rel_entr

FloatArray = npt.NDArray[np.float64]


def jensen_shannon_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    """Base-2 Jensen-Shannon divergence, in [0, 1], between matching rows of ``a`` and ``b``.

    Each row is a vector of affinities; negative entries are clipped to zero and rows are
    normalized to distributions. A row pair where either side has no positive mass has
    nothing to compare and gets 0.

    Parameters
    ----------
    a, b
        Arrays of shape ``(n, k)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``.
    """
    p = np.clip(a, 0.0, None)
    q = np.clip(b, 0.0, None)
    p_mass = p.sum(axis=1, keepdims=True)
    q_mass = q.sum(axis=1, keepdims=True)
    comparable = (p_mass[:, 0] > 0.0) & (q_mass[:, 0] > 0.0)
    p = p / np.where(p_mass > 0.0, p_mass, 1.0)
    q = q / np.where(q_mass > 0.0, q_mass, 1.0)
    m = 0.5 * (p + q)
    nats = 0.5 * (rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1))
    return np.where(comparable, np.clip(nats / np.log(2.0), 0.0, 1.0), 0.0)


def jensen_shannon(a: Sequence[float], b: Sequence[float]) -> float:
    """:func:`jensen_shannon_rows` of one pair of rows, in Python floats (for one update at a
    time, where numpy's per-call cost outweighs the arithmetic)."""
    p = [x if x > 0.0 else 0.0 for x in a]
    q = [y if y > 0.0 else 0.0 for y in b]
    p_mass, q_mass = math.fsum(p), math.fsum(q)
    if not (p_mass > 0.0 and q_mass > 0.0):
        return 0.0
    nats = 0.0
    for x, y in zip(p, q, strict=True):
        x /= p_mass
        y /= q_mass
        m = 0.5 * (x + y)
        if x > 0.0:
            nats += x * math.log(x / m)
        if y > 0.0:
            nats += y * math.log(y / m)
    return min(max(0.5 * nats / math.log(2.0), 0.0), 1.0)
