from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.postcodes import canonical_postcode, find_postcodes


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HU1 2AB", "HU1 2AB"),
        ("hu12ab", "HU1 2AB"),
        ("  hu1   2ab ", "HU1 2AB"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("HU16 4LP", "HU16 4LP"),
        ("GIR 0AA", "GIR 0AA"),
        # invalid
        ("", None),
        ("HU1", None),
        ("HU1 2A", None),
        ("HU1-2AB", None),
        ("HU1 2AC", None),  # C is never in an inward code
        ("HU1 2IB", None),  # nor I
        ("QU1 2AB", None),  # Q never starts a postcode
        ("HUI 2AB", None),  # intake is exact: no OCR reading
        ("HU1 ZAB", None),
        ("HU111 2AB", None),
        ("12345", None),
        ("A1234BC", None),
    ],
)
def test_canonical_postcode(raw: str, canonical: str | None) -> None:
    assert canonical_postcode(raw) == canonical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HU1 2AB", {"HU1 2AB"}),
        ("hu12ab", {"HU1 2AB"}),
        ("Hull, hu1 2ab.", {"HU1 2AB"}),
        ("(HU1 2AB)", {"HU1 2AB"}),
        ("HU1-2AB", {"HU1 2AB"}),
        ("HU1\n2AB", {"HU1 2AB"}),
        ("HUI 2AB", {"HU1 2AB"}),  # I in a digit position is 1
        ("HUl 2AB", {"HU1 2AB"}),  # so is l
        ("HU| 2AB", {"HU1 2AB"}),  # and |
        ("HU1 ZAB", {"HU1 2AB"}),  # Z in a digit position is 2
        ("HU1 2A8", {"HU1 2AB"}),  # 8 in a letter position is B
        ("HU1 2A B", {"HU1 2AB"}),  # space inside the inward code
        ("HU12 AB", {"HU1 2AB"}),  # space in the wrong place
        ("HU12A8", {"HU1 2AB"}),  # space lost and an inward OCR error
        ("HUI 2A B", {"HU1 2AB"}),
        ("HU5 ZQP", {"HU5 2QP"}),
        ("5W1A 1AA", {"SW1A 1AA"}),  # 5 in a letter position is S
        ("81 1AA", {"B1 1AA"}),
        ("HU16 4LP", {"HU16 4LP"}),
        ("HU1G 4LP", {"HU16 4LP"}),  # G in a digit position is 6: HU1G is not an outward code
        ("HU16 4L9", set()),  # 9 is never a letter
        ("HU1 2AB and HU9 5LS", {"HU1 2AB", "HU9 5LS"}),
        ("GIR 0AA", {"GIR 0AA"}),
    ],
)
def test_find_postcodes_reads(text: str, expected: set[str]) -> None:
    assert find_postcodes(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "HU11 2AB",  # another district
        "HU1 2AD",  # another unit
        "XHU1 2AB",  # inside a longer word
        "HU1 2ABC",
        "HU1 2AC",
        "HUI ZAB",  # two corrected characters and no real digit
        "A1234BC",  # a prison number, space lost: only the inward code is corrected
        "07911 123456",  # phone numbers: digits only
        "0845 345 4345",
        "14 HIGH STREET",  # the outward code never spans a space
        "ROYAL MAIL 2ND CLASS",  # MAIL would need two corrections
        "GOLDEN HOUSE",  # no real digit
        "FLAT 2 14 HIGH ST",
        "12 A HIGH STREET",
    ],
)
def test_find_postcodes_does_not_read_hu1_2ab(text: str) -> None:
    assert "HU1 2AB" not in find_postcodes(text)


@pytest.mark.parametrize(
    "text",
    [
        "A1234BC",
        "07911 123456",
        "14 HIGH STREET HULL",
        "ROYAL MAIL 2ND CLASS",
        "PO BOX 1234",
        "MRS JANE SMITH",
    ],
)
def test_no_postcode_in(text: str) -> None:
    assert find_postcodes(text) == set()


_AREA = st.sampled_from(["HU", "B", "M", "SW", "EC", "LS", "YO", "DN", "W", "N", "CR", "S"])
_UNIT = st.sampled_from(list("ABDEFGHJLNPQRSTUWXYZ"))


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    area = draw(_AREA)
    district = draw(st.integers(min_value=1, max_value=99))
    return f"{area}{district} {draw(st.integers(0, 9))}{draw(_UNIT)}{draw(_UNIT)}"


@given(
    postcodes(), st.sampled_from(["{o} {i}", "{o}{i}", "{o}  {i}", "to: {o} {i}.", "{o}\n{i}"]), st.booleans()
)
def test_every_spelling_of_a_postcode_is_read(postcode: str, shape: str, lower: bool) -> None:
    outward, inward = postcode.split()
    text = shape.format(o=outward, i=inward)
    assert canonical_postcode(postcode) == postcode
    assert postcode in find_postcodes(text.lower() if lower else text)


_AS_OCR = {"B": "8", "S": "5", "Z": "2", "G": "6", "O": "0"}


@given(postcodes(), st.integers(min_value=1, max_value=2))
def test_one_ocr_error_in_the_inward_letters_is_corrected(postcode: str, position: int) -> None:
    outward, inward = postcode.split()
    letter = inward[position]
    misread = inward[:position] + _AS_OCR.get(letter, letter) + inward[position + 1 :]
    assert postcode in find_postcodes(f"{outward} {misread}")
