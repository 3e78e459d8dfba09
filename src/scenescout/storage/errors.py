"""The one exception the storage layer raises on purpose."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed for a reason the caller can act on.

    Raised for unsupported database URLs, unknown tables or columns, naive datetimes, and
    rows that refer to a user, event or venue that does not exist.
    """


def missing(kind: str, key: str) -> StorageError:
    """The error for a reference to a row that does not exist, e.g. ``event 'e1'``."""
    return StorageError(f"{kind} {key!r} does not exist")
