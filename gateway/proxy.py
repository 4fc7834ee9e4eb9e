"""A TLS-terminating proxy in front of the gateway (config/examples/nginx-nocontact.conf), believed
only when the deployment names it (``gateway.trusted_proxies``): from such a peer, the request's
scheme comes from X-Forwarded-Proto and its client address from X-Forwarded-For, so the sign-in
page knows it is reached over HTTPS and the access log names the real client. From any other
peer both headers are ignored: a client cannot claim HTTPS by sending them."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from matcher.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def trusted_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.1, 10.1.2.0/24"`` as networks; a ConfigError naming the setting otherwise."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                "gateway.trusted_proxies", text, f"{item!r} is not an address or a network."
            ) from None
    return tuple(networks)


def is_trusted(address: str | None, networks: tuple[IPNetwork, ...]) -> bool:
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_middleware(networks: tuple[IPNetwork, ...]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_trusted(request.remote, networks):
            proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
            client = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
            if proto not in ("http", "https"):
                proto = ""
            # One clone: a clone of a clone forgets the first one's scheme.
            if proto and client:
                request = request.clone(scheme=proto, remote=client)
            elif proto:
                request = request.clone(scheme=proto)
            elif client:
                request = request.clone(remote=client)
        return await handler(request)

    return forwarded
