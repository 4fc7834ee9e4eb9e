"""`nocontact mailroom scan` end to end: rendered envelopes, real OCR, a real `nocontact serve`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.mailroom_site import BLOCKED, NEIGHBOUR, OTHER_FLAT, Site, mailroom, scan
from tests.support.processes import free_port
from tests.support.tools import require_command


def test_scan_blocks_a_letter_to_a_blocked_address_and_allows_its_neighbour(
    site: Site, tmp_path: Path
) -> None:
    blocked = scan(tmp_path / "blocked.png", BLOCKED)
    neighbour = scan(tmp_path / "neighbour.jpg", NEIGHBOUR, font="Liberation Serif")
    done = mailroom(site, "scan", str(blocked), str(neighbour))
    assert done.returncode == 2, done.stderr  # the gravest: one blocked
    first, second = done.stdout.splitlines()
    assert first.startswith(f"{blocked}: BLOCK (UPC-2026-000101 address strong) hit ")
    assert first.endswith("[A1234BC]")  # the sender's number, read from the scan
    assert second == f"{neighbour}: ALLOW (UPC-2026-000101 address weak) [A1234BC]"  # the postcode alone

    done = mailroom(site, "scan", "--json", str(blocked))
    assert done.returncode == 2, done.stderr
    answer = json.loads(done.stdout)
    assert answer["decision"] == "block" and answer["matches"] == [
        {"reference": "UPC-2026-000101", "kind": "address", "strength": "strong"}
    ]
    assert answer["prisoner"] == "A1234BC" and answer["prisoner_from"] == "scan"
    assert "DE1 3PN" in answer["ocr"]["text"] and 0.5 < answer["ocr"]["confidence"] <= 1
    assert answer["ocr"]["engine"] == "rapidocr" and answer["error"] is None
    hits = site.hits("UPC-2026-000101")
    assert sorted(h["id"] for h in hits) == sorted([first.split(" hit ")[1].split()[0], answer["hit_id"]])
    assert {(h["channel"], h["prisoner"], h["establishment"]) for h in hits} == {("mail", "A1234BC", "HLI")}

    assert mailroom(site, "scan", str(neighbour)).returncode == 0
    other_flat = scan(tmp_path / "other-flat.png", OTHER_FLAT)
    done = mailroom(site, "scan", str(other_flat), str(neighbour))
    assert done.returncode == 1  # held for a person: another flat of the blocked one's building
    assert done.stdout.startswith(f"{other_flat}: HOLD (UPC-2026-000102 address partial) hit ")


def test_scan_reads_every_page_of_a_pdf_and_the_senders_number_on_the_back(
    site: Site, tmp_path: Path
) -> None:
    require_command("pdftoppm", "poppler-utils")
    letter = scan(tmp_path / "both-sides.pdf", BLOCKED, font="Liberation Sans", sender="back")
    done = mailroom(site, "scan", "--json", "--engine", "tesseract", str(letter))
    answer = json.loads(done.stdout)
    assert done.returncode == 2, answer
    assert answer["ocr"]["pages"] == 2 and answer["ocr"]["engine"] == "tesseract"
    assert (answer["prisoner"], answer["prisoner_from"]) == ("A1234BC", "scan")

    done = mailroom(site, "scan", "--json", "--prisoner", "C3456DE", str(letter), establishment=None)
    assert json.loads(done.stdout)["prisoner_from"] == "option"  # and HLI, the token's binding
    assert {(h["prisoner"], h["establishment"]) for h in site.hits("UPC-2026-000101")} == {
        ("A1234BC", "HLI"),
        ("C3456DE", "HLI"),
    }


def test_scan_is_an_error_never_an_allow_when_the_gateway_cannot_answer(site: Site, tmp_path: Path) -> None:
    neighbour = scan(tmp_path / "neighbour.png", NEIGHBOUR)
    unreadable = tmp_path / "scan.png"
    unreadable.write_bytes(neighbour.read_bytes()[:2000])
    done = mailroom(site, "scan", "--url", f"http://127.0.0.1:{free_port()}", str(neighbour), str(unreadable))
    assert done.returncode == 3
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{neighbour}: ERROR gateway http://127.0.0.1:")
    assert lines[1].startswith(f"{unreadable}: ERROR scan.png: cannot be read as PNG")
    assert "those files were NOT allowed" in done.stderr

    done = mailroom(site, "scan", "--token", "nc_not-a-token", str(neighbour))
    assert done.returncode == 3 and ": ERROR 401 " in done.stdout
