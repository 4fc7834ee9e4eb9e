"""Signing in needs HTTPS (the session cookie is __Host- and Secure): over plain HTTP from another
machine the page says so and the form is refused; behind a TLS-terminating proxy the gateway
believes X-Forwarded-Proto only from an address in gateway.trusted_proxies."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from gateway.app import create_app
from gateway.proxy import is_trusted, trusted_networks
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from gateway.ui import sessions
from gateway.ui.users import add_user
from matcher.errors import ConfigError
from sync.keys import Keys
from sync.replication import Replication

PASSWORD = "correct horse battery staple"
REMOTE = {"Host": "nocontact.internal"}  # the browser's address for this service
VIA_PROXY = {**REMOTE, "X-Forwarded-Proto": "https", "X-Forwarded-For": "10.9.8.7"}


async def sign_in(client: Any, headers: dict[str, str]) -> Any:
    page = await client.get("/ui/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    form = {"csrf_token": token.group(1), "username": "sec-hli", "password": PASSWORD}
    cookie = {"Cookie": f"{sessions.SIGNIN_COOKIE}={token.group(1)}"}
    return await client.post("/ui/login", data=form, allow_redirects=False, headers={**headers, **cookie})


@pytest.fixture
def user(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())


async def test_plain_http_from_another_machine_cannot_sign_in(client: Any, user: None) -> None:
    page = await client.get("/ui/login", headers=REMOTE)
    assert "Sign-in needs HTTPS" in await page.text()
    refused = await sign_in(client, REMOTE)
    assert refused.status == 403 and sessions.SESSION_COOKIE not in refused.cookies
    # An untrusted peer claiming HTTPS changes nothing.
    assert "Sign-in needs HTTPS" in await (await client.get("/ui/login", headers=VIA_PROXY)).text()
    # From localhost a browser keeps Secure cookies over plain HTTP: the developer's ./dev run.
    assert "Sign-in needs HTTPS" not in await (await client.get("/ui/login")).text()


async def test_behind_a_trusted_proxy_the_secure_cookie_is_set(
    aiohttp_client: Any, settings: GatewaySettings, source: StaticSource, user: None
) -> None:
    client = await aiohttp_client(create_app(settings.with_(trusted_proxies="127.0.0.1"), source=source))
    assert "Sign-in needs HTTPS" not in await (await client.get("/ui/login", headers=VIA_PROXY)).text()
    signed_in = await sign_in(client, VIA_PROXY)
    assert signed_in.status == 303, await signed_in.text()
    session = signed_in.cookies[sessions.SESSION_COOKIE]
    assert sessions.SESSION_COOKIE.startswith("__Host-") and session["secure"] and session["path"] == "/"
    # The proxy's own plain-HTTP hop, without the header, is still plain HTTP.
    assert "Sign-in needs HTTPS" in await (await client.get("/ui/login", headers=REMOTE)).text()


def test_trusted_proxies_are_addresses_or_networks() -> None:
    networks = trusted_networks(" 127.0.0.1, 10.1.2.0/24 ,::1")
    assert is_trusted("10.1.2.77", networks) and is_trusted("::1", networks)
    assert not is_trusted("10.1.3.1", networks) and not is_trusted(None, networks)
    with pytest.raises(ConfigError, match=r"gateway\.trusted_proxies.*'nginx' is not an address"):
        GatewaySettings(trusted_proxies="127.0.0.1, nginx")
