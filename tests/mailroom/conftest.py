"""Mailroom fixtures: the site (tests/support/mailroom_site.py) per test, and the fonts the
envelopes are rendered in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.envelopes import missing_fonts
from tests.support.mailroom_site import Site, start_site


@pytest.fixture(scope="session", autouse=True)
def fonts() -> None:
    missing = missing_fonts()
    if missing:
        pytest.skip(
            f"fonts missing: install Debian's {', '.join(missing)} (`./dev test` installs them as root)"
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = start_site(tmp_path / "data")
    yield site
    site.gateway.close()
