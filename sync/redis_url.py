"""Where the store is, and the one way this project makes a Redis client for it.

``NOCONTACT_REDIS_URL`` (or ``[sync] redis_url``) is a plain Redis URL (``redis://``, ``rediss://``,
``unix://``) or a Sentinel URL, through redis-py's Sentinel support:

    redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB][?sentinel_password=P]

USER and PASSWORD are for the data nodes; ``sentinel_password`` (rarely needed) for the sentinels.
A Sentinel client asks the sentinels for the service's primary when it connects, and again after
a connection error or a READONLY answer (the old primary, demoted), so it follows a failover. A
replica client (``replica=True``) reads from the replicas in turn, and from the primary when none
answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel

from matcher.errors import ConfigError

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")
_SERVICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class StoreAddress:
    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    @property
    def sentinel(self) -> bool:
        return self.service is not None

    @classmethod
    def parse(cls, url: str, key: str = "sync.redis_url") -> StoreAddress:
        """A ConfigError naming `key` (and never echoing a password) when `url` cannot be used."""
        parts = urlsplit(url)
        shown = redact(url)
        if parts.scheme in PLAIN_SCHEMES:
            return cls(url)
        if parts.scheme != SENTINEL_SCHEME:
            expected = (
                f"Expected a {', '.join(PLAIN_SCHEMES)} or {SENTINEL_SCHEME} URL, "
                "such as redis://10.0.0.11:6379/0."
            )
            raise ConfigError(key, shown, expected)
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":")
        sentinels = []
        for item in hosts.split(","):
            found = _HOST_PORT.match(item)
            if found is None or not 0 < int(found["port"]) < 65536:
                raise ConfigError(key, shown, f"Sentinel {item!r} is not HOST:PORT.")
            sentinels.append((found["v6"] or found["host"], int(found["port"])))
        path = [unquote(p) for p in parts.path.split("/")[1:]]
        if not path or not _SERVICE.match(path[0]) or len(path) > 2:
            raise ConfigError(key, shown, "Expected /SERVICE or /SERVICE/DB after the sentinels.")
        db = path[1] if len(path) == 2 else "0"
        if not db.isdigit():
            raise ConfigError(key, shown, "The database after the service is a number.")
        query = parse_qs(parts.query)
        unknown = set(query) - {"sentinel_password"}
        if unknown:
            raise ConfigError(key, shown, f"Unknown parameter {sorted(unknown)[0]!r}.")
        return cls(
            url,
            tuple(sentinels),
            path[0],
            int(db),
            unquote(username) or None,
            unquote(password) or None,
            query["sentinel_password"][0] if "sentinel_password" in query else None,
        )

    def describe(self) -> str:
        """For logs and the startup line: where, without any password."""
        if not self.sentinel:
            return redact(self.url)
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"Sentinel service {self.service!r} (db {self.db}) via {hosts}"


def unreachable(url: str, exc: BaseException) -> str:
    """One line for a store that does not answer, naming the fix."""
    return (
        f"cannot reach Redis at {StoreAddress.parse(url).describe()} ({type(exc).__name__}): "
        "start it, or correct NOCONTACT_REDIS_URL / [sync] redis_url"
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and "sentinel_password" not in parts.query:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:***@{hosts}" if userinfo else hosts
    query = re.sub(r"sentinel_password=[^&]*", "sentinel_password=***", parts.query)
    return parts._replace(netloc=netloc, query=query).geturl()


def _sentinel_options(address: StoreAddress, options: dict[str, Any]) -> dict[str, Any]:
    # The sentinels answer "where is the primary" with the data nodes' timeouts, never unbounded.
    sentinel_kwargs: dict[str, Any] = {
        k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options
    }
    if address.sentinel_password is not None:
        sentinel_kwargs["password"] = address.sentinel_password
    return sentinel_kwargs


def _node_options(address: StoreAddress, options: dict[str, Any]) -> dict[str, Any]:
    node = dict(options, db=address.db)
    if address.username is not None:
        node["username"] = address.username
    if address.password is not None:
        node["password"] = address.password
    return node


def redis_client(url: str | StoreAddress, *, replica: bool = False, **options: Any) -> Any:
    """A blocking client for the store (`options` as redis.Redis takes them). `replica` reads from
    a replica under Sentinel; a plain URL has no replicas and ignores it."""
    address = url if isinstance(url, StoreAddress) else StoreAddress.parse(url)
    if not address.sentinel:
        return redis.Redis.from_url(address.url, **options)
    assert address.service is not None
    manager = redis.sentinel.Sentinel(address.sentinels, sentinel_kwargs=_sentinel_options(address, options))
    node = _node_options(address, options)
    if replica:
        return manager.slave_for(address.service, **node)
    return manager.master_for(address.service, **node)


def async_redis_client(url: str | StoreAddress, *, replica: bool = False, **options: Any) -> Any:
    """As `redis_client`, for asyncio."""
    address = url if isinstance(url, StoreAddress) else StoreAddress.parse(url)
    if not address.sentinel:
        return aioredis.Redis.from_url(address.url, **options)
    assert address.service is not None
    manager = aiosentinel.Sentinel(address.sentinels, sentinel_kwargs=_sentinel_options(address, options))
    node = _node_options(address, options)
    if replica:
        return manager.slave_for(address.service, **node)
    return manager.master_for(address.service, **node)


def sentinel_clients(address: StoreAddress, **options: Any) -> list[Any]:
    """One asyncio client per sentinel of a Sentinel address (`options` as for the data nodes:
    the timeouts, decoding, a client name), for listening to what the sentinels announce."""
    sentinel = _sentinel_options(address, options)
    extra = {k: v for k, v in options.items() if k in ("decode_responses", "client_name")}
    return [aioredis.Redis(host=host, port=port, **sentinel, **extra) for host, port in address.sentinels]
