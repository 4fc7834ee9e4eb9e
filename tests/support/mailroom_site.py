"""The mailroom's test site: a real `nocontact serve` (embedded Redis) holding two blocked
addresses, a mailroom token bound to HMP Hull, envelope scans rendered on demand (nothing
committed) and `nocontact mailroom` run as a subprocess against it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.envelopes import Look, render
from tests.support.gateway_process import Gateway, request
from tests.support.processes import clean_env, free_port

ENTRIES: list[dict[str, Any]] = [
    {
        "reference": "UPC-2026-000101",
        "prisoner": "B2345CD",
        "scope": "all",
        "protected": [
            {
                "name": "Jane Smith",
                "addresses": [{"lines": ["27 Meadow Lane", "Derby"], "postcode": "DE1 3PN"}],
            }
        ],
    },
    {
        "reference": "UPC-2026-000102",
        "prisoner": "B2345CD",
        "scope": ["HLI"],
        "protected": [
            {
                "name": "Karen Lewis",
                "addresses": [{"lines": ["Flat 2", "14 Alder Court", "Hull"], "postcode": "HU5 2QT"}],
            }
        ],
    },
]
BLOCKED = ("Mrs J Smith", "27 Meadow Lane", "DERBY", "DE1 3PN")
NEIGHBOUR = ("Mr P Jones", "29 Meadow Lane", "DERBY", "DE1 3PN")
FLAT = ("Ms K Lewis", "Flat 2", "14 Alder Court", "HULL", "HU5 2QT")
OTHER_FLAT = ("Mr D Hall", "Flat 3", "14 Alder Court", "HULL", "HU5 2QT")  # the blocked flat's building
SENDER = ("From: J Bloggs A1234BC", "HMP Hull")


@dataclass
class Site:
    gateway: Gateway
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    base = url  # as tests/support/ui_site.py's sign_in reads it

    def env(self, establishment: str | None = "HLI") -> dict[str, str]:
        """The environment a scanning PC sets (None: no establishment, the token's binding is used)."""
        env = clean_env(NOCONTACT_URL=self.url, NOCONTACT_TOKEN=self.token)
        if establishment is not None:
            env["NOCONTACT_ESTABLISHMENT"] = establishment
        return env

    def hits(self, reference: str) -> list[dict[str, Any]]:
        status, page = request(self.gateway.port, "GET", f"/v1/hits?reference={reference}&limit=100")
        assert status == 200, page
        return list(page["hits"])


def start_site(data_dir: Path) -> Site:
    """A gateway on a free port with ENTRIES blocked and a mailroom token for HLI."""
    gateway = Gateway(data_dir, free_port()).start()
    for entry in ENTRIES:
        status, body = request(gateway.port, "PUT", f"/v1/entries/{entry['reference']}", entry)
        assert status == 200, body
    status, body = request(gateway.port, "POST", "/v1/tokens", {"role": "mailroom", "establishment": "HLI"})
    assert status == 201, body
    return Site(gateway, body["token"])


def scan(
    path: Path, lines: tuple[str, ...], font: str = "DejaVu Sans", sender: str = "top_left", noise: int = 0
) -> Path:
    """Renders an envelope to `path`; the suffix picks the format, a PDF or TIFF gets every side."""
    pages = render(lines, Look(font, noise, sender, seed=1), SENDER if sender != "none" else ())
    if path.suffix in (".pdf", ".tiff"):
        pages[0].save(path, save_all=True, append_images=pages[1:], resolution=160)
    else:
        pages[0].save(path)
    return path


def mailroom(
    site: Site, *args: str, timeout: float = 120, establishment: str | None = "HLI"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "mailroom", *args],
        env=site.env(establishment),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
