"""The UI's parts without a browser: accounts and passwords, the `nocontact user` command, the
filter's establishment binding, the CSV and the charts; and, in-process, a disabled account's open
session stopping at once."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
import redis

from gateway.cli import main
from gateway.hitlog.model import Hit
from gateway.hits_read import HitFilter, Row
from gateway.ui import sessions
from gateway.ui.charts import per_day_svg
from gateway.ui.export import hits_csv
from gateway.ui.hitquery import parse_filter
from gateway.ui.users import User, add_user, check_account, verify_password
from sync.keys import Keys
from sync.replication import Replication
from tests.support.case_data import request_data
from tests.support.ui_site import signed_in_cookie

PASSWORD = "correct horse battery staple"


def test_accounts_are_checked_and_passwords_hashed_with_argon2(redis_url: str) -> None:
    assert check_account("sec", "security", None) == (
        "establishment: a security account is bound to one establishment"
    )
    assert check_account("cw", "casework", "HLI") is not None
    assert check_account("Bad Name", "admin", None) is not None
    with redis.Redis.from_url(redis_url) as r:
        user = add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        with pytest.raises(ValueError, match="exists"):
            add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
        with pytest.raises(ValueError, match="at least 12"):
            add_user(r, Keys(), "short", "admin", None, "short", replication=Replication())
    assert verify_password(user, PASSWORD)
    assert not verify_password(user, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)


def test_user_command_adds_lists_and_disables(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOCONTACT_REDIS_URL", redis_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(["user", "add", "Alice", "--role", "security", "--establishment", "hli", "--password-stdin"])
        == 0
    )
    assert main(["user", "disable", "alice"]) == 0
    assert main(["user", "list"]) == 0
    out = capsys.readouterr().out
    assert "added alice (security, HLI)" in out and "alice\tsecurity\tHLI\tdisabled" in out
    assert PASSWORD not in out
    assert main(["user", "disable", "nobody"]) == 1


def _viewer(role: str, establishment: str | None) -> Any:
    from gateway.ui.pages import Viewer

    return Viewer(User("u", role, establishment, "x"), sessions.Session("d", "u", "c", 0.0))


def test_a_security_account_is_held_to_its_establishment() -> None:
    filt, problems = parse_filter({"channel": "call"}, _viewer("security", "HLI"))
    assert filt.establishment == "HLI" and not problems
    filt, problems = parse_filter({"establishment": "WDI"}, _viewer("security", "HLI"))
    assert filt.establishment == "HLI" and problems == ["Establishment: your account sees HLI only."]
    filt, problems = parse_filter(
        {"establishment": "wdi", "since": "2026-13-01", "channel": "fax"}, _viewer("admin", None)
    )
    assert filt.establishment == "WDI" and len(problems) == 2


def test_csv_records_the_filter_and_defuses_formulas() -> None:
    hit = Hit(
        "01J0000000000000000000000A",
        1_767_225_600_000,
        "HLI",
        "B2345CD",
        "call",
        "block",
        "UPC-1",
        "phone",
        True,
        "gw",
        3,
        (("UPC-1", "phone", "strong", True),),
    )
    review = {"outcome": "confirmed", "note": '=HYPERLINK("x")', "by": "user:a", "time": 1_767_225_660_000}
    filt = HitFilter(establishment="HLI", channel="call")
    text = hits_csv([Row("1-0", hit, review)], filt, "a (security, HLI)", total=1).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[4] == ["# filter", "establishment=HLI; channel=call"]
    record = dict(zip(rows[6], rows[7], strict=True))
    assert record["time_utc"] == "2026-01-01T00:00:00.000Z" and record["match"] == "relay"
    assert record["time_local"] == "2026-01-01 00:00:00 GMT (UTC+00:00)"
    assert record["review_note"].startswith("'=")


def test_charts_do_not_rely_on_colour() -> None:
    import datetime as dt

    days = [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    svg = str(per_day_svg(days, {(days[0], "call"): 2, (days[1], "mail"): 5}))
    assert 'role="img"' in svg and "<title" in svg
    assert 'fill="url(#hatch)"' in svg  # mail is hatched, not just another colour
    assert re.search(r">5</text>", svg) and re.search(r">2</text>", svg)  # every bar labelled


async def test_a_disabled_account_is_signed_out_at_once(client: Any, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
    page = await client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token and page.cookies[sessions.SIGNIN_COOKIE].value == token.group(1)
    form = {"csrf_token": token.group(1), "username": "sec-hli", "password": PASSWORD}
    refused = await client.post(
        "/ui/login", data=form, allow_redirects=False, headers={"Cookie": f"{sessions.SIGNIN_COOKIE}=other"}
    )
    assert refused.status == 403
    signed_in = await client.post(
        "/ui/login",
        data=form,
        allow_redirects=False,
        headers={"Cookie": f"{sessions.SIGNIN_COOKIE}={token.group(1)}"},
    )
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/ui/hits"
    session = signed_in.cookies[sessions.SESSION_COOKIE]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Strict"
    cookie = {"Cookie": f"{sessions.SESSION_COOKIE}={session.value}"}
    ok = await client.get("/ui/hits", headers=cookie, allow_redirects=False)
    assert ok.status == 200 and ok.headers["Content-Security-Policy"].startswith("default-src 'none'")
    with redis.Redis.from_url(redis_url) as r:
        stored = r.keys("nocontact:ui:session:*")
        assert len(stored) == 1 and session.value.encode() not in stored[0]  # only its sha256
        from gateway.ui.users import set_disabled

        assert set_disabled(r, Keys(), "sec-hli", replication=Replication())
    gone = await client.get("/ui/hits", headers=cookie, allow_redirects=False)
    assert gone.status == 303 and gone.headers["Location"].startswith("/ui/login")


async def test_disabling_or_changing_the_role_ends_sessions_for_good(client: Any, redis_url: str) -> None:
    """Reproduction: disable, then enable, and the old cookie worked again."""
    from gateway.ui.users import set_disabled, set_role

    cookie = await signed_in_cookie(client, redis_url, "sec-a", "admin")
    assert (await client.get("/ui/hits", headers=cookie, allow_redirects=False)).status == 200
    with redis.Redis.from_url(redis_url) as r:
        assert set_disabled(r, Keys(), "sec-a", replication=Replication()) and set_disabled(
            r, Keys(), "sec-a", disabled=False, replication=Replication()
        )
    gone = await client.get("/ui/hits", headers=cookie, allow_redirects=False)
    assert gone.status == 303 and gone.headers["Location"].startswith("/ui/login")
    cookie = await signed_in_cookie(client, redis_url, "sec-b", "admin")
    with redis.Redis.from_url(redis_url) as r:
        changed = set_role(r, Keys(), "sec-b", "security", "HLI", replication=Replication())
        assert changed is not None and changed.role == "security"
    gone = await client.get("/ui/hits", headers=cookie, allow_redirects=False)
    assert gone.status == 303 and gone.headers["Location"].startswith("/ui/login")


async def test_case_page_says_when_an_authorised_block_is_missing_from_the_store(
    client: Any,
    auth: Any,
    redis_url: str,
) -> None:
    casework = await auth("casework")
    created = await (await client.post("/v1/requests", json=request_data(), headers=casework)).json()
    case_id = created["id"]
    for action in ("send", "authorise"):
        assert (
            await client.post(f"/v1/requests/{case_id}/{action}", json={}, headers=casework)
        ).status == 200
    cookie = await signed_in_cookie(client, redis_url, "cw", "casework")
    page = await client.get("/ui/cases", headers=cookie)
    assert page.status == 200 and "NOT live everywhere" in await page.text()  # no gateway is live
    with redis.Redis.from_url(redis_url) as r:
        assert r.hdel(Keys().entries, case_id) == 1
    page = await client.get("/ui/cases", headers=cookie)
    assert page.status == 200 and "missing from the store" in await page.text()


async def test_the_queue_pages_by_its_older_link_and_the_csv_holds_every_hit(
    client: Any,
    redis_url: str,
) -> None:
    keys = Keys()
    with redis.Redis.from_url(redis_url) as r:
        for n in range(60):  # more than a page
            hit = Hit(f"01J{n:023d}", 1_767_225_600_000 + n, "HLI", "A1234BC", "call", "block", "UPC-1",
                      "phone", False, "gw", 1, (("UPC-1", "phone", "strong", False),))  # fmt: skip
            r.xadd(keys.hits, dict(zip(*[iter(hit.stream_fields())] * 2, strict=True)))
    cookie = await signed_in_cookie(client, redis_url, "root", "admin")
    seen: list[str] = []
    url: str | None = "/ui/hits?channel=call"
    pages = 0
    while url is not None:
        page = await client.get(url, headers=cookie)
        assert page.status == 200
        text = await page.text()
        seen += re.findall(r'href="/ui/hits/(01J[0-9]+)"', text)
        older = re.search(r'<a href="([^"]+)" rel="next">Older hits</a>', text)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert url is None or "channel=call" in url  # the filter rides along
        pages += 1
    assert pages == 2 and seen == [f"01J{n:023d}" for n in reversed(range(60))]
    export = await client.get("/ui/hits.csv?channel=call", headers=cookie)
    rows = list(csv.reader(io.StringIO(await export.text())))
    assert rows[5] == ["# rows", "60"] and len(rows) == 7 + 60


def test_times_are_shown_in_local_time_with_the_offset() -> None:
    from gateway.ui.pages import format_ms, zone

    summer = 1_782_914_400_000  # 2026-07-01 14:00:00 UTC
    assert format_ms(summer) == "2026-07-01 15:00:00 BST (UTC+01:00)"
    assert format_ms(summer - 181 * 86_400_000) == "2026-01-01 14:00:00 GMT (UTC+00:00)"
    assert format_ms(summer, zone("UTC")) == "2026-07-01 14:00:00 UTC (UTC+00:00)"


async def test_a_hit_page_shows_a_request_summary_only_to_whom_the_api_shows_the_request(
    client: Any, auth: Any, redis_url: str
) -> None:
    """Reproduction: the hit page showed another prison's request summary (pathway, state,
    holding prison, prisoner) that the API rightly hid from that prison's staff."""
    casework = await auth("casework")
    created = await (await client.post("/v1/requests", json=request_data(), headers=casework)).json()
    case_id = created["id"]  # held at HLI, naming prisoner A1234BC, scope all
    for action in ("send", "authorise"):
        assert (
            await client.post(f"/v1/requests/{case_id}/{action}", json={}, headers=casework)
        ).status == 200
    hit = Hit("01J" + "7" * 23, 1_767_225_600_000, "WDI", "C3456DE", "call", "block", case_id,
              "phone", True, "gw", 1, ((case_id, "phone", "strong", True),))  # fmt: skip
    with redis.Redis.from_url(redis_url) as r:
        stream_id = r.xadd(Keys().hits, dict(zip(*[iter(hit.stream_fields())] * 2, strict=True)))
        r.hset(Keys().hit_ids, hit.id, stream_id)  # as the shipper records it
    wdi = await signed_in_cookie(client, redis_url, "sec-wdi", "security", "WDI")
    page = await client.get(f"/ui/hits/{hit.id}", headers=wdi)
    text = await page.text()
    assert page.status == 200 and case_id in text  # the hit, at WDI, is WDI's to see
    assert "held at another prison" in text
    assert "held at HLI" not in text and "A1234BC" not in text and "pathway" not in text
    cw = await signed_in_cookie(client, redis_url, "cw", "casework")
    text = await (await client.get(f"/ui/hits/{hit.id}", headers=cw)).text()
    assert "held at HLI" in text and "naming prisoner A1234BC" in text
    root = await signed_in_cookie(client, redis_url, "root", "admin")
    text = await (await client.get(f"/ui/hits/{hit.id}", headers=root)).text()
    # an admin is bound to no prison: the summary is not "held at another prison" for them
    assert "held at another prison" not in text and "held at HLI" not in text
    assert "summary is for the prison holding it and the UPC team" in text
