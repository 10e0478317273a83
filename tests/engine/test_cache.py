"""The plugin cache: namespaces, expiry, live objects, persistence and thread safety."""

from __future__ import annotations

import math
import pickle
import threading
from collections import Counter
from dataclasses import dataclass

import pytest

from timewell.engine.cache import CacheRestoreError, CacheView, PluginCache


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> PluginCache:
    return PluginCache(clock=clock)


@dataclass
class Point:  # module level, so it pickles
    x: int
    y: int


# basics


def test_get_returns_default_when_missing(cache: PluginCache) -> None:
    view = cache.view("db", "trig")
    assert view.get("nope") is None
    assert view.get("nope", 42) == 42
    assert view.get("nope", default="d") == "d"


def test_put_then_get_returns_the_same_live_object(cache: PluginCache) -> None:
    view = cache.view("db", "trig")
    state = {"count": 1, "seen": [1, 2]}
    view.put("state", state)
    got = view.get("state")
    assert got is state
    got["count"] += 1  # mutations are visible to the next run without another put
    assert cache.view("db", "trig").get("state")["count"] == 2


def test_any_object_can_be_stored(cache: PluginCache) -> None:
    view = cache.view("db", "trig")
    lock = threading.Lock()
    view.put("fn", lambda x: x + 1)
    view.put("lock", lock)
    view.put("none", None)
    assert view.get("fn")(1) == 2
    assert view.get("lock") is lock
    assert view.get("none", "default") is None  # a stored None is not "missing"


def test_put_replaces_and_resets_ttl(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("k", 1, ttl=10)
    view.put("k", 2)
    clock.advance(100)
    assert view.get("k") == 2


# namespaces


def test_triggers_are_isolated(cache: PluginCache) -> None:
    a, b = cache.view("db", "a"), cache.view("db", "b")
    a.put("k", "from a")
    assert b.get("k") is None
    b.put("k", "from b")
    assert a.get("k") == "from a"
    assert b.get("k") == "from b"


def test_same_trigger_name_in_two_databases_is_isolated(cache: PluginCache) -> None:
    one, two = cache.view("db1", "trig"), cache.view("db2", "trig")
    one.put("k", 1)
    assert two.get("k") is None


def test_views_of_the_same_trigger_share_entries(cache: PluginCache) -> None:
    cache.view("db", "trig").put("k", 1)
    assert cache.view("db", "trig").get("k") == 1


def test_global_namespace_is_shared_by_every_trigger(cache: PluginCache) -> None:
    a, b = cache.view("db1", "a"), cache.view("db2", "b")
    a.put("k", "global value", use_global=True)
    assert b.get("k", use_global=True) == "global value"
    # ... and is separate from the triggers' own namespaces
    assert a.get("k") is None
    a.put("k", "local value")
    assert a.get("k") == "local value"
    assert b.get("k", use_global=True) == "global value"


def test_arguments_can_be_positional_as_upstream(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("k", "v", 5, True)  # key, value, ttl, use_global
    assert view.get("k", None, True) == "v"
    clock.advance(5)
    assert view.get("k", "gone", True) == "gone"
    view.put("k", "v", None, True)
    assert view.delete("k", True) is True


def test_clear_trigger_forgets_only_that_trigger(cache: PluginCache) -> None:
    a, b = cache.view("db", "a"), cache.view("db", "b")
    a.put("k", 1)
    a.put("g", 1, use_global=True)
    b.put("k", 2)
    cache.clear_trigger("db", "a")
    assert a.get("k") is None
    assert b.get("k") == 2
    assert a.get("g", use_global=True) == 1
    cache.clear_trigger("db", "never-existed")  # no error


def test_clear_database_forgets_its_triggers(cache: PluginCache) -> None:
    cache.view("db1", "a").put("k", 1)
    cache.view("db1", "b").put("k", 1)
    cache.view("db2", "a").put("k", 2)
    cache.view("db1", "a").put("g", 3, use_global=True)
    cache.clear_database("db1")
    assert cache.view("db1", "a").get("k") is None
    assert cache.view("db1", "b").get("k") is None
    assert cache.view("db2", "a").get("k") == 2
    assert cache.view("x", "y").get("g", use_global=True) == 3


def test_a_view_needs_a_trigger_name(cache: PluginCache) -> None:
    with pytest.raises(ValueError, match="trigger name"):
        cache.view("db", "")


def test_view_repr_names_its_trigger(cache: PluginCache) -> None:
    view = cache.view("db", "trig")
    assert isinstance(view, CacheView)
    assert repr(view) == "<CacheView database='db' trigger='trig'>"


# expiry


def test_ttl_expiry(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("k", "v", ttl=10)
    clock.advance(9.999)
    assert view.get("k") == "v"
    clock.advance(0.001)  # the deadline itself counts as expired, as upstream
    assert view.get("k") is None
    assert view.get("k", "default") == "default"


def test_fractional_and_zero_ttl(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("half", 1, ttl=0.5)
    view.put("zero", 1, ttl=0)
    assert view.get("zero") is None
    clock.advance(0.25)
    assert view.get("half") == 1
    clock.advance(0.25)
    assert view.get("half") is None


def test_no_ttl_and_infinite_ttl_never_expire(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("none", 1)
    view.put("inf", 2, ttl=math.inf)
    clock.advance(10**9)
    assert view.get("none") == 1
    assert view.get("inf") == 2


def test_global_entries_expire_too(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("k", 1, ttl=1, use_global=True)
    clock.advance(1)
    assert view.get("k", use_global=True) is None


@pytest.mark.parametrize("ttl", [-1, -0.001, math.nan, -math.inf])
def test_invalid_ttl_is_a_value_error(cache: PluginCache, ttl: float) -> None:
    view = cache.view("db", "trig")
    with pytest.raises(ValueError, match="ttl must be zero or more seconds"):
        view.put("k", 1, ttl=ttl)
    assert view.get("k") is None


@pytest.mark.parametrize("ttl", ["10", [10], True])
def test_non_numeric_ttl_is_a_type_error(cache: PluginCache, ttl: object) -> None:
    with pytest.raises(TypeError, match="ttl must be a number of seconds"):
        cache.view("db", "trig").put("k", 1, ttl)  # type: ignore[arg-type]


def test_bool_ttl_hints_at_use_global(cache: PluginCache) -> None:
    with pytest.raises(TypeError, match="pass use_global=True by keyword"):
        cache.view("db", "trig").put("k", 1, True)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [1, None, b"k", ("k",)])
def test_keys_must_be_strings(cache: PluginCache, key: object) -> None:
    view = cache.view("db", "trig")
    for call in (lambda: view.put(key, 1), lambda: view.get(key), lambda: view.delete(key)):
        with pytest.raises(TypeError, match="cache keys must be str"):
            call()


def test_evict_expired_counts_and_drops(cache: PluginCache, clock: FakeClock) -> None:
    a, b = cache.view("db", "a"), cache.view("db", "b")
    a.put("short", 1, ttl=1)
    a.put("long", 1, ttl=100)
    b.put("short", 1, ttl=1)
    b.put("g", 1, ttl=1, use_global=True)
    a.put("forever", 1)
    assert cache.evict_expired() == 0
    assert len(cache) == 5
    clock.advance(1)
    assert cache.evict_expired() == 3
    assert len(cache) == 2
    assert cache.evict_expired() == 0
    assert a.get("long") == 1 and a.get("forever") == 1


# delete


def test_delete_semantics(cache: PluginCache, clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    assert view.delete("missing") is False
    view.put("k", 1)
    assert view.delete("k") is True
    assert view.delete("k") is False
    assert view.get("k") is None
    view.put("soon", 1, ttl=1)
    clock.advance(2)
    assert view.delete("soon") is False  # expired entries do not count as existing
    assert len(cache) == 0  # ... but are removed all the same


def test_delete_respects_namespaces(cache: PluginCache) -> None:
    view = cache.view("db", "trig")
    view.put("k", "local")
    view.put("k", "global", use_global=True)
    assert cache.view("db", "other").delete("k") is False
    assert view.delete("k", use_global=True) is True
    assert view.get("k") == "local"


# dump / restore


def test_dump_restore_round_trip(cache: PluginCache, clock: FakeClock) -> None:
    a = cache.view("db", "a")
    a.put("dict", {"n": 1, "nested": [1, 2.5, "x", None]})
    a.put("point", Point(1, 2), ttl=60)
    a.put("bytes", b"\x00\xff")
    cache.view("db2", "a").put("other", {1, 2, 3})
    a.put("g", "global", use_global=True)
    data, dropped = cache.dump()
    assert isinstance(data, bytes)
    assert dropped == []

    restored = PluginCache(clock=clock)
    assert restored.restore(data) == []
    view = restored.view("db", "a")
    assert view.get("dict") == {"n": 1, "nested": [1, 2.5, "x", None]}
    assert view.get("point") == Point(1, 2)
    assert view.get("bytes") == b"\x00\xff"
    assert restored.view("db2", "a").get("other") == {1, 2, 3}
    assert restored.view("x", "y").get("g", use_global=True) == "global"
    assert restored.view("db", "b").get("dict") is None
    assert len(restored) == 5


def test_expiry_survives_a_restore_as_absolute_time(cache: PluginCache,
                                                    clock: FakeClock) -> None:
    cache.view("db", "t").put("k", 1, ttl=60)
    data, _ = cache.dump()
    clock.advance(59)  # "the server was down for 59 seconds"
    restored = PluginCache(clock=clock)
    restored.restore(data)
    assert restored.view("db", "t").get("k") == 1
    clock.advance(1)
    assert restored.view("db", "t").get("k") is None


def test_unpicklable_entries_are_dropped_and_reported(cache: PluginCache,
                                                      clock: FakeClock) -> None:
    view = cache.view("db", "trig")
    view.put("lambda", lambda: 1)
    view.put("lock", threading.Lock())
    view.put("gen", (i for i in range(3)), use_global=True)
    view.put("nested", {"ok": 1, "bad": threading.Lock()})
    view.put("fine", [1, 2, 3])
    view.put("also_fine", "x", use_global=True)
    data, dropped = cache.dump()
    assert sorted(dropped) == ["db/trig:lambda", "db/trig:lock", "db/trig:nested", "global:gen"]

    restored = PluginCache(clock=clock)
    restored.restore(data)
    assert restored.view("db", "trig").get("fine") == [1, 2, 3]
    assert restored.view("db", "trig").get("also_fine", use_global=True) == "x"
    assert restored.view("db", "trig").get("lock") is None
    assert len(restored) == 2
    # dumping never disturbs the live cache
    assert callable(view.get("lambda"))


def test_expired_entries_are_neither_dumped_nor_restored(cache: PluginCache,
                                                         clock: FakeClock) -> None:
    view = cache.view("db", "t")
    view.put("gone", 1, ttl=1)
    view.put("later", 2, ttl=10)
    view.put("lambda_gone", lambda: 1, ttl=1)
    clock.advance(1)
    data, dropped = cache.dump()
    assert dropped == []  # an expired unpicklable entry is not worth a warning
    restored = PluginCache(clock=clock)
    restored.restore(data)
    assert len(restored) == 1

    clock.advance(10)  # expires between dump and restore
    late = PluginCache(clock=clock)
    late.restore(data)
    assert len(late) == 0


def test_restore_keeps_entries_already_present(cache: PluginCache, clock: FakeClock) -> None:
    cache.view("db", "t").put("k", "old")
    cache.view("db", "t").put("other", "restored")
    data, _ = cache.dump()
    fresh = PluginCache(clock=clock)
    fresh.view("db", "t").put("k", "new")
    fresh.restore(data)
    assert fresh.view("db", "t").get("k") == "new"
    assert fresh.view("db", "t").get("other") == "restored"


class Vanishing:
    """Pickles fine, but its class cannot be found when unpickling."""

    def __reduce__(self):
        return (_missing_factory, ())


def _missing_factory():  # pragma: no cover - replaced by a failing lookup below
    return None


def test_an_entry_that_cannot_be_unpickled_is_skipped(cache: PluginCache, clock: FakeClock,
                                                      monkeypatch) -> None:
    cache.view("db", "t").put("vanishing", Vanishing())
    cache.view("db", "t").put("ok", 1)
    data, dropped = cache.dump()
    assert dropped == []
    monkeypatch.delitem(globals(), "_missing_factory")  # "the plugin module changed"
    restored = PluginCache(clock=clock)
    # Values stay pickled until read (their plugin module is loaded by then); one whose class
    # is gone reads as missing and is dropped.
    assert restored.restore(data) == []
    assert restored.view("db", "t").get("ok") == 1
    assert restored.view("db", "t").get("vanishing", "gone") == "gone"
    assert len(restored) == 1


def test_empty_cache_round_trips(cache: PluginCache, clock: FakeClock) -> None:
    data, dropped = cache.dump()
    assert dropped == []
    restored = PluginCache(clock=clock)
    restored.restore(data)
    assert len(restored) == 0


@pytest.mark.parametrize("data", [
    b"",
    b"not a pickle",
    pickle.dumps({"format": "timewell-plugin-cache", "version": 1, "entries": []})[:-3],
    pickle.dumps([1, 2, 3]),
    pickle.dumps({"format": "something-else", "version": 1, "entries": []}),
    pickle.dumps({"format": "timewell-plugin-cache", "version": 99, "entries": []}),
    pickle.dumps({"format": "timewell-plugin-cache", "version": 1, "entries": "x"}),
    pickle.dumps({"format": "timewell-plugin-cache", "version": 1,
                  "entries": [(("db", "t"), "k", "not bytes", None)]}),
    pickle.dumps({"format": "timewell-plugin-cache", "version": 1,
                  "entries": [(("db",), "k", b"", None)]}),
])
def test_corrupt_dump_raises_and_changes_nothing(cache: PluginCache, data: bytes) -> None:
    cache.view("db", "t").put("k", "kept")
    with pytest.raises(CacheRestoreError, match="saved plugin cache"):
        cache.restore(data)
    assert cache.view("db", "t").get("k") == "kept"
    assert len(cache) == 1


def test_a_truncated_real_dump_is_corrupt(cache: PluginCache, clock: FakeClock) -> None:
    cache.view("db", "t").put("k", list(range(100)))
    data, _ = cache.dump()
    with pytest.raises(CacheRestoreError):
        PluginCache(clock=clock).restore(data[: len(data) // 2])


# threads


def test_concurrent_use_from_many_threads() -> None:
    cache = PluginCache()
    threads_count, rounds = 8, 500
    barrier = threading.Barrier(threads_count + 1)
    errors: list[BaseException] = []
    counter_lock = threading.Lock()

    def worker(n: int) -> None:
        view = cache.view("db", f"trigger-{n % 4}")
        try:
            barrier.wait()
            for i in range(rounds):
                view.put(f"k{i % 20}", i, ttl=None if i % 3 else 60)
                view.get(f"k{(i + 7) % 20}")
                view.delete(f"k{(i + 3) % 20}")
                # a read-modify-write on a shared live object, guarded by the plugin's lock
                shared = view.get("counter", use_global=True)
                if shared is None:
                    with counter_lock:
                        shared = view.get("counter", use_global=True)
                        if shared is None:
                            shared = Counter()
                            view.put("counter", shared, use_global=True)
                with counter_lock:
                    shared["hits"] += 1
                if i % 50 == 0:
                    cache.evict_expired()
                    cache.dump()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    counter = cache.view("x", "y").get("counter", use_global=True)
    assert counter["hits"] == threads_count * rounds
    data, dropped = cache.dump()
    assert dropped == []
    restored = PluginCache()
    restored.restore(data)
    assert restored.view("x", "y").get("counter", use_global=True)["hits"] == (
        threads_count * rounds)
