"""Retiring a replaced index in bounded steps: it is really released, in more than one step, and
nothing still reachable by someone else is ever emptied."""

from __future__ import annotations

import asyncio
import gc
import sys
import types
import weakref

import pytest

import sync.offloop.retire
from sync.offloop.retire import BIG, Retirer, dismantle_steps
from sync.status import SyncState
from tests.support.sync_data import FollowerFactory, blocks, entries


class Item:
    """A weak-referenceable value, to see when it is freed."""


class Holder:
    __slots__ = ("records", "towns")

    def __init__(self, records: dict[int, Item], towns: list[set[int]]) -> None:
        self.records = records
        self.towns = towns


def _holder(n: int = 5 * BIG) -> tuple[Holder, list[weakref.ref[Item]]]:
    records = {i: Item() for i in range(n)}
    refs = [weakref.ref(v) for v in records.values()]
    return Holder(records, [set(range(n)), set(range(n, 2 * n))]), refs


def test_dismantle_frees_everything_in_several_steps() -> None:
    holder, refs = _holder()
    steps = dismantle_steps(holder, step_seconds=0.0)  # yield as often as it can
    del holder
    yields = 0
    try:
        while True:
            next(steps)
            yields += 1
    except StopIteration as done:
        freed = done.value
    assert yields > 3
    assert freed >= 5 * BIG * 3  # the dict and both sets (held only by the list) were emptied
    del steps
    assert all(r() is None for r in refs)


def test_dismantle_leaves_shared_containers_whole() -> None:
    holder, refs = _holder()
    shared_records, shared_town = holder.records, holder.towns[0]
    for _ in dismantle_steps(holder, step_seconds=0.0):
        pass
    assert len(shared_records) == 5 * BIG and len(shared_town) == 5 * BIG
    assert len(holder.towns[1]) == 0  # held by the holder's list alone: emptied
    assert all(r() is not None for r in refs)


async def test_retirer_waits_while_the_object_is_held_then_releases_it() -> None:
    holder, refs = _holder()
    retirer = Retirer(step_seconds=0.0005)
    retirer.retire(holder)
    await asyncio.sleep(0.2)
    assert retirer.retired == 0 and len(holder.records) == 5 * BIG  # someone still reads it
    del holder
    await retirer.idle()
    assert retirer.retired == 1
    gc.collect()
    assert all(r() is None for r in refs)


async def test_objects_handed_over_together_are_taken_apart_one_after_the_other() -> None:
    """Each dismantling task runs a step per loop iteration: several at once would make every
    iteration that many steps long, so they take turns, each object whole before the next."""
    first, first_refs = _holder()
    second, second_refs = _holder()
    retirer = Retirer(step_seconds=0.0)  # a step per few items: many steps each
    order: list[str] = []

    async def watch() -> None:
        while retirer.busy:
            # an object is being stepped through when some of its items are gone but not all
            for name, refs in (("first", first_refs), ("second", second_refs)):
                gone = sum(r() is None for r in refs)
                if 0 < gone < len(refs) and (not order or order[-1] != name):
                    order.append(name)
            await asyncio.sleep(0)

    retirer.retire(first)
    retirer.retire(second)
    del first, second
    await asyncio.gather(watch(), retirer.idle())
    assert retirer.retired == 2
    assert order in (["first", "second"], ["second", "first"])  # never back and forth


async def test_a_replaced_index_is_retired_but_never_while_someone_holds_it(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    writer = make_writer(redis_url)
    writer.republish(entries(2 * BIG))
    follower = make_follower(redis_url, max_delta=10)
    await follower.start()
    old = follower.index
    assert follower.status.state is SyncState.VALID and old is not None
    retirer = follower._retirer
    await retirer.idle()
    before = retirer.retired  # the first cut
    new_epoch = writer.republish(entries(2 * BIG, start=5000)).epoch  # a full build (> max_delta)
    await follower.wait_for(lambda s: s.epoch == new_epoch and s.serving, 30)
    await asyncio.wait_for(_until(lambda: retirer.retired == before + 1), 30)  # the second cut
    await asyncio.sleep(0.3)
    assert retirer.retired == before + 1 and retirer.busy  # the old index waits for us
    assert all(blocks(old, i) for i in range(0, 2 * BIG, 37))  # held here: left whole
    assert old.entry_count == 2 * BIG and len(list(old.entries())) == 2 * BIG
    del old
    await asyncio.wait_for(_until(lambda: retirer.retired == before + 2), 30)
    index = follower.index
    assert index is not None and all(blocks(index, i) for i in range(5000, 5000 + 2 * BIG, 37))


async def _until(predicate) -> None:  # type: ignore[no-untyped-def]
    while not predicate():
        await asyncio.sleep(0.02)


def test_a_step_ends_soon_after_its_budget_when_each_free_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the end of a big index's retirement a single free can cost a fraction of a millisecond
    (an allocator arena handed back): a step must still stop close to its budget. On a clock that
    only the frees move, each costing half a step."""
    now = [0.0]
    monkeypatch.setattr(sync.offloop.retire, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    class Costly:
        def __del__(self) -> None:
            now[0] += 0.0005

    root = [[Costly() for _ in range(4 * BIG)]]
    steps = dismantle_steps(root, step_seconds=0.001)
    del root
    lengths = []
    while True:
        started = now[0]
        try:
            next(steps)
        except StopIteration as done:
            freed = done.value
            break
        finally:
            lengths.append(now[0] - started)
    assert freed == 4 * BIG
    assert max(lengths) <= 0.001 + 0.0005 * 4  # the budget, then at most a few frees more
    assert sum(lengths) == pytest.approx(4 * BIG * 0.0005)


def test_each_emptied_container_lets_its_table_go_before_the_next() -> None:
    """An emptied dict keeps its table until cleared; the tables must not all wait for the root."""
    cleared: list[tuple[int, int]] = []  # (items left, the table's size before the clear)

    class Shard(dict[int, Item]):
        def clear(self) -> None:
            cleared.append((len(self), sys.getsizeof(self)))
            super().clear()

    shards = [Shard((i, Item()) for i in range(2 * BIG)) for _ in range(3)]
    full = sys.getsizeof(shards[0])
    root = [shards]
    del shards
    steps = dismantle_steps(root, step_seconds=1.0)
    del root
    for _ in steps:
        pass
    assert [left for left, _ in cleared] == [0, 0, 0]
    assert all(size == full for _, size in cleared)  # the whole table, still held until then
    assert sys.getsizeof(Shard()) < full
