"""Peer baselines for offline comparisons: ``implicit``'s ALS and item-kNN, as runner scorers.

Each baseline is fitted on the training log and becomes a
:data:`~scenescout.evaluation.runner.Scorer`: it scores the candidates the runner gives every
algorithm (the same candidates, the user's training events already excluded when the setup
says so) with the score ``implicit``'s ``recommend(userid, user_items, N, items=...)`` ranks
by, computed directly for all candidates at once (a test checks the two orders agree):
``user_factors[u] . item_factors[i]`` for ALS, ``user_items[u] . similarity[:, i]`` for
item-kNN.

The input is the same signal our recommenders learn from: the users x events matrix of
summed positive interaction confidence (type weight times the interaction's own weight,
e.g. a check-in count; see :func:`~scenescout.recommenders._features.interaction_confidence`).

Each family is run as a small grid, one scorer per grid point, named after its parameters
(``als(factors=32,regularization=0.1,alpha=10)``, ``item_knn_bm25(K=200)``); after a run,
:func:`best_of_family` keeps the best point by a metric. When that metric is measured on
the test set, the grid is tuned on test: this favours the baselines, and reports should
say so.

Candidates a model cannot score (events without training interactions) get a score below
every scored candidate, so every score is finite and they rank last.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from itertools import product
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from scenescout.evaluation.runner import Scorer
from scenescout.frames import InteractionLog
from scenescout.recommenders._events import intern_event_ids
from scenescout.recommenders._features import InteractionMatrix
from scenescout.recommenders.base import ScoringContext

ALS_FACTORS = (4, 8, 16, 32, 64, 128)
ALS_REGULARIZATION = (0.01, 0.1)
ALS_ALPHA = (0.5, 1.0, 5.0, 10.0, 40.0)
KNN_NEIGHBOURS = (50, 100, 200, 500, 1000, 2000)
"""Default grids: wide enough that on Foursquare Singapore no family's best point sits on
an edge of its grid, so the baselines are not held back by the grid."""

KnnKind = Literal["cosine", "bm25"]


class ImplicitScorer:
    """A fitted ``implicit`` model as a runner scorer over the candidates of a request.

    Parameters
    ----------
    model
        A fitted ``implicit`` ALS (``user_factors``/``item_factors``) or item-kNN
        (``similarity``) model.
    matrix
        The training matrix the model was fitted on (its rows and columns name the
        model's users and items).
    """

    def __init__(self, model: Any, matrix: InteractionMatrix) -> None:
        self.model = model
        self.matrix = matrix
        self.user_items = sp.csr_matrix(matrix.positive)

    def _item_scores(self, row: int) -> npt.NDArray[np.float64]:
        """The model's score of every trained event for user row ``row``."""
        if hasattr(self.model, "similarity"):
            reached = sp.csr_matrix(self.user_items[row] @ self.model.similarity)
            return np.asarray(reached.toarray().ravel(), dtype=np.float64)
        factors = self.model.item_factors @ self.model.user_factors[row]
        return np.asarray(factors, dtype=np.float64)

    def __call__(
        self, user: str, context: ScoringContext, rows: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """One finite score per candidate of ``context`` (higher is better)."""
        n = len(context.candidates)
        scores = np.full(n, np.nan)
        columns = self.matrix.items.lookup(intern_event_ids(context.candidates.ids))
        known = columns >= 0
        row = self.matrix.user_rows.get(user)
        if row is not None and known.any():
            scores[known] = self._item_scores(row)[columns[known]]
        finite = np.isfinite(scores)
        floor = float(scores[finite].min()) - 1.0 if finite.any() else 0.0
        return np.where(finite, scores, floor)


def training_matrix(train: InteractionLog) -> InteractionMatrix:
    """The users x events matrix the baselines are fitted on (see the module docstring)."""
    return InteractionMatrix.from_log(train)


def als_scorers(
    train: InteractionLog,
    *,
    factors: Iterable[int] = ALS_FACTORS,
    regularization: Iterable[float] = ALS_REGULARIZATION,
    alpha: Iterable[float] = ALS_ALPHA,
    iterations: int = 15,
    random_state: int = 42,
) -> dict[str, Scorer]:
    """One ``implicit`` ALS scorer per grid point, named ``als(factors=..,...)``.

    Fitted single-threaded (``num_threads=1``, BLAS limited to one thread) with a fixed
    ``random_state``, so the same log gives the same scores.
    """
    matrix = training_matrix(train)
    scorers: dict[str, Scorer] = {}
    for n_factors, reg, conf in product(factors, regularization, alpha):
        model = AlternatingLeastSquares(
            factors=n_factors,
            regularization=reg,
            alpha=conf,
            iterations=iterations,
            random_state=random_state,
            num_threads=1,
        )
        with threadpool_limits(1):
            model.fit(matrix.positive, show_progress=False)
        name = f"als(factors={n_factors},regularization={reg:g},alpha={conf:g})"
        scorers[name] = ImplicitScorer(model, matrix)
    return scorers


def item_knn_scorers(
    train: InteractionLog,
    *,
    kinds: Iterable[KnnKind] = ("cosine", "bm25"),
    neighbours: Iterable[int] = KNN_NEIGHBOURS,
) -> dict[str, Scorer]:
    """One ``implicit`` item-kNN scorer per kind and neighbourhood size ``K``.

    Named ``item_knn_cosine(K=..)`` and ``item_knn_bm25(K=..)``; BM25 keeps ``implicit``'s
    default ``K1`` and ``B``.
    """
    matrix = training_matrix(train)
    scorers: dict[str, Scorer] = {}
    for kind, k in product(kinds, neighbours):
        model = (
            CosineRecommender(K=k, num_threads=1)
            if kind == "cosine"
            else BM25Recommender(K=k, num_threads=1)
        )
        with warnings.catch_warnings():
            # implicit's own weighting hands its kNN a COO matrix, then warns about it.
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(matrix.positive, show_progress=False)
        scorers[f"item_knn_{kind}(K={k})"] = ImplicitScorer(model, matrix)
    return scorers


def baseline_scorers(train: InteractionLog) -> dict[str, Scorer]:
    """Every default grid point of :func:`als_scorers` and :func:`item_knn_scorers`."""
    return {**als_scorers(train), **item_knn_scorers(train)}


BASELINE_FAMILIES = ("als", "item_knn_cosine", "item_knn_bm25")
"""Name prefixes of the grid families :func:`baseline_scorers` produces."""


def best_of_family(
    results: Mapping[str, Mapping[str, float]], family: str, metric: str = "ndcg@10"
) -> tuple[str, Mapping[str, float]]:
    """The grid point of ``family`` (a name prefix, e.g. ``als``) with the best ``metric``.

    Returns
    -------
    tuple
        The grid point's name (its parameters) and its metrics.

    Raises
    ------
    KeyError
        When no result belongs to ``family``.
    """
    members = {name: m for name, m in results.items() if name.startswith(f"{family}(")}
    if not members:
        raise KeyError(f"no result of family {family!r} among {sorted(results)}")
    name = max(members, key=lambda n: members[n][metric])
    return name, members[name]
