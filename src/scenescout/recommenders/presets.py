"""Named personalization configs: the seed's defaults and three presets derived from them.

* ``default``: the seed's exact ``personalizationConfig`` (:data:`DEFAULT_CONFIG`).
* ``conservative``: explicit preferences first. Content-based leads (0.55) with category
  and price weighing more in its feature matching; collaborative filtering drops to 0.1 and
  needs more evidence (10 interactions, similarity 0.3).
* ``aggressive``: heavy machine learning. Collaborative filtering (0.35) and matrix
  factorization (enabled, 0.3) lead, with looser neighbourhoods (3 interactions, similarity
  0.1); content 0.2, location 0.1, trending 0.05 over a steadier 72-hour window (chosen on
  a generated world other than the one the README's figures come from).
* ``discovery``: for new users with little history. Trending (0.4) and location (0.35)
  lead, trending counts from 2 interactions, and results spread wider (at most 2 events of
  a category and 1 of a venue).
* ``places``: for permanent places with check-ins and no content (Foursquare-like data).
  Low-rank matrix factorization leads (7/18; 4 factors, alpha 5), then trending (6/18,
  i.e. popularity, as every check-in falls in the window), BM25 item-kNN (3/18, 2,000
  neighbours) and the place density alone (2/18; ``history_share`` 1, 100 m exponential
  kernel, tempered by 0.15); collaborative filtering and content (places have no text)
  are off. Chosen on validation splits of the Foursquare Singapore training data that
  lean like its test split (:func:`~scenescout.evaluation.splits.drift_split`; blend
  weights averaged over three seeds, ``benchmarks/evaluate_foursquare.py --tune``).
"""

from __future__ import annotations

from typing import Any

from scenescout.config import PersonalizationConfig

DEFAULT_CONFIG = PersonalizationConfig()
"""The seed's configuration, value for value."""


def _derive(changes: dict[str, Any]) -> PersonalizationConfig:
    """The default config with ``changes`` (nested dicts) merged in and validated."""

    def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in update.items():
            merged[key] = merge(base[key], value) if isinstance(value, dict) else value
        return merged

    return PersonalizationConfig.model_validate(merge(DEFAULT_CONFIG.model_dump(), changes))


PRESETS: dict[str, PersonalizationConfig] = {
    "default": DEFAULT_CONFIG,
    "conservative": _derive(
        {
            "algorithms": {
                "collaborative_filtering": {
                    "weight": 0.1,
                    "min_interactions": 10,
                    "similarity_threshold": 0.3,
                },
                "content_based": {
                    "weight": 0.55,
                    "feature_weights": {
                        "category": 0.5,
                        "price": 0.3,
                        "time": 0.15,
                        "location": 0.05,
                    },
                },
                "location_based": {"weight": 0.25},
                "trending": {"weight": 0.1},
            }
        }
    ),
    "aggressive": _derive(
        {
            "algorithms": {
                "collaborative_filtering": {
                    "weight": 0.35,
                    "min_interactions": 3,
                    "similarity_threshold": 0.1,
                },
                "matrix_factorization": {"enabled": True, "weight": 0.3},
                "content_based": {"weight": 0.2},
                "location_based": {"weight": 0.1},
                "trending": {"weight": 0.05, "time_window_hours": 72},
            }
        }
    ),
    "discovery": _derive(
        {
            "algorithms": {
                "collaborative_filtering": {"weight": 0.05},
                "content_based": {"weight": 0.2},
                "location_based": {"weight": 0.35},
                "trending": {"weight": 0.4, "min_interaction_count": 2},
            },
            "diversity": {"max_same_category": 2, "max_same_venue": 1},
        }
    ),
    "places": _derive(
        {
            "algorithms": {
                "collaborative_filtering": {"enabled": False, "weight": 0.0},
                "content_based": {"enabled": False, "weight": 0.0},
                "location_based": {
                    "weight": 2 / 18,
                    "history_share": 1.0,
                    "place_bandwidth_km": 0.1,
                    "density_exponent": 0.15,
                },
                "trending": {"weight": 6 / 18},
                "matrix_factorization": {
                    "enabled": True,
                    "weight": 7 / 18,
                    "factors": 4,
                    "regularization": 0.05,
                    "alpha": 5.0,
                },
                "item_knn": {"enabled": True, "weight": 3 / 18, "neighbours": 2000},
            }
        }
    ),
}


def get_preset(name: str) -> PersonalizationConfig:
    """A fresh copy of the named config.

    Raises
    ------
    ValueError
        When ``name`` is not one of :data:`PRESETS`; the message lists the valid names.
    """
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown preset {name!r}; valid presets are {sorted(PRESETS)}")
    return preset.model_copy(deep=True)
