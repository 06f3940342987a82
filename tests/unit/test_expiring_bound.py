"""The one-process store's expiring keys (the prompt cache) are capped at ``SWEEP_AT``, and keeping
them under the cap costs a bounded amount per insert: a sweep visits every key, so it comes at
most once per ``SWEEP_AT - SWEEP_AT * SWEPT_TO`` new keys, never on every insert past the cap.
Counted in keys visited, not timed."""

from __future__ import annotations

from typing import Any, ItemsView, Iterator

from mockserver.store import local
from mockserver.store.local import SWEEP_AT, SWEPT_TO, LocalStore

LOW = int(SWEEP_AT * SWEPT_TO)


class _Visits(ItemsView[str, Any]):
    def __init__(self, table: "CountingDict") -> None:
        super().__init__(table)
        self.table = table

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for pair in dict.items(self.table):
            self.table.visited += 1
            yield pair


class CountingDict(dict[str, Any]):
    """A dict that counts the entries its ``items()`` hand out (what a sweep looks at)."""

    visited = 0

    def items(self) -> Any:
        return _Visits(self)


async def test_past_the_cap_a_sweep_does_not_come_on_every_insert() -> None:
    store = LocalStore(":memory:")
    table = CountingDict()
    store._expiring = table
    now = 1000.0
    for i in range(SWEEP_AT):  # up to the cap, every key live: nothing swept
        await store.set_expiring([(f"ns:cache:{i}", 3600.0)], now)
    assert table.visited == 0 and len(table) == SWEEP_AT

    inserts = 3 * (SWEEP_AT - LOW)
    for n in range(inserts):
        await store.set_expiring([(f"ns:cache:{SWEEP_AT + n}", 3600.0)], now)
        assert len(table) <= SWEEP_AT
        assert table.visited <= (n // (SWEEP_AT - LOW) + 1) * (SWEEP_AT + 1)  # one sweep per tenth of the cap
    # Three sweeps at most, each visiting at most SWEEP_AT + 1 keys: about ten keys visited per
    # insert (before, each of these inserts visited every key: SWEEP_AT per insert).
    assert table.visited <= 3 * (SWEEP_AT + 1)
    assert table.visited / inserts <= SWEEP_AT / (SWEEP_AT - LOW) + 1


async def test_a_sweep_drops_the_expired_then_the_oldest_set_down_to_the_low_mark(monkeypatch: Any) -> None:
    monkeypatch.setattr(local, "SWEEP_AT", 100)
    store = LocalStore(":memory:")
    for i in range(50):
        await store.set_expiring([(f"ns:old{i}", 10.0)], now=0.0)  # expired by now=100
    for i in range(50):
        await store.set_expiring([(f"ns:live{i}", 3600.0)], now=0.0)
    await store.set_expiring([("ns:live0", 3600.0)], now=50.0)  # set again: now the newest-set
    assert len(store._expiring) == 100
    await store.set_expiring([("ns:new", 3600.0)], now=100.0)  # 51 live after the expired go: within 90
    assert set(store._expiring) == {f"ns:live{i}" for i in range(50)} | {"ns:new"}

    for i in range(49):
        await store.set_expiring([(f"ns:more{i}", 3600.0)], now=100.0)
    assert len(store._expiring) == 100  # at the cap, not past it: no sweep yet
    await store.set_expiring([("ns:last", 3600.0)], now=100.0)  # none expired: the oldest-set 11 go
    kept = list(store._expiring)
    assert len(kept) == 90
    assert kept[0] == "ns:live12" and "ns:live0" in kept and kept[-1] == "ns:last"
    assert await store.live(["ns:live1", "ns:live11", "ns:live12", "ns:live0"], now=100.0) == [None, None, 3600.0, 3600.0]
