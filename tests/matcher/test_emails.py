from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.emails import email_keys, find_in_text
from matcher.errors import InvalidEmail


@pytest.mark.parametrize(
    ("raw", "exact", "canonical"),
    [
        ("jane@example.com", "jane@example.com", "jane@example.com"),
        ("  Jane@Example.COM ", "jane@example.com", "jane@example.com"),
        ("mailto:jane@example.com?subject=hi", "jane@example.com", "jane@example.com"),
        ("Jane Smith <jane@example.com>", "jane@example.com", "jane@example.com"),
        ("jane+prison@example.com", "jane+prison@example.com", "jane@example.com"),
        ("Jane.Smith@gmail.com", "jane.smith@gmail.com", "janesmith@gmail.com"),
        ("j.a.n.e.smith+x@googlemail.com", "j.a.n.e.smith+x@googlemail.com", "janesmith@gmail.com"),
        ("jane.smith@example.com", "jane.smith@example.com", "jane.smith@example.com"),
        ("jane@exämple.com", "jane@xn--exmple-cua.com", "jane@xn--exmple-cua.com"),
    ],
)
def test_keys(raw: str, exact: str, canonical: str) -> None:
    keys = email_keys(raw)
    assert (keys.exact, keys.canonical) == (exact, canonical)


def test_dots_matter_outside_gmail() -> None:
    assert email_keys("jane.smith@example.com").canonical != email_keys("janesmith@example.com").canonical


@pytest.mark.parametrize(
    "raw", ["", "jane", "jane@", "@example.com", "jane@@example.com", "a" * 300 + "@x.com"]
)
def test_invalid_names_the_field(raw: str) -> None:
    with pytest.raises(InvalidEmail) as info:
        email_keys(raw, "protected[0].emails[2]")
    assert info.value.field == "protected[0].emails[2]"


def test_find_in_text() -> None:
    text = "Write to Jane.Smith+x@Example.com, or jane [at] example [dot] org. Not me@ or @you."
    assert [k.exact for k in find_in_text(text)] == ["jane.smith+x@example.com", "jane@example.org"]
    assert find_in_text("nothing here") == []


@given(
    st.sampled_from(["jane", "j.smith", "x_y"]), st.sampled_from(["example.com", "gmail.com", "Example.ORG"])
)
def test_normalising_twice_changes_nothing(local: str, domain: str) -> None:
    keys = email_keys(f"{local}@{domain}")
    assert email_keys(keys.exact) == keys
    assert email_keys(keys.canonical).canonical == keys.canonical
