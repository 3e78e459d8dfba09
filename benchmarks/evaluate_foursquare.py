"""Foursquare Singapore check-ins: our recommenders next to peer baselines, in one harness.

Places are events (permanent, no times, no categories; check-in counts are interaction
weights). ``train.txt``/``test.txt`` are used as given. Every evaluated user (all test users
with training history) gets the same candidates for every algorithm: every place within
60 km of their home (the centre of their training places; all of Singapore), minus the
places they already visited in train. Top 10.

Baselines: popularity, ``implicit``'s ALS (grid over factors, regularization and alpha) and
item-kNN (cosine, BM25; grid over K), the best grid point of each family by test NDCG@10,
i.e. tuned on the test set, which favours them. Our settings (the ``places`` preset) were
chosen with ``--tune`` on validation splits carved from ``train.txt``, never on test: 30%
of each user's training places held out by :func:`~scenescout.evaluation.splits.drift_split`,
which leans towards popular places far from the user's others as ``test.txt`` does (its
held-out places were a user's later ones); blend weights averaged over three seeds.

    .venv/bin/python benchmarks/evaluate_foursquare.py --json data/eval-foursquare.json
    .venv/bin/python benchmarks/evaluate_foursquare.py --tune --json data/tune-foursquare.json
    .venv/bin/python benchmarks/evaluate_foursquare.py --split validation
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from scenescout.config import PersonalizationConfig
from scenescout.datasets.loaders import read_events, read_interactions
from scenescout.evaluation.baselines import (
    BASELINE_FAMILIES,
    baseline_scorers,
    best_of_family,
)
from scenescout.evaluation.runner import EvaluationSetup, Scorer, run_evaluation
from scenescout.evaluation.splits import drift_split, relevant_items
from scenescout.frames import EventFrame, InteractionLog
from scenescout.recommenders import (
    COMPONENTS,
    HybridConfig,
    HybridRecommender,
    LocationRecommender,
    Recommender,
    ScoringContext,
    TrainingData,
)
from scenescout.recommenders.presets import get_preset

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "foursquare-sg"
LOADED_AT = datetime(2025, 1, 1, tzinfo=UTC)
"""The files have no times: every check-in is stamped with this instant."""
RADIUS_KM = 60.0
VALIDATION_FRACTION = 0.3
"""Share of each user's training places held out for validation (``--tune``); in
``test.txt`` a user's share of held-out places averages 0.32."""
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage")
OURS = ("hybrid", "engine", *COMPONENTS)


def load(data_dir: Path) -> tuple[InteractionLog, InteractionLog, EventFrame]:
    """``(train, test, places)`` of the data directory."""
    train = read_interactions(data_dir / "train.txt", default_time=LOADED_AT)
    test = read_interactions(data_dir / "test.txt", default_time=LOADED_AT)
    places = read_events(data_dir / "locations.txt")
    events = EventFrame.from_events([place.to_event() for place in places])
    return train, test, events


def make_setup(
    train: InteractionLog, held_out: InteractionLog, events: EventFrame, max_users: int | None
) -> EvaluationSetup:
    return EvaluationSetup(
        train=train,
        relevant=relevant_items(held_out),
        events=events,
        cut_ts=int(train.occurred_ts.max()) + 1,
        radius_km=RADIUS_KM,
        exclude_train_items=True,
        max_users=max_users,
    )


def print_table(console: Console, title: str, results: Mapping[str, Mapping[str, float]]) -> None:
    table = Table(title=title)
    for column in ("algorithm", *METRICS):
        if column == "algorithm":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for name, metrics in sorted(results.items(), key=lambda item: -item[1]["ndcg@10"]):
        table.add_row(name, *(f"{metrics[key]:.4f}" for key in METRICS))
    console.print(table)


def evaluate(args: argparse.Namespace, console: Console) -> None:
    started = time.perf_counter()
    train, test, events = load(args.data)
    if args.split == "validation":
        train, test = drift_split(train, events, VALIDATION_FRACTION, seed=args.seed)
    setup = make_setup(train, test, events, args.max_users)
    scorers = baseline_scorers(train)
    console.print(
        f"fitted {len(scorers)} baseline grid points in {time.perf_counter() - started:.0f} s"
    )
    results = run_evaluation(
        setup, get_preset(args.preset), extra_scorers=scorers, progress=_progress(console)
    )
    elapsed = time.perf_counter() - started

    table_rows = {name: m for name, m in results.items() if not name.endswith(")")}
    best: dict[str, str] = {}
    for family in BASELINE_FAMILIES:
        point, metrics = best_of_family(results, family)
        best[family] = point
        table_rows[family] = metrics
    users = int(results["hybrid"]["users"])
    print_table(
        console,
        f"Foursquare Singapore ({args.split}), {users:,} users, top-10, preset {args.preset} "
        f"({elapsed:.0f} s)",
        table_rows,
    )
    for family, point in best.items():
        console.print(f"best {family}: {point}")
    baselines = ("popularity", *BASELINE_FAMILIES)
    strongest = max(baselines, key=lambda name: table_rows[name]["ndcg@10"])
    ratio = table_rows["hybrid"]["ndcg@10"] / table_rows[strongest]["ndcg@10"]
    console.print(
        f"hybrid / best baseline ({strongest}) NDCG@10 = "
        f"{table_rows['hybrid']['ndcg@10']:.4f} / {table_rows[strongest]['ndcg@10']:.4f} "
        f"= {ratio:.3f}"
    )
    if args.json is not None:
        report: dict[str, Any] = {
            name: {key: metrics[key] for key in (*METRICS, "hit_rate@10", "users")}
            for name, metrics in table_rows.items()
        }
        report["_best_baseline_grid_points"] = best
        report["_grid"] = {n: m["ndcg@10"] for n, m in results.items() if n.endswith(")")}
        report["_hybrid_over_best_baseline"] = {"baseline": strongest, "ratio": ratio}
        _write(args.json, report)


class _ComponentScores:
    """Raw scores of fitted components, computed once per user for many blends.

    The runner hands every scorer of a user the same context object, so the scores of the
    last context are reused until the next user's arrives.
    """

    def __init__(self, components: Mapping[str, Recommender]) -> None:
        self.components = dict(components)
        self._context: ScoringContext | None = None
        self._scores: dict[str, npt.NDArray[np.float64]] = {}

    def of(self, context: ScoringContext) -> dict[str, npt.NDArray[np.float64]]:
        if context is not self._context:
            self._scores = {n: c.score(context) for n, c in self.components.items()}
            self._context = context
        return self._scores

    def single(self, name: str) -> Scorer:
        return lambda user, context, rows: self.of(context)[name]

    def blend(self, weights: Mapping[str, float], normalization: str = "minmax") -> Scorer:
        """A scorer blending components like the hybrid does: ``weights`` maps component
        keys here (e.g. ``location_based(place_bandwidth_km=0.1,...)``) to blend weights; the
        name before ``(`` is the hybrid component the key stands for."""
        hybrid = HybridRecommender(
            HybridConfig.model_validate(
                {
                    **{name: {"enabled": False, "weight": 0.0} for name in COMPONENTS},
                    **{_role(k): {"enabled": True, "weight": w} for k, w in weights.items()},
                    "normalization": normalization,
                }
            )
        )
        return lambda user, context, rows: (
            hybrid.blend({_role(k): self.of(context)[k] for k in weights}).scores
        )


def _role(key: str) -> str:
    """The hybrid component a tuning key stands for: ``location_based(b=0.2)`` ->
    ``location_based``."""
    return key.split("(", 1)[0]


def _tuning_setup(
    args: argparse.Namespace, train: InteractionLog, events: EventFrame, seed: int
) -> tuple[EvaluationSetup, TrainingData]:
    fit_part, held_out = drift_split(train, events, VALIDATION_FRACTION, seed=seed)
    setup = make_setup(fit_part, held_out, events, args.max_users)
    data = TrainingData(interactions=fit_part, events=events, now_ts=setup.cut_ts)
    return setup, data


def _grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in product(*axes.values())]


def tune(args: argparse.Namespace, console: Console) -> None:
    """Choose our settings on a validation split of ``train.txt`` (test is never read)."""
    train, _, events = load(args.data)
    setup, data = _tuning_setup(args, train, events, args.seed)
    base = get_preset(args.preset)
    report: dict[str, Any] = {}

    # 1. Matrix factorization (factors, regularization, alpha) and item-kNN (neighbours),
    #    each on its own.
    mf_grid = _grid(factors=(4, 8, 16, 32), regularization=(0.05, 0.5), alpha=(0.5, 1.0, 5.0))
    knn_grid = _grid(neighbours=(100, 500, 2000))
    singles = {
        **{
            _key("matrix_factorization", p): COMPONENTS["matrix_factorization"](**p).fit(data)
            for p in mf_grid
        },
        **{_key("item_knn", p): COMPONENTS["item_knn"](**p).fit(data) for p in knn_grid},
    }
    cache = _ComponentScores(singles)
    results = _run(setup, base, {k: cache.single(k) for k in singles}, console)
    report["single"] = {k: results[k]["ndcg@10"] for k in singles}
    best_mf, best_knn = (
        max((k for k in singles if _role(k) == role), key=lambda k: results[k]["ndcg@10"])
        for role in ("matrix_factorization", "item_knn")
    )
    console.print(f"best on validation: {best_mf}, {best_knn}")

    # 2. The location kernel inside a blend with trending and the chosen factorization.
    location_grid = _grid(
        place_bandwidth_km=(0.05, 0.1, 0.2),
        density_exponent=(0.15, 0.25, 0.5),
        history_share=(0.9, 1.0),
    )
    locations = {
        _key("location_based", p): LocationRecommender(**p).fit(data) for p in location_grid
    }
    trending = COMPONENTS["trending"](_section(base, "trending")).fit(data)
    cache = _ComponentScores({**locations, "trending": trending, best_mf: singles[best_mf]})
    probes = {
        f"probe {k}": cache.blend({k: 0.25, best_mf: 0.5, "trending": 0.25}) for k in locations
    }
    results = _run(setup, base, {**probes, **{k: cache.single(k) for k in locations}}, console)
    best_location = max(locations, key=lambda k: results[f"probe {k}"]["ndcg@10"])
    report["location_based"] = {
        k: {"alone": results[k]["ndcg@10"], "probe_blend": results[f"probe {k}"]["ndcg@10"]}
        for k in locations
    }
    console.print(f"best location kernel on validation: {best_location}")

    # 3. Blend weights of the chosen components (minmax, as served), then the normalization,
    #    averaged over the validation splits of several seeds: the best points lie within
    #    noise of each other on one split.
    chosen = {
        "location": lambda: LocationRecommender(**_params(best_location)),
        "trending": lambda: COMPONENTS["trending"](_section(base, "trending")),
        "mf": lambda: COMPONENTS["matrix_factorization"](**_params(best_mf)),
        "knn": lambda: COMPONENTS["item_knn"](**_params(best_knn)),
    }
    roles = {"location": best_location, "trending": "trending", "mf": best_mf, "knn": best_knn}
    splits = [(setup, data)] + [
        _tuning_setup(args, train, events, seed) for seed in args.blend_seeds if seed != args.seed
    ]
    caches = [
        _ComponentScores({roles[r]: make().fit(fit_data) for r, make in chosen.items()})
        for _, fit_data in splits
    ]

    def mean_over_splits(points: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        runs = []
        for (split_setup, _), cache in zip(splits, caches, strict=True):
            blends = {}
            for point in points:
                weights = {roles[r]: w for r, w in point.items() if r in roles and w > 0.0}
                blends[_key("blend", point)] = cache.blend(
                    weights, point.get("normalization", "minmax")
                )
            runs.append(_run(split_setup, base, blends, console))
        return {
            name: {m: float(np.mean([run[name][m] for run in runs])) for m in runs[0][name]}
            for name in runs[0]
        }

    weight_grid = _grid(
        location=(0.1, 0.2, 0.3),
        trending=(0.1, 0.2, 0.3),
        mf=(0.35, 0.5, 0.7),
        knn=(0.0, 0.15, 0.3),
    )
    results = mean_over_splits(weight_grid)
    ranked = sorted(weight_grid, key=lambda w: -results[_key("blend", w)]["ndcg@10"])
    report["blend"] = {_key("blend", w): results[_key("blend", w)]["ndcg@10"] for w in ranked}
    report["blend_seeds"] = [args.seed, *(s for s in args.blend_seeds if s != args.seed)]
    normalized = [
        {**w, "normalization": n} for w in ranked[:3] for n in ("minmax", "rank", "absolute")
    ]
    results |= mean_over_splits(normalized)
    report["normalization"] = {
        _key("blend", w): results[_key("blend", w)]["ndcg@10"] for w in normalized
    }
    shown = [_key("blend", w) for w in ranked[:5] + normalized]
    print_table(
        console,
        "validation: best blends",
        {k: results[k] for k in shown} | {n: results[n] for n in ("popularity", "trending")},
    )
    console.print(f"best blend on validation: {_key('blend', ranked[0])}")
    if args.json is not None:
        _write(args.json, report)


def _section(config: PersonalizationConfig, name: str) -> Any:
    return HybridConfig.from_algorithms(config.algorithms).component(name)


def _key(name: str, params: Mapping[str, Any]) -> str:
    return f"{name}({','.join(f'{k}={v}' for k, v in params.items())})"


def _params(key: str) -> dict[str, Any]:
    """The settings of a tuning key: ``location_based(b=0.2,g=1)`` -> ``{b: 0.2, g: 1.0}``."""
    inside = key.split("(", 1)[1].rstrip(")")
    return {k: float(v) for k, v in (item.split("=") for item in inside.split(",") if item)}


def _run(
    setup: EvaluationSetup,
    config: PersonalizationConfig,
    scorers: Mapping[str, Scorer],
    console: Console,
) -> dict[str, dict[str, float]]:
    return run_evaluation(
        setup, config, extra_scorers=scorers, include_engine=False, progress=_progress(console)
    )


def _progress(console: Console) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            console.print(f"  {stage}: {done}/{total}")

    return report


def _write(path: Path, report: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--preset", default="places")
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7, help="seed of the validation split")
    parser.add_argument("--tune", action="store_true", help="tune on a validation split")
    parser.add_argument(
        "--blend-seeds",
        type=int,
        nargs="+",
        default=[7, 8, 9],
        help="seeds of the validation splits the blend weights are averaged over (--tune)",
    )
    parser.add_argument(
        "--split",
        choices=("test", "validation"),
        default="test",
        help="evaluate on test.txt, or on the validation split of train.txt that --tune uses",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 120)
    # One BLAS thread: every ALS fit is deterministic, and implicit asks for it.
    with threadpool_limits(1, "blas"):
        if args.tune:
            tune(args, console)
        else:
            evaluate(args, console)


if __name__ == "__main__":
    main()
