"""The suite's own layout: a test or benchmark module never imports another test module, a
benchmark module or a conftest; what two of them share lives in tests/support (or, for benchmarks
only, in a benchmarks module that is not a benchmark); no module of the packages is over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported(path: Path, root: Path = ROOT) -> set[str]:
    """The modules `path` imports, relative imports resolved against its package under `root`
    (`from .conftest import x` in tests/ui/ is tests.ui.conftest), and each name imported from a
    package as a possible module (`from tests import test_x`)."""
    package = list(path.relative_to(root).parent.parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module:
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    module = tmp_path / "tests" / "ui" / "test_x.py"
    module.parent.mkdir(parents=True)
    module.write_text("from .conftest import site\nfrom .. import test_y\nfrom tests.support import a\n")
    found = _imported(module, tmp_path)
    assert {"tests.ui.conftest", "tests.test_y", "tests.support.a"} <= found


def _is_test_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith(("test_", "bench_"))


def test_no_module_of_the_suite_imports_a_test_module_or_a_conftest() -> None:
    wrong = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imported(path):
                outside_support = module.startswith("tests.") and not module.startswith("tests.support")
                if module.startswith(("tests.", "benchmarks.")) and (
                    _is_test_module(module) or outside_support
                ):
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_tests_support_imports_no_test_code() -> None:
    for path in (ROOT / "tests" / "support").rglob("*.py"):
        assert not any(m.startswith("benchmarks") or _is_test_module(m) for m in _imported(path)), path


# A module that grows past this has taken on a second job (issue 15): split it by reason to change.
MODULE_LINES = 500


def test_no_module_or_c_source_of_the_packages_is_over_500_lines() -> None:
    long = []
    for package in ("matcher", "sync", "cases", "gateway", "config"):
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix in {".py", ".c", ".h"}:
                lines = len(path.read_text().splitlines())
                if lines > MODULE_LINES:
                    long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, "\n".join(long)
