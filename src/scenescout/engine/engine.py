"""PersonalizationEngine: the read path (recommend) and the write path (learn) in one place.

Read path, per request: the user's profile and exclusions (in memory) -> candidate selection
from the catalog snapshot (geo and time prefilter, then vectorized masks) -> over
``max_scored_candidates``, a share of each category, nearest first, larger for the categories
the user likes (:meth:`PersonalizationEngine.retrieve`) -> each enabled recommender
batch-scores them within a time budget -> weighted blend -> backfill of the candidates no
component spoke for -> MMR diversity, caps and novelty injection -> explanations and
confidence -> per-stage timings.

Filters always hold, whatever scores: upcoming at ``now`` (not ended), not cancelled, not sold
out, inside the request's radius, time range, categories and price range, not dismissed,
hidden or bought by the user, and not in a category the user excluded.

Write path, per interaction: durably stored first (idempotent by key), then the profile,
the matrix-factorization user vector, trending counters and the text profile are updated in
place, exclusions recorded, and the cache-invalidation hook called.

Fallback chain (``RecommendationResult.fallback`` names the one used):

1. ``cold_start``: a user the engine knows nothing about (no profile, or a cold one) is
   served by the ``discovery`` preset unless the request names a preset; only trending and
   location can speak for such a user, so the list is trending and popular events near the
   request location (or the user's home).
2. ``popular_nearby``: candidates that no component scored positively (every component
   abstained, scored them lowest, raised, or ran over its time budget) are ranked after all
   the others by trending popularity, then proximity. Named when such an item is in the list
   (and the user is not cold).

A component that raises or runs over ``component_budget_ms`` is left out of the blend and
reported in ``skipped_components``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from scenescout.catalog import CatalogSnapshot
from scenescout.config import PersonalizationConfig
from scenescout.domain import GeoPoint, Interaction, InteractionType, UserPreferences
from scenescout.domain.recommendation import (
    CacheInfo,
    Explanation,
    Performance,
    Recommendation,
    RecommendationRequest,
    RecommendationResult,
)
from scenescout.engine.loading import load_training_data
from scenescout.frames import INTERACTION_CODES, NO_END_TS, EventFrame, Vocabulary
from scenescout.profiles import UserProfileBuilder
from scenescout.profiles.profile import UserProfile
from scenescout.ranking import Explanation as ItemExplanation
from scenescout.ranking import confidence, explain, select
from scenescout.recommenders.base import ScoreArray, ScoringContext, TrainingData
from scenescout.recommenders.content import ContentRecommender
from scenescout.recommenders.hybrid import COMPONENTS, HybridConfig, HybridRecommender
from scenescout.recommenders.location import LocationRecommender
from scenescout.recommenders.presets import PRESETS, get_preset
from scenescout.storage import Store

EXCLUDING_TYPES = frozenset(
    {InteractionType.DISMISS, InteractionType.HIDE, InteractionType.PURCHASE}
)
"""After one of these, the user never sees the event again."""

COLD_START = "cold_start"
POPULAR_NEARBY = "popular_nearby"
DEFAULT_COMPONENT_BUDGET_MS = 25.0
DEFAULT_MAX_SCORED_CANDIDATES = 1000
_RETRIEVAL_COLUMNS = ("lat", "lng", "start_ts", "category")
RETRIEVAL_AFFINITY_BOOST = 9.0
"""How much more of the scored pool a user's favourite category gets (see ``retrieve``)."""
_MAX_GROUP = np.iinfo(np.int16).max

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_NO_ROWS: IntArray = np.zeros(0, dtype=np.int64)


class InteractionStore(Protocol):
    """What the engine needs of storage: a durable, idempotent interaction write."""

    def add(self, interaction: Interaction) -> tuple[int, bool]: ...


@dataclass
class LearnResult:
    """The outcome of :meth:`PersonalizationEngine.update_user_preferences`.

    ``created`` is False when the store already held the interaction's idempotency key:
    nothing was learned then, and ``profile`` is the unchanged profile.
    """

    interaction_id: int | None
    created: bool
    profile: UserProfile


@dataclass
class SimilarEvent:
    """One answer of :meth:`PersonalizationEngine.similar_events`: TF-IDF cosine in [0, 1]."""

    event_id: str
    similarity: float


@dataclass
class _Timer:
    db_ns: int = 0
    ml_ns: int = 0
    started_ns: int = field(default_factory=time.perf_counter_ns)

    def performance(self) -> Performance:
        return Performance(
            total_time_ms=(time.perf_counter_ns() - self.started_ns) / 1e6,
            db_time_ms=self.db_ns / 1e6,
            ml_time_ms=self.ml_ns / 1e6,
        )


@dataclass(frozen=True)
class _Variant:
    """A named config with its blend weights and the hybrid that blends them."""

    config: PersonalizationConfig
    weights: dict[str, float]
    blender: HybridRecommender


@dataclass
class Ranking:
    """One request's ranked list and everything that made it.

    Per-candidate arrays (``scores``, ``contributions``, ``backfilled``) are aligned with
    ``candidates``, the events that passed every filter; ``positions`` index them in final
    order, and ``injected``, ``explanations`` and ``confidences`` are aligned with
    ``positions``.

    Attributes
    ----------
    candidates
        The candidate events scored: those that passed every filter, or the share of them
        :meth:`PersonalizationEngine.retrieve` kept.
    scores
        The ranking score per candidate: the blend, or the ``popular_nearby`` backfill
        (always below every blended score) where no component contributed.
    contributions
        Per blended component, its share of each candidate's blended score (``NaN`` where
        it could not score).
    backfilled
        True where the score came from the ``popular_nearby`` backfill.
    positions, injected
        The picked candidates in final order, and which fill novelty slots.
    explanations, confidences
        Per picked candidate.
    config
        The personalization config the request was served with.
    fallback
        The fallback used, see the module docstring; ``None`` when none was.
    skipped_components
        Components left out, with the reason.
    """

    candidates: EventFrame
    scores: ScoreArray
    contributions: dict[str, ScoreArray]
    backfilled: BoolArray
    positions: IntArray
    injected: BoolArray
    explanations: list[ItemExplanation]
    confidences: ScoreArray
    config: PersonalizationConfig
    fallback: str | None
    skipped_components: dict[str, str]

    def recommendations(self) -> list[Recommendation]:
        """The picked candidates as the seed's recommendation items."""
        ids = self.candidates.ids[self.positions].tolist()
        # Built from values of known types and ranges (the confidence clipped to [0, 1]):
        # constructed without validation, the request path's largest share of pydantic time.
        return [
            Recommendation.model_construct(
                event_id=event_id,
                score=round(score, 6),
                confidence=round(min(max(item_confidence, 0.0), 1.0), 6),
                explanation=Explanation.model_construct(
                    primary_reason=why.primary_reason,
                    contributing_factors=list(why.contributing_factors),
                ),
            )
            for event_id, score, item_confidence, why in zip(
                ids,
                self.scores[self.positions].tolist(),
                self.confidences.tolist(),
                self.explanations,
                strict=True,
            )
        ]


def _union_config(configs: list[PersonalizationConfig]) -> HybridConfig:
    """One hybrid config that fits every component any of ``configs`` blends."""
    base = HybridConfig.from_algorithms(configs[0].algorithms)
    sections: dict[str, Any] = {}
    for name in COMPONENTS:
        enabled = [getattr(c.algorithms, name) for c in configs]
        section = getattr(base, name).model_copy(
            update={
                "enabled": any(s.enabled and s.weight > 0 for s in enabled),
                "weight": max(s.weight for s in enabled),
            }
        )
        sections[name] = section
    return base.model_copy(update=sections)


def _quotas(sizes: IntArray, weights: ScoreArray, total: int) -> ScoreArray:
    """Per group, ``min(size, ceil(level * weight))`` at the lowest level that keeps at least
    ``total`` in all (every whole group when they hold fewer)."""
    present = np.flatnonzero(sizes > 0)
    kept, weight_left, level = 0, float(weights[present].sum()), np.inf
    for group in present[np.argsort(sizes[present] / weights[present])].tolist():
        if kept + sizes[group] / weights[group] * weight_left >= total:
            level = (total - kept) / weight_left
            break
        kept += int(sizes[group])
        weight_left -= float(weights[group])
    return np.minimum(sizes, np.ceil(level * weights))


MAX_RETRIEVAL_ANCHORS = 12
"""At most this many points (the request location and the user's densest place cells)
retrieval measures nearness from."""
ANCHOR_CELL_DEG = 0.01
"""The cell (about 1.1 km of latitude) a user's places are merged into as retrieval anchors."""


def _retrieval_anchors(
    hybrid: HybridRecommender, location: GeoPoint | None, profile: UserProfile | None
) -> tuple[ScoreArray, ScoreArray]:
    """Latitudes and longitudes retrieval measures nearness from: the request location and
    the places the location component learned for the profile's user (none, one or both)."""
    lat: list[float] = [] if location is None else [location.lat]
    lng: list[float] = [] if location is None else [location.lng]
    component = getattr(hybrid, "components_", {}).get(LocationRecommender.name)
    places = (
        component.places_.get(profile.user_id)
        if isinstance(component, LocationRecommender) and profile is not None
        else None
    )
    if places is None or len(places.lat) == 0:
        return np.array(lat), np.array(lng)
    # Places a few hundred metres apart pull the same candidates first: one anchor per
    # ~1 km cell, the cells with most places first, at most MAX_RETRIEVAL_ANCHORS in all
    # (the cost is candidates x anchors on every request).
    lat_cell = np.round(places.lat / ANCHOR_CELL_DEG).astype(np.int64)
    lng_cell = np.round(places.lng / ANCHOR_CELL_DEG).astype(np.int64)
    span = round(360.0 / ANCHOR_CELL_DEG) + 1
    codes, counts = np.unique(lat_cell * span + lng_cell, return_counts=True)
    keep = codes[np.argsort(-counts, kind="stable")[: MAX_RETRIEVAL_ANCHORS - len(lat)]]
    lat_centres, lng_centres = np.divmod(keep + span // 2, span)
    return (
        np.append(lat, lat_centres * ANCHOR_CELL_DEG),
        np.append(lng, (lng_centres - span // 2) * ANCHOR_CELL_DEG),
    )


def _nearest_squared_degrees(
    lat: ScoreArray, lng: ScoreArray, anchor_lat: ScoreArray, anchor_lng: ScoreArray
) -> ScoreArray:
    """Each point's squared equirectangular distance (in degrees, longitudes scaled at the
    anchors' mean latitude) to its nearest anchor: only the order matters. One pass per
    anchor (there are few) over the points; longitudes wrap only when the points and
    anchors span more than half the globe. An anchor no nearer to the points' bounding box
    than the farthest point is from its nearest anchor so far cannot change any distance
    and is skipped (a user's places in other cities, for a request here)."""
    scale = math.cos(math.radians(float(anchor_lat.mean())))
    lng_lo, lng_hi = float(lng.min()), float(lng.max())
    lat_lo, lat_hi = float(lat.min()), float(lat.max())
    wraps = max(lng_hi, float(anchor_lng.max())) - min(lng_lo, float(anchor_lng.min())) > 180.0
    # The gaps below measure longitude round the circle, which holds for points spanning
    # less than half of it.
    skippable = lng_hi - lng_lo < 180.0
    nearest = np.full(lat.shape[0], np.inf)
    farthest = math.inf
    for a_lat, a_lng in zip(anchor_lat.tolist(), anchor_lng.tolist(), strict=True):
        if skippable:
            north_gap = max(lat_lo - a_lat, 0.0, a_lat - lat_hi)
            east_gap = (
                0.0
                if lng_lo <= a_lng <= lng_hi
                else min((lng_lo - a_lng) % 360.0, (a_lng - lng_hi) % 360.0) * scale
            )
            if north_gap * north_gap + east_gap * east_gap >= farthest:
                continue
        east = lng - a_lng
        if wraps:
            east = (east + 180.0) % 360.0 - 180.0
        east *= scale
        east *= east
        north = lat - a_lat
        north *= north
        north += east
        np.minimum(nearest, north, out=nearest)
        farthest = float(nearest.max())
    return nearest


def _packed_order(group: IntArray, n_groups: int, order_key: ScoreArray) -> IntArray:
    """Positions ``0..n-1`` sorted by ``group`` (in ``[0, n_groups)``), then ``order_key``
    (no NaN), then position, packed into int64 keys: ``group`` in the top bits, the position
    in the low bits (read them back with masks and shifts).

    ``order_key`` keeps the leading bits the rest leaves room for: sign, exponent and
    ``51 - bits(n_groups - 1) - bits(n - 1)`` bits of mantissa (34 for 6,000 candidates in
    16 groups), so keys that close relatively may tie; ties go by position.
    """
    n = group.shape[0]
    position_bits = max(n - 1, 1).bit_length()
    group_bits = max(n_groups - 1, 1).bit_length()
    key_bits = 63 - group_bits - position_bits
    # A float64's bit pattern, its magnitude bits flipped when negative and its sign bit
    # flipped, orders as the float does (as uint64); its top key_bits are kept.
    bits = order_key.view(np.int64)
    bits = bits ^ ((bits >> 63) & np.int64(0x7FFF_FFFF_FFFF_FFFF))
    unsigned = bits.view(np.uint64) ^ np.uint64(1 << 63)
    nearness = (unsigned >> np.uint64(64 - key_bits)).view(np.int64)
    packed = group << (63 - group_bits)
    packed |= nearness << position_bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    return packed


def _epoch_s(value: datetime | int) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


class PersonalizationEngine:
    """Recommends events and learns from interactions; see the module docstring.

    Parameters
    ----------
    catalog
        The snapshot of upcoming events candidates come from.
    hybrid
        A fitted hybrid holding every component any preset blends.
    config
        The default personalization config (the seed's by default).
    profiles
        Learned profiles by user id.
    exclusions
        Event ids each user dismissed, hid or bought.
    profile_builder
        Applies interactions to profiles.
    interactions
        Where interactions are stored before they are learned from; ``None`` in offline
        evaluation.
    on_user_change
        Called with a user id after each learned interaction (cache invalidation).
    component_budget_ms
        Time budget of one component's scoring; a component that exceeds it, or raises,
        is left out of the blend and reported in ``skipped_components``.
    max_scored_candidates
        Cap on the candidates scored per request (``None``: no cap); see :meth:`retrieve`.
    """

    def __init__(
        self,
        *,
        catalog: CatalogSnapshot,
        hybrid: HybridRecommender,
        config: PersonalizationConfig | None = None,
        profiles: dict[str, UserProfile] | None = None,
        exclusions: dict[str, set[str]] | None = None,
        profile_builder: UserProfileBuilder | None = None,
        interactions: InteractionStore | None = None,
        on_user_change: Callable[[str], None] | None = None,
        component_budget_ms: float = DEFAULT_COMPONENT_BUDGET_MS,
        max_scored_candidates: int | None = DEFAULT_MAX_SCORED_CANDIDATES,
    ) -> None:
        self.catalog = catalog
        self.hybrid = hybrid
        self.config = config if config is not None else PersonalizationConfig()
        self.profiles = profiles if profiles is not None else {}
        self.exclusions = exclusions if exclusions is not None else {}
        self.profile_builder = profile_builder or UserProfileBuilder(self.config.profiles)
        self.interactions = interactions
        self.on_user_change = on_user_change
        self.component_budget_ms = component_budget_ms
        self.max_scored_candidates = max_scored_candidates
        self.learned_through_id = 0
        """Every stored interaction with an id up to this one has been learned (set by
        :meth:`from_store` and by catch-up reads; 0 for an engine trained elsewhere)."""
        self._variants: dict[str, _Variant] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its store, hooks and per-process memo of preset blends."""
        state = self.__dict__.copy()
        state.update(interactions=None, on_user_change=None, _variants={})
        return state

    @classmethod
    def train(
        cls,
        data: TrainingData,
        catalog: CatalogSnapshot,
        config: PersonalizationConfig | None = None,
        *,
        preferences: Mapping[str, UserPreferences] | None = None,
        profile_builder: UserProfileBuilder | None = None,
        interactions: InteractionStore | None = None,
        on_user_change: Callable[[str], None] | None = None,
        component_budget_ms: float = DEFAULT_COMPONENT_BUDGET_MS,
        max_scored_candidates: int | None = DEFAULT_MAX_SCORED_CANDIDATES,
    ) -> PersonalizationEngine:
        """Fit every component any preset blends, build all profiles, and return an engine.

        Components are fitted once, with ``config``'s settings; a preset named by a request
        brings its blend weights and diversity settings, not its other component settings.

        Parameters
        ----------
        data
            Interactions, the events they refer to, the training time and user homes.
        catalog
            The snapshot of upcoming events to recommend from.
        config
            The default config; the presets' components are fitted too.
        preferences
            Explicit preferences by user id, blended into the profiles (excluded categories
            become a filter).
        profile_builder, interactions, on_user_change, component_budget_ms, max_scored_candidates
            As for the constructor.

        Returns
        -------
        PersonalizationEngine
            Profiles for every user with interactions, a home or preferences; exclusions
            from the dismissals, hides and purchases in ``data``.
        """
        config = config if config is not None else PersonalizationConfig()
        preferences = preferences or {}
        presets = [config, *(get_preset(name) for name in PRESETS)]
        hybrid = HybridRecommender(_union_config(presets)).fit(data)
        builder = profile_builder or UserProfileBuilder(config.profiles)
        profiles = builder.build_all(
            data.interactions,
            data.events,
            data.now_ts,
            preferences=preferences,
            homes=data.user_homes,
        )
        for user_id in (data.user_homes.keys() | preferences.keys()) - profiles.keys():
            profile = UserProfile(
                user_id=user_id, home=data.user_homes.get(user_id), reference_ts=data.now_ts
            )
            wanted = preferences.get(user_id)
            profiles[user_id] = (
                profile if wanted is None else builder.with_preferences(profile, wanted)
            )
        excluded_codes = [INTERACTION_CODES[t] for t in EXCLUDING_TYPES]
        log = data.interactions.take(np.isin(data.interactions.type_code, excluded_codes))
        exclusions: dict[str, set[str]] = {}
        for user_id, event_id in zip(log.user_ids.tolist(), log.event_ids.tolist(), strict=True):
            exclusions.setdefault(user_id, set()).add(event_id)
        return cls(
            catalog=catalog,
            hybrid=hybrid,
            config=config,
            profiles=profiles,
            exclusions=exclusions,
            profile_builder=builder,
            interactions=interactions,
            on_user_change=on_user_change,
            component_budget_ms=component_budget_ms,
            max_scored_candidates=max_scored_candidates,
        )

    @classmethod
    def from_store(
        cls,
        store: Store,
        config: PersonalizationConfig | None = None,
        now: datetime | int | None = None,
    ) -> PersonalizationEngine:
        """Train an engine on everything a database holds, as of ``now``.

        Loads every event and the interactions before ``now``, user homes and explicit
        preferences, trains (see :meth:`train`), builds the catalog of events not over at
        ``now``, and stores later interactions in ``store`` before learning from them.

        Parameters
        ----------
        store
            A migrated database's repositories.
        config
            The default personalization config.
        now
            Aware datetime or epoch seconds; default the current time.
        """
        now_ts = int(time.time()) if now is None else _epoch_s(now)
        loaded = load_training_data(store, now_ts)
        catalog = CatalogSnapshot.build(loaded.data.events, now_ts)
        engine = cls.train(
            loaded.data,
            catalog,
            config,
            preferences=loaded.preferences,
            interactions=store.interactions,
        )
        engine.learned_through_id = loaded.through_id
        return engine

    def _weights(self, config: PersonalizationConfig) -> dict[str, float]:
        wanted = HybridConfig.from_algorithms(config.algorithms).blend_weights()
        return {name: w for name, w in wanted.items() if name in self.hybrid.components_}

    def hybrid_for(self, config: PersonalizationConfig) -> HybridRecommender:
        """A hybrid that blends with ``config``'s weights, sharing the fitted components
        (the trained hybrid itself when the weights are the same)."""
        weights = self._weights(config)
        if weights == self.hybrid.config.blend_weights():
            return self.hybrid
        view = HybridRecommender(HybridConfig.from_algorithms(config.algorithms))
        view.components_ = {name: self.hybrid.components_[name] for name in weights}
        view.is_fitted_ = True
        return view

    def _variant(self, name: str) -> _Variant:
        variant = self._variants.get(name)
        if variant is None:
            config = self.config if name == "default" else get_preset(name)
            variant = _Variant(config, self._weights(config), self.hybrid_for(config))
            self._variants[name] = variant
        return variant

    def get_recommendations(
        self, request: RecommendationRequest, *, now_ts: int | None = None
    ) -> RecommendationResult:
        """Ranked, explained recommendations for one request (see the module docstring).

        Parameters
        ----------
        request
            The seed's request.
        now_ts
            The request time in epoch seconds; default the current time.

        Returns
        -------
        RecommendationResult
            The recommendations; ``performance`` splits the time into ``db_time_ms``
            (profile and candidate reads from the in-memory snapshot, this service's
            database path) and ``ml_time_ms`` (scoring, blending, re-ranking, explaining).
        """
        timer = _Timer()
        ranking = self._rank(request, now_ts, timer)
        recommendations = ranking.recommendations()
        return RecommendationResult(
            recommendations=recommendations,
            cache_info=CacheInfo(hit=False, ttl_seconds=ranking.config.cache.ttl_seconds),
            performance=timer.performance(),
            skipped_components=ranking.skipped_components,
            fallback=ranking.fallback,
        )

    def rank(self, request: RecommendationRequest, *, now_ts: int | None = None) -> Ranking:
        """The ranked list behind :meth:`get_recommendations`, with its per-candidate
        scores and contributions (for evaluation and diagnostics)."""
        return self._rank(request, now_ts, _Timer())

    def _rank(self, request: RecommendationRequest, now_ts: int | None, timer: _Timer) -> Ranking:
        tick = time.perf_counter_ns()
        now_ts = int(time.time()) if now_ts is None else int(now_ts)
        profile = self.profiles.get(request.user_id)
        cold = profile is None or profile.is_cold
        variant = self._variant(request.preset or ("discovery" if cold else "default"))
        location, radius_km = self._where(request, profile, variant.config)
        rows = self._candidate_rows(request, location, radius_km, now_ts)
        # Decide which rows to score on a few columns; gather every column of those only.
        columns = self.catalog.columns(rows, _RETRIEVAL_COLUMNS)
        categories = self.catalog.categories
        if profile is not None and profile.excluded_categories and len(rows):
            codes = [c for c in map(categories.lookup, profile.excluded_categories) if c >= 0]
            allowed = ~np.isin(columns["category"], codes)
            rows = rows[allowed]
            columns = {name: column[allowed] for name, column in columns.items()}
        kept = self._retrieved(columns, categories, location, profile)
        candidates = self.catalog.take(rows if kept is None else rows[kept])
        timer.db_ns += time.perf_counter_ns() - tick

        tick = time.perf_counter_ns()
        context = ScoringContext(
            user_id=request.user_id,
            candidates=candidates,
            now_ts=now_ts,
            location=location,
            profile=profile,
        )
        raw, skipped = self._score(context, variant.weights)
        n = len(candidates)
        scores = np.full(n, np.nan)
        contributions: dict[str, ScoreArray] = {}
        normalized: dict[str, ScoreArray] = {}
        if raw:
            blend = variant.blender.blend(raw)
            scores, contributions, normalized = blend.scores, blend.contributions, blend.normalized
        contributed = np.zeros(n, dtype=np.bool_)
        for share in contributions.values():
            contributed |= share > 0.0
        backfilled = ~contributed
        if backfilled.any():
            floor = float(scores[contributed].min()) if contributed.any() else 1.0
            backup = self._popular_nearby(context, raw.get("trending"))
            scores[backfilled] = floor * backup[backfilled]

        overrides = request.algorithm_config
        diversity = variant.config.diversity
        if overrides.diversity_factor is not None:
            diversity = diversity.model_copy(
                update={"diversity_lambda": 1.0 - overrides.diversity_factor}
            )
        novelty_factor = overrides.novelty_factor or 0.0
        selection = select(
            scores,
            candidates.category,
            candidates.venue,
            limit=request.limit,
            diversity=diversity,
            novelty_factor=novelty_factor,
            is_novel=self._novel(profile, candidates) if novelty_factor > 0.0 else None,
        )
        picked = selection.positions
        explanations = explain(
            {name: share[picked] for name, share in contributions.items()},
            selection.injected,
            fallback_reason=POPULAR_NEARBY,
        )
        confidences = (
            confidence(
                {name: s[picked] for name, s in normalized.items()},
                profile.strength if profile is not None else 0.0,
            )
            if normalized
            else np.zeros(picked.shape[0])
        )
        timer.ml_ns += time.perf_counter_ns() - tick
        fallback = None
        if cold:
            fallback = COLD_START
        elif backfilled[picked].any():
            fallback = POPULAR_NEARBY
        return Ranking(
            candidates=candidates,
            scores=scores,
            contributions=contributions,
            backfilled=backfilled,
            positions=picked.astype(np.int64, copy=False),
            injected=selection.injected,
            explanations=explanations,
            confidences=confidences,
            config=variant.config,
            fallback=fallback,
            skipped_components=skipped,
        )

    def _where(
        self,
        request: RecommendationRequest,
        profile: UserProfile | None,
        config: PersonalizationConfig,
    ) -> tuple[GeoPoint | None, float | None]:
        """The request location and radius; else the user's home within the location
        component's ``max_distance_km``; else nowhere in particular."""
        asked = request.context.location
        if asked is not None:
            return GeoPoint(lat=asked.lat, lng=asked.lng), asked.radius_km
        if profile is not None and profile.home is not None:
            home = GeoPoint(lat=profile.home[0], lng=profile.home[1])
            return home, config.algorithms.location_based.max_distance_km
        return None, None

    def _candidate_rows(
        self,
        request: RecommendationRequest,
        location: GeoPoint | None,
        radius_km: float | None,
        now_ts: int,
    ) -> IntArray:
        window: tuple[int, int] | None = None
        time_range = request.context.time_range
        if time_range is not None and (time_range.start or time_range.end):
            start_ts = now_ts if time_range.start is None else _epoch_s(time_range.start)
            end_ts = int(NO_END_TS) if time_range.end is None else _epoch_s(time_range.end)
            start_ts = max(start_ts, now_ts)
            if end_ts < start_ts:
                return _NO_ROWS
            window = (start_ts, end_ts)
        price = request.filters.price_range
        return self.catalog.candidates(
            location,
            radius_km,
            window,
            request.filters.categories,
            (price.min, price.max) if price is not None else None,
            now=now_ts,
            exclude_ids=self.exclusions.get(request.user_id),
        )

    def retrieve(
        self, candidates: EventFrame, location: GeoPoint | None, profile: UserProfile | None
    ) -> EventFrame:
        """The candidates to score: all of them, or about ``max_scored_candidates``.

        Over the cap, each category keeps a share of the pool, its nearest candidates first:
        nearest to ``location`` or to any of the user's own places (those the location
        component learned), whichever is nearer; soonest to start when there is neither.
        Every category present keeps some, as the category caps of re-ranking need. Shares
        are equal for a user with no taste yet; a category the profile likes gets up to
        ``1 + RETRIEVAL_AFFINITY_BOOST`` times the share of one it does not. Row order is
        kept.
        """
        kept = self._retrieved(
            {name: getattr(candidates, name) for name in _RETRIEVAL_COLUMNS},
            candidates.categories,
            location,
            profile,
        )
        return candidates if kept is None else candidates.take(kept)

    def _retrieved(
        self,
        columns: Mapping[str, Any],
        categories: Vocabulary,
        location: GeoPoint | None,
        profile: UserProfile | None,
    ) -> IntArray | None:
        """:meth:`retrieve` on the :data:`_RETRIEVAL_COLUMNS` of the candidates: the
        positions kept, in order, or ``None`` for all of them."""
        cap = self.max_scored_candidates
        category = columns["category"]
        n = len(category)
        if cap is None or n <= cap:
            return None
        anchor_lat, anchor_lng = _retrieval_anchors(self.hybrid, location, profile)
        if anchor_lat.size == 0:
            order_key = columns["start_ts"].astype(np.float64)
        else:
            order_key = _nearest_squared_degrees(
                columns["lat"], columns["lng"], anchor_lat, anchor_lng
            )
        # Group 0 is "no category"; categories past the int16 range share the last group.
        group = np.minimum(category + 1, _MAX_GROUP).astype(np.int64)
        sizes = np.bincount(group)
        weights = np.ones(len(sizes))
        liked = {} if profile is None else {c: v for c, v in profile.categories.items() if v > 0}
        if liked:
            top = max(liked.values())
            for name, affinity in liked.items():
                code = categories.lookup(name) + 1
                if 0 < code < len(weights):
                    weights[code] += RETRIEVAL_AFFINITY_BOOST * affinity / top
        quotas = _quotas(sizes, weights, cap)
        # Each category's candidates nearest first, by one sort of packed int64 keys
        # (group, nearness, position): several times cheaper than an argsort by nearness
        # and a stable one by group.
        packed = _packed_order(group, len(sizes), order_key)
        position_bits = max(n - 1, 1).bit_length()
        in_order = packed >> (63 - max(len(sizes) - 1, 1).bit_length())
        rank_in_group = np.arange(n) - (np.cumsum(sizes) - sizes)[in_order]
        kept = packed[rank_in_group < quotas[in_order]] & ((1 << position_bits) - 1)
        kept.sort()
        return np.asarray(kept, dtype=np.int64)

    def _score(
        self, context: ScoringContext, weights: Mapping[str, float]
    ) -> tuple[dict[str, ScoreArray], dict[str, str]]:
        """Raw scores of each weighted component that answered in time, and the skipped."""
        scores: dict[str, ScoreArray] = {}
        skipped: dict[str, str] = {}
        for name in weights:
            tick = time.perf_counter_ns()
            try:
                result = self.hybrid.components_[name].score(context)
            except Exception as error:  # one component must not fail the request
                skipped[name] = f"raised {type(error).__name__}: {error}"
                continue
            elapsed_ms = (time.perf_counter_ns() - tick) / 1e6
            if elapsed_ms > self.component_budget_ms:
                skipped[name] = (
                    f"over its time budget ({elapsed_ms:.1f} ms > {self.component_budget_ms} ms)"
                )
                continue
            scores[name] = result
        return scores, skipped

    @staticmethod
    def _popular_nearby(context: ScoringContext, trending: ScoreArray | None) -> ScoreArray:
        """The backfill scorer, in [0, 1): ``0.8 * popularity + 0.2 * closeness``.

        Popularity is trending's score of this request (0 when trending was not scored);
        closeness is ``1 / (1 + distance_km)`` from the request location (0 without one).
        """
        n = len(context.candidates)
        popularity = np.zeros(n) if trending is None else np.nan_to_num(np.clip(trending, 0, 1))
        closeness = np.zeros(n)
        if context.distance_km is not None:
            closeness = 1.0 / (1.0 + context.distance_km)
        return np.asarray(0.8 * popularity + 0.2 * closeness, dtype=np.float64)

    @staticmethod
    def _novel(profile: UserProfile | None, candidates: EventFrame) -> BoolArray | None:
        """Candidates in a category or at a venue the user never engaged with positively."""
        if profile is None or profile.is_cold:
            return None
        category_of, venue_of = candidates.categories.lookup, candidates.venues.lookup
        categories = [category_of(name) for name, w in profile.categories.items() if w > 0]
        venues = [venue_of(name) for name, w in profile.venues.items() if w > 0]
        known_categories = [code for code in categories if code >= 0]
        known_venues = [code for code in venues if code >= 0]
        return ~np.isin(candidates.category, known_categories) | ~np.isin(
            candidates.venue, known_venues
        )

    def update_user_preferences(self, user_id: str, interaction: Interaction) -> LearnResult:
        """Store one interaction durably, then learn from it at once.

        The profile, the matrix-factorization vector, trending and the text profile are
        updated; dismiss, hide and purchase exclude the event from later results; the
        ``on_user_change`` hook runs last. A repeated idempotency key stores and learns
        nothing, and a store that raises leaves everything unlearned.

        Raises
        ------
        ValueError
            When the interaction is another user's.
        """
        if interaction.user_id != user_id:
            raise ValueError(
                f"interaction belongs to user {interaction.user_id!r}, not {user_id!r}"
            )
        interaction_id: int | None = None
        if self.interactions is not None:
            interaction_id, created = self.interactions.add(interaction)
            if not created:
                profile = self.profiles.get(user_id) or UserProfile(user_id=user_id)
                return LearnResult(interaction_id, False, profile)
        return LearnResult(interaction_id, True, self.learn(interaction))

    def apply_preferences(
        self,
        user_id: str,
        preferences: UserPreferences,
        home: tuple[float, float] | None = None,
    ) -> UserProfile:
        """Blend explicit preferences (and a home, when given) into the user's profile."""
        profile = self.profiles.get(user_id) or UserProfile(
            user_id=user_id, reference_ts=int(time.time())
        )
        if home is not None:
            profile = replace(profile, home=home)
        profile = self.profile_builder.with_preferences(profile, preferences)
        self.profiles[user_id] = profile
        return profile

    def learn(self, interaction: Interaction, *, notify: bool = True) -> UserProfile:
        """Learn from one interaction already stored (by this process or another).

        The same learning as :meth:`update_user_preferences` without the store write:
        the profile, the matrix-factorization vector, trending and the text profile, the
        exclusions, then (when ``notify``) the ``on_user_change`` hook. Returns the new
        profile.
        """
        self.learn_many([interaction], notify=notify)
        return self.profiles[interaction.user_id]

    def learn_many(self, interactions: Sequence[Interaction], *, notify: bool = True) -> None:
        """Learn from several interactions already stored, in order: the same state as
        :meth:`learn` on each in turn, with the components learning them at once (e.g. one
        matrix-factorization solve per user)."""
        events: list[EventFrame | None] = []
        for interaction in interactions:
            user_id = interaction.user_id
            row = self.catalog.index_of(interaction.event_id)
            event = self.catalog.take([row]) if row is not None else None
            events.append(event)
            profile = self.profiles.get(user_id) or UserProfile(user_id=user_id)
            self.profiles[user_id] = self.profile_builder.update(profile, interaction, event)
            if interaction.interaction_type in EXCLUDING_TYPES:
                self.exclusions.setdefault(user_id, set()).add(interaction.event_id)
        self.hybrid.partial_update_many(interactions, events)
        if notify and self.on_user_change is not None:
            for user_id in dict.fromkeys(i.user_id for i in interactions):
                self.on_user_change(user_id)

    def similar_events(
        self,
        event_id: str | None = None,
        text: str | None = None,
        k: int = 10,
        *,
        now_ts: int | None = None,
    ) -> list[SimilarEvent]:
        """Upcoming events most similar in content (TF-IDF) to an event or to free text.

        Only events a user could still attend are returned: not over at ``now_ts``, not
        cancelled, not sold out; never the query event itself.

        Parameters
        ----------
        event_id, text
            Exactly one: an event held by the catalog, or free text.
        k
            How many to return at most.
        now_ts
            Epoch seconds; default the current time.

        Raises
        ------
        ValueError
            When not exactly one of ``event_id`` and ``text`` is given, or the content
            recommender is not part of the engine.
        KeyError
            When ``event_id`` is not in the catalog.
        """
        if (event_id is None) == (text is None):
            raise ValueError("give exactly one of event_id or text")
        content = self.hybrid.components_.get("content_based")
        if not isinstance(content, ContentRecommender):
            raise ValueError("similar events need the content_based recommender to be enabled")
        now_ts = int(time.time()) if now_ts is None else int(now_ts)
        rows = self.catalog.candidates(now=now_ts)
        query: int | str = str(text)
        if event_id is not None:
            row = self.catalog.index_of(event_id)
            if row is None:
                raise KeyError(f"event {event_id!r} is not in the catalog of upcoming events")
            rows = np.concatenate([[row], rows[rows != row]])
            query = 0
        events = self.catalog.take(rows)
        found, similarity = content.similar_events(query, events, k)
        return [
            SimilarEvent(event_id=str(events.ids[r]), similarity=float(s))
            for r, s in zip(found.tolist(), similarity.tolist(), strict=True)
        ]
