"""config/examples/prometheus-alerts.yml: promtool accepts it, every metric it names is one a
gateway exports (read from a real gateway's /metrics, sync metrics included), and promtool's rule
unit tests (tests/prometheus/alerts-test.yml) see each alert fire, and stay quiet, where it should."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from config import EXAMPLES_DIR
from gateway.app import create_app
from gateway.settings import GatewaySettings

RULES = EXAMPLES_DIR / "prometheus-alerts.yml"
UNIT_TESTS = Path(__file__).parent.parent / "prometheus" / "alerts-test.yml"
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def without_annotations(text: str) -> str:
    """The rules with each ``annotations:`` block left out: promtool's unit tests compare
    annotations word for word, and the expressions are what they are for."""
    kept: list[str] = []
    block_indent: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and (not line.strip() or indent > block_indent):
            continue
        block_indent = None
        if line.strip() == "annotations:":
            block_indent = indent
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def exported_names(exposition: str) -> set[str]:
    """Sample names a scrape can hold: those present, and those a declared family would write
    once it has a child (a labelled counter nobody has bumped yet shows only # TYPE)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.update(name + suffix for suffix in SAMPLE_SUFFIXES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 12 rules found" in done.stdout


def test_alert_rules_fire_where_promtool_unit_tests_say(promtool: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(without_annotations(RULES.read_text()))
    tests = tmp_path / "alerts-test.yml"
    tests.write_text(UNIT_TESTS.read_text().replace("RULES_FILE", str(rules)))
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_annotations_keeps_the_expressions() -> None:
    text = (
        "- alert: A\n  expr: up == 0\n  annotations:\n    summary: x\n    description: >-\n      y\n"
        "  labels:\n"
    )
    assert without_annotations(text) == "- alert: A\n  expr: up == 0\n  labels:\n"


async def test_every_metric_the_rules_name_is_exported(
    aiohttp_client: Any, settings: GatewaySettings
) -> None:
    client = await aiohttp_client(create_app(settings))  # the real follower, on a real redis-server
    assert (await client.get("/healthz")).status == 200  # request counters have a first sample
    scrape = await client.get("/metrics")
    assert scrape.status == 200
    exported = exported_names(await scrape.text())
    assert "nocontact_sync_applied_version" in exported and "nocontact_gateway_data_stale" in exported
    named = set(re.findall(r"\bnocontact_[a-z_]+", RULES.read_text()))
    assert len(named) >= 10
    assert named <= exported, sorted(named - exported)
