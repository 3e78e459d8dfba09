"""Cache keys: equal for requests that must share an entry, different otherwise."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

import pytest
from tests.cache.conftest import DIGEST, make_request

from scenescout.cache import entry_key, normalized_request, request_hash
from scenescout.cache.keys import event_tag_key, user_entries_pattern, user_tag_key

SF = {"lat": 37.7749, "lng": -122.4194, "radius_km": 25}


def test_key_layout() -> None:
    key = entry_key("u1", make_request("u1"), DIGEST)
    assert re.fullmatch(r"ss:rec:u1:bundle-7%3Acfg-1a2b:[0-9a-f]{40}", key)


def test_user_id_is_not_part_of_the_hash() -> None:
    assert request_hash(make_request("u1")) == request_hash(make_request("u2"))
    assert "user_id" not in normalized_request(make_request("u1"))
    assert entry_key("u1", make_request("u1"), DIGEST) != entry_key(
        "u2", make_request("u2"), DIGEST
    )


def test_defaults_are_filled() -> None:
    explicit = make_request(limit=20, filters={"categories": None}, preset=None)
    assert request_hash(make_request()) == request_hash(explicit)


def test_coordinates_are_rounded_to_four_decimals() -> None:
    near = make_request(context={"location": {**SF, "lat": 37.77491, "lng": -122.41943}})
    assert request_hash(make_request(context={"location": SF})) == request_hash(near)
    far = make_request(context={"location": {**SF, "lat": 37.7751}})
    assert request_hash(make_request(context={"location": SF})) != request_hash(far)


def test_negative_zero_is_zero() -> None:
    at_zero = make_request(context={"location": {"lat": 0.0, "lng": 0.0}})
    just_below = make_request(context={"location": {"lat": -0.00001, "lng": -0.00001}})
    assert request_hash(at_zero) == request_hash(just_below)


def test_categories_are_a_set() -> None:
    one = make_request(filters={"categories": ["music", "arts"]})
    other = make_request(filters={"categories": ["arts", "music", "arts"]})
    assert request_hash(one) == request_hash(other)
    assert request_hash(one) != request_hash(make_request(filters={"categories": ["arts"]}))


def test_the_same_instant_in_any_zone_is_one_key() -> None:
    utc = make_request(context={"time_range": {"start": "2025-06-01T18:00:00+00:00"}})
    paris = make_request(context={"time_range": {"start": "2025-06-01T20:00:00+02:00"}})
    assert request_hash(utc) == request_hash(paris)


@pytest.mark.parametrize(
    "fields",
    [
        {"limit": 10},
        {"preset": "discovery"},
        {"algorithm_config": {"diversity_factor": 0.5}},
        {"filters": {"price_range": {"max": 50}}},
    ],
)
def test_anything_else_changes_the_key(fields: dict[str, object]) -> None:
    assert request_hash(make_request(**fields)) != request_hash(make_request())


def test_digest_changes_the_key() -> None:
    request = make_request()
    assert entry_key("u1", request, "v1") != entry_key("u1", request, "v2")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match=r"differs from request\.user_id"):
        entry_key("u2", make_request("u1"), DIGEST)
    with pytest.raises(ValueError, match="digest"):
        entry_key("u1", make_request("u1"), "")


@pytest.mark.parametrize(
    ("user_id", "other"),
    [("a", "a:b"), ("a*", "ab"), ("a?", "ab"), ("[ab]", "a"), ("a", "ab")],
)
def test_a_users_pattern_matches_only_their_keys(user_id: str, other: str) -> None:
    pattern = user_entries_pattern(user_id)
    assert fnmatchcase(entry_key(user_id, make_request(user_id), DIGEST), pattern)
    assert not fnmatchcase(entry_key(other, make_request(other), DIGEST), pattern)


def test_tag_keys_are_encoded() -> None:
    assert user_tag_key("a:b") == "ss:tag:user:a%3Ab"
    assert event_tag_key("ev/1") == "ss:tag:event:ev%2F1"
