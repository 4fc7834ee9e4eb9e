"""A worker thread that lets the GIL go often gives way once per interval (sync.offloop.giveway), and the
cut client's reads do (a streaming cut starved the event loop without it)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
import redis

from sync import client as sync_client
from sync.cut import read_cut
from sync.keys import Keys
from sync.offloop.giveway import GiveWay
from sync.offloop.workers import WORKER_NICE, lower_priority, run_in_worker, worker_pool
from sync.settings import SyncSettings


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_gives_way_once_per_interval() -> None:
    clock = _Clock()
    give_way = GiveWay(every=0.001, pause=0.00005, clock=clock, sleep=clock.sleep)
    for _ in range(10):  # calls within the interval: no pause
        clock.now += 0.00005
        give_way()
    assert clock.slept == []
    clock.now += 0.0006  # 1.1 ms since the start
    give_way()
    give_way()  # the interval starts again after a pause
    assert clock.slept == [0.00005] and give_way.pauses == 1
    clock.now += 0.001
    give_way()
    assert give_way.pauses == 2


def test_the_interval_defaults_to_the_switch_interval() -> None:
    assert GiveWay().every == sys.getswitchinterval()


def test_the_cut_clients_reads_give_way(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = Keys("givewaytest:")
    writer = redis.Redis.from_url(redis_url, decode_responses=True)
    expected = {f"UPC-{i:06d}": f'{{"n": {i}, "pad": "{"x" * 200}"}}' for i in range(5000)}
    writer.hset(keys.entries, mapping=expected)
    writer.hset(keys.meta, mapping={"epoch": "e1", "version": "3"})
    made: list[GiveWay] = []

    class EveryRead(GiveWay):
        def __init__(self) -> None:
            super().__init__(every=0.0, pause=0.0)
            made.append(self)

    monkeypatch.setattr(sync_client, "GiveWay", EveryRead)
    cut = read_cut(sync_client.cut_client(redis_url, SyncSettings(socket_timeout=30)), keys)
    assert dict(cut.entries.items()) == expected
    assert made and sum(g.pauses for g in made) > 10  # ~1 MB of reply: many reads, each gave way


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


@linux_only
async def test_workers_run_below_the_loop_s_priority() -> None:
    loop_nice = _nice()
    worker_nice, worker_name = await run_in_worker(lambda: (_nice(), threading.current_thread().name))
    assert worker_nice == min(19, loop_nice + WORKER_NICE)
    assert worker_name.startswith("nocontact-worker")
    assert _nice() == loop_nice  # the loop's thread is left as it was


@linux_only
def test_lower_priority_is_per_thread() -> None:
    seen: list[int] = []

    def lowered() -> None:
        assert lower_priority(3)
        seen.append(_nice())

    before = _nice()
    thread = threading.Thread(target=lowered)
    thread.start()
    thread.join()
    assert seen == [min(19, before + 3)]
    assert _nice() == before


def test_worker_results_and_errors_reach_the_caller() -> None:
    async def main() -> tuple[int, str]:
        total = await run_in_worker(sum, [1, 2, 3])
        with pytest.raises(ZeroDivisionError):
            await run_in_worker(lambda: 1 // 0)
        return total, "ok"

    assert asyncio.run(main()) == (6, "ok")


@linux_only
def test_a_forked_child_makes_its_own_pool() -> None:
    parent = worker_pool()
    assert worker_pool() is parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child = worker_pool()
            ok = child is not parent and child.submit(lambda: 7).result(timeout=10) == 7
            os.write(write, b"1" if ok else b"0")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        answer = os.read(read, 1)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert answer == b"1"
    assert worker_pool() is parent
