"""Redis clients as sync uses them: explicit socket timeouts, no hidden retries (the follower
reconnects itself with jittered backoff; a writer's caller sees the error). Made through
sync.redis_url, so a Sentinel URL gives clients that follow the primary (or read a replica)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis._parsers import _RESP2Parser
from redis._parsers.socket import SocketBuffer
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.utils import SENTINEL, get_lib_version

from sync.offloop.giveway import GiveWay
from sync.redis_url import async_redis_client, redis_client
from sync.settings import SyncSettings

log = logging.getLogger("nocontact.sync")

# redis-py looks its own version up for CLIENT SETINFO (an importlib.metadata scan of sys.path) at
# its first connection: done here, at import, so that scan never runs on the follower's event loop.
get_lib_version()

# The clients are typed Any on purpose: redis>=5 ships its own (non-generic) annotations, while the
# old types-redis stubs, when installed, make Redis generic; one spelling cannot satisfy both.
AsyncRedis = Any
SyncRedis = Any


def _options(settings: SyncSettings, name: str) -> dict[str, Any]:
    return {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "decode_responses": True,
        "client_name": name,
    }


def async_client(
    url: str, settings: SyncSettings, *, name: str = "nocontact-sync", replica: bool = False
) -> AsyncRedis:
    return async_redis_client(
        url, replica=replica, retry=AsyncRetry(NoBackoff(), 0), **_options(settings, name)
    )


def sync_client(url: str, settings: SyncSettings, *, name: str = "nocontact-writer") -> SyncRedis:
    return redis_client(url, retry=Retry(NoBackoff(), 0), **_options(settings, name))


def cut_client(url: str, settings: SyncSettings, *, name: str = "nocontact-cut") -> SyncRedis:
    """For ``sync.cut.read_cut`` in a worker thread: RESP2, with HGETALL's reply left a flat list.
    Made into one dict at once (redis-py's callback, or its RESP3 parser as the map arrives), a
    million entries resize a single dict in one long GIL-holding step, stalling the loop.
    Its parser keeps a small read buffer (see _CompactingBuffer)."""
    client = redis_client(
        url, retry=Retry(NoBackoff(), 0), protocol=2, parser_class=_CutParser, **_options(settings, name)
    )
    client.set_response_callback("HGETALL", _as_sent)
    return client


def _as_sent(response: Any, **_options: Any) -> Any:
    return response


COMPACT_AT = 1 << 20  # bytes already parsed that the cut client's read buffer lets go of


class _CompactingBuffer(SocketBuffer):
    """redis-py's SocketBuffer keeps every byte of a reply until the whole reply is parsed: a cut
    of a million entries grows one big BytesIO, and growing it, then truncating it at the end, are
    long GIL-holding calls. This one moves the unparsed rest to the front once COMPACT_AT
    bytes are parsed, so the buffer stays near a megabyte. Positions taken before a compaction
    (the parser's rewind after an error) are then stale: on an error redis-py disconnects the
    connection and drops its buffer, and this client is only used for ``read_cut``.

    Each read lets the GIL go for a ``recv`` that, while the reply streams in, returns at once: the
    event loop then starves (see sync.offloop.giveway), so reads give way."""

    def __init__(self, socket: Any, socket_read_size: int, socket_timeout: float) -> None:
        super().__init__(socket, socket_read_size, socket_timeout)
        self.give_way = GiveWay()

    def _read_from_socket(
        self, length: int | None = None, timeout: Any = SENTINEL, raise_on_timeout: bool | None = True
    ) -> bool:
        self.give_way()
        buf = self._buffer
        if buf.tell() > COMPACT_AT:
            rest = buf.read()
            buf.seek(0)
            buf.truncate()
            buf.write(rest)
            buf.seek(0)
        return bool(super()._read_from_socket(length, timeout, raise_on_timeout))


class _CutParser(_RESP2Parser):
    def on_connect(self, connection: Any) -> None:
        super().on_connect(connection)  # type: ignore[no-untyped-call]
        sock: Any = self._sock
        self._buffer = _CompactingBuffer(sock, self.socket_read_size, connection.socket_timeout)


async def cancel_and_wait(task: asyncio.Task[None], attempts: int = 20) -> None:
    """Cancel and wait. redis-py's asyncio client can swallow a cancellation that lands while it
    sets up a connection (redis/redis-py#2028, #2551), so cancel again until the task is done."""
    for _ in range(attempts):
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=0.25)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.error("sync: task %s ended with %r", task.get_name(), task.exception())
            return
    log.error("sync: task %s did not stop", task.get_name())
