import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from scenescout.geo import (
    bounding_box,
    chord_squared,
    chord_squared_limit,
    haversine_km,
    haversine_km_scalar,
    unit_vectors,
)

lats = st.floats(-89.9, 89.9)
lngs = st.floats(-180.0, 180.0)


def test_known_distance_london_paris() -> None:
    assert math.isclose(haversine_km_scalar(51.5074, -0.1278, 48.8566, 2.3522), 343.5, abs_tol=1.0)


@given(lats, lngs, lats, lngs)
def test_vector_and_scalar_agree(lat1: float, lng1: float, lat2: float, lng2: float) -> None:
    expected = haversine_km_scalar(lat1, lng1, lat2, lng2)
    one, other = (np.array([lat1]), np.array([lng1])), (np.array([lat2]), np.array([lng2]))
    # Array to point, point to array (the point's own path) and array to array.
    for vector in (
        haversine_km(*one, lat2, lng2),
        haversine_km(lat1, lng1, *other),
        haversine_km(*one, *other),
    ):
        assert math.isclose(float(vector[0]), expected, abs_tol=1e-6)


@given(lats, lngs, lats, lngs, st.floats(0.0, 25_000.0))
def test_the_chord_test_is_the_great_circle_test(
    lat1: float, lng1: float, lat2: float, lng2: float, radius_km: float
) -> None:
    distance = haversine_km_scalar(lat1, lng1, lat2, lng2)
    chord = float(chord_squared(unit_vectors(np.array([lat1]), np.array([lng1])), lat2, lng2)[0])
    inside = chord <= chord_squared_limit(radius_km)
    if abs(distance - radius_km) > 1e-6:  # the two formulas round differently at the edge
        assert inside == (distance <= radius_km)
    assert (
        float(chord_squared(unit_vectors(np.array([lat2]), np.array([lng2])), lat2, lng2)[0]) == 0.0
    )


@given(lats, lngs, st.floats(0.1, 500.0), st.floats(0.0, 1.0), st.floats(0.0, 2 * math.pi))
def test_bounding_box_contains_the_circle(
    lat: float, lng: float, radius_km: float, fraction: float, bearing: float
) -> None:
    # A point at distance < radius along any bearing lies inside the box.
    distance = fraction * radius_km * 0.999
    delta = distance / 6371.0088
    phi1, lmb1 = math.radians(lat), math.radians(lng)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing)
    )
    lmb2 = lmb1 + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    lat2 = math.degrees(phi2)
    lng2 = (math.degrees(lmb2) + 540.0) % 360.0 - 180.0
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, radius_km)
    assert min_lat - 1e-9 <= lat2 <= max_lat + 1e-9
    assert min_lng - 1e-9 <= lng2 <= max_lng + 1e-9
