"""The Kamailio PBX kit end to end: config/examples/kamailio-nocontact.cfg as shipped (values given
with -A), Debian's kamailio, SIPp for the PIN phone and the trunk, and a real `nocontact serve` on
a real redis-server. An allowed call reaches the trunk, a barred one is answered 403 and never
leaves, and when the gateway cannot answer (stale data refused, stalled, stopped) the caller gets
the fail-safe answer, from the configured total timeout rather than libcurl's default."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from config import EXAMPLES_DIR
from tests.support.certs import Pki
from tests.support.gateway_process import Gateway
from tests.support.pbx import Kamailio, Sipp
from tests.support.processes import free_port
from tests.support.redis_server import RedisFactory, RedisServer
from tests.support.tools import require_command

BARRED = "07700900123"
ALLOWED = "07700900777"
PRISONER = "A1234BC"
HITS = f"/v1/hits?reference=UPC-2026-000042&prisoner={PRISONER}"


def gateway_connections(kamailio: Kamailio, port: int) -> set[tuple[str, int]]:
    """Kamailio's open TCP connections to the gateway's port, by local address."""
    assert kamailio.process is not None
    main = psutil.Process(kamailio.process.pid)
    return {
        (c.laddr.ip, c.laddr.port)
        for p in [main, *main.children(recursive=True)]
        for c in p.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


@pytest.fixture
def gateway(tmp_path: Path, redis_server: RedisFactory) -> Iterator[tuple[Gateway, RedisServer]]:
    require_command("kamailio", "kamailio")
    require_command("sipp", "sip-tester")
    redis = redis_server()
    env = {
        "NOCONTACT_REDIS_URL": redis.url,
        "NOCONTACT_STALE_POLICY": "refuse",
        "NOCONTACT_MAX_DATA_AGE": "2",
    }
    process = Gateway(tmp_path / "data", free_port(), env=env)
    try:
        yield process.start(), redis
    finally:
        if process.process is not None:
            process.process.send_signal(signal.SIGCONT)
        process.kill()


def test_kamailio_relays_allowed_calls_refuses_barred_ones_and_fails_safe(
    tmp_path: Path, gateway: tuple[Gateway, RedisServer]
) -> None:
    process, redis = gateway
    dialler = process.token("dialler", "HLI")
    entry = {"prisoner": PRISONER, "scope": "all", "protected": [{"name": "Jane Smith", "phones": [BARRED]}]}
    assert process.http("PUT", "/v1/entries/UPC-2026-000042", entry)[0] == 200
    relay_call = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": BARRED}
    while process.http("POST", "/v1/screen/call", relay_call, dialler)[1].get("decision") != "block":
        time.sleep(0.02)

    sipp = Sipp(tmp_path / "sipp")
    trunk, trunk_port, trunk_messages = sipp.uas()
    kamailio = Kamailio(
        EXAMPLES_DIR / "kamailio-nocontact.cfg",
        tmp_path / "kamailio",
        {
            "TRUNK": f"sip:127.0.0.1:{trunk_port}",
            "ESTABLISHMENT": "HLI",
            # The token as the password of Basic credentials: a named connection, kept open.
            "GATEWAY_CONNECTION": f"nocontact=>http://dialler:{dialler}@127.0.0.1:{process.port}/v1/screen/call",
            "CHILDREN": 1,  # one SIP worker: one connection to the gateway, whichever call
        },
    )
    try:
        kamailio.start()
        # Allowed: relayed to the trunk, answered, hung up.
        code, messages = sipp.call(kamailio.port, ALLOWED, PRISONER)
        assert code == 0, messages[-3000:]
        assert f"INVITE sip:{ALLOWED}@" in trunk_messages.read_text()

        connections = gateway_connections(kamailio, process.port)
        assert len(connections) == 1  # kept open after the answer

        # Barred: 403, one hit recorded, the trunk never sees it.
        code, messages = sipp.call(kamailio.port, BARRED, PRISONER, refused_with=403)
        assert code == 0, messages[-3000:]
        assert "SIP/2.0 403 Call Barred" in messages
        deadline = time.monotonic() + 10
        while not (hits := process.http("GET", HITS)[1]["hits"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert hits[0]["channel"] == "call" and hits[0]["decision"] == "block" and not hits[0]["relay"]
        assert gateway_connections(kamailio, process.port) == connections  # the same connection

        # No prisoner on the call: refused without asking.
        code, messages = sipp.call(kamailio.port, ALLOWED, "nobody", refused_with=403)
        assert code == 0 and "403 Prisoner Not Identified" in messages, messages[-3000:]

        # Stalled gateway (SIGSTOP: connections are accepted, nothing answers): the total timeout.
        assert process.process is not None
        process.process.send_signal(signal.SIGSTOP)
        try:
            code, messages = sipp.call(kamailio.port, ALLOWED, PRISONER, refused_with=503)
        finally:
            process.process.send_signal(signal.SIGCONT)
        assert code == 0, messages[-3000:]
        assert "no usable answer (HTTP or curl status 28)" in kamailio.text()  # CURLE_OPERATION_TIMEDOUT

        # One hit for the barred call, however many times its INVITE was sent.
        assert len(process.http("GET", HITS)[1]["hits"]) == 1

        # Stale data under stale_policy = "refuse": the gateway's 503 becomes the fail-safe answer.
        redis.kill()
        allowed_call = {"establishment": "HLI", "prisoner": PRISONER, "number": ALLOWED}
        while process.http("POST", "/v1/screen/call", allowed_call, dialler)[0] != 503:
            time.sleep(0.1)
        code, messages = sipp.call(kamailio.port, ALLOWED, PRISONER, refused_with=503)
        assert code == 0, messages[-3000:]
        assert "no usable answer (HTTP or curl status 503)" in kamailio.text()

        # Gateway stopped: nothing listens.
        process.kill()
        code, messages = sipp.call(kamailio.port, ALLOWED, PRISONER, refused_with=503)
        assert code == 0, messages[-3000:]
        assert "SIP/2.0 503 Call Screening Unavailable" in messages
        assert "no usable answer (HTTP or curl status 7)" in kamailio.text()  # CURLE_COULDNT_CONNECT
    finally:
        kamailio.stop()
        trunk.kill()
        trunk.wait(10)
    assert f"sip:{BARRED}@" not in trunk_messages.read_text()
    assert BARRED not in kamailio.text() and "Jane" not in kamailio.text()


def test_kamailio_asks_the_gateway_over_https_by_token_or_client_certificate(tmp_path: Path) -> None:
    """The shipped default: https, the gateway's CA in GATEWAY_CA. A token over Basic works, and so
    does a client certificate bound with `nocontact token create --certificate` and no token at
    all; a gateway whose certificate another CA signed is never asked (the fail-safe answer)."""
    require_command("kamailio", "kamailio")
    require_command("sipp", "sip-tester")
    pki, other = Pki(tmp_path / "pki"), Pki(tmp_path / "other", "other")
    cert, key = pki.server()
    tls = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(pki.ca_file)]
    process = Gateway(tmp_path / "data", free_port(), args=tls, context=pki.client_context())
    sipp = Sipp(tmp_path / "sipp")
    trunk, trunk_port, trunk_messages = sipp.uas()
    kamailios: list[Kamailio] = []

    def kamailio(name: str, connection: str, **defines: str | int) -> Kamailio:
        values: dict[str, str | int] = {
            "TRUNK": f"sip:127.0.0.1:{trunk_port}",
            "GATEWAY_CONNECTION": f"nocontact=>https://{connection}127.0.0.1:{process.port}/v1/screen/call",
            "GATEWAY_CA": str(pki.ca_file),
            "CHILDREN": 1,
            **defines,
        }
        kamailios.append(Kamailio(EXAMPLES_DIR / "kamailio-nocontact.cfg", tmp_path / name, values))
        return kamailios[-1].start()

    try:
        process.start()
        dialler = process.token("dialler", "HLI")
        entry = {
            "prisoner": PRISONER,
            "scope": "all",
            "protected": [{"name": "Jane Smith", "phones": [BARRED]}],
        }
        assert process.http("PUT", "/v1/entries/UPC-2026-000042", entry)[0] == 200
        relay_call = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": BARRED}
        while process.http("POST", "/v1/screen/call", relay_call, dialler)[1].get("decision") != "block":
            time.sleep(0.02)

        by_token = kamailio("by-token", f"dialler:{dialler}@")
        code, messages = sipp.call(by_token.port, ALLOWED, PRISONER)
        assert code == 0, messages[-3000:] + by_token.tail()
        assert f"INVITE sip:{ALLOWED}@" in trunk_messages.read_text()
        code, messages = sipp.call(by_token.port, BARRED, PRISONER, refused_with=403)
        assert code == 0 and "SIP/2.0 403 Call Barred" in messages, messages[-3000:]

        phone_system = pki.client("hli")
        bound = process.cli(
            "token",
            "create",
            "--role",
            "dialler",
            "--establishment",
            "HLI",
            "--certificate",
            str(phone_system[0]),
        )
        assert bound.returncode == 0, bound.stderr
        by_certificate = kamailio(
            "by-certificate",
            "",
            GATEWAY_CLIENT_CERT=str(phone_system[0]),
            GATEWAY_CLIENT_KEY=str(phone_system[1]),
        )
        code, messages = sipp.call(by_certificate.port, BARRED, PRISONER, refused_with=403)
        assert code == 0 and "SIP/2.0 403 Call Barred" in messages, messages[-3000:] + by_certificate.tail()
        code, messages = sipp.call(by_certificate.port, ALLOWED, PRISONER)
        assert code == 0, messages[-3000:]

        distrusting = kamailio("distrusting", f"dialler:{dialler}@", GATEWAY_CA=str(other.ca_file))
        code, messages = sipp.call(distrusting.port, ALLOWED, PRISONER, refused_with=503)
        assert code == 0 and "SIP/2.0 503 Call Screening Unavailable" in messages, messages[-3000:]
        assert (
            "no usable answer (HTTP or curl status 60)" in distrusting.text()
        )  # CURLE_PEER_FAILED_VERIFICATION
        deadline = time.monotonic() + 10
        while len(hits := process.http("GET", HITS)[1]["hits"]) < 2:  # shipped a moment after
            assert time.monotonic() < deadline, hits
            time.sleep(0.05)
        assert len(hits) == 2  # the two barred calls, over a token and over a certificate
    finally:
        for each in kamailios:
            each.stop()
        trunk.kill()
        trunk.wait(10)
        process.close()
    assert f"sip:{BARRED}@" not in trunk_messages.read_text()
