"""User similarity: cosine over category and tag affinities, top-k per user."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenescout.profiles import ProfileConfig, UserProfile, UserProfileBuilder, similar_users


def _profile(user_id: str, categories: dict[str, float], tags: dict[str, float]) -> UserProfile:
    return UserProfile(user_id=user_id, categories=categories, tags=tags)


def test_users_with_identical_tastes_are_each_others_top_neighbour() -> None:
    profiles = {
        "ann": _profile("ann", {"music": 5.0, "arts": 1.0}, {"rock": 3.0, "live": 2.0}),
        "cy": _profile("cy", {"sports": 4.0}, {"football": 4.0}),
        "bob": _profile("bob", {"music": 10.0, "arts": 2.0}, {"rock": 6.0, "live": 4.0}),
        "dee": _profile("dee", {"music": 2.0, "sports": 2.0}, {"jazz": 1.0, "live": 1.0}),
        "eve": _profile("eve", {}, {}),
    }
    neighbours = similar_users(profiles, k=2)
    assert neighbours["ann"][0] == ("bob", pytest.approx(1.0, abs=1e-6))
    assert neighbours["bob"][0] == ("ann", pytest.approx(1.0, abs=1e-6))
    assert [name for name, _ in neighbours["cy"]] == ["dee"]
    assert neighbours["eve"] == []
    assert all(len(found) <= 2 for found in neighbours.values())


def test_the_builder_uses_its_configured_k() -> None:
    profiles = {f"u{i}": _profile(f"u{i}", {"music": 1.0 + i}, {"rock": 1.0}) for i in range(6)}
    builder = UserProfileBuilder(ProfileConfig(similar_users_k=3))
    assert {len(found) for found in builder.similar_users(profiles).values()} == {3}
    assert {len(found) for found in builder.similar_users(profiles, k=5).values()} == {5}


def test_fewer_users_than_k_and_k_below_one() -> None:
    assert similar_users({"solo": _profile("solo", {"music": 1.0}, {})}, k=5) == {"solo": []}
    with pytest.raises(ValueError, match="at least 1"):
        similar_users({}, k=0)


def _brute_force(profiles: dict[str, UserProfile]) -> np.ndarray:
    """Cosine of the block-normalized vectors, the definition written out densely."""
    blocks = []
    for field in ("categories", "tags"):
        keys = sorted({key for p in profiles.values() for key in getattr(p, field)})
        block = np.array(
            [[getattr(p, field).get(key, 0.0) for key in keys] for p in profiles.values()]
        )
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        blocks.append(np.divide(block, norms, out=np.zeros_like(block), where=norms > 0))
    vectors = np.hstack(blocks)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return vectors @ vectors.T


affinities = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]), st.integers(-3, 10).map(float), max_size=4
)


@settings(deadline=None)
@given(st.lists(st.tuples(affinities, affinities), min_size=1, max_size=12), st.integers(1, 5))
def test_neighbours_are_the_top_k_positive_cosines(
    tastes: list[tuple[dict[str, float], dict[str, float]]], k: int
) -> None:
    profiles = {f"u{i}": _profile(f"u{i}", cats, tags) for i, (cats, tags) in enumerate(tastes)}
    ids = list(profiles)
    cosine = _brute_force(profiles)
    neighbours = similar_users(profiles, k)
    assert neighbours.keys() == profiles.keys()
    for i, user_id in enumerate(ids):
        found = neighbours[user_id]
        others = [name for name, _ in found]
        assert user_id not in others
        assert len(set(others)) == len(others) <= k
        values = [value for _, value in found]
        assert values == sorted(values, reverse=True)
        for name, value in found:
            assert value == pytest.approx(cosine[i, ids.index(name)], abs=1e-5)
        # float32 rounding may turn an exact zero into a tiny positive; those are noise.
        significant = [value for value in values if value > 1e-5]
        expected = sorted((c for j, c in enumerate(cosine[i]) if j != i and c > 1e-5), reverse=True)
        assert significant == pytest.approx(expected[:k], abs=1e-5)
