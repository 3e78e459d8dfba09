"""A tiny event world with known right answers, shared by the recommender tests.

Two categories (music, sports) at two places 23 km apart (A downtown, B north-west).
Five past events per category; four upcoming candidates: a *warm* music and sports event at
A that fans already interact with, and a *cold* (never seen) music and sports event at B.

Music fans (alice, bob, carol, dave) engage with every past music event, sports fans (erin,
frank, grace, heidi, ivan) with every past sports event, each also glances at one event of
the other kind. Fans engage with their warm candidate in the last hours, except alice, whose
answer is the test: she should be recommended the music event. Sports has more fans, so
the sports event is the trending one. In the ``flipped`` world every fan likes the other
category, which flips those answers. nina has a single interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from scenescout.domain import Event, GeoPoint, Interaction, InteractionType
from scenescout.frames import EventFrame, InteractionLog
from scenescout.profiles.profile import UserProfile
from scenescout.recommenders import ScoringContext, TrainingData

NOW = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
PLACE_A = GeoPoint(lat=1.3000, lng=103.8500)
PLACE_B = GeoPoint(lat=1.4500, lng=103.7000)
MUSIC_FANS = ("alice", "bob", "carol", "dave")
SPORTS_FANS = ("erin", "frank", "grace", "heidi", "ivan")

_PAST = {
    "music": [
        ("Jazz night", "Live jazz band playing smooth music all night", ("live-music", "jazz")),
        ("Rock band live", "A loud rock band concert with guitars", ("live-music", "rock")),
        ("Indie concert", "Indie music concert with local bands", ("live-music", "indie")),
        ("Blues session", "Blues band jam session, live music", ("live-music", "blues")),
        ("Orchestra evening", "Classical music concert by the city orchestra", ("classical",)),
    ],
    "sports": [
        ("Football derby", "Local football derby match at the stadium", ("football", "match")),
        ("Basketball game", "Basketball league game, home team", ("basketball", "match")),
        ("Marathon", "City marathon run for all runners", ("running",)),
        ("Tennis open", "Tennis tournament open to spectators", ("tennis", "match")),
        ("Football cup", "Football cup match between rivals", ("football", "match")),
    ],
}
_UPCOMING = [
    (
        "music-warm",
        "music",
        PLACE_A,
        "Live band concert",
        "Live music concert with a jazz and rock band",
        ("live-music", "rock"),
    ),
    (
        "sports-warm",
        "sports",
        PLACE_A,
        "Football match",
        "Football league match at the stadium",
        ("football", "match"),
    ),
    (
        "music-cold",
        "music",
        PLACE_B,
        "Jazz in the park",
        "Open air jazz band concert, live music",
        ("live-music", "jazz"),
    ),
    (
        "sports-cold",
        "sports",
        PLACE_B,
        "Basketball final",
        "Basketball final match of the season",
        ("basketball", "match"),
    ),
]
_PRICE = {"music": 30.0, "sports": 10.0}
_HOUR = {"music": 20, "sports": 15}


def _event(
    event_id: str,
    category: str,
    place: GeoPoint,
    title: str,
    text: str,
    tags: tuple[str, ...],
    start: datetime,
) -> Event:
    return Event(
        id=event_id,
        title=title,
        description=text,
        category=category,
        tags=list(tags),
        venue_id=f"venue-{category}-{'a' if place == PLACE_A else 'b'}",
        lat=place.lat,
        lng=place.lng,
        start_time=start,
        end_time=start + timedelta(hours=3),
        price_min=_PRICE[category],
        price_max=_PRICE[category],
        created_at=NOW,
        updated_at=NOW,
    )


def _events() -> list[Event]:
    events = []
    for category, rows in _PAST.items():
        for i, (title, text, tags) in enumerate(rows):
            start = (NOW - timedelta(days=3 + 3 * i)).replace(hour=_HOUR[category])
            place = PLACE_A if i % 2 == 0 else PLACE_B
            events.append(_event(f"{category}-{i}", category, place, title, text, tags, start))
    for event_id, category, place, title, text, tags in _UPCOMING:
        start = (NOW + timedelta(days=2)).replace(hour=_HOUR[category])
        events.append(_event(event_id, category, place, title, text, tags, start))
    return events


_TYPES = (
    InteractionType.VIEW,
    InteractionType.CLICK,
    InteractionType.SAVE,
    InteractionType.RSVP,
    InteractionType.PURCHASE,
)


def _interactions(rng: np.random.Generator, flipped: bool) -> list[Interaction]:
    other = {"music": "sports", "sports": "music"}
    taste = {user: "music" for user in MUSIC_FANS} | {user: "sports" for user in SPORTS_FANS}
    if flipped:
        taste = {user: other[category] for user, category in taste.items()}
    interactions = []

    def add(user: str, event_id: str, kind: InteractionType, hours_ago: float) -> None:
        interactions.append(interaction(user, event_id, kind, hours_ago))

    for user, category in taste.items():
        for i in range(5):
            kind = _TYPES[int(rng.integers(1, len(_TYPES)))]
            add(user, f"{category}-{i}", kind, float(rng.uniform(48, 400)))
        add(user, f"{other[category]}-{int(rng.integers(5))}", InteractionType.VIEW, 200.0)
        if user != "alice":
            add(user, f"{category}-warm", InteractionType.SAVE, float(rng.uniform(1, 10)))
    add("nina", "music-0", InteractionType.VIEW, 30.0)
    return interactions


@dataclass
class World:
    """Events, training data and helpers to build scoring contexts."""

    events: EventFrame
    data: TrainingData
    now_ts: int

    def frame(self, *event_ids: str) -> EventFrame:
        index = {event_id: row for row, event_id in enumerate(self.events.ids.tolist())}
        return self.events.take(np.array([index[e] for e in event_ids], dtype=np.int64))

    def context(
        self,
        user_id: str,
        *event_ids: str,
        location: GeoPoint | None = None,
        profile: UserProfile | None = None,
    ) -> ScoringContext:
        return ScoringContext(
            user_id=user_id,
            candidates=self.frame(*event_ids),
            now_ts=self.now_ts,
            location=location,
            profile=profile,
        )


CANDIDATES = ("music-warm", "sports-warm", "music-cold", "sports-cold")


def make_world(seed: int = 7, flipped: bool = False) -> World:
    events = EventFrame.from_events(_events())
    rng = np.random.default_rng(seed)
    log = InteractionLog.from_interactions(_interactions(rng, flipped))
    now_ts = int(NOW.timestamp())
    return World(events=events, data=TrainingData(log, events, now_ts), now_ts=now_ts)


def interaction(
    user_id: str,
    event_id: str,
    kind: InteractionType = InteractionType.SAVE,
    hours_ago: float = 0.0,
) -> Interaction:
    """One interaction at ``hours_ago`` before :data:`NOW`."""
    return Interaction(
        user_id=user_id,
        event_id=event_id,
        interaction_type=kind,
        occurred_at=NOW - timedelta(hours=hours_ago),
    )
