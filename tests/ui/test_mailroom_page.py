"""The mailroom page in Debian's chromium against `nocontact serve`: a mailroom account (made with
`nocontact user add --role mailroom`) uploads rendered envelopes, reads each decision with the
lines that matched, releases a held letter and confirms others (one with no request matched).
The OCR runs in the gateway's worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mailroom_site import BLOCKED, OTHER_FLAT, Site, scan, start_site
from tests.support.ui_site import PASSWORD, shot, sign_in


@pytest.fixture(scope="module")
def mail_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = start_site(tmp_path_factory.mktemp("mailroom-ui") / "data")
    try:
        for name, role in (("post-hli", "mailroom"), ("sec-hli", "security")):
            add = ("user", "add", name, "--role", role, "--establishment", "HLI", "--password-stdin")
            done = site.gateway.cli(*add, stdin=PASSWORD + "\n")
            assert done.returncode == 0 and f"added {name} ({role}, HLI)" in done.stdout, done.stderr
        yield site
    finally:
        site.gateway.close()


UPLOAD_WAIT = 90_000  # ms: the first upload starts the OCR worker and loads its models


def upload(page: Any, path: Path) -> None:
    page.get_by_label("Envelope scan or photo").set_input_files(str(path))
    with page.expect_navigation(timeout=UPLOAD_WAIT):
        page.get_by_role("button", name="Screen the envelope").click(no_wait_after=True)
    page.wait_for_load_state()


def test_the_mailroom_screens_an_envelope_and_releases_a_held_letter(
    context: Any, mail_site: Site, tmp_path: Path
) -> None:
    page = sign_in(context, mail_site, "post-hli")
    assert page.url.endswith("/ui/mailroom")  # a mailroom account's home
    assert "No letters held today." in page.inner_text("main")
    shot(page, "mailroom-01-empty")

    upload(page, scan(tmp_path / "blocked.png", BLOCKED))
    result = page.locator("section.result")
    assert "decision: do not send" in result.inner_text().lower()
    assert "A1234BC (read from the envelope)" in result.inner_text()
    matched = page.locator("table.ocr tr.matched td:first-child").all_inner_texts()
    assert matched == ["27 Meadow Lane", "DE1 3PN"], matched  # not the sender, the name or the town
    assert "UPC-2026-000101 (address, strong)" in result.inner_text()
    shot(page, "mailroom-02-blocked")

    page.get_by_label("Sender's prison number").fill("C3456DE")
    upload(page, scan(tmp_path / "other-flat.png", OTHER_FLAT))
    result = page.locator("section.result")
    assert "decision: hold for a person" in result.inner_text().lower()
    assert "C3456DE (typed in)" in result.inner_text()
    held = page.get_by_role("table", name="1 letter held today")
    assert "C3456DE" in held.inner_text() and "waiting" in held.inner_text().lower()
    shot(page, "mailroom-03-held")

    page.get_by_role("button", name="Release").click()
    page.wait_for_load_state()
    assert "Released: the letter may be sent." in page.get_by_role("status").inner_text()
    assert "false positive" in page.get_by_role("table", name="1 letter held today").inner_text().lower()
    (hit,) = mail_site.hits("UPC-2026-000102")
    assert (hit["decision"], hit["prisoner"]) == ("hold", "C3456DE")
    assert (hit["review"]["outcome"], hit["review"]["by"]) == ("false_positive", "user:post-hli")
    shot(page, "mailroom-04-released")

    page.get_by_label("Sender's prison number").fill("D4567EF")  # the same flat again: confirmed
    upload(page, scan(tmp_path / "other-flat-2.png", OTHER_FLAT))
    waiting = (
        page.get_by_role("table", name="2 letters held today").get_by_role("row").filter(has_text="Waiting")
    )
    assert "D4567EF" in waiting.inner_text()
    waiting.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert "Confirmed: the letter is withheld" in page.get_by_role("status").inner_text()
    rows = page.get_by_role("table", name="2 letters held today").inner_text().lower()
    assert "waiting" not in rows and "confirmed attempt" in rows and "false positive" in rows
    confirmed = {h["prisoner"]: h for h in mail_site.hits("UPC-2026-000102")}["D4567EF"]
    assert (confirmed["review"]["outcome"], confirmed["review"]["by"]) == ("confirmed", "user:post-hli")

    page.get_by_label("Sender's prison number").fill("E5678FG")  # no address to read: no hit
    upload(page, scan(tmp_path / "unreadable.png", ("Ms K Taylor", "By hand"), sender="none"))
    assert "decision: hold for a person" in page.locator("section.result").inner_text().lower()
    waiting = (
        page.get_by_role("table", name="3 letters held today").get_by_role("row").filter(has_text="Waiting")
    )
    assert "E5678FG" in waiting.inner_text() and "address block cannot be read" in waiting.inner_text()
    waiting.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert "Confirmed: the letter is withheld" in page.get_by_role("status").inner_text()
    assert "waiting" not in page.get_by_role("table", name="3 letters held today").inner_text().lower()
    shot(page, "mailroom-05-confirmed")


def test_other_roles_cannot_open_the_mailroom_and_the_mailroom_cannot_open_the_hit_queue(
    context: Any, mail_site: Site
) -> None:
    page = sign_in(context, mail_site, "sec-hli")
    page.goto(f"{mail_site.base}/ui/mailroom")
    assert "Your role cannot open this page." in page.inner_text("main")
    page.get_by_role("button", name="Sign out").click()
    page = sign_in(context, mail_site, "post-hli")
    page.goto(f"{mail_site.base}/ui/hits")
    assert "Your role cannot open this page." in page.inner_text("main")
