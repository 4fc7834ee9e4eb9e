"""The deployment examples in config/examples run as written: systemd accepts the service units (the
PBX's gateway and the staff's pages gateway) and `nocontact` their command lines. (The Redis and
Sentinel files are run by tests/test_failover.py.)"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from config import EXAMPLES_DIR
from gateway.cli import build_parser
from gateway.settings import GatewaySettings
from tests.support.tools import require_command

UNIT = EXAMPLES_DIR / "nocontact.service"
PAGES_UNIT = EXAMPLES_DIR / "nocontact-pages.service"


def unit_values(key: str, unit: Path = UNIT) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith(f"{key}=")]


def unit_value(key: str, unit: Path = UNIT) -> str:
    values = unit_values(key, unit)
    assert len(values) == 1, key
    return values[0]


@pytest.mark.parametrize("path", [UNIT, PAGES_UNIT], ids=lambda path: path.name)
def test_systemd_accepts_the_service_unit(tmp_path: Path, path: Path) -> None:
    analyze = require_command("systemd-analyze", "systemd")
    # The unit names the installed program; verify checks that ExecStart exists, so point it at one.
    unit = tmp_path / path.name
    unit.write_text(path.read_text().replace(shlex.split(unit_value("ExecStart", path))[0], "/bin/true"))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and str(unit) not in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_service_unit_runs_a_dedicated_user_with_a_private_data_directory() -> None:
    argv = shlex.split(unit_value("ExecStart"))
    assert argv[0].endswith("/nocontact")
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and str(args.data_dir) == "/var/lib/nocontact"
    assert unit_value("User") == "nocontact" and unit_value("StateDirectory") == "nocontact"
    assert unit_value("StateDirectoryMode") == "0700" and unit_value("UMask") == "0077"
    assert unit_value("Restart") == "always" and int(unit_value("LimitNOFILE")) >= 65536
    assert unit_value("LimitCORE") == "0"
    # `systemctl reload nocontact` (README, deployment.toml): SIGHUP, which serve takes as a reload
    assert unit_value("ExecReload") == "/bin/kill -HUP $MAINPID"


def test_the_pages_unit_serves_the_pages_from_a_data_directory_of_its_own() -> None:
    """Beside nocontact.service on one host, with the example deployment file (pages off)."""
    argv = shlex.split(unit_value("ExecStart", PAGES_UNIT))
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and str(args.data_dir) == "/var/lib/nocontact-pages"
    assert unit_value("StateDirectory", PAGES_UNIT) == "nocontact-pages"
    assert (
        unit_value("StateDirectoryMode", PAGES_UNIT) == "0700" and unit_value("UMask", PAGES_UNIT) == "0077"
    )
    assert unit_value("LimitCORE", PAGES_UNIT) == "0"
    assert unit_value("ExecReload", PAGES_UNIT) == unit_value("ExecReload")
    environ = dict(value.split("=", 1) for value in unit_values("Environment", PAGES_UNIT))
    assert environ["NOCONTACT_CONFIG"] == args.config == unit_value("Environment", UNIT).split("=", 1)[1]
    deployment = EXAMPLES_DIR / "deployment.toml"
    pbx = GatewaySettings.load(deployment, environ={})
    staff = GatewaySettings.load(deployment, environ=environ, port=args.port, workers=args.workers)
    assert not pbx.pages and staff.pages and staff.workers == 1
    assert (
        staff.port != pbx.port
        and f"127.0.0.1:{staff.port};" in (EXAMPLES_DIR / "nginx-nocontact.conf").read_text()
    )
