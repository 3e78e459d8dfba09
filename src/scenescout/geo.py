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
    point1 = np.ndim(lat1) == 0 and np.ndim(lng1) == 0
    point2 = np.ndim(lat2) == 0 and np.ndim(lng2) == 0
    if point1 and not point2:
        return _haversine_from_point(float(lat1), float(lng1), lat2, lng2)
    if point2 and not point1:
        return _haversine_from_point(float(lat2), float(lng2), lat1, lng1)
    phi1 = np.radians(lat1)
    phi2 = np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


_HALF_RADIAN = math.pi / 360.0


def _haversine_from_point(
    lat: float, lng: float, lats: float | FloatArray, lngs: float | FloatArray
) -> FloatArray:
    """:func:`haversine_km` from one point: the same formula with the point's terms as
    Python floats and the rest in two reused buffers (the request path's case)."""
    half_dphi = np.multiply(lats, _HALF_RADIAN, dtype=np.float64)
    cos_phi = np.multiply(half_dphi, 2.0)
    np.cos(cos_phi, out=cos_phi)
    half_dphi -= lat * _HALF_RADIAN
    np.sin(half_dphi, out=half_dphi)
    half_dphi *= half_dphi
    half_dlmb = np.subtract(lngs, lng, dtype=np.float64)
    half_dlmb *= _HALF_RADIAN
    np.sin(half_dlmb, out=half_dlmb)
    half_dlmb *= half_dlmb
    half_dlmb *= cos_phi
    half_dlmb *= math.cos(math.radians(lat))
    half_dphi += half_dlmb
    np.clip(half_dphi, 0.0, 1.0, out=half_dphi)
    np.sqrt(half_dphi, out=half_dphi)
    np.arcsin(half_dphi, out=half_dphi)
    half_dphi *= 2.0 * EARTH_RADIUS_KM
    return half_dphi


UnitVectors = tuple[FloatArray, FloatArray, FloatArray]


def unit_vectors(lat: FloatArray, lng: FloatArray) -> UnitVectors:
    """The points as 3-D unit vectors ``(x, y, z)``, one array per axis.

    With them, a radius test needs no trigonometry per point: see :func:`chord_squared`.
    """
    phi = np.radians(lat)
    lmb = np.radians(lng)
    cos_phi = np.cos(phi)
    return cos_phi * np.cos(lmb), cos_phi * np.sin(lmb), np.sin(phi)


def chord_squared(unit: UnitVectors, lat: float, lng: float) -> FloatArray:
    """Squared straight-line distance, in Earth radii, from each unit vector to the point
    ``(lat, lng)``: monotone in the great-circle distance (see :func:`chord_squared_limit`).

    Subtracting before squaring keeps it exact for points close together (a point at
    the center gives 0), unlike ``1 - dot``.
    """
    # The center through the same numpy functions as the points: a point at the center
    # rounds the same way, so its chord is exactly 0.
    center = [float(axis[0]) for axis in unit_vectors(np.array([lat]), np.array([lng]))]
    total: FloatArray | None = None
    for axis, at in zip(unit, center, strict=True):
        part = axis - at
        part *= part
        if total is None:
            total = part
        else:
            total += part
    assert total is not None
    return total


def chord_squared_limit(radius_km: float) -> float:
    """The :func:`chord_squared` of a great-circle distance of ``radius_km`` (``inf`` from
    half the circumference on, where every point is within reach)."""
    angle = radius_km / EARTH_RADIUS_KM
    if angle >= math.pi:
        return math.inf
    return (2.0 * math.sin(angle / 2.0)) ** 2


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
