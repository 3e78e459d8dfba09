"""The learned profile of one user: decayed affinities over what events are made of."""

from __future__ import annotations

from dataclasses import dataclass, field

PRICE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("free", 0.0, 0.0),
    ("budget", 0.0, 25.0),
    ("mid", 25.0, 75.0),
    ("premium", 75.0, 200.0),
    ("luxury", 200.0, float("inf")),
)
"""Named price bands ``(name, low, high]``; ``free`` is exactly 0."""

TIME_SLOTS_PER_DAY = 4
"""Time of week is ISO weekday (1..7) x slot: night 0-6h, day 6-17h, evening 17-21h, late 21-24h."""


def price_band(price: float) -> str:
    """The name of the band that ``price`` falls in."""
    if price <= 0.0:
        return "free"
    for name, low, high in PRICE_BANDS[1:]:
        if low < price <= high:
            return name
    return PRICE_BANDS[-1][0]


def time_slot(hour: int) -> int:
    """The slot of an hour of the day (0..23)."""
    if hour < 6:
        return 0
    if hour < 17:
        return 1
    if hour < 21:
        return 2
    return 3


def time_of_week_key(iso_weekday: int, hour: int) -> str:
    """Key of a time-of-week cell, e.g. ``"5:2"`` for Friday evening."""
    return f"{iso_weekday}:{time_slot(hour)}"


@dataclass
class UserProfile:
    """Decayed affinities learned from a user's interactions (and explicit preferences).

    Each affinity map holds the sum of decayed interaction weights per key; negative
    feedback (dismiss, hide) makes values negative. ``strength`` in [0, 1] grows with the
    amount of (decayed) evidence and feeds the confidence of recommendations.

    All decayed values refer to ``reference_ts`` (epoch seconds). ``categories`` is the
    blend that scorers read: ``learned_categories`` (interactions alone) plus, for each of
    ``explicit_categories``, a prior that fades as ``strength`` grows. ``time_of_week``
    keys are cells of the event's start in UTC (see :func:`time_of_week_key`); ``venues``
    are keyed by venue id and ``price_bands`` by :data:`PRICE_BANDS` name of ``price_min``.

    The builder's bookkeeping for incremental updates: ``recent_categories`` (category
    weights under the short, change-detection half-life), ``positive_weight`` (decayed sum
    of positive weights, behind ``strength``) and ``distance_weight`` (decayed weight behind
    ``typical_distance_km``).
    """

    user_id: str
    categories: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    venues: dict[str, float] = field(default_factory=dict)
    organizers: dict[str, float] = field(default_factory=dict)
    price_bands: dict[str, float] = field(default_factory=dict)
    time_of_week: dict[str, float] = field(default_factory=dict)
    typical_distance_km: float | None = None
    interaction_count: int = 0
    last_interaction_ts: int | None = None
    reference_ts: int | None = None
    strength: float = 0.0
    preference_change_detected: bool = False
    explicit_categories: tuple[str, ...] = ()
    excluded_categories: tuple[str, ...] = ()
    home: tuple[float, float] | None = None
    learned_categories: dict[str, float] = field(default_factory=dict)
    recent_categories: dict[str, float] = field(default_factory=dict)
    positive_weight: float = 0.0
    distance_weight: float = 0.0

    @property
    def is_cold(self) -> bool:
        """True when nothing is known about the user's taste yet."""
        return self.interaction_count == 0 and not self.explicit_categories
