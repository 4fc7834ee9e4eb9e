"""Tests never install Debian packages: a missing program skips its test naming the package, and
every package a test or benchmark asks for is in ./dev's lists, which install them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.tools import require_command

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_program_skips_and_names_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing is found
    with pytest.raises(
        pytest.skip.Exception, match=r"^chromium is not on PATH: install Debian's chromium package"
    ):
        require_command("chromium", "chromium")


def test_a_program_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "promtool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_command("promtool", "prometheus") == str(program)


def _dev_list(name: str) -> set[str]:
    """The words of the bash array `name` in ./dev, comments left out."""
    words: list[str] = []
    inside = False
    for line in (ROOT / "dev").read_text().splitlines():
        code = line.split("#")[0]
        if code.startswith(f"{name}=("):
            inside, code = True, code.removeprefix(f"{name}=(")
        if inside:
            words += code.split(")")[0].split()
            if ")" in code:
                return set(words)
    raise AssertionError(f"./dev has no {name}")


def test_every_package_a_test_or_benchmark_names_is_installed_by_dev() -> None:
    listed = _dev_list("TEST_PACKAGES") | _dev_list("BENCH_PACKAGES")
    named = {
        package
        for folder in ("tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        for package in re.findall(r'require_command\(\s*"[^"]+",\s*"([^"]+)"\)', path.read_text())
    }
    assert {"chromium", "prometheus", "wrk"} <= named
    assert named <= listed, f"not in ./dev's package lists: {sorted(named - listed)}"


def test_every_font_package_the_envelopes_need_is_installed_by_dev() -> None:
    # The mailroom tests render envelopes in these fonts and skip without them: a font package
    # missing from ./dev's list skipped 56 OCR tests on a fresh machine with nothing failing.
    from tests.support.envelopes import FONT_PACKAGES

    missing = set(FONT_PACKAGES.values()) - _dev_list("TEST_PACKAGES")
    assert not missing, f"not in ./dev's TEST_PACKAGES: {sorted(missing)}"
