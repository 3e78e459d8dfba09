"""Jensen-Shannon divergence between taste distributions, row by row."""

from __future__ import annotations

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
