"""Who is calling: bearer tokens and client certificates. Only the sha256 of a token is stored
(Redis hash ``Keys.tokens``), with its id, role and optional establishment binding. A client
certificate (mutual TLS, ``serve --tls-client-ca``) is bound the same way, in the same hash, under
``cert:`` and its SHA-256 fingerprint: a PBX that presents it acts as that principal without any
token, and revoking the principal's id ends it like a token. Each gateway process keeps the table
in memory and refreshes it every few seconds, so checking a token costs a hash and a dict lookup;
an unknown token or certificate is looked up in Redis directly (one made a moment ago works at
once)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.tokenfile import read_token_file, write_token_file
from matcher.entries import ESTABLISHMENT_RE
from sync.keys import Keys
from sync.replication import Replication

log = logging.getLogger("nocontact.gateway.auth")

ROLES = ("dialler", "mailroom", "messaging", "contacts", "security", "casework", "admin")
SCREENING_ROLES = frozenset({"dialler", "mailroom", "messaging"})
BOOTSTRAP_ID = "bootstrap"
MAX_HEADERS_KEPT = 4096  # Authorization headers remembered (valid ones only)


CERT_PREFIX = "cert:"  # the tokens hash's field for a certificate: cert:SHA256
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: str
    establishment: str | None = None
    certificate: str | None = None  # the SHA-256 fingerprint it is bound to, for certificate principals

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "role": self.role, "establishment": self.establishment}
        if self.certificate is not None:
            out["certificate"] = self.certificate
        return out


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
    if role == "contacts" and establishment is None:
        return "establishment: a contacts token is bound to the establishment whose lists it writes"
    if establishment is not None:
        if role not in SCREENING_ROLES and role not in ("security", "contacts"):
            return (
                "establishment: only screening, contacts and security tokens may be bound to an establishment"
            )
        if not ESTABLISHMENT_RE.fullmatch(establishment):
            return "establishment: an establishment code is 2-8 capital letters or digits"
    return None


def _record(principal: Principal) -> bytes:
    return orjson.dumps({**principal.to_dict(), "created": int(time.time())})


def _principal(raw: bytes | str) -> Principal | None:
    try:
        return _from_record(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def _from_record(data: Any) -> Principal | None:
    try:
        return Principal(
            str(data["id"]), str(data["role"]), data.get("establishment"), data.get("certificate")
        )
    except (KeyError, TypeError, AttributeError):
        return None


def certificate_field(fingerprint: str) -> str:
    return CERT_PREFIX + fingerprint


# -- operators' side (synchronous: the CLI and serve's bootstrap) ---------------------------------
# Each change returns once `replication`'s replicas hold it (NotReplicated if not): a failover must
# not bring back a revoked credential, nor lose one that was handed out.
def create_token(
    client: Any, keys: Keys, role: str, establishment: str | None = None, *, replication: Replication
) -> tuple[str, Principal]:
    problem = check_grant(role, establishment)
    if problem:
        raise ValueError(problem)
    token = new_token()
    principal = Principal(secrets.token_hex(6), role, establishment)
    client.hset(keys.tokens, token_hash(token), _record(principal))
    replication.confirm(client)
    return token, principal


def bind_certificate(
    client: Any,
    keys: Keys,
    fingerprint: str,
    role: str,
    establishment: str | None = None,
    *,
    replication: Replication,
) -> Principal:
    """A principal for whoever presents the certificate with this SHA-256 fingerprint (signed by
    the gateway's client CA: the TLS handshake checks that). One principal per certificate."""
    problem = check_grant(role, establishment)
    if problem:
        raise ValueError(problem)
    if not FINGERPRINT_RE.fullmatch(fingerprint):
        raise ValueError("certificate: a SHA-256 fingerprint is 64 lower-case hex digits")
    principal = Principal(secrets.token_hex(6), role, establishment, fingerprint)
    if not client.hsetnx(keys.tokens, certificate_field(fingerprint), _record(principal)):
        raise ValueError("certificate: already bound; revoke its principal first")
    replication.confirm(client)
    return principal


def list_tokens(client: Any, keys: Keys) -> list[Principal]:
    found = [_principal(raw) for raw in client.hgetall(keys.tokens).values()]
    return sorted((p for p in found if p is not None), key=lambda p: (p.role, p.id))


TOKEN_ID_RE = re.compile(r"[0-9a-f]{12}")  # secrets.token_hex(6)
TOKEN_CHANGES_KEPT = 10_000  # revocations kept in the stream (approximately)


def revoke_token(client: Any, keys: Keys, token_id: str, *, replication: Replication) -> bool:
    """Remove the token (or certificate binding) with this id, and say so on the token-change
    stream in the same transaction: every gateway reading it drops the token at once
    (``TokenCache``), not at its next table refresh."""
    for digest, raw in client.hgetall(keys.tokens).items():
        principal = _principal(raw)
        if principal is not None and principal.id == token_id:
            with client.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.tokens, digest)
                pipe.xadd(
                    keys.token_changes,
                    {"op": "revoke", "field": digest},
                    maxlen=TOKEN_CHANGES_KEPT,
                    approximate=True,
                )
                pipe.execute()
            replication.confirm(client)
            return True
    return False


# Seconds between the revocation watcher's tries to read on after its connection failed.
WATCH_RETRY_S = 0.5


# -- the gateway's side --------------------------------------------------------------------------
class TokenCache:
    """The token table in memory, plus the principals of Authorization headers seen (so a known
    header costs one dict lookup, no hashing). Only successful lookups are remembered, and the
    headers are forgotten whenever the table is replaced: a revoked token stops working as soon as
    the table no longer holds it. With `cache_file`, the table is kept there too (``gateway.tokenfile``)
    whenever a reload changes it, and read from there when Redis cannot be reached at start."""

    def __init__(
        self,
        client: Any,
        keys: Keys,
        *,
        admin_token: str | None = None,
        refresh: float = 2.0,
        cache_file: Path | None = None,
        block_s: float = 1.0,
        replication: Replication | None = None,
    ) -> None:
        self.client = client
        self.replication = replication or Replication(keys=keys)  # tokens `create` hands out
        self.block_s = block_s  # XREAD BLOCK of the revocation watcher (under the socket timeout)
        self.watch_errors = 0  # the revocation watcher's lost connections
        self.keys = keys
        self.refresh = refresh
        self.cache_file = cache_file
        self._cached: dict[str, dict[str, Any]] | None = None  # what the cache file holds
        self._static: dict[str, Principal] = {}
        if admin_token:
            self._static[token_hash(admin_token)] = Principal(BOOTSTRAP_ID, "admin")
        self._tokens: dict[str, Principal] = {}
        # Authorization header -> principal (``known``); the screening handlers read it directly, a
        # dict lookup without a method call. A new dict on every table reload: look it up each time.
        self.headers: dict[str, Principal] = {}
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.revoked = 0  # revocations read from the token-change stream (tests, metrics)
        self._since: Any = None  # the token-change stream's id the watcher reads after

    def known(self, header: str) -> Principal | None:
        """The principal of an Authorization header that was looked up successfully since the
        table was last replaced, or None (then use ``bearer`` and ``lookup``)."""
        return self.headers.get(header)

    async def lookup(self, token: str, header: str | None = None) -> Principal | None:
        """The principal of a token; `header` (the Authorization header it came from) is
        remembered for ``known`` when the token is valid."""
        table = self._tokens
        found = await self._entry(token_hash(token))
        if found is not None and header is not None and table is self._tokens:  # not replaced meanwhile
            if len(self.headers) >= MAX_HEADERS_KEPT:
                self.headers.clear()
            self.headers[header] = found
        return found

    async def by_certificate(self, fingerprint: str) -> Principal | None:
        """The principal bound to a client certificate's fingerprint, or None."""
        return await self._entry(certificate_field(fingerprint))

    async def _entry(self, field: str) -> Principal | None:
        """The table's principal under `field` (a token's digest, or cert:FINGERPRINT); one the
        table does not hold yet is read from Redis and kept, unless the table was replaced
        meanwhile (a reload that may have dropped it)."""
        found = self._static.get(field) or self._tokens.get(field)
        if found is not None:
            return found
        table = self._tokens
        try:
            raw = await self.client.hget(self.keys.tokens, field)
        except (RedisError, OSError) as exc:
            raise AuthUnavailable(str(type(exc).__name__)) from None
        found = None if raw is None else _principal(raw)
        if found is not None and table is self._tokens:
            table[field] = found
        return found

    async def create(self, role: str, establishment: str | None) -> tuple[str, Principal]:
        token = new_token()
        principal = Principal(secrets.token_hex(6), role, establishment)
        await self.client.hset(self.keys.tokens, token_hash(token), _record(principal))
        await self.replication.confirm_async(self.client)
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
        await self._keep(fresh)

    async def _keep(self, table: dict[str, Principal]) -> None:
        """Write `table` to the cache file when it differs from what the file holds."""
        records = {field: principal.to_dict() for field, principal in table.items()}
        if self.cache_file is None or records == self._cached:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, write_token_file, self.cache_file, records)
        except OSError as exc:
            log.warning("auth: token cache file not written (%s)", type(exc).__name__)
            return
        self._cached = records

    def _load_cache_file(self) -> None:
        if self.cache_file is None:
            return
        records = read_token_file(self.cache_file)
        if records is None:
            log.warning("auth: Redis unreachable and no token cache file: only the admin token works")
            return
        table = {field: p for field, raw in records.items() if (p := _from_record(raw)) is not None}
        self._tokens, self.headers, self._cached = table, {}, records
        log.warning("auth: Redis unreachable; %d tokens from the token cache file meanwhile", len(table))

    def forget(self, field: str) -> None:
        """Drop one token (by its table field) at once: a new table without it and no remembered
        headers, so that a lookup still in flight cannot put it back (``_entry``)."""
        field = field.decode() if isinstance(field, bytes) else field
        self._tokens = {k: p for k, p in self._tokens.items() if k != field}
        self.headers = {}

    async def _watch_revocations(self) -> None:
        """Read the token-change stream as it grows (XREAD BLOCK): a token revoked anywhere stops
        working here within a round trip. From the stream's end at start (the table read at start
        already lacks what was revoked before); after a lost connection, on from the last change
        read, so a revocation made meanwhile arrives as soon as Redis answers again (one trimmed
        away meanwhile, or lost in a failover, waits for the next table refresh)."""
        last: Any = self._since
        block_ms = max(1, min(1000, int(self.block_s * 1000)))
        while True:
            try:
                if last is None:  # from the stream's end: the table read at start lacks the rest
                    newest = await self.client.xrevrange(self.keys.token_changes, count=1)
                    last = newest[0][0] if newest else "0-0"
                replies = await self.client.xread({self.keys.token_changes: last}, block=block_ms, count=100)
            except (RedisError, OSError):
                self.watch_errors += 1
                await asyncio.sleep(min(self.refresh, WATCH_RETRY_S))
                continue
            for _stream, messages in replies or []:
                for message_id, fields in messages:
                    last = message_id
                    field = fields.get(b"field", fields.get("field"))
                    if field is not None:
                        self.forget(field)
                        self.revoked += 1

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            # On failure keep serving the cached table; revocations wait for Redis.
            with contextlib.suppress(RedisError, OSError):
                await self.reload()

    async def start(self) -> None:
        """The table from Redis, else from the cache file. A store that cannot be reached (refused,
        or hung: a socket timeout) is not asked twice in a row: the file at once, and the refresh
        loop reloads within `refresh` seconds (a restart facing a hung store waited out two)."""
        try:  # the stream's end before the table is read: no revocation falls between the two
            newest = await self.client.xrevrange(self.keys.token_changes, count=1)
            self._since = newest[0][0] if newest else "0-0"
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._since = None
            self._load_cache_file()
        except RedisError:
            self._since = None
            await self._reload_or_cache_file()
        else:
            await self._reload_or_cache_file()
        self._task = asyncio.create_task(self._refresh_loop(), name="nocontact-tokens")
        self._watch = asyncio.create_task(self._watch_revocations(), name="nocontact-token-changes")

    async def _reload_or_cache_file(self) -> None:
        try:
            await self.reload()
        except (RedisError, OSError):
            self._load_cache_file()

    async def stop(self) -> None:
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def bearer(header: str | None) -> str | None:
    """The token of an Authorization header: ``Bearer TOKEN``, or ``Basic`` credentials whose
    password is the token (any user name), for clients that can only send Basic (Kamailio's
    http_client keeps connections open only for named connections, whose credentials are Basic)."""
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "basic":
        try:
            credentials = base64.b64decode(credentials, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    elif scheme != "bearer":
        return None
    try:  # header bytes that are not UTF-8 arrive surrogate-escaped: no token of ours has them
        credentials.encode()
    except UnicodeEncodeError:
        return None
    return credentials or None
