"""Versioned model bundles: a trained engine written once, loaded by every serving process.

A bundle is a directory ``<models_dir>/<version>/`` holding ``engine.pkl`` (the pickled
:class:`~scenescout.engine.PersonalizationEngine`: catalog snapshot, fitted recommenders,
profiles and exclusions, without its store or hooks) and ``bundle.json`` (its
:class:`BundleInfo`). Versions are UTC timestamps, so the newest sorts last. A bundle is
written under a temporary name and renamed into place, so a reader never sees half of one.

Bundles are pickles: load only the ones your own ``scenescout train`` wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scenescout.engine.engine import PersonalizationEngine

BUNDLE_FORMAT = 1
ENGINE_FILE = "engine.pkl"
INFO_FILE = "bundle.json"
_PICKLED_CODE = ("catalog", "engine", "profiles", "ranking", "recommenders", "frames.py")
"""The parts of the package whose objects a bundle pickles."""


def _code_digest() -> str:
    """A hash of the source of every module whose objects a bundle holds: a bundle only
    loads into the code that wrote it (a changed class may lack what an old pickle holds)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for part in _PICKLED_CODE:
        path = root / part
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(root).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


CODE_DIGEST = _code_digest()


class BundleError(Exception):
    """A bundle that cannot be read: missing, incomplete or of another format."""


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle holds and how it was made.

    Attributes
    ----------
    version
        The bundle's directory name, a UTC timestamp (``20261126T101500123456Z``).
    created_at
        When it was written (ISO 8601, UTC).
    trained_as_of
        The training time, epoch seconds: interactions before it were learned.
    learned_through_id
        The highest stored interaction id learned; serving processes learn the later ones
        from the database when they load the bundle.
    config_digest
        A hash of the engine's personalization config.
    events, profiles
        Upcoming events in the catalog and user profiles held.
    code_digest
        A hash of the code that wrote it (:data:`CODE_DIGEST`); other code refuses it.
    format
        The bundle format (:data:`BUNDLE_FORMAT`).
    """

    version: str
    created_at: str
    trained_as_of: int
    learned_through_id: int
    config_digest: str
    events: int
    profiles: int
    code_digest: str = CODE_DIGEST
    format: int = BUNDLE_FORMAT

    def to_json(self) -> dict[str, Any]:
        """The info as ``bundle.json`` holds it."""
        return asdict(self)


def config_digest(engine: PersonalizationEngine) -> str:
    """A short hash of an engine's personalization config."""
    return hashlib.sha256(engine.config.model_dump_json().encode()).hexdigest()[:16]


def save_bundle(
    engine: PersonalizationEngine, models_dir: str | Path, *, trained_as_of: int
) -> tuple[Path, BundleInfo]:
    """Write ``engine`` as a new bundle in ``models_dir`` (created when missing).

    Returns
    -------
    tuple[Path, BundleInfo]
        The bundle's directory and its info.
    """
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    info = BundleInfo(
        version=now.strftime("%Y%m%dT%H%M%S%fZ"),
        created_at=now.isoformat(),
        trained_as_of=int(trained_as_of),
        learned_through_id=int(engine.learned_through_id),
        config_digest=config_digest(engine),
        events=len(engine.catalog),
        profiles=len(engine.profiles),
    )
    staging = root / f".{info.version}.partial"
    staging.mkdir()
    try:
        with (staging / ENGINE_FILE).open("wb") as handle:
            pickle.dump(engine, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        (staging / INFO_FILE).write_text(json.dumps(info.to_json(), indent=2) + "\n")
        final = root / info.version
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, info


def bundles(models_dir: str | Path) -> list[Path]:
    """The complete bundles in ``models_dir``, oldest first (none when it does not exist)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and (path / INFO_FILE).is_file()
    )


def newest_bundle(models_dir: str | Path) -> Path | None:
    """The newest complete bundle in ``models_dir``, or ``None``."""
    found = bundles(models_dir)
    return found[-1] if found else None


def read_info(path: str | Path) -> BundleInfo:
    """A bundle's info.

    Raises
    ------
    BundleError
        When ``path`` holds no readable ``bundle.json`` of this format.
    """
    info_path = Path(path) / INFO_FILE
    try:
        fields = json.loads(info_path.read_text())
        info = BundleInfo(**fields)
    except (OSError, ValueError, TypeError) as error:
        raise BundleError(f"{info_path} is not a readable bundle info file: {error}") from None
    if info.format != BUNDLE_FORMAT:
        raise BundleError(
            f"{path} is a format-{info.format} bundle; this version reads format "
            f"{BUNDLE_FORMAT}: run `scenescout train` again"
        )
    if info.code_digest != CODE_DIGEST:
        raise BundleError(
            f"{path} was written by other code (digest {info.code_digest}, this code "
            f"{CODE_DIGEST}): run `scenescout train` again"
        )
    return info


def load_bundle(path: str | Path) -> tuple[PersonalizationEngine, BundleInfo]:
    """The engine a bundle holds, with its info.

    Raises
    ------
    BundleError
        When the bundle is incomplete, of another format, or does not hold an engine.
    """
    info = read_info(path)
    engine_path = Path(path) / ENGINE_FILE
    try:
        with engine_path.open("rb") as handle:
            engine = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        raise BundleError(f"{engine_path} cannot be loaded: {error}") from None
    if not isinstance(engine, PersonalizationEngine):
        raise BundleError(f"{engine_path} holds a {type(engine).__name__}, not an engine")
    # Per-event memos start empty in a new process: fill them before the first request.
    engine.hybrid.prepare_events(engine.catalog.frame)
    return engine, info
