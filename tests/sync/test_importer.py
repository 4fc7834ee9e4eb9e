"""``nocontact import`` through the real CLI, against a real redis-server (and the embedded one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from gateway.cli import main
from sync.embedded import EmbeddedRedis
from sync.errors import OwnedByRequest
from sync.importer import load
from sync.writer import Writer
from tests.support.redis_server import RedisFactory, frozen, replicate
from tests.support.sync_data import KEYS, PREFIX, make_entry, phone


def line(i: int) -> str:
    return json.dumps(make_entry(i).to_dict())


def raw_line(i: int) -> str:
    return json.dumps(
        {
            "reference": f"UPC-{i:06d}",
            "prisoner": "A1234BC",
            "protected": [{"name": f"Person {i}", "phones": [phone(i)], "emails": [f"p{i}@example.com"]}],
        }
    )


@pytest.fixture
def client(redis_url: str):
    with redis.Redis.from_url(redis_url, decode_responses=True) as c:
        yield c


MIXED = [
    line(1),
    "{not json",
    json.dumps({"reference": "UPC-9", "protected": [{"phones": ["07700 900001"]}]}),
    json.dumps({"reference": "UPC-10", "prisoner": "A1234BC", "protected": [{"phones": ["999"]}]}),
    "",
    line(1),
    line(2),
]


def test_bad_lines_are_reported_by_line_and_field_and_good_lines_load(
    tmp_path: Path, redis_url: str, client, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "entries.jsonl"
    source.write_text("\n".join(MIXED) + "\n")
    status = main(["import", str(source), "--redis-url", redis_url, "--prefix", PREFIX])
    err = capsys.readouterr().err
    assert status == 1
    assert "line 2: (line): not JSON" in err
    assert "line 3: prisoner: required" in err
    assert "line 4: protected[0].phones[0]: " in err
    assert "line 6: reference: UPC-000001 already on line 1" in err
    assert "line 5" not in err and "line 1:" not in err and "line 7" not in err
    assert "999" not in err.replace("line", "")  # the bad number itself is not echoed
    assert "2 entries loaded, 4 lines failed" in err
    assert sorted(client.hkeys(KEYS.entries)) == ["UPC-000001", "UPC-000002"]
    assert client.hget(KEYS.meta, "version") == "2"


def test_strict_loads_nothing_when_a_line_is_bad(tmp_path: Path, redis_url: str, client, capsys) -> None:
    source = tmp_path / "entries.jsonl"
    source.write_text("\n".join(MIXED) + "\n")
    assert main(["import", str(source), "--redis-url", redis_url, "--prefix", PREFIX, "--strict"]) == 1
    assert "nothing loaded" in capsys.readouterr().err
    assert not client.exists(KEYS.entries) and not client.exists(KEYS.changes)


def test_replace_republishes_the_whole_list(tmp_path: Path, redis_url: str, client, capsys) -> None:
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(line(i) for i in range(5)) + "\n")
    assert main(["import", str(first), "--redis-url", redis_url, "--prefix", PREFIX]) == 0
    epoch = client.hget(KEYS.meta, "epoch")
    second = tmp_path / "second.jsonl"
    second.write_text("\n".join(line(i) for i in range(3, 8)) + "\n")
    assert main(["import", str(second), "--redis-url", redis_url, "--prefix", PREFIX, "--replace"]) == 0
    assert sorted(client.hkeys(KEYS.entries)) == [f"UPC-{i:06d}" for i in range(3, 8)]
    assert client.hget(KEYS.meta, "epoch") != epoch
    last = client.xrevrange(KEYS.changes, count=1)[0][1]
    assert last["op"] == "reset" and last["allow_shrink"] == "0"


def test_a_large_file_loads_in_batches(tmp_path: Path, redis_url: str, client, capsys) -> None:
    """20k lines: many batches, yet quick enough for the suite (import speed is benchmarks/README.md's)."""
    n = 20_000
    source = tmp_path / "big.jsonl"
    source.write_text("\n".join(raw_line(i) for i in range(n)) + "\n")
    started = time.monotonic()
    status = main(["import", str(source), "--redis-url", redis_url, "--prefix", PREFIX])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 0, err[-2000:]
    assert client.hlen(KEYS.entries) == n and client.hget(KEYS.meta, "version") == str(n)
    assert client.hget(KEYS.meta, "identifiers") == str(2 * n)
    assert client.xlen(KEYS.changes) == n  # one message per entry, in batches of 500 per script
    assert f"import: writing: {n}/{n} (100%)" in err  # progress, on stderr
    print(f"\n{n} entries imported in {elapsed:.1f}s")


def test_import_into_the_embedded_redis_survives_its_restart(tmp_path: Path, capsys) -> None:
    source = tmp_path / "entries.jsonl"
    source.write_text("\n".join(line(i) for i in range(3)) + "\n")
    data_dir = tmp_path / "data"
    assert main(["import", str(source), "--data-dir", str(data_dir), "--prefix", PREFIX]) == 0
    embedded = EmbeddedRedis(data_dir)
    assert not embedded.socket_path.exists()  # stopped cleanly after the import
    with embedded, redis.Redis.from_url(embedded.url, decode_responses=True) as c:
        assert embedded.owned
        assert c.hlen(KEYS.entries) == 3 and c.config_get("appendonly")["appendonly"] == "yes"
    assert embedded.process is None and not embedded.socket_path.exists()


def test_a_batch_naming_a_requests_id_writes_nothing_and_says_which(client) -> None:
    """The import checks owners before writing; a request that takes an id after that check meets
    the writer's own check, atomic with each batch: that batch writes nothing, and load says so."""
    wanted = [make_entry(i) for i in range(4)]
    client.set(KEYS.case(wanted[2].reference), "{}")  # a request took this id after the check
    writer = Writer(client, keys=KEYS)
    with pytest.raises(OwnedByRequest) as refused:
        load(writer, wanted, batch=2)
    assert refused.value.references == (wanted[2].reference,)
    assert sorted(client.hkeys(KEYS.entries)) == [wanted[0].reference, wanted[1].reference]


def test_an_import_is_reported_loaded_only_once_a_replica_holds_it(
    tmp_path: Path, redis_server: RedisFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batches go out pipelined; the command still WAITs for ``write_replicas`` before it says the
    entries are loaded."""
    primary, replica = redis_server(), redis_server()
    replicate(primary, replica)
    deployment, impatient = tmp_path / "deployment.toml", tmp_path / "impatient.toml"
    deployment.write_text("[sync]\nwrite_replicas = 1\nwrite_wait_ms = 10000\n")
    impatient.write_text("[sync]\nwrite_replicas = 1\nwrite_wait_ms = 200\n")
    source = tmp_path / "entries.jsonl"
    source.write_text("\n".join(line(i) for i in range(1, 4)) + "\n")
    command = [
        "import",
        str(source),
        "--redis-url",
        primary.url,
        "--prefix",
        PREFIX,
        "--config",
        str(deployment),
    ]
    with frozen(replica):
        status = main([*command[:-1], str(impatient)])
    err = capsys.readouterr().err
    assert status == 2 and "import: the write reached 0 of 1 replica(s) needed: not acknowledged" in err, err
    assert "loaded" not in err

    source.write_text("\n".join(line(i) for i in range(4, 6)) + "\n")
    assert main(command) == 0
    with replica.client() as follower:
        assert follower.hlen(KEYS.entries) == 5
