"""UserProfileBuilder: decayed affinities learned from interactions, in bulk or one at a time.

Decay
    A learned value is a sum of interaction weights, each multiplied by
    ``2 ** (-age / half_life_days)`` at the profile's ``reference_ts``. While a preference
    change is flagged, the clock that ages interactions runs ``adaptation_boost`` times
    faster (the effective half-life shrinks), so a new taste overtakes the old one sooner.

Change detection
    After every interaction the recent category distribution (half-life
    ``recent_window_days``) is compared with the long-term one (``learned_categories``);
    a Jensen-Shannon divergence above ``change_threshold``, with at least
    ``change_min_recent_weight`` of recent positive weight, flags a change.

Bulk and incremental agree
    :meth:`UserProfileBuilder.build_all` replays exactly what :meth:`UserProfileBuilder.update`
    does interaction by interaction (same flags, same clock), so updating one interaction at a
    time equals a bulk build over the same interactions in time order. An interaction older
    than the profile's ``reference_ts`` is decayed with the profile's current clock rate; the
    bulk build, which sorts by time, agrees with that whenever no change was flagged in
    between (always, with ``adaptation_boost=1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from scenescout.domain import Interaction, UserPreferences
from scenescout.frames import INTERACTION_TYPES, EventFrame, InteractionLog
from scenescout.geo import haversine_km, haversine_km_scalar
from scenescout.profiles.config import ProfileConfig
from scenescout.profiles.divergence import jensen_shannon, jensen_shannon_rows
from scenescout.profiles.event_keys import (
    PRICE_BAND_NAMES,
    SECONDS_PER_DAY,
    TIME_CELL_NAMES,
    event_keys,
    one_event_keys,
)
from scenescout.profiles.profile import UserProfile
from scenescout.profiles.similarity import Neighbours, similar_users

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Upper bound on the cells of the dense per-batch state of the change-detection replay.
_REPLAY_CELLS = 1 << 22


class UserProfileBuilder:
    """Builds and incrementally updates :class:`UserProfile` objects.

    Parameters
    ----------
    config
        Weights, decay, change detection, explicit-preference prior and similarity settings;
        defaults to :class:`ProfileConfig()`.
    """

    def __init__(self, config: ProfileConfig | None = None) -> None:
        self.config = config if config is not None else ProfileConfig()

    def build(
        self,
        user_id: str,
        interactions: InteractionLog,
        events: EventFrame,
        *,
        now_ts: int,
        preferences: UserPreferences | None = None,
        home: tuple[float, float] | None = None,
    ) -> UserProfile:
        """The profile of one user from their whole interaction history.

        Parameters
        ----------
        user_id
            Whose profile; every row of ``interactions`` must belong to this user.
        interactions
            The user's interactions, in any order.
        events
            Events the interactions refer to; interactions with events missing here count
            in ``interaction_count`` and ``last_interaction_ts`` but in no affinity.
        now_ts
            Epoch seconds the decayed values refer to; a later interaction moves
            ``reference_ts`` up to its own time instead (values are never grown).
        preferences
            Explicit preferences to blend in (see :meth:`with_preferences`).
        home
            ``(lat, lng)`` of the user's home, for ``typical_distance_km``.

        Raises
        ------
        ValueError
            When ``interactions`` holds rows of other users.
        """
        strangers = interactions.user_ids != user_id
        if np.any(strangers):
            others = sorted(set(interactions.user_ids[strangers].tolist()))
            raise ValueError(
                f"build({user_id!r}) was given interactions of other users: {others[:5]}"
            )
        built = self._build_many(
            interactions,
            events,
            now_ts,
            homes={user_id: home},
            preferences={user_id: preferences},
        )
        if user_id in built:
            return built[user_id]
        return self._finish(
            UserProfile(user_id=user_id, reference_ts=now_ts, home=home), preferences
        )

    def build_all(
        self,
        log: InteractionLog,
        events: EventFrame,
        now_ts: int,
        *,
        preferences: Mapping[str, UserPreferences] | None = None,
        homes: Mapping[str, tuple[float, float]] | None = None,
    ) -> dict[str, UserProfile]:
        """Profiles of every user in ``log`` at once; equal to :meth:`build` per user.

        Parameters
        ----------
        log
            Interactions of many users, in any order.
        events, now_ts
            As for :meth:`build`.
        preferences, homes
            Per user id, when known.

        Returns
        -------
        dict
            User id to profile, for the users that appear in ``log``.
        """
        return self._build_many(
            log, events, now_ts, homes=homes or {}, preferences=preferences or {}
        )

    def update(
        self,
        profile: UserProfile,
        interaction: Interaction,
        event: EventFrame | None,
        *,
        preferences: UserPreferences | None = None,
    ) -> UserProfile:
        """The profile after one more interaction, in time proportional to the profile's size.

        Every stored value is first decayed to the interaction's time (when it is newer than
        ``reference_ts``), then the interaction's weights are added; an older interaction
        is decayed to ``reference_ts`` instead. Change detection is re-evaluated.

        Parameters
        ----------
        profile
            The current profile (not modified).
        interaction
            The new interaction of ``profile.user_id``.
        event
            A one-row frame describing the interacted event, or ``None`` when unknown (the
            interaction then counts in no affinity).
        preferences
            New explicit preferences, or ``None`` to keep the profile's.

        Raises
        ------
        ValueError
            When the interaction is another user's or ``event`` is not its one-row frame.
        """
        if interaction.user_id != profile.user_id:
            raise ValueError(
                f"interaction of user {interaction.user_id!r} given to the profile of "
                f"{profile.user_id!r}"
            )
        cfg = self.config
        ts = int(interaction.occurred_at.timestamp())
        weight = cfg.interaction_weights.of(interaction.interaction_type) * (
            1.0 if interaction.weight is None else interaction.weight
        )
        if profile.reference_ts is not None and ts < profile.reference_ts:
            age_days = (profile.reference_ts - ts) / SECONDS_PER_DAY
            learned_weight = weight * 2.0 ** (
                -age_days * self._clock_rate(profile) / cfg.half_life_days
            )
            recent_weight = weight * 2.0 ** (-age_days / cfg.recent_window_days)
        else:
            profile = self._decayed(profile, ts)
            learned_weight = recent_weight = weight

        learned_categories = dict(profile.learned_categories)
        recent_categories = dict(profile.recent_categories)
        tags = dict(profile.tags)
        venues = dict(profile.venues)
        organizers = dict(profile.organizers)
        price_bands = dict(profile.price_bands)
        time_of_week = dict(profile.time_of_week)
        positive_weight = profile.positive_weight
        distance_weight = profile.distance_weight
        typical_distance_km = profile.typical_distance_km
        if event is not None:
            if len(event) != 1 or event.ids[0] != interaction.event_id:
                raise ValueError(
                    f"event must be the one-row frame of event {interaction.event_id!r}, "
                    f"got ids {event.ids.tolist()}"
                )
            keys = one_event_keys(event, 0)
            category = event.categories.name(keys.category)
            _add(learned_categories, category, learned_weight)
            _add(recent_categories, category, recent_weight)
            for tag in keys.tags:
                _add(tags, tag, learned_weight)
            _add(venues, event.venues.name(keys.venue), learned_weight)
            _add(organizers, event.organizers.name(keys.organizer), learned_weight)
            _add(price_bands, PRICE_BAND_NAMES[keys.price_band], learned_weight)
            cell = keys.time_cell
            _add(time_of_week, TIME_CELL_NAMES[cell] if cell >= 0 else None, learned_weight)
            if weight > 0.0:
                positive_weight += learned_weight
                if profile.home is not None and learned_weight > 0.0:
                    distance = haversine_km_scalar(*profile.home, keys.lat, keys.lng)
                    mean = 0.0 if typical_distance_km is None else typical_distance_km
                    typical_distance_km = (mean * distance_weight + distance * learned_weight) / (
                        distance_weight + learned_weight
                    )
                    distance_weight += learned_weight

        names = sorted(recent_categories.keys() | learned_categories.keys())
        changed = self._changed_one(
            [recent_categories.get(name, 0.0) for name in names],
            [learned_categories.get(name, 0.0) for name in names],
        )
        last_ts = (
            ts if profile.last_interaction_ts is None else max(ts, profile.last_interaction_ts)
        )
        updated = replace(
            profile,
            learned_categories=learned_categories,
            recent_categories=recent_categories,
            tags=tags,
            venues=venues,
            organizers=organizers,
            price_bands=price_bands,
            time_of_week=time_of_week,
            positive_weight=positive_weight,
            distance_weight=distance_weight,
            typical_distance_km=typical_distance_km,
            interaction_count=profile.interaction_count + 1,
            last_interaction_ts=last_ts,
            preference_change_detected=changed,
        )
        return self._finish(updated, preferences)

    def decay_to(self, profile: UserProfile, ts: int) -> UserProfile:
        """The profile with every decayed value moved forward to time ``ts``.

        A profile never moves backwards: for ``ts`` at or before ``reference_ts`` it is
        returned unchanged. Relative affinities do not change; ``strength`` and the
        explicit-preference prior do.
        """
        decayed = self._decayed(profile, ts)
        return profile if decayed is profile else self._finish(decayed, None)

    def with_preferences(self, profile: UserProfile, preferences: UserPreferences) -> UserProfile:
        """The profile with new explicit preferences blended in.

        Each explicit category gets ``explicit_weight * (1 - strength)`` added to its learned
        affinity in ``categories``: decisive for a new user, negligible for a well-known
        one. Excluded categories are recorded in ``excluded_categories`` for the filters;
        their learned affinities are left as they are.
        """
        return self._finish(profile, preferences)

    def similar_users(
        self, profiles: Mapping[str, UserProfile], k: int | None = None
    ) -> dict[str, Neighbours]:
        """Top-``k`` (default ``similar_users_k``) neighbours per user: :func:`similar_users`."""
        return similar_users(profiles, self.config.similar_users_k if k is None else k)

    def _finish(self, profile: UserProfile, preferences: UserPreferences | None) -> UserProfile:
        """Recompute what derives from the learned state: strength and the blended categories."""
        if preferences is None:
            explicit, excluded = profile.explicit_categories, profile.excluded_categories
        else:
            explicit = tuple(preferences.categories)
            excluded = tuple(preferences.excluded_categories)
        categories, strength = self._blend(
            profile.learned_categories, profile.positive_weight, explicit
        )
        return replace(
            profile,
            categories=categories,
            strength=strength,
            explicit_categories=explicit,
            excluded_categories=excluded,
        )

    def _blend(
        self, learned_categories: dict[str, float], positive_weight: float, explicit: Sequence[str]
    ) -> tuple[dict[str, float], float]:
        """Blended ``categories`` and ``strength`` from the learned state."""
        cfg = self.config
        strength = 1.0 - math.exp(-positive_weight / cfg.strength_scale)
        prior = cfg.explicit_weight * (1.0 - strength)
        categories = dict(learned_categories)
        for name in explicit:
            categories[name] = categories.get(name, 0.0) + prior
        return categories, strength

    def _clock_rate(self, profile: UserProfile) -> float:
        return self.config.adaptation_boost if profile.preference_change_detected else 1.0

    def _decayed(self, profile: UserProfile, ts: int) -> UserProfile:
        """Learned state moved forward to ``ts``; derived fields are left for :meth:`_finish`."""
        if profile.reference_ts is None:
            return replace(profile, reference_ts=ts)
        if ts <= profile.reference_ts:
            return profile
        cfg = self.config
        days = (ts - profile.reference_ts) / SECONDS_PER_DAY
        factor = 2.0 ** (-days * self._clock_rate(profile) / cfg.half_life_days)
        recent_factor = 2.0 ** (-days / cfg.recent_window_days)
        return replace(
            profile,
            learned_categories=_scaled(profile.learned_categories, factor),
            recent_categories=_scaled(profile.recent_categories, recent_factor),
            tags=_scaled(profile.tags, factor),
            venues=_scaled(profile.venues, factor),
            organizers=_scaled(profile.organizers, factor),
            price_bands=_scaled(profile.price_bands, factor),
            time_of_week=_scaled(profile.time_of_week, factor),
            positive_weight=profile.positive_weight * factor,
            distance_weight=profile.distance_weight * factor,
            reference_ts=ts,
        )

    def _changed(self, recent: FloatArray, learned: FloatArray) -> BoolArray:
        """Row-wise change flags for recent vs long-term category vectors of shape ``(n, k)``."""
        cfg = self.config
        recent_mass = np.clip(recent, 0.0, None).sum(axis=1)
        divergence = jensen_shannon_rows(recent, learned)
        return (divergence > cfg.change_threshold) & (recent_mass >= cfg.change_min_recent_weight)

    def _changed_one(self, recent: Sequence[float], learned: Sequence[float]) -> bool:
        """:meth:`_changed` of one pair of category vectors, in Python floats (one update)."""
        cfg = self.config
        recent_mass = math.fsum(x for x in recent if x > 0.0)
        divergence = jensen_shannon(recent, learned)
        return divergence > cfg.change_threshold and recent_mass >= cfg.change_min_recent_weight

    def _interaction_weights(
        self, type_code: npt.NDArray[np.int8], given: npt.NDArray[np.float32]
    ) -> FloatArray:
        by_type = np.array([self.config.interaction_weights.of(t) for t in INTERACTION_TYPES])
        multiplier = given.astype(np.float64)
        return by_type[type_code] * np.where(np.isnan(multiplier), 1.0, multiplier)

    def _build_many(
        self,
        log: InteractionLog,
        events: EventFrame,
        now_ts: int,
        *,
        homes: Mapping[str, tuple[float, float] | None],
        preferences: Mapping[str, UserPreferences | None],
    ) -> dict[str, UserProfile]:
        """The profiles of every user in ``log``."""
        cfg = self.config
        n = len(log)
        if n == 0:
            return {}
        user_id_by_row = log.user_ids.tolist()
        user_ids = list(dict.fromkeys(user_id_by_row))
        n_users = len(user_ids)
        code_of_user = {user_id: code for code, user_id in enumerate(user_ids)}
        owner_by_row = np.fromiter(
            map(code_of_user.__getitem__, user_id_by_row), dtype=np.int64, count=n
        )
        order = np.lexsort((log.occurred_ts, owner_by_row))
        owner = owner_by_row[order]
        ts = log.occurred_ts[order].astype(np.int64)
        row_of_event = {event_id: row for row, event_id in enumerate(events.ids.tolist())}
        row_or_none = row_of_event.get
        event_row = np.array(
            [row_or_none(e, -1) for e in log.event_ids[order].tolist()], dtype=np.int64
        )
        known = event_row >= 0
        weight = np.where(
            known, self._interaction_weights(log.type_code[order], log.weight[order]), 0.0
        )

        counts = np.bincount(owner, minlength=n_users)
        ends = np.cumsum(counts)
        last_ts = ts[ends - 1]
        reference_ts = np.maximum(last_ts, np.int64(now_ts))

        distinct_rows, event_of = np.unique(event_row[known], return_inverse=True)
        keys = event_keys(events, distinct_rows)

        def per_interaction(codes: IntArray) -> IntArray:
            out = np.full(n, -1, dtype=np.int64)
            out[known] = codes[event_of]
            return out

        category = per_interaction(keys.category)
        clock, flagged = self._replay_changes(ends - counts, counts, ts, category, weight)
        last_rate = np.where(flagged, cfg.adaptation_boost, 1.0)
        clock_at_reference = clock[ends - 1] + (
            (reference_ts - last_ts) / SECONDS_PER_DAY * last_rate / cfg.half_life_days
        )
        decayed = weight * np.exp2(clock - clock_at_reference[owner])
        recent = weight * np.exp2(
            -(reference_ts[owner] - ts) / (SECONDS_PER_DAY * cfg.recent_window_days)
        )

        tag_counts = np.zeros(n, dtype=np.int64)
        tag_counts[known] = np.diff(keys.tag_indptr)[event_of]
        tag_first = np.zeros(n, dtype=np.int64)
        tag_first[known] = keys.tag_indptr[:-1][event_of]
        tag_of = np.repeat(np.arange(n), tag_counts)
        tag_offset = np.arange(len(tag_of)) - np.repeat(
            np.cumsum(tag_counts) - tag_counts, tag_counts
        )
        tag_code = keys.tag_codes[tag_first[tag_of] + tag_offset]

        def summed(
            codes: IntArray, values: FloatArray, names: Sequence[str]
        ) -> list[dict[str, float]]:
            return _sum_by_owner(owner, codes, values, n_users, names)

        learned_categories = summed(category, decayed, events.categories.names)
        recent_categories = summed(category, recent, events.categories.names)
        tags = _sum_by_owner(owner[tag_of], tag_code, decayed[tag_of], n_users, keys.tag_names)
        venues = summed(per_interaction(keys.venue), decayed, events.venues.names)
        organizers = summed(per_interaction(keys.organizer), decayed, events.organizers.names)
        price_bands = summed(per_interaction(keys.price_band), decayed, PRICE_BAND_NAMES)
        time_of_week = summed(per_interaction(keys.time_cell), decayed, TIME_CELL_NAMES)

        positive = weight > 0.0
        positive_weight = np.bincount(owner, np.where(positive, decayed, 0.0), minlength=n_users)
        user_homes = [homes.get(user_id) for user_id in user_ids]
        home_lat = np.array([np.nan if h is None else h[0] for h in user_homes])
        home_lng = np.array([np.nan if h is None else h[1] for h in user_homes])
        event_lat = np.full(n, np.nan)
        event_lat[known] = keys.lat[event_of]
        event_lng = np.full(n, np.nan)
        event_lng[known] = keys.lng[event_of]
        distance = haversine_km(home_lat[owner], home_lng[owner], event_lat, event_lng)
        counted = positive & np.isfinite(distance)
        distance_weight = np.bincount(owner, np.where(counted, decayed, 0.0), minlength=n_users)
        distance_sum = np.bincount(
            owner, np.where(counted, decayed * distance, 0.0), minlength=n_users
        )

        profiles = {}
        for u, user_id in enumerate(user_ids):
            wanted = preferences.get(user_id)
            explicit = () if wanted is None else tuple(wanted.categories)
            categories, strength = self._blend(
                learned_categories[u], float(positive_weight[u]), explicit
            )
            profiles[user_id] = UserProfile(
                user_id=user_id,
                categories=categories,
                tags=tags[u],
                venues=venues[u],
                organizers=organizers[u],
                price_bands=price_bands[u],
                time_of_week=time_of_week[u],
                typical_distance_km=(
                    float(distance_sum[u] / distance_weight[u]) if distance_weight[u] > 0 else None
                ),
                interaction_count=int(counts[u]),
                last_interaction_ts=int(last_ts[u]),
                reference_ts=int(reference_ts[u]),
                strength=strength,
                preference_change_detected=bool(flagged[u]),
                explicit_categories=explicit,
                excluded_categories=() if wanted is None else tuple(wanted.excluded_categories),
                home=user_homes[u],
                learned_categories=learned_categories[u],
                recent_categories=recent_categories[u],
                positive_weight=float(positive_weight[u]),
                distance_weight=float(distance_weight[u]),
            )
        return profiles

    def _replay_changes(
        self,
        starts: IntArray,
        counts: IntArray,
        ts: IntArray,
        category: IntArray,
        weight: FloatArray,
    ) -> tuple[FloatArray, BoolArray]:
        """Replay each user's interactions in time order to find when changes were flagged.

        The interactions of user ``u`` are rows ``starts[u]:starts[u] + counts[u]``, sorted by
        time. Returns the effective clock at each interaction (half-lives since the user's
        first interaction, running ``adaptation_boost`` times faster while a change is
        flagged) and whether a change is flagged after each user's last interaction. Users
        advance in lockstep, a batch at a time (longest histories first), so the Python loop
        runs once per step of the longest history in a batch, not once per interaction.
        """
        cfg = self.config
        present = category >= 0
        category_codes, compact = np.unique(category[present], return_inverse=True)
        column = np.full(len(category), -1, dtype=np.int64)
        column[present] = compact
        n_columns = len(category_codes)
        clock = np.zeros(len(ts))
        flagged = np.zeros(len(starts), dtype=bool)
        by_length = np.argsort(-counts, kind="stable")
        batch_size = max(1, _REPLAY_CELLS // max(n_columns, 1))
        for batch_start in range(0, len(by_length), batch_size):
            users = by_length[batch_start : batch_start + batch_size]
            first, length = starts[users], counts[users]
            learned = np.zeros((len(users), n_columns))
            recent = np.zeros((len(users), n_columns))
            flag = np.zeros(len(users), dtype=bool)
            for step in range(int(length[0])):
                active = int(np.searchsorted(-length, -step, side="left"))
                at = first[:active] + step
                if step:
                    days = (ts[at] - ts[at - 1]) / SECONDS_PER_DAY
                    rate = np.where(flag[:active], cfg.adaptation_boost, 1.0)
                    half_lives = days * rate / cfg.half_life_days
                    clock[at] = clock[at - 1] + half_lives
                    learned[:active] *= np.exp2(-half_lives)[:, None]
                    recent[:active] *= np.exp2(-days / cfg.recent_window_days)[:, None]
                columns = column[at]
                has = np.flatnonzero(columns >= 0)
                learned[has, columns[has]] += weight[at[has]]
                recent[has, columns[has]] += weight[at[has]]
                flag[:active] = self._changed(recent[:active], learned[:active])
            flagged[users] = flag
        return clock, flagged


def _add(target: dict[str, float], key: str | None, value: float) -> None:
    if key is not None:
        target[key] = target.get(key, 0.0) + value


def _scaled(values: dict[str, float], factor: float) -> dict[str, float]:
    return {key: value * factor for key, value in values.items()}


def _sum_by_owner(
    owner: IntArray, codes: IntArray, values: FloatArray, n_owners: int, names: Sequence[str]
) -> list[dict[str, float]]:
    """Per owner, the sum of ``values`` per name ``names[code]`` (code -1 is skipped)."""
    keep = codes >= 0
    matrix = sp.csr_matrix((values[keep], (owner[keep], codes[keep])), shape=(n_owners, len(names)))
    keys = np.asarray(names, dtype=object)[matrix.indices].tolist()
    sums = matrix.data.tolist()
    bounds = matrix.indptr.tolist()
    return [dict(zip(keys[a:b], sums[a:b], strict=True)) for a, b in pairwise(bounds)]
