"""Where a gateway's sweep rounds run: in a thread of their own, never on the event loop's
thread, at the worker threads' lower CPU priority (as sync's builds: on a busy host the loop wins
the CPU the sweep wants). Recorded from inside a real round against a real Redis; not timed."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from cases.contacts import ContactStore
from cases.sweep import Sweeper, SweepHooks
from config import load_profile
from gateway.contacts import contacts_runtime
from matcher.contacts import contacts_from_list
from matcher.index import Index
from sync.offloop.workers import WORKER_NICE
from sync.writer import Writer
from tests.support.redis_server import RedisFactory

PROFILE = load_profile(None)
WAIT = 20.0  # seconds the test waits for the sweeper's first list before giving up (not a claim)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
async def test_sweep_rounds_run_off_the_loop_in_a_lower_priority_thread(redis_server: RedisFactory) -> None:
    client = redis_server().client()
    Writer(client).initialise()
    contacts = contacts_from_list([{"id": "c0", "name": "Pat", "phones": ["07700 900123"], "approved": True}])
    ContactStore(client, PROFILE).put("HLI", "B1111BB", contacts)
    index = Index.build([], PROFILE, version=0)
    seen: list[tuple[int, int]] = []  # (thread ident, nice value) of each list swept

    def after_list(_lid: str) -> None:
        seen.append((threading.get_ident(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))

    sweeper = Sweeper(client, PROFILE, lambda: index, owner="t", hooks=SweepHooks(after_list=after_list))
    runtime = contacts_runtime(sweeper)
    loop_thread = threading.get_ident()
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    runtime.start()
    try:
        for _ in range(int(WAIT / 0.05)):
            if seen:
                break
            await asyncio.sleep(0.05)
    finally:
        await runtime.stop()
    assert seen, "the sweeper swept no list"
    ident, nice = seen[0]
    assert ident != loop_thread
    assert nice == min(19, loop_nice + WORKER_NICE)
