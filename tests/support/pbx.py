"""A SIP side for PBX tests: Debian's kamailio running a config from config/examples on free ports
as an unprivileged process in a temporary directory, and SIPp calls (a UAS standing in for the
trunk, a UAC standing in for the PIN phone). Skips with a clear reason when a tool is missing."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import Service
from tests.support.tools import require_command

SCENARIOS = Path(__file__).parent / "sipp"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Kamailio(Service):
    """kamailio -f CONFIG with `defines` given as -A NAME=VALUE (string values quoted here)."""

    def __init__(self, config: Path, workdir: Path, defines: dict[str, str | int]) -> None:
        super().__init__(workdir / "kamailio.log")
        self.executable = require_command("kamailio", "kamailio")
        self.config = config
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        self.defines: dict[str, str | int] = {"LISTEN": f"udp:127.0.0.1:{self.port}", "CHILDREN": 2}
        self.defines.update(defines)

    def _args(self) -> list[str]:
        args = [self.executable, "-f", str(self.config), "-DD", "-E", "-m", "32", "-M", "4"]
        args += ["-Y", str(self.workdir), "-P", str(self.workdir / "kamailio.pid"), "-w", str(self.workdir)]
        for name, value in self.defines.items():
            # LISTEN is a bare token in the config; other strings are quoted string literals.
            literal = value if isinstance(value, int) or name == "LISTEN" else f'"{value}"'
            args += ["-A", f"{name}={literal}"]
        return args

    def check(self) -> None:
        """`kamailio -c`: skips when a module the config loads is not installed."""
        done = subprocess.run([*self._args(), "-c"], check=False, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            missing = [line for line in done.stderr.splitlines() if "could not find module" in line]
            if missing:
                pytest.skip(
                    f"a kamailio module is missing ({missing[0].strip()}): install Debian's "
                    "kamailio-utils-modules and kamailio-json-modules"
                )
            raise AssertionError(done.stderr[-3000:])

    def start(self, timeout: float = 15.0) -> Kamailio:
        self.check()
        self.spawn(self._args())
        self.wait_until(self._answers_options, timeout, "kamailio")
        return self

    def _answers_options(self) -> bool:
        """Any SIP answer on the port (the config answers OPTIONS with 405) means it listens."""
        request = (
            f"OPTIONS sip:ping@127.0.0.1:{self.port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-ping\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\n"
            f"To: <sip:ping@127.0.0.1>\r\nCall-ID: ping-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 5\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.2)
            s.sendto(request, ("127.0.0.1", self.port))
            try:
                return s.recv(4096).startswith(b"SIP/2.0 ")
            except OSError:
                return False


class Sipp:
    """SIPp runs, each on its own free signalling and media ports, logging its messages."""

    def __init__(self, workdir: Path) -> None:
        self.executable = require_command("sipp", "sip-tester")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.runs = 0

    def _base(self, name: str) -> tuple[list[str], Path]:
        self.runs += 1
        messages = self.workdir / f"{self.runs:02d}-{name}.messages.log"
        args = [self.executable, "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port())]
        args += ["-nostdin", "-trace_msg", "-message_file", str(messages), "-trace_err"]
        args += ["-error_file", str(self.workdir / f"{self.runs:02d}-{name}.errors.log")]
        return args, messages

    def uas(self) -> tuple[subprocess.Popen[bytes], int, Path]:
        """The trunk: SIPp's built-in UAS answering every call; returns (process, port, messages)."""
        args, messages = self._base("uas")
        port = int(args[args.index("-p") + 1])
        process = subprocess.Popen(
            [*args, "-sn", "uas", "-bind_local"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return process, port, messages

    def call(
        self, proxy_port: int, number: str, prisoner: str, *, refused_with: int | None = None
    ) -> tuple[int, str]:
        """One call from a PIN phone; (SIPp's exit status: 0 when the scenario went as written,
        the messages it sent and received)."""
        args, messages = self._base(f"call-{number}")
        if refused_with is None:
            scenario = SCENARIOS / "connected_call.xml"
        else:
            text = (SCENARIOS / "refused_call.xml").read_text().replace("EXPECTED_CODE", str(refused_with))
            scenario = self.workdir / f"refused_{refused_with}.xml"
            scenario.write_text(text)
        args += ["-sf", str(scenario), "-s", number, "-key", "prisoner", prisoner, "-m", "1"]
        args += ["-timeout", "30s", "-timeout_error", f"127.0.0.1:{proxy_port}"]
        done = subprocess.run(args, check=False, capture_output=True, timeout=60)
        return done.returncode, messages.read_text(errors="replace") if messages.exists() else ""
