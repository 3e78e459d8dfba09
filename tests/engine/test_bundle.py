"""Model bundles: what is written is what is loaded, and the newest complete one wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.engine.engine_world import REFERENCE, users_by_activity

from scenescout.datasets import World
from scenescout.domain.recommendation import RecommendationRequest
from scenescout.engine import PersonalizationEngine
from scenescout.engine.bundle import (
    BUNDLE_FORMAT,
    CODE_DIGEST,
    INFO_FILE,
    BundleError,
    bundles,
    load_bundle,
    newest_bundle,
    read_info,
    save_bundle,
)

NOW_TS = int(REFERENCE.timestamp())


def _lists(engine: PersonalizationEngine, users: list[str]) -> list[list[tuple[str, float]]]:
    return [
        [
            (item.event_id, item.score)
            for item in engine.get_recommendations(
                RecommendationRequest(user_id=user, limit=10), now_ts=NOW_TS
            ).recommendations
        ]
        for user in users
    ]


def test_a_loaded_bundle_recommends_exactly_what_the_saved_engine_did(
    engine: PersonalizationEngine, world: World, tmp_path: Path
) -> None:
    engine.learned_through_id = 1234
    path, info = save_bundle(engine, tmp_path / "models", trained_as_of=NOW_TS)
    loaded, read = load_bundle(path)

    assert read == info
    assert info.version == path.name
    assert (info.trained_as_of, info.learned_through_id) == (NOW_TS, 1234)
    assert (info.events, info.profiles) == (len(engine.catalog), len(engine.profiles))
    assert info.format == BUNDLE_FORMAT
    users = [*users_by_activity(world)[:5], "newcomer"]
    assert _lists(loaded, users) == _lists(engine, users)
    assert loaded.learned_through_id == 1234
    assert loaded.interactions is None and loaded.on_user_change is None


def test_the_engine_keeps_its_store_and_hook_when_saved(
    engine: PersonalizationEngine, tmp_path: Path
) -> None:
    calls: list[str] = []
    engine.on_user_change = calls.append
    try:
        save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
        assert engine.on_user_change == calls.append
    finally:
        engine.on_user_change = None


def test_newest_complete_bundle_wins(engine: PersonalizationEngine, tmp_path: Path) -> None:
    assert newest_bundle(tmp_path / "missing") is None
    assert newest_bundle(tmp_path) is None
    first, _ = save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
    second, _ = save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
    (tmp_path / ".99999999T000000000000Z.partial").mkdir()  # being written
    (tmp_path / "99999999T000000000000Z").mkdir()  # no bundle.json: incomplete
    assert bundles(tmp_path) == [first, second]
    assert newest_bundle(tmp_path) == second


def test_a_bundle_of_another_format_is_refused_with_what_to_do(
    engine: PersonalizationEngine, tmp_path: Path
) -> None:
    path, info = save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
    (path / INFO_FILE).write_text(json.dumps({**info.to_json(), "format": BUNDLE_FORMAT + 1}))
    with pytest.raises(BundleError, match="run `scenescout train` again"):
        read_info(path)


def test_a_damaged_bundle_is_a_bundle_error(engine: PersonalizationEngine, tmp_path: Path) -> None:
    path, _ = save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
    (path / "engine.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BundleError, match="cannot be loaded"):
        load_bundle(path)
    (path / INFO_FILE).write_text("{")
    with pytest.raises(BundleError, match="not a readable bundle info file"):
        read_info(path)


def test_a_bundle_written_by_other_code_is_refused(
    engine: PersonalizationEngine, tmp_path: Path
) -> None:
    path, info = save_bundle(engine, tmp_path, trained_as_of=NOW_TS)
    assert info.code_digest == CODE_DIGEST
    (path / INFO_FILE).write_text(json.dumps({**info.to_json(), "code_digest": "0" * 16}))
    with pytest.raises(BundleError, match="written by other code"):
        load_bundle(path)
