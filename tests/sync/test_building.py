"""Building aside: the worker thread never ends up holding a build's inputs after the caller has
let go of them (it would free them whole, holding the GIL, while the loop serves)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest

from matcher.profile import Profile
from sync.building import Built, IndexBuilder
from sync.changes import encode_entry
from sync.offloop.retire import RELEASE_SLICE, release
from sync.offloop.workers import Handoff
from tests.support.sync_data import blocks, entries


async def test_the_work_lets_go_of_a_cut_before_its_result_is_handed_back(profile: Profile) -> None:
    kept: list[Callable[[], Built]] = []

    async def late_letting_thread(work: Callable[[], Built]) -> Built:
        kept.append(work)  # as a thread pool's work item: let go only after the result is handed back
        return await asyncio.to_thread(work)

    builder = IndexBuilder(profile, run_blocking=late_letting_thread)
    raw = {e.reference: encode_entry(e) for e in entries(20)}
    before = sys.getrefcount(raw)
    built = await builder.from_cut(raw, 1, None)
    assert kept and blocks(built.index, 19)
    assert sys.getrefcount(raw) == before  # only this test holds the cut: the Retirer's to free


def test_a_handoff_runs_once() -> None:
    handoff = Handoff(lambda: 7)
    assert handoff() == 7
    with pytest.raises(RuntimeError):
        handoff()


def test_release_empties_a_list_a_slice_at_a_time() -> None:
    cuts: list[int] = []

    class Watched(list[int]):
        def __delitem__(self, key: object) -> None:
            cuts.append(len(self[key]))  # type: ignore[index]
            super().__delitem__(key)  # type: ignore[arg-type]

    items = Watched(range(10))
    release(items, 4)
    assert items == [] and cuts == [4, 4, 2]
    items = Watched(range(5000))
    cuts.clear()
    release(items)
    assert items == [] and cuts == [RELEASE_SLICE, RELEASE_SLICE, 5000 - 2 * RELEASE_SLICE]
