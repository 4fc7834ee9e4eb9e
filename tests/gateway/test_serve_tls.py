"""`nocontact serve --tls-cert --tls-key --tls-client-ca` as a subprocess (two workers, the
embedded Redis), with certificates the suite makes: HTTPS only; a token works over it; a PBX's
client certificate bound with `nocontact token create --certificate` works with no token, within
its establishment, until revoked; a certificate nobody bound is refused; SIGHUP rotates the
certificate in every worker; the sign-in page keeps its __Host- Secure cookie."""

from __future__ import annotations

import hashlib
import signal
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.certs import Pki, fingerprint
from tests.support.gateway_process import Gateway, request
from tests.support.processes import free_port

CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "07700 900123"}
ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jo Bloggs", "phones": ["07700 900123"]}],
}


def served_certificate(port: int, context: ssl.SSLContext) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_serve_over_tls_with_tokens_and_bound_client_certificates(tmp_path: Path) -> None:
    pki, pbx_ca = Pki(tmp_path / "pki"), Pki(tmp_path / "pbx-ca", "pbx-ca")
    cert, key = pki.server()
    args = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(pbx_ca.ca_file)]
    gateway = Gateway(
        tmp_path / "data", free_port(), args=[*args, "--workers", "2"], context=pki.client_context()
    )
    try:
        gateway.start()
        assert f"listening on https://127.0.0.1:{gateway.port}" in gateway.text()
        with pytest.raises(OSError):
            request(gateway.port, "GET", "/healthz")  # plain HTTP is not served on the TLS port

        dialler = gateway.token("dialler", "HLI")
        assert gateway.http("PUT", "/v1/entries/UPC-2026-000301", ENTRY)[0] == 200
        until(lambda: gateway.http("POST", "/v1/screen/call", CALL, dialler)[1].get("decision") == "block")

        hull = pbx_ca.client("hull")
        bound = gateway.cli(
            "token", "create", "--role", "dialler", "--establishment", "HLI", "--certificate", str(hull[0])
        )
        assert bound.returncode == 0, bound.stderr
        assert f"certificate sha256 {fingerprint(hull[0])}" in bound.stdout
        principal = bound.stdout.split()[0].removeprefix("id=")
        as_hull = pki.client_context(hull)
        status, answer = gateway.http("POST", "/v1/screen/call", CALL, token=None, context=as_hull)
        assert status == 200 and answer["decision"] == "block", answer
        elsewhere = {**CALL, "establishment": "MDI"}
        assert gateway.http("POST", "/v1/screen/call", elsewhere, token=None, context=as_hull)[0] == 403
        unbound = pki.client_context(pbx_ca.client("moorland"))  # signed by the client CA, never bound
        assert gateway.http("POST", "/v1/screen/call", CALL, token=None, context=unbound)[0] == 401
        assert gateway.http("POST", "/v1/screen/call", CALL, token=None)[0] == 401  # neither
        stranger = pki.client_context(pki.client("stranger"))  # not signed by the client CA
        with pytest.raises(OSError):
            gateway.http("POST", "/v1/screen/call", CALL, token=None, context=stranger)

        revoked = gateway.cli("token", "revoke", principal)
        assert revoked.returncode == 0, revoked.stderr
        until(lambda: gateway.http("POST", "/v1/screen/call", CALL, token=None, context=as_hull)[0] == 401)

        # Rotation: the files replaced in place, then SIGHUP (systemctl reload); every worker.
        first = fingerprint(cert)
        new_cert, new_key = pki.server()
        cert.write_bytes(new_cert.read_bytes())
        key.write_bytes(new_key.read_bytes())
        assert served_certificate(gateway.port, pki.client_context()) == first
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGHUP)
        until(lambda: gateway.text().count("tls: certificate reloaded") == 2)
        served = {served_certificate(gateway.port, pki.client_context()) for _ in range(20)}
        assert served == {fingerprint(new_cert)}

        # The sign-in page over TLS: no warning, and its cookie is __Host- and Secure.
        with_tls = pki.client_context()
        with urllib.request.urlopen(f"https://127.0.0.1:{gateway.port}/ui/login", context=with_tls) as page:
            cookie = page.headers["Set-Cookie"]
            body = page.read().decode()
        assert cookie.startswith("__Host-nc_signin=") and "Secure" in cookie and "Path=/" in cookie
        assert "Sign-in needs HTTPS" not in body
    finally:
        gateway.close()
