"""The position cache (the gateway keeps token -> principal in one): a hit costs no query, and any identity event applied (the position moved)
means the next lookup reads the directory again — so a logout or suspension is never answered from memory."""
from services.runtime.position_cache import PositionCache


class Directory:
    def __init__(self):
        self.rows = {"t1": {"admin_id": "a", "status": "active"}}
        self.reads = 0

    def load(self, key):
        def read():
            self.reads += 1
            return self.rows.get(key)
        return read


def test_a_hit_reads_nothing_and_a_moved_position_reads_again():
    cache, directory = PositionCache(), Directory()
    assert cache.lookup(("session", "t1"), 5, directory.load("t1"))["status"] == "active"
    assert cache.lookup(("session", "t1"), 5, directory.load("t1"))["status"] == "active"
    assert directory.reads == 1
    directory.rows["t1"] = {"admin_id": "a", "status": "suspended"}      # an event was applied: position 6
    assert cache.lookup(("session", "t1"), 6, directory.load("t1"))["status"] == "suspended"
    del directory.rows["t1"]                                             # logged out: position 7
    assert cache.lookup(("session", "t1"), 7, directory.load("t1")) is None
    assert directory.reads == 3


def test_unknown_tokens_are_not_kept():
    cache, directory = PositionCache(), Directory()
    for _ in range(3):
        assert cache.lookup(("session", "nope"), 1, directory.load("nope")) is None
    assert directory.reads == 3


def test_a_request_that_read_an_older_position_neither_uses_nor_fills_the_cache():
    cache, directory = PositionCache(), Directory()
    cache.lookup(("session", "t1"), 9, directory.load("t1"))
    directory.rows["t1"] = {"admin_id": "a", "status": "suspended"}
    assert cache.lookup(("session", "t1"), 8, directory.load("t1"))["status"] == "suspended"
    assert directory.reads == 2


def test_the_cache_is_bounded():
    cache, directory = PositionCache(), Directory()
    cache.MAX_ENTRIES = 3
    for n in range(5):
        directory.rows[f"t{n}"] = {"admin_id": str(n), "status": "active"}
        cache.lookup(("session", f"t{n}"), 1, directory.load(f"t{n}"))
    assert len(cache) == 3
