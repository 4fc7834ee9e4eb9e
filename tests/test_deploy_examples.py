"""The deployment examples in config/examples run as written: systemd accepts the service unit and
`nocontact` its command line. (The Redis and Sentinel files are run by tests/test_failover.py.)"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from config import EXAMPLES_DIR
from gateway.cli import build_parser
from tests.support.tools import require_command

UNIT = EXAMPLES_DIR / "nocontact.service"


def unit_value(key: str) -> str:
    lines = [line for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]
    assert len(lines) == 1, key
    return lines[0].split("=", 1)[1]


def test_systemd_accepts_the_service_unit(tmp_path: Path) -> None:
    analyze = require_command("systemd-analyze", "systemd")
    # The unit names the installed program; verify checks that ExecStart exists, so point it at one.
    unit = tmp_path / "nocontact.service"
    unit.write_text(UNIT.read_text().replace(shlex.split(unit_value("ExecStart"))[0], "/bin/true"))
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
