"""The relay page when a hit has arrived since it was last viewed (the hit index keeps the relay
analysis until a hit is indexed: bench_hitpages' 30 GETs of one page, with no hit arriving, time
the view kept). A real `nocontact serve` (embedded Redis) with bench_hitpages' 100k seeded hits;
ROUNDS times: one more seeded hit written, a moment for the follower to index it, GET /ui/relay
(the analysis computed afresh), then GET /ui/relay again (kept). Median and max of each. Not a
pytest benchmark: a probe whose figures go in benchmarks/README.md.

Run: flock /tmp/nocontact-bench.lock .venv/bin/python -m benchmarks.relay_cold_probe
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import redis

from benchmarks.hitpages_client import Client
from gateway.ui.users import add_user
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from sync.replication import Replication
from tests.support.gateway_process import Gateway, request
from tests.support.hit_seed import seeded_hits, write_hits
from tests.support.processes import free_port
from tests.support.ui_site import PASSWORD, wait_for

HITS = 100_000  # as bench_hitpages (NOCONTACT_BENCH_HITS there)
ROUNDS = 20


def _get(client: Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    status, body = client.get(path)
    assert status == 200, status
    return time.perf_counter() - started, len(body)


def main() -> None:
    gw = Gateway(Path(tempfile.mkdtemp(prefix="relaycold")) / "data", free_port())
    gw.start()
    try:
        with redis.Redis(unix_socket_path=str(EmbeddedRedis(gw.data_dir).socket_path)) as store:
            add_user(store, Keys(), "root", "admin", None, PASSWORD, replication=Replication())
            hits = seeded_hits(HITS + ROUNDS)
            write_hits(store, Keys(), hits[:HITS])
            total = lambda: request(gw.port, "GET", "/v1/hits?limit=1")[1].get("total")  # noqa: E731
            wait_for(lambda: total() == HITS, "indexed", 300)
            client = Client(gw.port)
            client.sign_in("root")
            fresh, kept, size = [], [], 0
            for i in range(ROUNDS):
                write_hits(store, Keys(), [hits[HITS + i]])  # a hit arrives
                wait_for(lambda i=i: total() == HITS + i + 1, "indexed", 30)
                took, size = _get(client, "/ui/relay")
                fresh.append(took)
                kept.append(_get(client, "/ui/relay")[0])
            client.close()
        for name, times in (("a hit indexed since the last view", fresh), ("viewed again", kept)):
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            print(f"relay page, {name}: median {median:.0f} ms, max {worst:.0f} ms ({size} bytes)")
    finally:
        gw.close()


if __name__ == "__main__":
    main()
