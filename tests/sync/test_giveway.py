"""A worker thread that lets the GIL go often gives way once per interval (sync.giveway), and the
cut client's reads do (a streaming cut starved the event loop without it)."""

from __future__ import annotations

import sys

import pytest
import redis

from sync import client as sync_client
from sync.cut import read_cut
from sync.giveway import GiveWay
from sync.keys import Keys
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
