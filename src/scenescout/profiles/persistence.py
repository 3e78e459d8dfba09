"""Profiles as JSON and as rows of the user tables; no database I/O here.

The rows are tuples in the column order of the tables in ``scenescout.storage.schema``
(named by the ``*_COLUMNS`` constants); the engine writes them through storage. Scores are
the profile's values at its ``reference_ts``: decay the profile first
(:meth:`~scenescout.profiles.builder.UserProfileBuilder.decay_to`) when they should refer to
the time of writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from scenescout.frames import from_epoch_seconds
from scenescout.profiles.profile import UserProfile

PROFILE_JSON_VERSION = 1

BEHAVIOR_COLUMNS = (
    "user_id",
    "profile",
    "interaction_count",
    "last_interaction_at",
    "preference_change_detected",
    "updated_at",
)
COMPUTED_INTEREST_COLUMNS = ("user_id", "interest_type", "interest_key", "score", "updated_at")
SIMILARITY_COLUMNS = ("user_id", "similar_user_id", "similarity", "computed_at")

INTEREST_FIELDS: dict[str, str] = {
    "category": "categories",
    "tag": "tags",
    "venue": "venues",
    "organizer": "organizers",
    "price_band": "price_bands",
    "time_of_week": "time_of_week",
}
"""``interest_type`` of ``user_computed_interests`` to the profile field it comes from."""

_PROFILE = TypeAdapter(UserProfile)


def profile_to_json(profile: UserProfile) -> dict[str, Any]:
    """A JSON-ready dict of every field of ``profile``, tagged with the format version."""
    return {"version": PROFILE_JSON_VERSION, **_PROFILE.dump_python(profile, mode="json")}


def profile_from_json(data: Mapping[str, Any]) -> UserProfile:
    """The profile that :func:`profile_to_json` wrote.

    Raises
    ------
    ValueError
        For another format version; :class:`pydantic.ValidationError` (a ``ValueError``)
        when a field is missing or has the wrong type.
    """
    version = data.get("version")
    if version != PROFILE_JSON_VERSION:
        raise ValueError(
            f"profile JSON version {version!r} is not supported (expected {PROFILE_JSON_VERSION})"
        )
    return _PROFILE.validate_python({key: value for key, value in data.items() if key != "version"})


def behavior_row(profile: UserProfile, now: datetime) -> tuple[Any, ...]:
    """The ``user_behavior`` row of ``profile`` (:data:`BEHAVIOR_COLUMNS`), written at ``now``."""
    _require_aware(now)
    last = (
        None
        if profile.last_interaction_ts is None
        else from_epoch_seconds(profile.last_interaction_ts)
    )
    return (
        profile.user_id,
        profile_to_json(profile),
        profile.interaction_count,
        last,
        profile.preference_change_detected,
        now,
    )


def computed_interest_rows(
    profile: UserProfile, now: datetime, *, top_n: int | None = None
) -> list[tuple[str, str, str, float, datetime]]:
    """``user_computed_interests`` rows (:data:`COMPUTED_INTEREST_COLUMNS`) of ``profile``.

    Parameters
    ----------
    profile
        Whose interests.
    now
        ``updated_at`` of every row (timezone-aware).
    top_n
        Keep only the ``top_n`` highest scores of each interest type; all when ``None``.
    """
    _require_aware(now)
    rows: list[tuple[str, str, str, float, datetime]] = []
    for interest_type, field_name in INTEREST_FIELDS.items():
        affinities: dict[str, float] = getattr(profile, field_name)
        ranked = sorted(affinities.items(), key=lambda item: -item[1])[:top_n]
        rows.extend((profile.user_id, interest_type, key, score, now) for key, score in ranked)
    return rows


def similarity_rows(
    neighbours: Mapping[str, Sequence[tuple[str, float]]], now: datetime
) -> list[tuple[str, str, float, datetime]]:
    """``user_similarities`` rows (:data:`SIMILARITY_COLUMNS`) of neighbour lists.

    ``neighbours`` is what :func:`~scenescout.profiles.similarity.similar_users` returns.
    """
    _require_aware(now)
    return [
        (user_id, other, similarity, now)
        for user_id, others in neighbours.items()
        for other, similarity in others
    ]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
