"""The web UI in Debian's chromium (headless Playwright) against `nocontact serve` on the embedded
Redis. The hits are made by real screening calls (tests/ui/conftest.py). Every page visited is kept
as a screenshot under artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.support.ui_site import PASSWORD, Site, shot, sign_in


def test_a_wrong_password_is_refused(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli", "not the password at all")
    assert page.url.endswith("/ui/login")
    assert "The user name or password is not right" in page.get_by_role("alert").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "__Host-nc_session"]
    shot(page, "01-login-refused")
    page.goto(f"{site.base}/ui/hits")
    assert "/ui/login" in page.url


def test_security_finds_filters_and_reviews_a_real_hit(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    assert page.url.endswith("/ui/hits")
    cookie = next(c for c in context.cookies() if c["name"] == "__Host-nc_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    table = page.locator("table.hits tbody")
    assert table.locator("tr").count() == 3  # HLI's three hits; WDI's is not listed
    assert site.case_id in table.inner_text()
    assert "D4567EF" not in page.content()
    shot(page, "02-hit-queue")

    page.get_by_label("Channel").select_option("call")
    page.get_by_label("Who tried").select_option("relay")
    page.get_by_label("Reviewed").select_option("no")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_url("**/ui/hits?*")
    assert "match=relay" in page.url and "reviewed=no" in page.url
    assert sorted(table.locator("tr td:nth-child(4)").all_inner_texts()) == ["B2345CD", "C3456DE"]
    shot(page, "03-hit-queue-filtered")

    page.get_by_role("link", name=f"Open hit {site.hits['relay1']}", exact=False).click()
    page.wait_for_url(f"**/ui/hits/{site.hits['relay1']}")
    facts = page.locator("dl.facts").inner_text()
    assert "B2345CD" in facts and "call" in facts and f"{site.case_id}: pathway 1" in facts
    assert "phone" in page.locator("#tried-title + p + table").inner_text()  # what was tried
    earlier = page.get_by_role("region", name=f"Earlier hits on {site.case_id}").inner_text()
    assert "A1234BC" in earlier  # the primary hit came before this one
    page.get_by_label("Outcome").select_option("confirmed")
    page.get_by_label("Note").fill("Relay for A1234BC; cell-mate of the named prisoner.")
    page.get_by_role("button", name="Record review").click()
    page.wait_for_url("**?saved=1")
    assert "Confirmed attempt" in page.get_by_role("region", name="Review").inner_text()
    assert "by user:sec-hli" in page.content()
    shot(page, "04-hit-detail-reviewed")

    page.goto(f"{site.base}/ui/hits?reviewed=yes")
    assert table.locator("tr td:nth-child(4)").all_inner_texts() == ["B2345CD"]
    page.goto(f"{site.base}/ui/hits?reviewed=no&match=relay")
    assert table.locator("tr td:nth-child(4)").all_inner_texts() == ["C3456DE"]


def test_relay_view_lists_the_request_hit_by_two_prisoners(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    page.get_by_role("link", name="Relay patterns").click()
    page.wait_for_url("**/ui/relay")
    heading = page.get_by_role("heading", name=site.case_id)
    assert heading.inner_text() == f"{site.case_id}: 3 prisoners, 3 hits"  # HLI's view only
    prisoners = page.locator("section.relay tbody tr td:first-child").all_inner_texts()
    assert sorted(prisoners) == ["A1234BC", "B2345CD", "C3456DE"]
    assert "UTC" in page.locator("section.relay tbody").inner_text()
    shot(page, "05-relay")


def test_csv_export_records_the_filter(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    page.goto(f"{site.base}/ui/hits?channel=call&match=relay")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download these hits as CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("nocontact-hits-")
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    preamble = {r[0]: r[1] for r in rows if r and r[0].startswith("#") and len(r) > 1}
    assert preamble["# filter"] == "establishment=HLI; channel=call; match=relay"
    assert preamble["# exported_by"] == "sec-hli (security, HLI)"
    header = rows.index(next(r for r in rows if r and r[0] == "hit_id"))
    records = [dict(zip(rows[header], r, strict=True)) for r in rows[header + 1 :]]
    assert sorted(r["prisoner"] for r in records) == ["B2345CD", "C3456DE"]
    assert {(r["establishment"], r["channel"], r["match"], r["reference"], r["kind"]) for r in records} == {
        ("HLI", "call", "relay", site.case_id, "phone")
    }
    assert {r["hit_id"] for r in records} == {site.hits["relay1"], site.hits["relay2"]}


def test_charts_show_hits_per_day_and_per_establishment(context: Any, site: Site) -> None:
    page = sign_in(context, site, "root")  # admin: every establishment
    page.goto(f"{site.base}/ui/charts?days=7")
    assert page.locator("svg[role=img]").count() == 2
    places = page.get_by_role("table", name="Hits per establishment").inner_text()
    assert "HLI\t3" in places and "WDI\t1" in places
    assert "call" in page.locator("svg.chart").first.inner_html()
    shot(page, "06-charts")


def test_missing_csrf_token_is_refused(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    url = f"{site.base}/ui/hits/{site.hits['relay2']}/review"
    for form in ({"outcome": "false_positive"}, {"outcome": "false_positive", "csrf_token": "forged"}):
        response = page.request.post(url, form=form, max_redirects=0)  # the signed-in cookie goes too
        assert response.status == 403
        assert "security token is missing or out of date" in response.text()
    page.goto(f"{site.base}/ui/hits/{site.hits['relay2']}")
    assert page.locator("#review-title + p").inner_text() == "NOT REVIEWED"
    # Sign-in itself is protected too (no login CSRF).
    response = page.request.post(
        f"{site.base}/ui/login", form={"username": "sec-hli", "password": PASSWORD}, max_redirects=0
    )
    assert response.status == 403


def test_security_cannot_open_another_establishments_hit(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    response = page.goto(f"{site.base}/ui/hits/{site.hits['wdi']}")
    assert response is not None and response.status == 404
    assert "D4567EF" not in page.content()
    shot(page, "07-other-establishment-refused")
    response = page.goto(f"{site.base}/ui/hits?establishment=WDI")
    assert response is not None and response.status == 400
    assert "your account sees HLI only" in page.get_by_role("alert").inner_text()
    assert "D4567EF" not in page.content()
    response = page.request.post(
        f"{site.base}/ui/hits/{site.hits['wdi']}/review",
        form={"outcome": "no_action", "csrf_token": _csrf(page)},
        max_redirects=0,
    )
    assert response.status == 404
    response = page.goto(f"{site.base}/ui/cases")  # case handlers' pages
    assert response is not None and response.status == 403


def _csrf(page: Any) -> str:
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return str(value)


def test_case_handler_sees_sla_reviews_and_live_status(context: Any, site: Site) -> None:
    page = sign_in(context, site, "cw")
    assert page.url.endswith("/ui/cases")
    live = page.get_by_role("table", name="Open requests").inner_text().lower()
    assert site.case_id.lower() in live and "live everywhere 1 of 1" in live and "not live" not in live
    shot(page, "08-cases")
    page.goto(f"{site.base}/ui/hits/{site.hits['relay1']}")
    tried = page.get_by_role("region", name="What was tried").inner_text()
    # Casework sees which of the victim's identifiers was tried, never the detail itself (issue 20).
    assert "security staff only" in tried and "phone 1 of 1" in tried and "900123" not in tried
    assert page.get_by_role("button", name="Record review").count() == 0
    response = page.goto(f"{site.base}/ui/hits.csv")
    assert response is not None and response.status == 403


def test_sign_out_ends_the_session(context: Any, site: Site) -> None:
    page = sign_in(context, site, "sec-hli")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")
    page.goto(f"{site.base}/ui/hits")
    assert "/ui/login" in page.url
