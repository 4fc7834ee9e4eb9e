"""Debian packages some tests need (chromium, prometheus's promtool): installed with apt-get on
first use when the machine lacks them and we are root, so a fresh CI machine needs no manual step."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def ensure_command(command: str, package: str) -> str:
    """The path of `command`, installing Debian's `package` for it if needed; skips without root."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(f"{command} is missing and installing Debian's {package} package needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
        capture_output=True,
    )
    found = shutil.which(command)
    assert found, f"apt-get installed {package} but {command} is not on PATH"
    return found
