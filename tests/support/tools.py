"""Programs from Debian packages that some tests drive (chromium, promtool, ...). `./dev test`
installs the packages when it runs as root; a test never runs apt itself: without the program it
skips and says which package would bring it."""

from __future__ import annotations

import shutil

import pytest


def require_command(command: str, package: str) -> str:
    """The path of `command` on PATH, or skip the test naming Debian's `package`."""
    found = shutil.which(command)
    if found is None:
        pytest.skip(
            f"{command} is not on PATH: install Debian's {package} package "
            "(`./dev test` installs it when run as root)"
        )
    return found
