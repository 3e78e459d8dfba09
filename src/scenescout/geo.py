"""Great-circle geometry shared by storage, the catalog, datasets and the recommenders."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180.0

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat1: float | FloatArray,
    lng1: float | FloatArray,
    lat2: float | FloatArray,
    lng2: float | FloatArray,
) -> FloatArray:
    """Great-circle distance in km; broadcasts like numpy (scalars or arrays)."""
    phi1 = np.radians(lat1)
    phi2 = np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def haversine_km_scalar(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Scalar great-circle distance in km (for SQL functions and per-row code)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def bounding_box(lat: float, lng: float, radius_km: float) -> tuple[float, float, float, float]:
    """A (min_lat, max_lat, min_lng, max_lng) box that contains the circle.

    Conservative: every point within ``radius_km`` lies inside. Near a pole, or when the
    circle crosses the antimeridian, the longitude range widens to [-180, 180].
    """
    dlat = radius_km / KM_PER_DEGREE_LAT
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90.0 or max_lat >= 90.0:
        return max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0
    # The widest longitude span of the circle is at the latitude nearest the pole.
    cos_lat = math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    dlng = radius_km / (KM_PER_DEGREE_LAT * cos_lat) if cos_lat > 1e-12 else 360.0
    if dlng >= 180.0 or lng - dlng < -180.0 or lng + dlng > 180.0:
        return min_lat, max_lat, -180.0, 180.0
    return min_lat, max_lat, lng - dlng, lng + dlng
