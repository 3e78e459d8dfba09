"""The contract every recommender keeps, run over every registered class.

Each ``Test*`` class below inherits :class:`RecommenderContract` and only says how to build
its recommender and which answer the tiny world (see ``conftest.py``) has for it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.recommenders.recommender_world import CANDIDATES, PLACE_A, World, interaction

from scenescout.frames import InteractionLog
from scenescout.recommenders import (
    RECOMMENDERS,
    CollaborativeRecommender,
    ContentRecommender,
    FactorizationRecommender,
    HybridRecommender,
    ItemKnnRecommender,
    LocationRecommender,
    NotFittedError,
    Recommender,
    ScoringContext,
    TrainingData,
    TrendingRecommender,
)


class RecommenderContract:
    recommender_class: ClassVar[type[Recommender]]
    overrides: ClassVar[dict[str, Any]] = {}
    expected_top: ClassVar[tuple[str, str]]
    """The best candidate of :meth:`answer_context` in the world and in the flipped world."""
    learns_from_data: ClassVar[bool] = True
    candidate_independent: ClassVar[bool] = True
    """Whether a candidate's score ignores the other candidates."""
    keeps_user_state: ClassVar[bool] = True
    """Whether the recommender holds anything per user (trending counts per event only)."""

    @classmethod
    def make(cls) -> Recommender:
        return cls.recommender_class(**cls.overrides)

    def answer_context(self, world: World) -> ScoringContext:
        raise NotImplementedError

    def nan_context(self, world: World) -> ScoringContext | None:
        """A context the recommender documents as all-``NaN``; ``None`` if it never abstains."""
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, world: World) -> Recommender:
        return cls.make().fit(world.data)

    def full_context(self, world: World) -> ScoringContext:
        return world.context("alice", *CANDIDATES, location=PLACE_A)

    def test_known_answer(self, fitted: Recommender, world: World) -> None:
        context = self.answer_context(world)
        scores = fitted.score(context)
        assert context.candidates.ids[np.nanargmax(scores)] == self.expected_top[0]

    def test_scores_one_float_per_candidate(self, fitted: Recommender, world: World) -> None:
        scores = fitted.score(self.full_context(world))
        assert scores.dtype == np.float64
        assert scores.shape == (len(CANDIDATES),)
        assert not np.isinf(scores).any()

    def test_empty_candidates(self, fitted: Recommender, world: World) -> None:
        assert fitted.score(world.context("alice", location=PLACE_A)).shape == (0,)

    def test_batch_equals_one_by_one(self, fitted: Recommender, world: World) -> None:
        if not self.candidate_independent:
            pytest.skip("scores are normalized over the candidate set")
        context = self.full_context(world)
        batch = fitted.score(context)
        singles = [
            fitted.score(replace(context, candidates=world.frame(event_id)))[0]
            for event_id in CANDIDATES
        ]
        np.testing.assert_allclose(batch, singles, rtol=1e-6, equal_nan=True)

    def test_candidate_order_does_not_matter(self, fitted: Recommender, world: World) -> None:
        context = self.full_context(world)
        order = np.array([2, 0, 3, 1])
        shuffled = replace(context, candidates=world.frame(*np.array(CANDIDATES)[order]))
        np.testing.assert_allclose(
            fitted.score(shuffled), fitted.score(context)[order], rtol=1e-6, equal_nan=True
        )

    def test_nan_where_documented(self, fitted: Recommender, world: World) -> None:
        context = self.nan_context(world)
        if context is None:
            unknown = world.context("zed", *CANDIDATES)
            assert not np.isnan(fitted.score(unknown)).any()
        else:
            assert np.isnan(fitted.score(context)).all()

    def test_score_before_fit_raises(self, world: World) -> None:
        with pytest.raises(NotFittedError):
            self.make().score(self.full_context(world))
        with pytest.raises(NotFittedError):
            self.make().prepare_events(world.events)

    def test_fit_without_interactions_then_learn_in_real_time(self, world: World) -> None:
        empty = TrainingData(InteractionLog.from_interactions([]), world.events, world.now_ts)
        recommender = self.make().fit(empty)
        context = self.full_context(world)
        assert recommender.score(context).shape == (len(CANDIDATES),)
        recommender.partial_update(interaction("alice", "music-cold"), world.frame("music-cold"))
        assert recommender.score(context).shape == (len(CANDIDATES),)

    def test_fit_is_deterministic(self, fitted: Recommender, world: World) -> None:
        again = self.make().fit(world.data)
        context = self.full_context(world)
        np.testing.assert_array_equal(again.score(context), fitted.score(context))

    def test_prepare_events_keeps_scores(self, world: World) -> None:
        lazy = self.make().fit(world.data)
        warmed = self.make().fit(world.data)
        warmed.prepare_events(world.events)
        context = self.full_context(world)
        np.testing.assert_allclose(warmed.score(context), lazy.score(context), equal_nan=True)

    def test_refit_replaces_learned_state(self, world: World, flipped_world: World) -> None:
        refitted = self.make().fit(world.data).fit(flipped_world.data)
        fresh = self.make().fit(flipped_world.data)
        context = self.full_context(flipped_world)
        np.testing.assert_allclose(refitted.score(context), fresh.score(context), equal_nan=True)

    def test_refit_on_other_data_changes_the_answer(self, flipped_world: World) -> None:
        if not self.learns_from_data:
            pytest.skip("the flipped world does not change its answer")
        recommender = self.make().fit(flipped_world.data)
        context = self.answer_context(flipped_world)
        scores = recommender.score(context)
        assert context.candidates.ids[np.nanargmax(scores)] == self.expected_top[1]
        assert self.expected_top[0] != self.expected_top[1]

    def test_a_user_with_interactions_is_held_until_forgotten(self, world: World) -> None:
        recommender = self.make().fit(world.data)
        assert bool(recommender.holds_user("alice")) == self.keeps_user_state
        recommender.partial_update(interaction("alice", "music-cold"), world.frame("music-cold"))
        held = recommender.holds_user("alice")
        assert bool(held) == self.keeps_user_state
        assert recommender.holds_user("zed") == []

        assert recommender.forget_user("alice") == held
        assert recommender.holds_user("alice") == []
        assert recommender.forget_user("alice") == []

    def test_a_forgotten_user_scores_like_a_cold_user(self, world: World) -> None:
        recommender = self.make().fit(world.data)
        recommender.partial_update(interaction("alice", "music-cold"), world.frame("music-cold"))
        recommender.forget_user("alice")
        context = self.full_context(world)
        cold = replace(context, user_id="zed")
        np.testing.assert_allclose(
            recommender.score(context), recommender.score(cold), equal_nan=True
        )

    def test_a_forgotten_user_can_start_again(self, world: World) -> None:
        recommender = self.make().fit(world.data)
        recommender.forget_user("alice")
        recommender.partial_update(interaction("alice", "music-cold"), world.frame("music-cold"))
        assert bool(recommender.holds_user("alice")) == self.keeps_user_state
        assert recommender.score(self.full_context(world)).shape == (len(CANDIDATES),)

    def test_config_round_trip(self, fitted: Recommender, world: World) -> None:
        config = json.loads(json.dumps(fitted.get_config()))
        assert config["name"] == self.recommender_class.name
        clone = self.recommender_class.from_config(config)
        assert clone.config == fitted.config
        assert clone.get_config() == fitted.get_config()
        context = self.full_context(world)
        np.testing.assert_array_equal(clone.fit(world.data).score(context), fitted.score(context))


def test_every_registered_recommender_has_a_contract_suite() -> None:
    covered = {cls.recommender_class for cls in RecommenderContract.__subclasses__()}
    assert covered == set(RECOMMENDERS.values())


class TestCollaborative(RecommenderContract):
    recommender_class = CollaborativeRecommender
    expected_top = ("music-warm", "sports-warm")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", "music-warm", "sports-warm")

    def nan_context(self, world: World) -> ScoringContext:
        return world.context("zed", *CANDIDATES)


class TestContent(RecommenderContract):
    recommender_class = ContentRecommender
    expected_top = ("music-cold", "sports-cold")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", "music-cold", "sports-cold")

    def nan_context(self, world: World) -> ScoringContext:
        return world.context("zed", *CANDIDATES, location=PLACE_A)


class TestLocation(RecommenderContract):
    recommender_class = LocationRecommender
    expected_top = ("sports-warm", "sports-warm")
    # It learns the users' places, but both worlds put them at the same two places.
    learns_from_data = False

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", "music-cold", "sports-warm", location=PLACE_A)

    def nan_context(self, world: World) -> ScoringContext:
        return world.context("zed", *CANDIDATES)


class TestTrending(RecommenderContract):
    recommender_class = TrendingRecommender
    keeps_user_state = False
    expected_top = ("sports-warm", "music-warm")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("zed", "music-warm", "sports-warm", "music-cold")

    def nan_context(self, world: World) -> None:
        return None


class TestFactorization(RecommenderContract):
    recommender_class = FactorizationRecommender
    # Two factors: with more, ALS memorizes a world this small instead of generalizing.
    overrides: ClassVar[dict[str, Any]] = {"factors": 2}
    expected_top = ("music-warm", "sports-warm")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", "music-warm", "sports-warm")

    def nan_context(self, world: World) -> ScoringContext:
        return world.context("zed", *CANDIDATES)


class TestItemKnn(RecommenderContract):
    recommender_class = ItemKnnRecommender
    expected_top = ("music-warm", "sports-warm")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", "music-warm", "sports-warm")

    def nan_context(self, world: World) -> ScoringContext:
        return world.context("zed", *CANDIDATES)


class TestHybrid(RecommenderContract):
    recommender_class = HybridRecommender
    overrides: ClassVar[dict[str, Any]] = {
        "matrix_factorization": {"enabled": True, "weight": 0.2, "factors": 2},
        "normalization": "absolute",
    }
    expected_top = ("music-warm", "sports-warm")

    def answer_context(self, world: World) -> ScoringContext:
        return world.context("alice", *CANDIDATES, location=PLACE_A)

    def nan_context(self, world: World) -> None:
        return None


class TestHybridCandidateSetNormalization(TestHybrid):
    overrides: ClassVar[dict[str, Any]] = {
        "matrix_factorization": {"enabled": True, "weight": 0.2, "factors": 2}
    }
    candidate_independent = False
