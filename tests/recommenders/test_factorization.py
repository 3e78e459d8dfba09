from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tests.recommenders.recommender_world import CANDIDATES, World, interaction

from scenescout.domain import InteractionType
from scenescout.recommenders import FactorizationRecommender


def fitted(world: World) -> FactorizationRecommender:
    return FactorizationRecommender(factors=2).fit(world.data)


def vector_of(mf: FactorizationRecommender, user_id: str) -> np.ndarray:
    vector = mf.user_vector(user_id)
    assert vector is not None
    return vector.copy()


def test_new_events_score_from_their_content(world: World) -> None:
    mf = fitted(world)
    music, sports = mf.score(world.context("alice", "music-cold", "sports-cold"))
    assert np.isfinite([music, sports]).all()
    assert music > sports
    vectors = mf.item_vectors(world.frame("music-cold", "sports-cold"))
    assert np.abs(vectors).sum(axis=1).min() > 0.0


def test_partial_update_recomputes_the_user_vector_at_once(world: World) -> None:
    mf = fitted(world)
    context = world.context("alice", "sports-warm")
    before_vector = vector_of(mf, "alice")
    before_score = mf.score(context)[0]
    for _ in range(3):
        mf.partial_update(interaction("alice", "sports-warm", InteractionType.PURCHASE))
    assert not np.allclose(vector_of(mf, "alice"), before_vector)
    assert mf.score(context)[0] > before_score


def test_partial_update_matches_implicits_recalculate_user(world: World) -> None:
    mf = fitted(world)
    row = mf.matrix_.user_rows["bob"]
    column = int(np.flatnonzero(mf.item_ids_ == "music-0")[0])
    mf.partial_update(interaction("bob", "music-0", InteractionType.VIEW))
    updated = sp.lil_matrix(mf.matrix_.signed[row])
    updated[0, column] += 1.0
    expected = mf.model_.recalculate_user(row, sp.csr_matrix(updated))
    np.testing.assert_allclose(vector_of(mf, "bob"), expected, rtol=1e-3, atol=1e-4)


def test_a_new_user_gets_a_vector_from_a_new_event(world: World) -> None:
    mf = fitted(world)
    assert mf.user_vector("oscar") is None
    mf.partial_update(interaction("oscar", "music-cold"))
    assert mf.user_vector("oscar") is None, "a new event needs its frame the first time"
    mf.partial_update(interaction("oscar", "music-cold"), world.frame("music-cold"))
    assert mf.user_vector("oscar") is not None
    scores = mf.score(world.context("oscar", *CANDIDATES))
    assert np.isfinite(scores).all()
    assert scores[CANDIDATES.index("music-warm")] > scores[CANDIDATES.index("sports-warm")]


def test_negative_feedback_pushes_an_event_down(world: World) -> None:
    mf = fitted(world)
    context = world.context("alice", "music-warm")
    before = mf.score(context)[0]
    mf.partial_update(interaction("alice", "music-warm", InteractionType.HIDE))
    assert mf.score(context)[0] < before


def test_a_user_learned_after_an_erasure_gets_a_row_of_their_own(world: World) -> None:
    mf = fitted(world)
    last = max(mf.user_rows_, key=mf.user_rows_.__getitem__)
    kept = vector_of(mf, last)
    assert mf.forget_user("alice") == ["matrix_", "user_factors_"]
    mf.partial_update(interaction("newcomer", "music-cold"), world.frame("music-cold"))
    np.testing.assert_array_equal(vector_of(mf, last), kept)
    rows = list(mf.user_rows_.values())
    assert len(set(rows)) == len(rows)
