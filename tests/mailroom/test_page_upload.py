"""The mailroom page in-process (aiohttp's test client, real Redis, the real OCR pool): where an
upload is screened, and the day's held letters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config import load_profile
from gateway.source import StaticSource
from matcher.entries import Entry
from matcher.index import Index
from tests.support.mailroom_site import BLOCKED, ENTRIES, scan
from tests.support.ui_site import csrf_of, signed_in_cookie


@pytest.fixture
def source() -> StaticSource:
    return StaticSource(Index.build([Entry.from_dict(e) for e in ENTRIES], load_profile(None), version=1))


async def upload(client: Any, cookie: dict[str, str], path: Path, prisoner: str = "") -> str:
    """The envelope posted through the page's form; the page answered."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", await csrf_of(client, "/ui/mailroom", cookie))
    form.add_field("prisoner", prisoner)
    form.add_field("envelope", path.read_bytes(), filename=path.name, content_type="image/png")
    resp = await client.post("/ui/mailroom/scan", data=form, headers=cookie)
    text = await resp.text()
    assert resp.status == 200, text
    return str(text)


async def test_an_upload_is_screened_and_its_lines_marked_off_the_event_loop(
    client: Any, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    screen_mail = Index.screen_mail

    def recording(self: Index, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return screen_mail(self, *args, **kwargs)

    monkeypatch.setattr(Index, "screen_mail", recording)
    cookie = await signed_in_cookie(client, redis_url, "post-hli", "mailroom", "HLI")
    page = await upload(client, cookie, scan(tmp_path / "blocked.png", BLOCKED))
    assert "Do not send" in page and '<tr class="matched"><td>27 Meadow Lane</td>' in page
    assert len(threads) > 2 and set(threads) == {"nocontact-screening_0"}, threads
