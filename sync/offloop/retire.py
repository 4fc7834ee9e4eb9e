"""Letting go of a replaced index without stalling the event loop.

Dropping the last reference to a million-entry index frees millions of objects in one C call
chain, a stall of the loop at the swap counted in seconds. Here the owner
hands the old index over instead, and its big containers (dicts, lists, sets) are emptied a few
thousand items at a time, in steps of about ``STEP_SECONDS``, with the loop free between steps.

Nothing anyone can still reach is ever emptied: a container is taken apart only when its reference
count says the object being retired is its one holder (a delta index shares its base dicts with
the next version, every version shares the profile's context), and retiring waits until the
retired object itself is held by nobody else (a request in flight, the snapshot writer).
Deallocation in another thread would not help: it holds the GIL just the same. A worker thread
that made a big container itself empties it with ``release``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Generator, MutableMapping
from typing import Any

from matcher.layered import ShardedDict

log = logging.getLogger("nocontact.sync")

BIG = 512  # containers with more items than this are emptied step by step; smaller ones just go
# A callback that becomes ready waits behind two or three steps (the step running when its timer
# or socket fires, then the one queued before it), so a step's length multiplies into the loop's
# latency; short steps make the retirement no longer in all.
STEP_SECONDS = 0.001
# Items freed between looks at the clock: most cost about a microsecond, but near the end of a big
# index's retirement a free can cost far more (most likely each emptying an allocator arena that
# goes back to the system), so a step looks often to stay close to its budget.
CHECK_EVERY = 4
WAIT_STEP = 0.05  # seconds between checks that nobody else holds the retired object
MAX_WAIT = 120.0  # then it is dropped as it is (whoever holds it frees it)
MAX_WALK = 10_000  # objects examined to find the big containers (the index is a shallow tree)

RELEASE_SLICE = 2048  # items freed per C call by release()

_CONTAINERS = (dict, list, set)


def _refcount_of_sole_child() -> int:
    """sys.getrefcount of an object held once, as seen from _children below (calibrated, so
    that interpreter versions that count differently stay on the safe side)."""
    holder: list[list[object]] = [[]]
    return next(count for _, count in _children(holder))


def _children(node: object) -> Generator[tuple[object, int], None, None]:
    for child in gc.get_referents(node):
        yield child, sys.getrefcount(child)


_SOLE = _refcount_of_sole_child()


def _big(obj: object) -> bool:
    return isinstance(obj, _CONTAINERS) and len(obj) > BIG


def dismantle_steps(root: object, step_seconds: float = STEP_SECONDS) -> Generator[None, None, int]:
    """Empty the big containers reachable from `root` through objects held only by their parent,
    yielding after each `step_seconds` of work; returns how many items were let go. The caller
    must hold the only reference to `root` (see `Retirer`), or nothing it reaches is touched."""
    clock = time.perf_counter
    deadline = clock() + step_seconds
    big: list[dict[object, object] | list[object] | set[object]] = []
    frontier: list[object] = [root]
    walked = 0
    while frontier and walked < MAX_WALK:
        node = frontier.pop()
        child: object = None
        for child, count in _children(node):
            walked += 1
            # held once (by node) plus the references frontier/big give it while it waits here
            if count > _SOLE or isinstance(child, type):
                continue
            if _big(child):  # a dict of strings and ints may not be tracked by gc: test it first
                big.append(child)  # type: ignore[arg-type]
            elif gc.is_tracked(child):
                frontier.append(child)
        del node, child
        if clock() > deadline:
            yield
            deadline = clock() + step_seconds
    frontier.clear()
    freed = 0
    while big:
        container = big.pop()
        while container:
            for _ in range(CHECK_EVERY):
                if not container:
                    break
                if isinstance(container, dict):
                    _, value = container.popitem()
                else:
                    value = container.pop()
                # a big container held only by the one just removed is emptied in turn
                if _big(value) and sys.getrefcount(value) <= 2:
                    big.append(value)  # type: ignore[arg-type]
                del value
                freed += 1
            if clock() > deadline:
                yield
                deadline = clock() + step_seconds
        # emptied by pops, it still holds its table (a big dict shard's is mapped apart): let that
        # go now, one per step, not all at the end with the root
        container.clear()
        del container
        if clock() > deadline:
            yield
            deadline = clock() + step_seconds
    return freed


class Retirer:
    """Takes replaced indexes (or cuts) off the owner's hands and frees them in bounded steps on
    the event loop, each as a task the Retirer keeps. `retire` is called on the loop."""

    def __init__(self, step_seconds: float = STEP_SECONDS, max_wait: float = MAX_WAIT) -> None:
        self.step_seconds = step_seconds
        self.max_wait = max_wait
        self._tasks: set[asyncio.Task[None]] = set()
        # one object is taken apart at a time: each dismantling task steps between the loop's
        # other callbacks, so several at once (a resync retires the cut, the old index and more)
        # would make every loop iteration several steps long
        self._stepping = asyncio.Lock()
        self.retired = 0  # objects taken apart (for tests)
        # the longest step so far, as (seconds, what was being taken apart): one item freed whole
        # can outlast a step's budget (the benchmarks report it)
        self.longest_step: tuple[float, str] = (0.0, "")
        self.long_steps: list[tuple[float, float, str]] = []  # (perf_counter, seconds, what) > 4 ms

    def retire(self, obj: object) -> None:
        """Hand `obj` over; the caller must drop its own references right after this call."""
        box = [obj]
        del obj
        task = asyncio.get_running_loop().create_task(self._dismantle(box), name="nocontact-sync-retire")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def stop(self) -> None:
        """Cancel: whatever is left is then freed at once, as without a Retirer."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _dismantle(self, box: list[object]) -> None:
        # the box is our only holder: sys.getrefcount(box[0]) is 2 when nobody else holds it
        waited = 0.0
        while sys.getrefcount(box[0]) > 2:
            if waited >= self.max_wait:
                log.warning("sync: a replaced index is still in use after %.0fs; letting it go whole", waited)
                return
            await asyncio.sleep(WAIT_STEP)
            waited += WAIT_STEP
        async with self._stepping:
            what = type(box[0]).__name__
            steps = dismantle_steps(box.pop(), self.step_seconds)  # the generator now holds it alone
            clock = time.perf_counter
            try:
                while True:
                    started = clock()
                    try:
                        next(steps)
                    finally:
                        took = clock() - started
                        if took > self.longest_step[0]:
                            self.longest_step = (took, what)
                        if took > 0.004 and len(self.long_steps) < 100:
                            self.long_steps.append((started, took, what))
                    await asyncio.sleep(0)
            except StopIteration:
                pass
            finally:
                steps.close()
        self.retired += 1


def release(items: MutableMapping[Any, Any] | list[Any], step: int = RELEASE_SLICE) -> None:
    """Empty a big container from Python code, in slices (of `step` items, for a list). Freeing a
    million items is one C call that holds the GIL for tens of milliseconds, stalling the event
    loop if it happens in a worker thread; between slices the thread gives the GIL back every
    switch interval."""
    if isinstance(items, ShardedDict):
        for shard in items.shards:
            release(shard)
    elif isinstance(items, MutableMapping):
        popitem = items.popitem
        for _ in range(len(items)):
            popitem()
    else:
        while items:
            del items[-step:]
