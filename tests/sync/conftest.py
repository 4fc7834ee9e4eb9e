"""Fixtures for sync tests: a gb profile, fast settings, followers that stop at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config import load_profile
from matcher.profile import Profile
from sync.follower import Follower
from sync.writer import Writer
from tests.support.sync_data import KEYS, fast_settings


@pytest.fixture(scope="session")
def profile() -> Profile:
    return load_profile(environ={})


FollowerFactory = Callable[..., Follower]


@pytest.fixture
async def make_follower(tmp_path: Path, profile: Profile) -> AsyncIterator[FollowerFactory]:
    """``make_follower(url, name="a", **settings)``: a Follower (not started) with its own data dir."""
    followers: list[Follower] = []

    def make(url: str, name: str = "a", **kwargs: Any) -> Follower:
        hooks = kwargs.pop("hooks", None)
        builder = kwargs.pop("builder", None)
        settings = fast_settings(url, tmp_path / name, **kwargs)
        follower = Follower(settings, profile, hooks=hooks, builder=builder)
        followers.append(follower)
        return follower

    yield make
    for follower in followers:
        await follower.stop()


@pytest.fixture
def make_writer() -> Iterator[Callable[..., Writer]]:
    clients: list[redis.Redis] = []

    def make(url: str, **kwargs: Any) -> Writer:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        clients.append(client)
        return Writer(client, keys=KEYS, **kwargs)

    yield make
    for client in clients:
        client.close()
