"""gateway.tls with certificates the suite makes: the server context serves its certificate,
a rotation reload serves the new one to new connections, a bad reload keeps the old one, and a
client certificate signed by the client CA is seen by its fingerprint (one from another CA
fails the handshake; no certificate is allowed, for token clients)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from aiohttp import ClientError, ClientSession, web

from gateway.tls import RECORD_PLAINTEXT, ServerTls, TlsFiles, certificate_fingerprint, peer_fingerprint
from matcher.errors import ConfigError
from tests.support.certs import Pki, fingerprint


async def whoami(request: web.Request) -> web.Response:
    return web.Response(text=peer_fingerprint(request.transport) or "-")


async def digest(request: web.Request) -> web.Response:
    return web.Response(text=hashlib.sha256(await request.read()).hexdigest())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


async def serve(tls: ServerTls) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/", whoami)
    app.router.add_post("/digest", digest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def served_certificate(url: str, context: ssl.SSLContext) -> str:
    """The SHA-256 of the certificate the server presents on a new connection."""
    host, port = url.removeprefix("https://").rstrip("/").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return hashlib.sha256(der).hexdigest()


async def get(url: str, context: ssl.SSLContext) -> str:
    async with ClientSession() as session, session.get(url, ssl=context) as answer:
        return await answer.text()


async def test_a_rotated_certificate_is_served_to_new_connections(pki: Pki) -> None:
    first = pki.server()
    tls = ServerTls(TlsFiles(*first))
    assert tls.fingerprint == fingerprint(first[0]) == certificate_fingerprint(first[0])
    async for url in serve(tls):
        assert await served_certificate(url, pki.client_context()) == fingerprint(first[0])
        second = pki.server()
        first[0].write_bytes(second[0].read_bytes())  # rotation in place, as certbot or an operator does
        first[1].write_bytes(second[1].read_bytes())
        assert tls.reload()
        assert await served_certificate(url, pki.client_context()) == fingerprint(second[0])
        assert tls.fingerprint == fingerprint(second[0])


async def test_a_broken_rotation_keeps_the_current_certificate(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pki.server()
    tls = ServerTls(TlsFiles(cert, key))
    async for url in serve(tls):
        other_key = pki.server()[1]
        key.write_bytes(other_key.read_bytes())  # the new key does not match the certificate
        assert not tls.reload()
        assert "tls: reload failed, keeping the current certificate" in caplog.text
        assert await served_certificate(url, pki.client_context()) == fingerprint(cert)
        key.unlink()
        assert not tls.reload()
        assert await get(url, pki.client_context()) == "-"


async def test_client_certificates_are_optional_and_must_come_from_the_client_ca(
    pki: Pki, tmp_path: Path
) -> None:
    pbx_ca = Pki(tmp_path / "pbx-ca", "pbx-ca")
    tls = ServerTls(TlsFiles(*pki.server(), client_ca=pbx_ca.ca_file))
    pbx = pbx_ca.client("hull")
    async for url in serve(tls):
        # A client that trusts the server's CA and presents the PBX certificate.
        context = pki.client_context()
        context.load_cert_chain(*pbx)
        assert await get(url, context) == fingerprint(pbx[0])
        assert await get(url, pki.client_context()) == "-"  # no certificate: a token client
        stranger = pki.client("stranger")  # signed by the server's CA, not the client CA
        with pytest.raises((ClientError, ssl.SSLError, ConnectionResetError)):
            await get(url, pki.client_context(stranger))


def test_tls_options_go_together(pki: Pki) -> None:
    cert, key = pki.server()
    assert TlsFiles.from_options(None, None) is None
    assert TlsFiles.from_options(cert, key) == TlsFiles(cert, key)
    with pytest.raises(ConfigError, match=r"gateway\.tls_key"):
        TlsFiles.from_options(cert, None)
    with pytest.raises(ConfigError, match=r"gateway\.tls_client_ca"):
        TlsFiles.from_options(None, None, pki.ca_file)
    with pytest.raises(ConfigError, match=r"gateway\.tls_cert"):
        ServerTls(TlsFiles(cert, pki.server()[1]))


def connected_pair(tls: ServerTls, client: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """(server, client) ends of one TLS connection over memory BIOs, handshake done; what one end
    writes goes to the other by ``relay``."""
    server_bios, client_bios = (ssl.MemoryBIO(), ssl.MemoryBIO()), (ssl.MemoryBIO(), ssl.MemoryBIO())
    server = tls.context.wrap_bio(*server_bios, server_side=True)
    peer = client.wrap_bio(*client_bios, server_hostname="localhost")
    server._bios = server_bios  # type: ignore[attr-defined]
    peer._bios = client_bios  # type: ignore[attr-defined]
    for _ in range(5):
        for end in (peer, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
        relay(peer, server)
        relay(server, peer)
    return server, peer


def relay(source: ssl.SSLObject, sink: ssl.SSLObject) -> None:
    sink._bios[0].write(source._bios[1].read())  # type: ignore[attr-defined]


def test_a_request_is_read_without_the_transports_256_kib_allocation(pki: Pki) -> None:
    """asyncio's and uvloop's SSL transports read with read(256 KiB): SSLObject.read allocates
    what it is asked for, then shrinks it. The server's SSL objects ask for one record at most."""
    server, client = connected_pair(ServerTls(TlsFiles(*pki.server())), pki.client_context())
    request = b"POST /v1/screen/call HTTP/1.1\r\n" + b"x" * 300
    client.write(request)
    relay(client, server)
    tracemalloc.start()
    try:
        assert server.read(256 * 1024) == request
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2 * RECORD_PLAINTEXT, peak


async def test_a_body_of_many_records_arrives_whole(pki: Pki) -> None:
    """Reading at most a record at a time, the transport still reads all of a large body."""
    body = bytes(range(256)) * 2000  # 512,000 bytes: 32 records
    async for url in serve(ServerTls(TlsFiles(*pki.server()))):
        async with (
            ClientSession() as session,
            session.post(url + "digest", data=body, ssl=pki.client_context()) as answer,
        ):
            assert await answer.text() == hashlib.sha256(body).hexdigest()


def python_frames(call: Callable[..., Any], *args: Any) -> tuple[Any, list[str]]:
    """What ``call(*args)`` returns and the Python functions it ran (C functions not listed)."""
    ran: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            ran.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        result = call(*args)
    finally:
        sys.setprofile(None)
    return result, ran


def test_the_transports_calls_reach_ssl_through_at_most_one_python_frame(pki: Pki) -> None:
    """uvloop binds the SSL object's pending, read and write once per connection and calls them for
    every request: write and pending are the _ssl object's own, read one frame (its record
    clamp), where SSLObject's Python methods and the clamp made four frames a request."""
    server, client = connected_pair(ServerTls(TlsFiles(*pki.server())), pki.client_context())
    request = b"POST /v1/screen/call HTTP/1.1\r\n" + b"x" * 300
    client.write(request)
    relay(client, server)
    read, pending, write = server.read, server.pending, server.write  # as uvloop binds them
    assert python_frames(pending) == (0, [])
    data, frames = python_frames(read, 256 * 1024)
    assert data == request
    assert len(frames) == 1, frames
    answer = b"HTTP/1.1 200 OK\r\n\r\n{}"
    assert python_frames(write, answer) == (len(answer), [])
    relay(server, client)
    assert client.read(1024) == answer
    large = bytes(range(256)) * 100  # 25,600 bytes: two records, read a record at most at a time
    client.write(large)
    relay(client, server)
    assert server.read(256 * 1024) == large[:RECORD_PLAINTEXT]
    into = bytearray(256 * 1024)  # with a buffer, read fills it as SSLObject.read does
    assert server.read(len(into), into) == len(large) - RECORD_PLAINTEXT
    assert into[: len(large) - RECORD_PLAINTEXT] == large[RECORD_PLAINTEXT:]
