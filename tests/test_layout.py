"""The suite's own layout: a test or benchmark module never imports another test module, a
benchmark module or a conftest; what two of them share lives in tests/support (or, for benchmarks
only, in a benchmarks module that is not a benchmark); no module of the packages is over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


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
