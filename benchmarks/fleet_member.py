"""One gateway's follower for benchmarks/bench_fleet.py, in its own process: sync.follower.Follower
with production SyncSettings (heartbeat, snapshot file, watchdog), on the loop and with the tuning
of a ``nocontact serve`` worker (gateway.worker: uvloop, the 0.5 ms switch interval, the fixed mmap
threshold), printing one line per swap,
``VERSION MONOTONIC_NS``, on stdout. CLOCK_MONOTONIC is one clock for every process on the host, so
the parent subtracts its own reading from ours.

python -m benchmarks.fleet_member URL GATEWAY_ID DATA_DIR"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from config import load_profile
from gateway.worker import new_event_loop, tune_process
from sync.follower import Follower, FollowerHooks
from sync.settings import SyncSettings
from sync.status import SyncStatus


def report(status: SyncStatus) -> None:
    sys.stdout.write(f"{status.version} {time.monotonic_ns()}\n")
    sys.stdout.flush()


async def follow(url: str, gateway_id: str, data_dir: Path) -> None:
    settings = SyncSettings(redis_url=url, data_dir=data_dir, gateway_id=gateway_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    follower = Follower(settings, load_profile(None), hooks=FollowerHooks(on_swap=report))
    async with follower:
        await stop.wait()


def main() -> int:
    url, gateway_id, data_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    data_dir.mkdir(parents=True, exist_ok=True)
    tune_process()
    loop = new_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(follow(url, gateway_id, data_dir))
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
