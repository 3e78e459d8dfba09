"""Settings of the profile builder: one section of the Settings tree (``profiles``).

Kept free of numpy so that ``scenescout.config`` can import it cheaply.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scenescout.domain import InteractionType


class InteractionWeights(BaseModel):
    """How much one interaction of each type says about a user's taste.

    Negative weights (``dismiss``, ``hide``) lower the affinities of what the event is
    made of. An interaction's own ``weight`` (e.g. a count), when given, multiplies these.
    """

    model_config = ConfigDict(extra="forbid")

    view: float = 1.0
    click: float = 2.0
    save: float = 4.0
    share: float = 5.0
    rsvp: float = 6.0
    purchase: float = 8.0
    dismiss: float = -3.0
    hide: float = -6.0

    def of(self, interaction_type: InteractionType) -> float:
        """The weight of one interaction type."""
        return float(getattr(self, interaction_type.value))


class ProfileConfig(BaseModel):
    """How profiles learn: weights, temporal decay, change detection, priors, similarity.

    Attributes
    ----------
    interaction_weights
        Weight per interaction type.
    half_life_days
        Half-life of every learned value: an interaction this old counts half.
    recent_window_days
        Half-life of the short-term category distribution that change detection compares
        with the long-term one. It must be several times shorter than ``half_life_days``:
        the Jensen-Shannon divergence between two exponential averages of the same stream
        stays small when their half-lives are close (14 vs 30 days peaks near 0.04 bits
        even for a complete switch of taste), so the defaults are 4 vs 30.
    change_threshold
        Jensen-Shannon divergence (base 2, in [0, 1]) between the recent and the long-term
        category distributions above which a preference change is flagged.
    change_min_recent_weight
        Recent positive weight needed before a change can be flagged, so that one or two
        interactions of a sparse user do not count as a new taste.
    adaptation_boost
        While a change is flagged the effective half-life is ``half_life_days`` divided by
        this factor, so the profile follows the new taste faster. 1 turns adaptation off.
    explicit_weight
        Prior affinity of each explicitly chosen category for a user with no evidence; it
        fades as ``(1 - strength)``.
    strength_scale
        ``strength = 1 - exp(-positive_weight / strength_scale)``: the decayed positive
        weight at which strength reaches 63 %.
    similar_users_k
        Neighbours kept per user by user similarity.
    """

    model_config = ConfigDict(extra="forbid")

    interaction_weights: InteractionWeights = Field(default_factory=InteractionWeights)
    half_life_days: float = Field(default=30.0, gt=0.0)
    recent_window_days: float = Field(default=4.0, gt=0.0)
    change_threshold: float = Field(default=0.2, ge=0.0, le=1.0)
    change_min_recent_weight: float = Field(default=6.0, ge=0.0)
    adaptation_boost: float = Field(default=2.0, ge=1.0)
    explicit_weight: float = Field(default=10.0, ge=0.0)
    strength_scale: float = Field(default=20.0, gt=0.0)
    similar_users_k: int = Field(default=20, ge=1)
