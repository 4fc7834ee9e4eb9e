"""The "Contacts to remove" page in Debian's chromium against `nocontact serve`: contacts lists
written through the API hold the seeded request's number and email; the sweeper's tasks are shown
to security at their own establishment only, confirmed removed or kept with a reason through the
page, and the requests page says how many are still to remove and where."""

from __future__ import annotations

from typing import Any

import redis

from cases.contact_tasks import REMOVED, NewTask, TaskStore
from gateway.ui.contactviews import PAGE_SIZE
from sync.embedded import EmbeddedRedis
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


def test_the_page_shows_tasks_a_page_at_a_time_with_a_next_link(context: Any, site: Site) -> None:
    """The page showed the oldest 200 and no way to the rest."""
    count = PAGE_SIZE + 5
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(site.gateway.data_dir).socket_path)) as client:
        store = TaskStore(client)
        tasks = [
            NewTask("MDI", f"A{n:04d}BC", "c1", "UPC-PAGES", "phone", "strong", 0, False, 1)
            for n in range(count)
        ]
        store.ensure(tasks)
        for task in store.search(establishment="MDI", reference="UPC-PAGES", limit=count)[0]:
            store.close(task, REMOVED, "test")  # out of the other tests' way (they list open tasks)
    page = sign_in(_fresh(context), site, "cw")
    page.goto(f"{site.base}/ui/contacts?status=removed&establishment=MDI")
    rows = page.locator("table.contact-tasks tbody tr")
    assert rows.count() == PAGE_SIZE
    first_page = set(rows.evaluate_all("rows => rows.map(r => r.id)"))
    assert page.get_by_role("link", name="First page").count() == 0
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**/ui/contacts?*cursor=*")
    assert rows.count() == 5 and page.get_by_role("link", name="Next page").count() == 0
    second_page = set(rows.evaluate_all("rows => rows.map(r => r.id)"))
    assert not first_page & second_page and len(first_page | second_page) == count
    assert "MDI" in page.get_by_label("Establishment").input_value()
    page.get_by_role("link", name="First page").click()
    page.wait_for_url("**/ui/contacts?status=removed&establishment=MDI")
    assert rows.count() == PAGE_SIZE
