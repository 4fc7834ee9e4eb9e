"""config/examples/nginx-nocontact.conf in front of two real `nocontact serve`s on one store (plain
HTTP on 127.0.0.1, which each names in gateway.trusted_proxies), with Debian's nginx and
certificates the suite makes: a PBX's gateway with the pages off and the staff's gateway with
them on. Screening over HTTPS through the proxy reaches the PBX's gateway; the sign-in page and the
hit API reach the staff's, the sign-in page as HTTPS with its __Host- Secure cookie; /metrics is
not reachable through the public name."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from config import EXAMPLES_DIR
from sync.embedded import EmbeddedRedis
from tests.support.certs import Pki
from tests.support.gateway_data import ADMIN
from tests.support.gateway_process import Gateway
from tests.support.processes import Service, free_port
from tests.support.tools import require_command

ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jo Bloggs", "phones": ["07700 900123"]}],
}
CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "07700 900123"}


def nginx_config(workdir: Path, listen: int, upstreams: dict[str, int], cert: Path, key: Path) -> Path:
    """The example's upstream and server blocks inside a minimal nginx.conf for an unprivileged
    run in `workdir`: only the addresses, ports and certificate paths are changed (each upstream
    named in `upstreams` gets that one port)."""
    example = (EXAMPLES_DIR / "nginx-nocontact.conf").read_text()
    changed = re.sub(r"(?m)^\s*server 127\.0\.0\.1:\d+;.*\n", "", example)
    assert sorted(re.findall(r"(?m)^upstream (\w+) \{", changed)) == sorted(upstreams)
    for name, port in upstreams.items():
        changed = changed.replace(
            f"upstream {name} {{\n", f"upstream {name} {{\n    server 127.0.0.1:{port};\n"
        )
    changed = changed.replace("listen 443 ssl;", f"listen 127.0.0.1:{listen} ssl;")
    changed = re.sub(r"(?m)^\s*listen \[::\]:443 ssl;\n", "", changed)
    changed = changed.replace("/etc/nginx/tls/nocontact.crt", str(cert)).replace(
        "/etc/nginx/tls/nocontact.key", str(key)
    )
    assert (
        f"127.0.0.1:{listen} ssl" in changed
        and str(cert) in changed
        and changed.count("server 127.0.0.1:") == len(upstreams)
    )
    temp = "".join(
        f"{kind}_temp_path {workdir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = workdir / "nginx.conf"
    config.write_text(
        f"user root;\ndaemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'};\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp}{changed}\n}}\n"
    )
    return config


def commented_deployment() -> str:
    """The deployment file the example's comment tells each gateway to use."""
    lines = (EXAMPLES_DIR / "nginx-nocontact.conf").read_text().splitlines()
    start = lines.index("#   [gateway]")
    block = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        block.append(line.removeprefix("#   "))
    assert any(line.startswith("trusted_proxies") for line in block), block
    return "\n".join(block) + "\n"


def blocked_calls(gateway: Gateway) -> float:
    """The calls `gateway` has blocked, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = re.findall(
        r'(?m)^nocontact_gateway_decisions_total\{channel="call",decision="block"[^}]*\} (\S+)$', text
    )
    return sum(float(count) for count in found)


def test_nginx_example_terminates_tls_for_a_pbx_gateway_and_a_pages_gateway_that_trust_it(
    tmp_path: Path,
) -> None:
    nginx = require_command("nginx", "nginx-light")
    pki = Pki(tmp_path / "pki")
    deployment = tmp_path / "deployment.toml"
    deployment.write_text(commented_deployment())
    staff = Gateway(tmp_path / "staff", free_port(), args=["--config", str(deployment)])
    store = {"NOCONTACT_REDIS_URL": f"unix://{EmbeddedRedis(staff.data_dir).socket_path}"}
    pbx = Gateway(
        tmp_path / "pbx",
        free_port(),
        env={**store, "NOCONTACT_PAGES": "false"},
        args=["--config", str(deployment)],
    )
    listen = free_port()
    config = nginx_config(
        tmp_path, listen, {"nocontact": pbx.port, "nocontact_pages": staff.port}, *pki.server()
    )
    check = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    proxy = Service(tmp_path / "nginx.out")
    try:
        staff.start()
        pbx.start()
        proxy.spawn([nginx, "-c", str(config)])
        https = pki.client_context()
        base = f"https://127.0.0.1:{listen}"

        def through(
            method: str, path: str, body: dict[str, str] | None = None, token: str | None = None
        ) -> int:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=5, context=https) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        proxy.wait_until(lambda: through("GET", "/healthz") == 200, 10, "nginx")
        dialler = pbx.token("dialler", "HLI")
        assert staff.http("PUT", "/v1/entries/UPC-2026-000401", ENTRY)[0] == 200
        deadline = time.monotonic() + 10
        while pbx.http("POST", "/v1/screen/call", CALL, dialler)[1].get("decision") != "block":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        blocks = blocked_calls(pbx)
        assert through("POST", "/v1/screen/call", CALL, dialler) == 200
        assert blocked_calls(pbx) == blocks + 1  # the PBX's gateway answered
        assert through("GET", "/metrics") == 404  # the example keeps it off the public name
        assert through("GET", "/v1/hits?limit=1", token=ADMIN) == 200
        assert staff.text().count('"endpoint":"/v1/hits"') == 1  # the staff's gateway answered

        # A phone's photo of an envelope is several MB: the proxy passes it to the mailroom page on
        # the staff's gateway (which, without a session, answers 401 with its sign-in page) instead
        # of refusing it (413).
        photo = b"--x\r\nContent-Disposition: form-data; name=envelope; filename=a.jpg\r\n\r\n"
        photo += b"\xff" * (3 * 1024 * 1024) + b"\r\n--x--\r\n"
        upload = http.client.HTTPSConnection("127.0.0.1", listen, timeout=30, context=https)
        upload.request(
            "POST",
            "/ui/mailroom/scan",
            body=photo,
            headers={"Host": "nocontact.internal", "Content-Type": "multipart/form-data; boundary=x"},
        )
        answer = upload.getresponse()
        assert answer.status == 401 and answer.getheader("Content-Security-Policy"), answer.status
        upload.close()

        # The browser's address for the service is not localhost: only the proxy's word makes it HTTPS.
        named = {"Host": "nocontact.internal"}
        login = urllib.request.Request(f"{base}/ui/login", headers=named)
        with urllib.request.urlopen(login, timeout=5, context=https) as page:
            cookie, body = page.headers["Set-Cookie"], page.read().decode()
        assert "Sign-in needs HTTPS" not in body  # the gateway believes the proxy's X-Forwarded-Proto
        assert cookie.startswith("__Host-nc_signin=") and "Secure" in cookie
        direct = urllib.request.Request(f"http://127.0.0.1:{staff.port}/ui/login", headers=named)
        with urllib.request.urlopen(direct, timeout=5) as page:
            assert "Sign-in needs HTTPS" in page.read().decode()  # the same gateway, plain HTTP
        assert pbx.http("GET", "/ui/login", token=None)[0] == 404  # so the proxy sent it to the staff's
    finally:
        proxy.stop()
        pbx.stop()
        staff.close()
