"""Reading a cut with the cut client: a reply of many megabytes arrives whole and in order while
the client's read buffer stays small (it lets go of what it has parsed)."""

from __future__ import annotations

import redis

from sync import client as sync_client
from sync.cut import read_cut
from sync.keys import Keys
from sync.settings import SyncSettings


def test_a_cut_bigger_than_the_read_buffer_arrives_whole(redis_url: str) -> None:
    keys = Keys("cuttest:")
    writer = redis.Redis.from_url(redis_url, decode_responses=True)
    # 6,000 entries of ~1 kB (unique values, so a misplaced byte would show): ~6 MB in one reply
    expected = {f"UPC-{i:06d}": f'{{"n": {i}, "pad": "{"x" * 1000}", "end": {i}}}' for i in range(6000)}
    for start in range(0, len(expected), 1000):
        writer.hset(keys.entries, mapping=dict(list(expected.items())[start : start + 1000]))
    writer.hset(keys.meta, mapping={"epoch": "e1", "version": "7"})
    writer.xadd(keys.changes, {"v": "7"})

    seen: list[int] = []
    grow = sync_client._CompactingBuffer._read_from_socket

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(self._buffer.getbuffer()))
        return grow(self, *args, **kwargs)

    sync_client._CompactingBuffer._read_from_socket = spy  # type: ignore[method-assign]
    try:
        cut_client = sync_client.cut_client(redis_url, SyncSettings(socket_timeout=30))
        cut = read_cut(cut_client, keys)
    finally:
        sync_client._CompactingBuffer._read_from_socket = grow  # type: ignore[method-assign]
    assert dict(cut.entries.items()) == expected
    assert cut.epoch == "e1" and cut.version == 7
    assert seen and max(seen) < 3 * sync_client.COMPACT_AT  # never the whole ~6 MB reply
    # the connection is still good for the next cut
    writer.hset(keys.entries, "UPC-999999", "{}")
    assert read_cut(cut_client, keys).entries["UPC-999999"] == "{}"
