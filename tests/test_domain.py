from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from scenescout.domain import Event, Interaction, InteractionType, User

START = datetime(2026, 6, 1, 20, tzinfo=UTC)


def make_event(**overrides: object) -> Event:
    fields: dict[str, object] = {
        "id": "e1",
        "title": "Jazz night",
        "lat": 1.3,
        "lng": 103.8,
        "start_time": START,
        "end_time": START + timedelta(hours=3),
    }
    fields.update(overrides)
    return Event.model_validate(fields)


def test_event_accepts_a_valid_event() -> None:
    event = make_event(price_min=10, price_max=20)
    assert event.end_time is not None and event.end_time > event.start_time  # type: ignore[operator]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lat": 91}, "less than or equal to 90"),
        ({"lng": -181}, "greater than or equal to -180"),
        ({"end_time": START - timedelta(minutes=1)}, "is before start_time"),
        ({"price_min": -1}, "greater than or equal to 0"),
        ({"price_min": 30, "price_max": 20}, "price_max 20.0 is below price_min 30.0"),
        ({"start_time": datetime(2026, 6, 1, 20)}, "timezone-aware"),
        ({"end_time": None}, "given together"),
        ({"id": "has space"}, "String should match pattern"),
        ({"status": "postponed"}, "scheduled"),
    ],
)
def test_event_rejects_bad_input_with_a_clear_message(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_event(**overrides)


def test_interaction_type_must_be_known() -> None:
    with pytest.raises(ValidationError, match="'view', 'click'"):
        Interaction.model_validate({"user_id": "u", "event_id": "e", "interaction_type": "like"})
    ok = Interaction(user_id="u", event_id="e", interaction_type=InteractionType.HIDE)
    assert ok.interaction_type.is_negative
    assert not InteractionType.PURCHASE.is_negative


def test_user_home_needs_both_coordinates() -> None:
    with pytest.raises(ValidationError, match="given together"):
        User(id="u", home_lat=1.0)
    assert User(id="u", home_lat=1.0, home_lng=2.0).home is not None
