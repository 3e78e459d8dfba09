"""L1: LRU at max_entries, per-entry expiry on an injected clock, indexes that never leak."""

from __future__ import annotations

import threading

from tests.cache.conftest import FakeClock

from scenescout.cache.local import LocalEntry, LocalStore


def entry(clock: FakeClock, user_id: str = "u1", *events: str, ttl: float = 60.0) -> LocalEntry:
    return LocalEntry(b"{}", user_id, events, clock() + ttl)


def assert_indexes_match(store: LocalStore) -> None:
    """Every live entry is indexed under its user and events, and nothing else is."""
    indexed = store._indexed
    assert {key for keys in store._by_user.values() for key in keys} == set(indexed)
    for key, item in indexed.items():
        assert key in store._by_user[item.user_id]
        assert all(key in store._by_event[event] for event in item.event_ids)
    assert all(keys for keys in store._by_event.values())


def test_least_recently_used_is_evicted(clock: FakeClock) -> None:
    store = LocalStore(max_entries=2, clock=clock)
    store.put("a", entry(clock, "u1", "e1"))
    store.put("b", entry(clock, "u2", "e2"))
    assert store.get("a") is not None
    store.put("c", entry(clock, "u3", "e3"))
    assert store.get("b") is None
    assert store.get("a") is not None and store.get("c") is not None
    assert len(store) == 2
    assert "u2" not in store._by_user and "e2" not in store._by_event
    assert_indexes_match(store)


def test_each_entry_expires_at_its_own_time(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    store.put("short", entry(clock, "u1", "e1", ttl=5))
    store.put("long", entry(clock, "u2", "e2", ttl=50))
    clock.advance(4.999)
    assert store.get("short") is not None
    clock.advance(0.001)
    assert store.get("short") is None
    assert store.get("long") is not None
    store.put("other", entry(clock, "u3"))  # a write purges what has expired
    assert "u1" not in store._by_user
    assert_indexes_match(store)


def test_an_expired_entry_is_not_stored(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    assert not store.put("a", entry(clock, ttl=0))
    assert store.get("a") is None and len(store) == 0
    assert_indexes_match(store)


def test_replacing_an_entry_reindexes_it(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    store.put("a", entry(clock, "u1", "e1", "e2"))
    store.put("a", entry(clock, "u1", "e3"))
    assert store.pop_event("e1") == set()
    assert store.pop_event("e3") == {"a"}
    assert_indexes_match(store)


def test_pop_user_and_event_drop_only_their_entries(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    store.put("a", entry(clock, "u1", "e1"))
    store.put("b", entry(clock, "u1", "e2"))
    store.put("c", entry(clock, "u2", "e1"))
    assert store.pop_user("u1") == {"a", "b"}
    assert store.get("c") is not None
    assert store.pop_event("e1") == {"c"}
    assert store.pop_user("u1") == set() and len(store) == 0
    assert_indexes_match(store)


def test_expired_entries_are_dropped_but_not_counted(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    store.put("a", entry(clock, "u1", ttl=1))
    store.put("b", entry(clock, "u1", ttl=10))
    clock.advance(2)
    assert store.pop_user("u1") == {"b"}
    assert len(store) == 0
    assert_indexes_match(store)


def test_a_copy_read_before_an_invalidation_is_not_stored_after_it(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    before = store.generation
    store.pop_user("u1")
    assert not store.put("a", entry(clock, "u1"), if_generation=before)
    assert store.get("a") is None
    assert store.put("a", entry(clock, "u1"), if_generation=store.generation)


def test_clear(clock: FakeClock) -> None:
    store = LocalStore(max_entries=10, clock=clock)
    store.put("a", entry(clock, "u1", "e1"))
    generation = store.generation
    store.clear()
    assert len(store) == 0 and store.get("a") is None
    assert store.generation == generation + 1
    assert_indexes_match(store)


def test_concurrent_writers_and_invalidators_keep_the_indexes_consistent(
    clock: FakeClock,
) -> None:
    store = LocalStore(max_entries=50, clock=clock)

    def write(worker: int) -> None:
        for i in range(2000):
            store.put(f"{worker}:{i}", entry(clock, f"u{i % 7}", f"e{i % 11}"))

    def invalidate() -> None:
        for i in range(2000):
            store.pop_user(f"u{i % 7}")
            store.pop_event(f"e{i % 11}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    threads.append(threading.Thread(target=invalidate))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) <= 50
    assert_indexes_match(store)
