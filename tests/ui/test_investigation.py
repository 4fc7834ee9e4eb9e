"""Issue 20's "done when", in Chromium against a real `nocontact serve` whose hit log holds 100k
hits (written into Redis in bulk, then indexed by the gateway itself): find prisoner X's attempts,
open one, see what was dialled in local time, confirm it with a note, update the review without
losing the first, export the CSV and verify it; a letter to another house in the same postcode is
not a relay. Screenshots of each page go to artifacts/screenshots/."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.hitlog.model import Hit
from gateway.ulid import new_ulid
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from tests.support.gateway_process import Gateway
from tests.support.hit_seed import seeded_hits, write_hits
from tests.support.processes import free_port
from tests.support.ui_site import PHONE, ROOT, Site, seed_site, shot, sign_in, wait_for

SEEDED = 100_000
X = "B2345CD"  # prisoner X: a relay for the request's named prisoner


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gateway = Gateway(tmp_path_factory.mktemp("investigation") / "data", free_port())
    gateway.start()
    try:
        site = seed_site(gateway)  # accounts, an authorised request, four real calls that hit it
        hits = seeded_hits(SEEDED)
        last = hits[-1].time
        # A letter to 16 High Street, the same postcode as the blocked 14 High Street: it was held
        # on its own request (UPC-OTHER) and matched this request's address partially only.
        matches = (("UPC-OTHER", "address", "strong", False), (site.case_id, "address", "partial", True))
        neighbour = Hit(new_ulid(last + 1), last + 1, "HLI", "E5678FG", "mail", "block", "UPC-OTHER",
                        "address", False, "gw", 1, matches)  # fmt: skip
        with redis.Redis(unix_socket_path=str(EmbeddedRedis(gateway.data_dir).socket_path)) as client:
            write_hits(client, Keys(), [*hits, neighbour])
        total = SEEDED + 5
        wait_for(
            lambda: gateway.http("GET", "/v1/hits?limit=1")[1].get("total") == total, "100k indexed", 120
        )
        yield site
    finally:
        gateway.close()


def test_an_investigation_over_100k_hits(context: Any, big_site: Site, tmp_path: Path) -> None:
    site = big_site
    page = sign_in(context, site, "sec-hli")
    totals = page.locator("#totals").inner_text()
    assert int(re.search(r"([0-9]+) hits match", totals).group(1)) > 30_000  # type: ignore[union-attr]
    shot(page, "20-queue-100k")

    # Find prisoner X's attempts.
    page.get_by_label("Prisoner", exact=True).fill(X)
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_url("**/ui/hits?*prisoner=B2345CD*")
    prisoners = page.locator("table.hits tbody tr td:nth-child(4)").all_inner_texts()
    assert prisoners and set(prisoners) == {X}
    shot(page, "21-prisoner-search")
    page.locator("table.hits tbody").get_by_role("link", name=X).first.click()
    page.wait_for_url(f"**/ui/prisoners/{X}")
    assert page.get_by_role("heading", name=f"Everything {X} tried").count() == 1
    assert site.case_id in page.get_by_role("region", name="Which requests (victims)").inner_text()
    shot(page, "22-prisoner-page")

    # Open the real call and see what was dialled, in local time with its offset.
    page.get_by_role("link", name=f"Open hit {site.hits['relay1']}", exact=False).click()
    page.wait_for_url(f"**/ui/hits/{site.hits['relay1']}")
    assert X in page.get_by_role("heading", level=1).inner_text()
    assert page.locator("#dialled").inner_text() == PHONE
    assert "phone 1 of 1" in page.locator("#which").inner_text()
    assert re.search(r"(GMT \(UTC\+00:00\)|BST \(UTC\+01:00\))", page.locator("p.lede").inner_text())
    shot(page, "23-hit-evidence")

    # Confirm it with a note, then update the review: the first stays in the trail.
    page.get_by_label("Outcome").select_option("confirmed")
    page.get_by_label("Note", exact=False).first.fill("Victim confirms the call at this time.")
    page.get_by_role("button", name="Record review").click()
    page.wait_for_url("**?saved=1")
    assert page.get_by_label("Outcome").input_value() == "confirmed"  # prefilled
    page.get_by_label("Note", exact=False).first.fill("Police reference 12/3456 added.")
    page.get_by_role("button", name="Update review").click()
    page.wait_for_url("**?saved=1")
    trail = page.get_by_role("table", name="Review trail").inner_text()
    assert "Victim confirms the call" in trail and "Police reference 12/3456" in trail
    shot(page, "24-review-trail")

    # Export the prisoner's hits and verify the file.
    page.goto(f"{site.base}/ui/hits?prisoner={X}")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download these hits as CSV").click()
    saved = tmp_path / "export.csv"
    info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("# sha256,") and "time_local" in text and "strong" in text
    verified = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "hits", "verify", str(saved)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr

    # The letter to the neighbour's house is not a relay on this request.
    page.goto(f"{site.base}/ui/relay?reference={site.case_id}")
    assert "Partial and weak matches" in page.locator("#relay-rule").inner_text()
    section = page.get_by_role("region", name=re.compile(f"^{site.case_id}:"))
    listed = section.locator("tbody tr td:first-child").all_inner_texts()
    assert {"A1234BC", X, "C3456DE"} <= set(listed) and "E5678FG" not in listed
    shot(page, "25-relay")
    page.goto(f"{site.base}/ui/charts")
    assert page.get_by_role("heading", name="Top prisoners").count() == 1
    shot(page, "26-charts")
