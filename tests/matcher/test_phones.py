from __future__ import annotations

import itertools
from dataclasses import replace

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher.errors import ConfigError, InvalidNumber, TooMuchToRead, UnblockableNumber
from matcher.phones import NORMALISER_VERSION, PhoneNormaliser

GB_RULES = load_profile(environ={"NOCONTACT_PROFILE": "gb"}).phones
US_RULES = load_profile(environ={"NOCONTACT_PROFILE": "us"}).phones
GB = PhoneNormaliser(GB_RULES)
US = PhoneNormaliser(US_RULES)

MOBILE = "+447911123456"


@pytest.mark.parametrize(
    "raw",
    [
        "07911123456",
        "07911 123456",
        "07911 123 456",
        "07911-123-456",
        "07911.123.456",
        "07911/123456",
        "(07911) 123456",
        "+447911123456",
        "+44 7911 123456",
        "+44 (0)7911 123456",
        "+44(0)7911-123456",
        "+44 0 7911 123456",
        "+ 44 7911 123456",
        "++44 7911 123456",
        "00447911123456",
        "0044 7911 123456",
        "00 44 (0) 7911 123456",
        "447911123456",
        "44 7911 123456",
        "4407911123456",
        "7911 123456",
        # dialler and site prefixes, stacked too
        "9 07911 123456",
        "907911123456",
        "9,07911123456",
        "9,,07911123456",
        "141 07911 123456",
        "14107911123456",
        "1470 07911 123456",
        "9 141 07911 123456",
        "1470 9 07911 123456",
        "141 9 07911123456",
        "9 +44 7911 123456",
        "9 0044 7911 123456",
        # extensions and pauses
        "07911 123456 ext. 204",
        "07911 123456 ext 204",
        "07911 123456 extension 204",
        "07911 123456 EXT 204",
        "07911123456x204",
        "07911 123456 x 204",
        "07911123456,204",
        "07911123456;204",
        "07911123456#204",
        "07911123456p204",
        "07911123456w1",
        "07911 123456 ext",
        # tel: URIs
        "tel:+44-7911-123456",
        "tel:+44-7911-123456;ext=204",
        "TEL:+447911123456",
        "tel:07911123456",
        # unicode
        "07911\u2013123456",
        "07911\u2014123\u2012456",
        "07911\u00a0123456",
        "+44\u202f7911\u2009123456",
        "\uff10\uff17\uff19\uff11\uff11 \uff11\uff12\uff13\uff14\uff15\uff16",
        "\uff0b44 7911 123456",
        "\u0660\u0667\u0669\u0661\u0661\u0661\u0662\u0663\u0664\u0665\u0666",
        "  07911 123456\n",
    ],
)
def test_every_way_of_writing_one_gb_number_reaches_one_key(raw: str) -> None:
    assert GB.key(raw) == MOBILE
    assert GB.slow_key(raw) == MOBILE


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("141 07911123456", "+447911123456"),
        ("01414960000", "+441414960000"),  # Glasgow 0141, not prefix 141 + 0496...
        ("0141 496 0000", "+441414960000"),
        ("9 0141 496 0000", "+441414960000"),
        ("141 0141 496 0000", "+441414960000"),
        ("07911123457", "+447911123457"),
        ("07911123465", "+447911123465"),
        ("07911 123456 7", "+4479111234567"),  # one digit more is another (invalid) number
        ("0791112345", "+44791112345"),
        ("020 7946 0000", "+442079460000"),
        ("020 7946 0001", "+442079460001"),
        ("0047 911 123456", "+47911123456"),  # Norway, not +44 7911...
        ("+1 212 555 0100", "+12125550100"),
        ("001 212 555 0100", "+12125550100"),
        ("0800 123 4567", "+448001234567"),
        ("0800 1111", "+448001111"),
        ("80 07911 123456", "+448007911123456"),  # 80 is not a GB profile prefix
    ],
)
def test_different_numbers_do_not_collide(raw: str, key: str) -> None:
    assert GB.key(raw) == key


def test_the_collision_table_has_distinct_keys_where_numbers_differ() -> None:
    pairs = [
        ("141 07911123456", "01414960000"),
        ("07911123456", "07911123457"),
        ("0044 7911 123456", "0047 911 123456"),
    ]
    for a, b in pairs:
        assert GB.key(a) != GB.key(b)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("(212) 555-0100", "+12125550100"),
        ("212-555-0100", "+12125550100"),
        ("212.555.0100", "+12125550100"),
        ("2125550100", "+12125550100"),
        ("1-212-555-0100", "+12125550100"),
        ("1 (212) 555-0100", "+12125550100"),
        ("12125550100", "+12125550100"),
        ("+1 212 555 0100", "+12125550100"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("9 1 212 555 0100", "+12125550100"),
        ("9 212 555 0100", "+12125550100"),
        ("*67 212 555 0100", "+12125550100"),
        ("*67 1 212 555 0100", "+12125550100"),
        ("*82 9 1 212 555 0100", "+12125550100"),
        ("212-555-0100 x12", "+12125550100"),
        ("tel:+1-212-555-0100", "+12125550100"),
        ("9175550100", "+19175550100"),  # starts with 9 but already dialable: not stripped
        ("9 917 555 0100", "+19175550100"),
        ("011 44 7911 123456", "+447911123456"),
        ("9 011 44 7911 123456", "+447911123456"),
        ("+44 7911 123456", "+447911123456"),
        ("212 555 0101", "+12125550101"),
    ],
)
def test_us_profile(raw: str, key: str) -> None:
    assert US.key(raw) == key
    assert US.slow_key(raw) == key


def test_establishment_prefixes_are_stripped_only_for_that_establishment() -> None:
    site = PhoneNormaliser(GB_RULES, extra_prefixes=["80", "*31#"])
    assert site.prefixes == ("*31#", "1470", "141", "80", "9")
    assert site.key("80 07911 123456") == MOBILE
    assert site.key("9 80 07911 123456") == MOBILE
    assert site.key("*31#07911123456") == MOBILE
    assert site.key("8007911123456") == MOBILE
    assert GB.key("80 07911 123456") == "+448007911123456"
    with pytest.raises(InvalidNumber):
        GB.key("*31#07911123456")
    # a number that is dialable as written is never stripped
    assert site.key("0800 123 4567") == "+448001234567"


def test_drama_range_is_invalid_to_libphonenumber_but_blockable() -> None:
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+447700900123"))
    assert GB.key("07700 900123") == "+447700900123"
    assert GB.fast_key("07700 900123") == "+447700900123"
    assert GB.blockable_key("07700 900 123", "protected[0].phones[0]") == "+447700900123"
    assert GB.key("9 07700900123") == GB.key("+44 7700 900123")


@pytest.mark.parametrize(
    "raw",
    [
        "999",
        "112",
        "111",
        "101",
        "116123",
        "116 000",
        "+44 999",
        "9 999",
        "0345 345 4345",  # legal advice, from the profile
        "+44 345 345 4345",
        "020 7253 3323",
        "0808 802 0060",
        "9 0808 2000 247",
        "12345",
        "0800 123",  # phonenumbers keeps the 0 (+440800123): six digits all the same
        "+44 800 123",
    ],
)
def test_protected_and_short_numbers_are_never_blockable(raw: str) -> None:
    with pytest.raises(UnblockableNumber) as info:
        GB.blockable_key(raw, "protected[1].phones[3]")
    assert info.value.field == "protected[1].phones[3]"
    assert str(info.value).startswith("protected[1].phones[3]: ")
    GB.key(raw)  # screening them is fine: they just never match


@pytest.mark.parametrize("raw", ["911", "988", "+1 911", "9 911", "411", "555 010"])
def test_us_protected_and_short_numbers(raw: str) -> None:
    with pytest.raises(UnblockableNumber) as info:
        US.blockable_key(raw, "phones[0]")
    assert info.value.field == "phones[0]"


def test_is_protected_takes_keys() -> None:
    assert GB.is_protected("+443453454345")
    assert GB.is_protected("+44999")
    assert GB.is_protected(GB.key("0808 802 0060"))
    assert not GB.is_protected(MOBILE)
    assert US.is_protected("+1911")


def test_blockable_numbers() -> None:
    assert GB.blockable_key("07911 123456", "phones[0]") == MOBILE
    assert GB.blockable_key("0800 1234", "phones[0]") == "+448001234"  # 7 digits: the minimum
    with pytest.raises(UnblockableNumber):
        GB.blockable_key("0800 1111", "phones[0]")  # Childline, protected in the gb profile
    assert GB.blockable_key("016977 3456", "phones[0]") == "+44169773456"
    assert US.blockable_key("(212) 555-0100", "phones[0]") == "+12125550100"


def test_a_longer_min_blockable_digits_rejects_more() -> None:
    strict = PhoneNormaliser(replace(GB_RULES, min_blockable_digits=10))
    with pytest.raises(UnblockableNumber, match="9 digits"):
        strict.blockable_key("016977 3456", "phones[0]")
    assert strict.blockable_key("07911 123456", "phones[0]") == MOBILE


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "+",
        "#",
        "tel:",
        "x" * 65,
        "0" * 65,
        "07911 123456" + " " * 53,
        "07911 123456 (home)",  # phonenumbers would read "home" as keypad digits 4663
        "mobile 07911 123456",
        "1-800-FLOWERS",
        "*67 07911 123456",  # a feature code the GB profile does not know
        "#31#07911123456",
        "07911 +123456",
        "0044",
        "+44 1",
        "+999 1234 5678",
        "07911 ½23456",
    ],
)
def test_unreadable_numbers(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        GB.key(raw)
    assert info.value.field == "number"
    with pytest.raises(InvalidNumber) as info:
        GB.blockable_key(raw, "protected[0].phones[2]")
    assert info.value.field == "protected[0].phones[2]"
    assert GB.fast_key(raw) is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("07911 123456", MOBILE),
        ("07911123456", MOBILE),
        ("+44 7911 123456", MOBILE),
        ("+44 (0)7911-123456", MOBILE),
        ("0044 7911 123456", MOBILE),
        ("447911123456", MOBILE),
        ("9 07911123456", MOBILE),
        ("9 141 07911123456", MOBILE),
        ("01414960000", "+441414960000"),
        ("+1 212 555 0100", "+12125550100"),
        ("07911 123456 ext 2", None),  # extensions: slow path
        ("07911\u00a0123456", None),  # not ASCII: slow path
        ("0800 1111", None),  # not ten digits: slow path
        ("440800123456", None),
        ("4408001234", None),  # phonenumbers reads this as +44 800 1234
        ("000447911123456", None),
    ],
)
def test_fast_path_shapes(raw: str, key: str | None) -> None:
    assert GB.fast_key(raw) == key
    if key is not None:
        assert GB.slow_key(raw) == key


def test_surprising_phonenumbers_readings_stay_on_the_slow_path() -> None:
    assert GB.key("4408001234") == "+448001234"
    assert GB.key("0800 12345") == "+44080012345"  # the trunk 0 is kept: 8 digits is no GB length
    # phonenumbers reads 000447 000 000000 as +4400447000000000, that as +440447000000000, and
    # that as +44447000000000: keys are read again until they stay put
    key = GB.key("000447 000 000000")
    assert key == "+44447000000000"
    assert GB.key(key) == key


def test_cache_off_gives_the_same_keys() -> None:
    uncached = PhoneNormaliser(replace(GB_RULES, cache_size=0))
    for raw in ["07911 123456 ext 2", "0800 1111", "07911\u00a0123456", "abc"]:
        try:
            expected: str | None = GB.key(raw)
        except InvalidNumber:
            expected = None
        for _ in range(2):
            if expected is None:
                with pytest.raises(InvalidNumber):
                    uncached.key(raw)
            else:
                assert uncached.key(raw) == expected


def test_an_unreadable_protected_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        PhoneNormaliser(replace(GB_RULES, protected_numbers=("999", "call the helpline")))
    assert info.value.key == "phones.protected"
    assert info.value.value == "call the helpline"


def test_a_regex_dialable_rule_works_like_a_literal_one() -> None:
    # same meaning as ^(\+|0), written so that it cannot take the startswith shortcut
    rules = replace(GB_RULES, dialable_after_prefix=r"^[+0]")
    regex = PhoneNormaliser(rules)
    for raw in ["9 07911123456", "141 9 07911123456", "01414960000", "9 +44 7911 123456", "07911 123456 x2"]:
        assert regex.key(raw) == GB.key(raw)


def test_normaliser_version() -> None:
    assert NORMALISER_VERSION.startswith("phones-")


FIND_CASES = [
    ("ring me on 07911 123 456 tonight", [MOBILE]),
    ("my new number is +44 (0)7911-123456!", [MOBILE]),
    ("07911123456.", [MOBILE]),
    ("(07911) 123456", [MOBILE]),
    ("tel:+44-7911-123456", [MOBILE]),
    ("call 07911 123456 2 times", [MOBILE]),
    ("07911 123456 ext 204", [MOBILE]),
    ("dial 9 07911123456 from the wing", [MOBILE]),
    ("0044 7911 123456", [MOBILE]),
    ("numbers: 07911123456, 020 7946 0000; 07911 123457", [MOBILE, "+442079460000", "+447911123457"]),
    ("07911123456/07922123456", [MOBILE, "+447922123456"]),
    ("\u0660\u0667\u0669\u0661\u0661 \u0661\u0662\u0663\u0664\u0665\u0666", [MOBILE]),
    ("ring 07911\u00a0123456", [MOBILE]),
    ("+ 07911 123456", [MOBILE]),
]


@pytest.mark.parametrize(("text", "expected"), FIND_CASES)
def test_find_in_text(text: str, expected: list[str]) -> None:
    found = GB.find_in_text(text)
    for key in expected:
        assert key in found
    # order of appearance, no duplicates
    positions = [found.index(key) for key in expected]
    assert positions == sorted(positions)
    assert len(found) == len(set(found))


def test_find_in_text_without_numbers() -> None:
    assert GB.find_in_text("") == []
    assert GB.find_in_text("Dear Jane, see you on the 3rd. Love, J") == []
    assert GB.find_in_text("x" * 20_000) == []


def test_find_in_text_us() -> None:
    assert "+12125550100" in US.find_in_text("Call me at (212) 555-0100 after 6.")


def test_find_in_text_is_bounded_on_a_long_letter() -> None:
    # numbers among words are runs of their own: a long letter of them is read whole
    words = " ".join(f"on day {n} I paid {n * 7}" for n in range(5_000))  # ~120 kB
    assert MOBILE in GB.find_in_text(words + " ring 07911 123456 " + words)
    # one run of digit groups is a candidate per window: past the caps nothing is read at all
    # (tests/matcher/test_caps.py), as a number after them would go unread
    filler = " ".join(str(n) for n in range(5_000))  # ~24 kB of digit groups
    with pytest.raises(TooMuchToRead):
        GB.find_in_text(filler + " ring 07911 123456 " + filler)


def test_find_in_text_on_a_20kb_letter() -> None:
    words = itertools.cycle(["Dear", "Jane,", "I", "hope", "you", "are", "well.", "It", "is", "cold."])
    body = " ".join(next(words) for _ in range(3_500))
    text = body + " My new number is 07911 123456 and the old one was 020 7946 0000. " + body
    assert len(text) > 20_000
    found = GB.find_in_text(text)
    assert found.index(MOBILE) < found.index("+442079460000")
    # the rest are readings of parts of those two ("020 7946" -> +440207946): harmless lookups
    assert all(key.startswith("+44") for key in found)


@pytest.mark.parametrize("prefix", ["", "+44", "9,", "1234567", "a"])
def test_a_bad_establishment_prefix_is_a_config_error(prefix: str) -> None:
    with pytest.raises(ConfigError) as info:
        PhoneNormaliser(GB_RULES, extra_prefixes=[prefix])
    assert info.value.value == prefix


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from("0123456789 \t\n-./()[]+x#A\u00a0\u2013\u0661"), max_size=24))
def test_has_enough_digits_agrees_with_the_regex(text: str) -> None:
    # the ASCII fast path must answer exactly as the regex it stands in for
    for normaliser in (GB, US):
        assert normaliser.has_enough_digits(text) == (normaliser._enough_digits.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "enough"),
    [
        ("07911 123456", True),
        ("0 7 9 1 1 1 2", True),
        ("(07)91-1.1/2[3]", True),
        ("(07)9x1-1.1/2[3]", False),
        ("079 11 x 123456", False),
        ("A1234BC HU9 5LS 2ND", False),
        ("791112", False),
        ("\u0660\u0667\u0669\u0661\u0661 \u0661\u0662", True),
        ("07911\u00a0123", True),
    ],
)
def test_has_enough_digits(text: str, enough: bool) -> None:
    assert GB.has_enough_digits(text) is enough
