"""Resyncs build aside, off the event loop: a republish that changes a few entries of a list with
postal addresses goes through the delta path, and the loop keeps ticking while it does. The lag
is printed (``-s``), not asserted tightly: timing belongs to benchmarks/, not to this suite."""

from __future__ import annotations

from sync.offloop.looplag import LoopLagMonitor
from tests.support.sync_data import FollowerFactory, address_entry, sample


async def test_republish_with_few_changes_is_applied_as_a_delta_while_the_loop_runs(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    writer = make_writer(redis_url)
    listed = [address_entry(i) for i in range(3000)]
    writer.republish(listed)
    follower = make_follower(redis_url, initial_wait=60)
    async with LoopLagMonitor() as cold:
        await follower.start()
    assert follower.status.entries == 3000

    changed = [*listed[5:], *(address_entry(10_000 + i) for i in range(5))]
    result = writer.republish(changed)
    async with LoopLagMonitor() as resync:
        status = await follower.wait_for(lambda s: s.epoch == result.epoch, 60)
    assert status.entries == 3000
    registry = follower.metrics.registry
    assert sample(registry, "nocontact_sync_swaps_total", kind="full") == 1  # the cold start only
    assert sample(registry, "nocontact_sync_swaps_total", kind="delta") == 1
    index = follower.index
    assert index.entry(listed[0].reference) is None and index.entry("ADDR-010004") is not None
    assert index.screen_call("HLI", "Z9999ZZ", "07700 910004").decision == "block"
    assert index.screen_call("HLI", "Z9999ZZ", "07700 900000").decision == "allow"
    assert resync.samples > 0
    print(f"\nloop lag: cold build {cold.max_lag * 1000:.1f} ms, delta resync {resync.max_lag * 1000:.1f} ms")
