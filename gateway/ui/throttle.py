"""Sign-in limits and the password hashing's own threads.

Every sign-in attempt is counted, atomically and before its password is checked, against two
counters: the user name's and the client address's. Past each counter's free attempts, every
further one must wait a back-off that doubles (1 s, 2 s, 4 s... up to the counter's cap); an
attempt made before its wait is over is refused without touching the password at all, so a burst
of parallel guesses gets no further than the free ones. A success clears the user name's counter
and takes its attempt off the address's. A user name is never locked for long by someone else's
guesses: its cap is minutes, and the guesser's own address backs off further.

argon2 (tens of milliseconds of CPU a check) runs on ``PASSWORD_THREADS`` threads of its own,
with at most ``PASSWORD_WAITING`` checks queued: a flood of sign-ins is answered 503 beyond that,
and never takes the default executor's threads that block writes and case actions use."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sync.keys import Keys

T = TypeVar("T")

PASSWORD_THREADS = 2
PASSWORD_WAITING = 16
IDLE_RESET_S = 3600  # a counter with no attempt for this long starts again from nothing


@dataclass(frozen=True, slots=True)
class Limit:
    free: int  # attempts without a wait
    base_ms: int  # the first wait; each further attempt doubles it
    cap_ms: int  # the longest wait


USER_LIMIT = Limit(free=5, base_ms=1000, cap_ms=5 * 60 * 1000)
ADDRESS_LIMIT = Limit(free=20, base_ms=1000, cap_ms=15 * 60 * 1000)

# KEYS: the counters (hashes). ARGV: now (ms), idle reset (s), then free, base, cap per key.
# Returns 0 (the attempt is counted: check the password) or the ms still to wait (not counted).
_ATTEMPT_LUA = """
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local free_at = tonumber(redis.call('HGET', key, 'until') or '0')
  if free_at - now > wait then wait = free_at - now end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[3 * i])
  local base = tonumber(ARGV[3 * i + 1])
  local cap = tonumber(ARGV[3 * i + 2])
  local n = redis.call('HINCRBY', key, 'tries', 1)
  if n > free then
    redis.call('HSET', key, 'until', now + math.min(cap, base * 2 ^ math.min(n - free - 1, 30)))
  end
  redis.call('EXPIRE', key, idle)
end
return 0
"""

# KEYS: the user name's counter, the address's. The attempt succeeded.
_SUCCESS_LUA = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('HGET', KEYS[2], 'tries') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'tries', -1)
end
return 0
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SignInLimits:
    def __init__(self, client: Any, keys: Keys, clock: Callable[[], int] = now_ms) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self._attempt = client.register_script(_ATTEMPT_LUA)
        self._success = client.register_script(_SUCCESS_LUA)

    def _keys(self, username: str, address: str) -> list[str]:
        return [self.keys.ui_signin("user", username), self.keys.ui_signin("addr", address)]

    async def attempt(self, username: str, address: str) -> float:
        """0.0: the attempt is counted, go on and check the password; else the seconds to wait."""
        args: list[int] = [self.clock(), IDLE_RESET_S]
        for limit in (USER_LIMIT, ADDRESS_LIMIT):
            args += [limit.free, limit.base_ms, limit.cap_ms]
        wait = int(await self._attempt(keys=self._keys(username, address), args=args))
        return wait / 1000

    async def succeeded(self, username: str, address: str) -> None:
        await self._success(keys=self._keys(username, address), args=[])


class PasswordWorkBusy(Exception):
    """More password checks are waiting than ``PASSWORD_WAITING``: answered 503, not queued."""


class PasswordWork:
    """argon2 on its own few threads, with a bounded queue (one per process)."""

    def __init__(self, threads: int = PASSWORD_THREADS, waiting: int = PASSWORD_WAITING) -> None:
        self.threads = threads
        self.slots = threads + waiting
        self.busy = 0
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.busy >= self.slots:
            raise PasswordWorkBusy()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nocontact-argon2")
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))
        finally:
            self.busy -= 1


PASSWORDS = PasswordWork()
