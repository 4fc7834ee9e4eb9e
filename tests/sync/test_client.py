"""sync.client: the clients a serving process makes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# In a fresh interpreter: import sync.client, then count importlib.metadata lookups while an
# asyncio client makes its first connections and talks to the server.
_PROBE = textwrap.dedent(
    """
    import asyncio, sys
    from importlib import metadata
    import sync.client
    from sync.settings import SyncSettings
    lookups = []
    real = metadata.version
    metadata.version = lambda name: lookups.append(name) or real(name)
    async def main():
        client = sync.client.async_client(sys.argv[1], SyncSettings(redis_url=sys.argv[1]))
        try:
            assert await client.ping()
        finally:
            await client.aclose()
    asyncio.run(main())
    print(len(lookups))
    """
)


def test_a_first_connection_does_not_look_up_redis_py_s_version_on_the_loop(redis_url: str) -> None:
    """redis-py looks its version up (a scan of sys.path) at its first connection: on the event
    loop for an asyncio client. sync.client has it looked up at import."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, redis_url], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"
