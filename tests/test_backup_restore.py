"""Backups and restores as the production guide in README.md gives them, with the tools it names:
`redis-cli --rdb` and a copy of the AOF directory for the store (blocks, requests, tokens, the
change stream, the hits stream), sqlite3's .backup for a gateway's hit spool. A fresh store
restored from either backup holds the same keys, and a fresh gateway on it serves the same
decisions and lists the same hits, none twice."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from sync.keys import Keys
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import RedisFactory, RedisServer
from tests.support.tools import require_command

ENTRIES = {
    "UPC-2026-000101": {"phones": ["07700 900101"], "emails": ["jo@example.com"]},
    "UPC-2026-000102": {"phones": ["07700 900102"]},
    "UPC-2026-000103": {"phones": ["07700 900103"]},  # removed before the backup
}
PROBES = ["07700900101", "07700900102", "07700900103", "07700900999"]


def decisions(gateway: Gateway, token: str, hit_ids: list[str] | None = None) -> list[str]:
    """The decision on each of PROBES; the hits they record are added to `hit_ids`."""
    out = []
    for number in PROBES:
        call = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": number}
        status, answer = gateway.http("POST", "/v1/screen/call", call, token)
        assert status == 200, answer
        out.append(answer["decision"])
        if hit_ids is not None and answer.get("hit_id"):
            hit_ids.append(answer["hit_id"])
    return out


def wait_for_hits(gateway: Gateway, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 10
    while len(hits := gateway.http("GET", "/v1/hits")[1]["hits"]) < count:
        assert time.monotonic() < deadline, hits
        time.sleep(0.05)
    return list(hits)


def store_content(server: RedisServer) -> dict[str, object]:
    """Every nocontact key's type and value (DUMP's bytes follow the internal element order), but
    the gateways' heartbeats: liveness, not data, and gone when a gateway stops."""
    keys = Keys()
    beats = (keys.gateways, keys.gateway(""))
    read = {
        "string": lambda c, k: c.get(k),
        "hash": lambda c, k: c.hgetall(k),
        "set": lambda c, k: c.smembers(k),
        "zset": lambda c, k: c.zrange(k, 0, -1, withscores=True),
        "list": lambda c, k: c.lrange(k, 0, -1),
        "stream": lambda c, k: c.xrange(k),
    }
    with server.client() as client:
        return {
            key: (kind, read[kind](client, key))
            for key in client.scan_iter("nocontact:*")
            if (kind := client.type(key)) in read and not key.startswith(beats)
        }


def test_a_store_restored_from_backups_serves_the_same_blocks_and_hits(
    tmp_path: Path, redis_server: RedisFactory
) -> None:
    redis_cli, sqlite3 = require_command("redis-cli", "redis-tools"), require_command("sqlite3", "sqlite3")
    store = redis_server()
    before = Gateway(tmp_path / "before", free_port(), env={"NOCONTACT_REDIS_URL": store.url}).start()
    try:
        for reference, identifiers in ENTRIES.items():
            entry = {
                "prisoner": "A1234BC",
                "scope": "all",
                "protected": [{"name": "Jo Bloggs", **identifiers}],
            }
            assert before.http("PUT", f"/v1/entries/{reference}", entry)[0] == 200
        assert before.http("DELETE", "/v1/entries/UPC-2026-000103")[0] == 200
        before.wait_ready()
        dialler = before.token("dialler", "HLI")
        deadline = time.monotonic() + 10
        while (served := decisions(before, dialler)) != ["block", "block", "allow", "allow"]:
            assert time.monotonic() < deadline, served
            time.sleep(0.05)
        hits = wait_for_hits(before, 2)

        # The backups, while the gateway and the store run.
        backup = tmp_path / "backup"
        backup.mkdir()
        subprocess.run([redis_cli, "-p", str(store.port), "--rdb", str(backup / "dump.rdb")], check=True)
        with store.client() as client:
            client.config_set("auto-aof-rewrite-percentage", 0)  # no rewrite while the files are copied
            while client.info("persistence")["aof_rewrite_in_progress"]:
                time.sleep(0.05)
            shutil.copytree(store.workdir / "appendonlydir", backup / "appendonlydir")
            client.config_set("auto-aof-rewrite-percentage", 100)
        spool = before.data_dir / "hits.sqlite3"
        subprocess.run([sqlite3, str(spool), f".backup '{backup / 'hits.sqlite3'}'"], check=True)
    finally:
        before.stop()
    original = store_content(store)
    store.kill()

    # Restore 1: the RDB file into a fresh store, loaded with AOF off, then AOF switched on (a
    # store started with AOF on and no AOF files starts empty and ignores dump.rdb).
    from_rdb = RedisServer(tmp_path / "from-rdb", persistence=False)
    from_rdb.workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backup / "dump.rdb", from_rdb.workdir / "dump.rdb")
    from_rdb.start()
    with from_rdb.client() as client:
        client.config_set("appendonly", "yes")
        while (info := client.info("persistence"))["aof_rewrite_in_progress"] or info[
            "aof_rewrite_scheduled"
        ]:
            time.sleep(0.05)
    from_rdb.persistence = True
    from_rdb.restart(kill=False)  # now from its own AOF
    # Restore 2: the AOF directory copy into a fresh store.
    from_aof = RedisServer(tmp_path / "from-aof", persistence=True)
    shutil.copytree(backup / "appendonlydir", from_aof.workdir / "appendonlydir")
    from_aof.start()
    try:
        assert store_content(from_rdb) == original
        assert store_content(from_aof) == original

        # A fresh gateway (no snapshot file) on the restored store, its spool restored too.
        after = Gateway(tmp_path / "after", free_port(), env={"NOCONTACT_REDIS_URL": from_rdb.url})
        after.data_dir.mkdir(parents=True, mode=0o700)  # as the README says: the service user's alone
        after.data_dir.chmod(0o700)
        shutil.copyfile(backup / "hits.sqlite3", after.data_dir / "hits.sqlite3")
        after.start()
        try:
            after.wait_ready()
            new_hits: list[str] = []
            assert decisions(after, dialler, new_hits) == served and len(new_hits) == 2
            # The restored hits and the two just recorded, whenever the shipper sends those.
            listed = [h["id"] for h in wait_for_hits(after, 4)]
            assert sorted(listed) == sorted([h["id"] for h in hits] + new_hits)
        finally:
            after.stop()
    finally:
        from_rdb.kill()
        from_aof.kill()
