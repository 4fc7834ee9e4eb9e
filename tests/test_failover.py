"""Redis failover with real processes, as production runs it: a primary and two replicas
(config/examples/redis-nocontact.conf), three sentinels (config/examples/sentinel-nocontact.conf),
two `nocontact serve` on the Sentinel URL (one reading the change stream from a replica). The
primary is SIGKILLed while both gateways screen calls: every screening request is answered from
the last good index, a block acknowledged before the failover is still in the store and enforced
after it, a block written after it is enforced on both gateways, and every hit the gateways
answered is in the hits stream exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import token_hash
from gateway.cli import main
from sync.keys import Keys
from sync.redis_url import redis_client
from tests.support.call_traffic import CallTraffic, screen
from tests.support.case_data import request_data
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import frozen
from tests.support.sentinel import SentinelCluster

BEFORE = "UPC-2026-000201"  # acknowledged before the failover
AFTER = "UPC-2026-000202"  # written after it
NUMBERS = {BEFORE: "07700900201", AFTER: "07700900202"}
ALLOWED = "07700900999"


def entry(reference: str) -> dict[str, Any]:
    return {
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [{"name": "Jo Bloggs", "phones": [NUMBERS[reference]]}],
    }


def wait_until_blocked(gateways: list[Gateway], token: str, number: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for gateway in gateways:
        while screen(gateway, token, number)[1].get("decision") != "block":
            assert time.monotonic() < deadline, gateway.tail()
            time.sleep(0.02)


def all_hits(gateway: Gateway, reference: str) -> list[str]:
    """The ids of every hit on `reference` in the hits stream, page by page, sorted (twice if twice)."""
    ids: list[str] = []
    path: str | None = f"/v1/hits?reference={reference}&limit=200"
    while path is not None:
        status, page = gateway.http("GET", path)
        assert status == 200, page
        ids += [hit["id"] for hit in page["hits"]]
        path = f"/v1/hits?reference={reference}&limit=200&cursor={page['next']}" if page["next"] else None
    return sorted(ids)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    cluster = SentinelCluster(tmp_path / "redis")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_primary_killed_mid_traffic_loses_no_block_no_hit_and_no_answer(
    tmp_path: Path, cluster: SentinelCluster
) -> None:
    replica_reader = tmp_path / "replica-reader.toml"
    replica_reader.write_text("[sync]\nfollow_replicas = true\n")
    env = {"NOCONTACT_REDIS_URL": cluster.url}
    gateways = [
        Gateway(tmp_path / "a", free_port(), env=env),
        Gateway(tmp_path / "b", free_port(), env=env, args=["--config", str(replica_reader)]),
    ]
    try:
        for gateway in gateways:
            gateway.start()
        a, _ = gateways
        dialler = a.token("dialler", "HLI")
        status, written = a.http("PUT", f"/v1/entries/{BEFORE}", entry(BEFORE))
        assert status == 200, written  # acknowledged: WAIT saw it on a replica
        wait_until_blocked(gateways, dialler, NUMBERS[BEFORE])

        traffic = CallTraffic(gateways, dialler, lambda i: NUMBERS[BEFORE] if i % 3 == 0 else ALLOWED, 0.01)
        traffic.start()
        time.sleep(0.5)
        old = cluster.primary.port
        cluster.primary.kill()
        cluster.wait_for_failover(old)
        deadline = time.monotonic() + 30
        while (put := a.http("PUT", f"/v1/entries/{AFTER}", entry(AFTER)))[0] != 200:
            assert put[0] == 503 and time.monotonic() < deadline, put  # refused, never half-done
            time.sleep(0.1)
        wait_until_blocked(gateways, dialler, NUMBERS[AFTER])
        time.sleep(0.3)
        answers = traffic.stop()

        assert len(answers) > 50 and all(status == 200 for _, status, _ in answers), [
            a for a in answers if a[1] != 200
        ][:3]
        barred = [body for _, _, body in answers[::3]]
        assert all(body["decision"] == "block" and body["hit_id"] for body in barred)
        with redis_client(cluster.url, socket_timeout=5, decode_responses=True) as store:
            assert store.hexists(Keys().entries, BEFORE) and store.hexists(Keys().entries, AFTER)
            # the promoted replica runs the example file too
            assert store.config_get("min-replicas-to-write") == {"min-replicas-to-write": "1"}
            assert store.config_get("appendfsync") == {"appendfsync": "always"}
        wait_until_blocked(gateways, dialler, NUMBERS[BEFORE])  # still enforced on both

        hit_ids = {body["hit_id"] for body in barred}
        deadline = time.monotonic() + 20
        while not hit_ids <= set(listed := all_hits(a, BEFORE)):
            assert time.monotonic() < deadline, (len(hit_ids - set(listed)), len(hit_ids))
            time.sleep(0.1)
        assert len(set(listed)) == len(listed)  # none twice
    finally:
        for gateway in gateways:
            gateway.stop()


class Commands:
    """`nocontact` commands run in this process (as `main` runs them for an operator), on the
    store NOCONTACT_REDIS_URL names; each returns (exit status, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = main(list(args))
        out, err = self.capsys.readouterr()
        return status, out, err


def on_a_replica(cluster: SentinelCluster, key: str, field: str) -> bool:
    """Whether a replica holds `field` of hash `key`, asked of each replica directly (not through
    the sentinels, which would name the primary)."""
    found = False
    for node in cluster.replicas:
        with node.client() as replica:
            found = found or bool(replica.hexists(key, field))
    return found


def test_commands_on_the_sentinel_url_return_once_a_replica_holds_their_writes(
    tmp_path: Path,
    cluster: SentinelCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`nocontact init`, `token` and `case` run on a redis+sentinel:// URL (through the sentinels,
    to whichever node is the primary), and say a write is done only once WAIT saw it on a replica
    (one, the default under a Sentinel URL): with the replicas stopped, the revocation is refused."""
    monkeypatch.setenv("NOCONTACT_REDIS_URL", cluster.url)
    nocontact, keys = Commands(capsys), Keys()
    status, _, err = nocontact("init")
    assert status == 0, err
    status, out, err = nocontact("token", "create", "--role", "dialler", "--establishment", "HLI")
    assert status == 0, err
    token_id = out.split()[0].removeprefix("id=")
    assert on_a_replica(cluster, keys.tokens, token_hash(out.split()[-1]))

    request = tmp_path / "request.json"
    request.write_text(json.dumps(request_data(scope=["HLI"])))
    status, out, err = nocontact("case", "--as", "cw-anna", "new", str(request))
    assert status == 0, err
    case_id = out.split()[0]
    assert nocontact("case", "--as", "cw-anna", "send", case_id)[0] == 0
    status, out, err = nocontact("case", "--as", "cw-anna", "authorise", case_id)
    assert out == f"{case_id} authorise: now authorised\n", err
    assert on_a_replica(cluster, keys.entries, case_id)  # the block, the moment it is reported done

    impatient = tmp_path / "impatient.toml"
    impatient.write_text("[sync]\nwrite_wait_ms = 300\n")
    with frozen(cluster.replicas[0]), frozen(cluster.replicas[1]):
        status, out, err = nocontact("token", "--config", str(impatient), "revoke", token_id)
    assert status == 2 and "reached 0 of 1 replica(s) needed" in err and "revoked" not in out, err
    status, out, _ = nocontact("token", "list")
    assert status == 0 and token_id not in out  # in the primary: look before retrying
