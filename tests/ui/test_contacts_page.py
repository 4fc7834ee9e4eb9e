"""The "Contacts to remove" page in Debian's chromium against `nocontact serve`: contacts lists
written through the API hold the seeded request's number and email; the sweeper's tasks are shown
to security at their own establishment only, confirmed removed or kept with a reason through the
page, and the requests page says how many are still to remove and where."""

from __future__ import annotations

from typing import Any

from tests.support.case_data import EMAIL
from tests.support.ui_site import PHONE, Site, shot, sign_in, wait_for


def _seed_lists(site: Site) -> None:
    gw = site.gateway
    hli, wdi = gw.token("contacts", "HLI"), gw.token("contacts", "WDI")
    lists = (
        (hli, "/v1/contacts/HLI/B2345CD", [{"id": "c1", "name": "Pat", "phones": [PHONE], "approved": True}]),
        (wdi, "/v1/contacts/WDI/D4567EF", [{"id": "c9", "name": "Sam", "phones": [PHONE], "approved": True}]),
    )
    for token, path, contacts in lists:
        contacts.append({"id": "c2", "name": "Lee", "emails": ["lee@example.net"], "approved": True})
        if path.endswith("B2345CD"):
            contacts.append({"id": "c3", "name": "Jo", "emails": [EMAIL], "approved": False})
        status, body = gw.http("PUT", path, {"contacts": contacts}, token=token)
        assert status == 200, body
    wait_for(lambda: len(gw.http("GET", "/v1/contact-tasks")[1]["tasks"]) == 3, "3 removal tasks", timeout=20)


def _fresh(context: Any) -> Any:
    """Another person at another browser: a context of its own (its own session cookie)."""
    other = context.browser.new_context(viewport={"width": 1280, "height": 900})
    other.set_default_timeout(10_000)
    return other


def test_security_removes_and_keeps_contacts_at_their_establishment(context: Any, site: Site) -> None:
    _seed_lists(site)
    page = sign_in(context, site, "sec-hli")
    page.get_by_role("link", name="Contacts to remove").click()
    page.wait_for_url("**/ui/contacts")
    rows = page.locator("table.contact-tasks tbody tr")
    assert rows.count() == 2
    text = page.locator("table.contact-tasks").inner_text()
    assert "B2345CD" in text and site.case_id in text and "D4567EF" not in text
    assert PHONE not in page.content() and EMAIL not in page.content()
    assert sorted(page.locator("table.contact-tasks tbody td:nth-child(4)").all_inner_texts()) == [
        "email 1",
        "phone 1",
    ]
    shot(page, "contacts-01-to-remove")

    page.get_by_role("button", name="Confirm removed: B2345CD contact c1").click()
    page.wait_for_url("**/ui/contacts?*saved=*")
    assert "Saved" in page.get_by_role("status").inner_text()
    assert rows.count() == 1 and "c3" in rows.inner_text()
    page.get_by_label("Reason to keep").fill("exemption granted: the prisoner's sister")
    page.get_by_role("button", name="Keep: B2345CD contact c3").click()
    page.wait_for_url("**/ui/contacts?*saved=*")
    assert page.locator("table.contact-tasks tbody").inner_text().strip() == "No tasks."
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_url("**/ui/contacts?*status=all*")
    done = page.locator("table.contact-tasks tbody").inner_text()
    assert "removed" in done and "kept: exemption granted: the prisoner's sister" in done
    shot(page, "contacts-02-closed")
    status, tasks = site.gateway.http("GET", "/v1/contact-tasks?establishment=HLI")
    assert status == 200 and {t["status"] for t in tasks["tasks"]} == {"removed", "kept"}
    assert {t["closed_by"] for t in tasks["tasks"]} == {"user:sec-hli"}

    other = sign_in(_fresh(context), site, "sec-wdi")
    other.goto(f"{site.base}/ui/contacts")
    assert "D4567EF" in other.locator("table.contact-tasks").inner_text()
    assert "B2345CD" not in other.content()
    hli_task = tasks["tasks"][0]["id"]
    forged = other.request.post(f"{site.base}/ui/contacts/{hli_task}/removed", form={"csrf_token": "x"})
    assert forged.status == 403  # no CSRF token: refused before anything is looked up

    casework = sign_in(_fresh(context), site, "cw")
    casework.goto(f"{site.base}/ui/cases")
    assert "1 contact still to remove at 1 prison" in casework.locator("table").last.inner_text()
    casework.goto(f"{site.base}/ui/contacts")
    assert casework.get_by_role("button", name="Keep: D4567EF contact c9").count() == 0  # security's call
    shot(casework, "contacts-03-casework")
