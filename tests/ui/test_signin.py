"""Issue 16 item 5: sign-in attempts are counted atomically before the password is checked, per
user name and per client address, with a doubling back-off; argon2 runs on its own bounded
threads, so a flood of sign-ins never delays a block being written. In-process, on a real Redis;
the limits' clock is frozen so that "a burst" does not depend on the machine's speed."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from typing import Any

import pytest
import redis

from gateway.ui import login
from gateway.ui.users import add_user
from sync.keys import Keys
from sync.replication import Replication
from tests.support.gateway_data import ADMIN
from tests.support.ui_site import post_sign_in

PASSWORD = "correct horse battery staple"
ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}


class Clock:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms


def _throttle() -> Any:
    """gateway.ui.throttle, imported by each test (so that on a tree without it the tests run and
    fail, rather than the module failing to import)."""
    return importlib.import_module("gateway.ui.throttle")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    with contextlib.suppress(ModuleNotFoundError):  # the test itself fails without the module
        monkeypatch.setattr(_throttle(), "now_ms", frozen)
    return frozen


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The user names whose password was checked (argon2 ran), in order, and on which thread."""
    seen: list[str] = []

    def counted(user: Any, password: str) -> bool:  # argon2's answer, without its CPU time
        seen.append(threading.current_thread().name)
        return user is not None and password == PASSWORD

    monkeypatch.setattr(login, "verify_password", counted)
    return seen


async def sign_in(client: Any, username: str, password: str) -> int:
    return int((await post_sign_in(client, username, password)).status)


async def test_a_burst_of_guesses_gets_no_further_than_the_free_attempts(
    client: Any, redis_url: str, clock: Clock, checks: list[str]
) -> None:
    """Reproduction: 60 wrong passwords at once locked nothing, and the right one was accepted
    in the same burst."""
    throttle = _throttle()
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
    statuses = await asyncio.gather(*(sign_in(client, "sec-hli", f"guess {i}") for i in range(60)))
    assert sorted(set(statuses)) == [401, 429] and statuses.count(401) == throttle.USER_LIMIT.free + 1
    assert len(checks) == throttle.USER_LIMIT.free + 1  # the rest never reached argon2
    assert all(name.startswith("nocontact-argon2") for name in checks)  # its own threads
    assert await sign_in(client, "sec-hli", PASSWORD) == 429  # same burst: refused, not checked
    assert len(checks) == throttle.USER_LIMIT.free + 1
    clock.ms += throttle.USER_LIMIT.base_ms  # the back-off doubles from a second, not a flat 15 min
    assert await sign_in(client, "sec-hli", PASSWORD) == 303


async def test_one_address_guessing_many_names_backs_off(
    client: Any, redis_url: str, clock: Clock, checks: list[str]
) -> None:
    free = _throttle().ADDRESS_LIMIT.free
    statuses = [await sign_in(client, f"nobody{i}", "guess") for i in range(free + 2)]
    assert statuses[:free] == [401] * free and statuses[free] == 401 and statuses[free + 1] == 429
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "cw", "casework", None, PASSWORD, replication=Replication())
    assert await sign_in(client, "cw", PASSWORD) == 429  # from this address, for now
    assert len(checks) == free + 1


async def test_a_flood_of_sign_ins_never_delays_a_block(
    client: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduction: argon2 ran on the default thread pool, which entry writes and case actions
    share: 30 parallel sign-ins took PUT /v1/entries from 0.01 s to 15 s."""
    release = threading.Event()
    started = threading.Semaphore(0)

    def stuck(user: Any, password: str) -> bool:
        started.release()
        release.wait(30)
        return False

    monkeypatch.setattr(login, "verify_password", stuck)
    work = _throttle().PasswordWork(threads=2, waiting=3)
    monkeypatch.setattr(login, "PASSWORDS", work)
    flood = [asyncio.ensure_future(sign_in(client, f"user{i}", "x")) for i in range(work.slots)]
    loop = asyncio.get_running_loop()
    for _ in range(work.threads):  # both argon2 threads are held
        assert await loop.run_in_executor(None, started.acquire, True, 30)
    try:
        while work.busy < work.slots:  # every slot taken (the event loop serves the rest meanwhile)
            await asyncio.sleep(0.01)
        assert await sign_in(client, "one-more", "x") == 503  # bounded: not queued
        resp = await client.put(
            "/v1/entries/UPC-F1", json=ENTRY, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert resp.status == 200  # the block is written while every password thread is busy
    finally:
        release.set()
    assert set(await asyncio.gather(*flood)) == {401}
