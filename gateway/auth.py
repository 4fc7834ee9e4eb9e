"""Bearer tokens: only the sha256 of a token is stored (Redis hash ``Keys.tokens``), with its id,
role and optional establishment binding. Each gateway process keeps the table in memory and
refreshes it every few seconds, so checking a token costs a hash and a dict lookup; an unknown
token is looked up in Redis directly (a token created a moment ago works at once)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from matcher.entries import ESTABLISHMENT_RE
from sync.keys import Keys

log = logging.getLogger("nocontact.gateway.auth")

ROLES = ("dialler", "mailroom", "messaging", "security", "casework", "admin")
SCREENING_ROLES = frozenset({"dialler", "mailroom", "messaging"})
BOOTSTRAP_ID = "bootstrap"
MAX_HEADERS_KEPT = 4096  # Authorization headers remembered (valid ones only)


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: str
    establishment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "establishment": self.establishment}


class AuthUnavailable(Exception):
    """The token store cannot be reached and the token is not in the local cache."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "nc_" + secrets.token_urlsafe(32)


def check_grant(role: str, establishment: str | None) -> str | None:
    """An error message for a bad role/establishment pair, or None."""
    if role not in ROLES:
        return f"role: one of {list(ROLES)}"
    if establishment is not None:
        if role not in SCREENING_ROLES and role != "security":
            return "establishment: only screening and security tokens may be bound to an establishment"
        if not ESTABLISHMENT_RE.fullmatch(establishment):
            return "establishment: an establishment code is 2-8 capital letters or digits"
    return None


def _record(principal: Principal) -> bytes:
    return orjson.dumps({**principal.to_dict(), "created": int(time.time())})


def _principal(raw: bytes | str) -> Principal | None:
    try:
        data = orjson.loads(raw)
        return Principal(str(data["id"]), str(data["role"]), data.get("establishment"))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


# -- operators' side (synchronous: the CLI and serve's bootstrap) ---------------------------------
def create_token(
    client: Any, keys: Keys, role: str, establishment: str | None = None
) -> tuple[str, Principal]:
    problem = check_grant(role, establishment)
    if problem:
        raise ValueError(problem)
    token = new_token()
    principal = Principal(secrets.token_hex(6), role, establishment)
    client.hset(keys.tokens, token_hash(token), _record(principal))
    return token, principal


def list_tokens(client: Any, keys: Keys) -> list[Principal]:
    found = [_principal(raw) for raw in client.hgetall(keys.tokens).values()]
    return sorted((p for p in found if p is not None), key=lambda p: (p.role, p.id))


def revoke_token(client: Any, keys: Keys, token_id: str) -> bool:
    for digest, raw in client.hgetall(keys.tokens).items():
        principal = _principal(raw)
        if principal is not None and principal.id == token_id:
            client.hdel(keys.tokens, digest)
            return True
    return False


# -- the gateway's side --------------------------------------------------------------------------
class TokenCache:
    """The token table in memory, plus the principals of Authorization headers seen (so a known
    header costs one dict lookup, no hashing). Only successful lookups are remembered, and the
    headers are forgotten whenever the table is replaced: a revoked token stops working as soon as
    the table no longer holds it."""

    def __init__(
        self, client: Any, keys: Keys, *, admin_token: str | None = None, refresh: float = 2.0
    ) -> None:
        self.client = client
        self.keys = keys
        self.refresh = refresh
        self._static: dict[str, Principal] = {}
        if admin_token:
            self._static[token_hash(admin_token)] = Principal(BOOTSTRAP_ID, "admin")
        self._tokens: dict[str, Principal] = {}
        # Authorization header -> principal (``known``); the screening handlers read it directly, a
        # dict lookup without a method call. A new dict on every table reload: look it up each time.
        self.headers: dict[str, Principal] = {}
        self._task: asyncio.Task[None] | None = None

    def known(self, header: str) -> Principal | None:
        """The principal of an Authorization header that was looked up successfully since the
        table was last replaced, or None (then use ``bearer`` and ``lookup``)."""
        return self.headers.get(header)

    async def lookup(self, token: str, header: str | None = None) -> Principal | None:
        """The principal of a token; `header` (the Authorization header it came from) is
        remembered for ``known`` when the token is valid."""
        digest = token_hash(token)
        found = self._static.get(digest) or self._tokens.get(digest)
        if found is None:
            tokens = self._tokens
            try:
                raw = await self.client.hget(self.keys.tokens, digest)
            except (RedisError, OSError) as exc:
                raise AuthUnavailable(str(type(exc).__name__)) from None
            if raw is None:
                return None
            found = _principal(raw)
            if found is None:
                return None
            if tokens is not self._tokens:  # replaced while we waited: remember nothing
                return found
            tokens[digest] = found
        if header is not None:
            if len(self.headers) >= MAX_HEADERS_KEPT:
                self.headers.clear()
            self.headers[header] = found
        return found

    async def create(self, role: str, establishment: str | None) -> tuple[str, Principal]:
        token = new_token()
        principal = Principal(secrets.token_hex(6), role, establishment)
        await self.client.hset(self.keys.tokens, token_hash(token), _record(principal))
        self._tokens[token_hash(token)] = principal
        return token, principal

    async def reload(self) -> None:
        table = await self.client.hgetall(self.keys.tokens)
        fresh: dict[str, Principal] = {}
        for digest, raw in table.items():
            principal = _principal(raw)
            if principal is not None:
                fresh[digest.decode() if isinstance(digest, bytes) else digest] = principal
        self._tokens = fresh
        self.headers = {}

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            # On failure keep serving the cached table; revocations wait for Redis.
            with contextlib.suppress(RedisError, OSError):
                await self.reload()

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.reload()
        self._task = asyncio.create_task(self._refresh_loop(), name="nocontact-tokens")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if not hmac.compare_digest(scheme.lower().encode(), b"bearer") or not token.strip():
        return None
    return token.strip()
