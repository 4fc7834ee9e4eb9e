from __future__ import annotations

import pytest

from matcher.address_parse import normalise_text
from matcher.names import name_evidence, parse_name


@pytest.mark.parametrize(
    ("raw", "surname", "forenames"),
    [
        ("Jane Smith", "SMITH", ("JANE",)),
        ("  jane   smith ", "SMITH", ("JANE",)),
        ("Mrs Jane Smith", "SMITH", ("JANE",)),
        ("Dr. J. A. Smith Jnr", "SMITH", ("J", "A")),
        ("SMITH, JANE", "SMITH", ("JANE",)),
        ("Smith, Mrs Jane Ann", "SMITH", ("JANE", "ANN")),
        ("Jane O'Neill", "ONEILL", ("JANE",)),
        ("Jane O Neill", "ONEILL", ("JANE",)),
        ("Jane O\u2019Neill", "ONEILL", ("JANE",)),
        ("John Mc Donald", "MCDONALD", ("JOHN",)),
        ("John MacDonald", "MACDONALD", ("JOHN",)),
        ("Jane Smith-Jones", "SMITH-JONES", ("JANE",)),
        ("Mary-Jane Smith", "SMITH", ("MARY", "JANE")),
        ("Anna van der Berg", "VAN DER BERG", ("ANNA",)),
        ("Mary Lord", "LORD", ("MARY",)),  # only leading titles are titles
        ("Smith", "SMITH", ()),
        ("Renée Dupont", "DUPONT", ("RENEE",)),
    ],
)
def test_parse_name(raw: str, surname: str, forenames: tuple[str, ...]) -> None:
    name = parse_name(raw)
    assert name is not None
    assert (name.surname, name.forenames) == (surname, forenames)


@pytest.mark.parametrize("raw", ["", "   ", "Mr", "Mrs.", "--", "Dr Rev"])
def test_parse_name_without_surname(raw: str) -> None:
    assert parse_name(raw) is None


@pytest.mark.parametrize(
    ("protected", "letter", "evidence"),
    [
        ("Jane Smith", "Mrs Jane Smith, 14 High St", "full_name"),
        ("Jane Smith", "MRS J SMITH", "full_name"),
        ("Jane Smith", "mrs j. smith", "full_name"),
        ("Jane Ann Smith", "J. A. Smith", "full_name"),
        ("Jane Ann Smith", "JA Smith", "full_name"),
        ("Jane Smith", "Jane Elizabeth Smith", "full_name"),  # one unknown middle name
        ("Jane Smith", "SMITH, JANE", "full_name"),
        ("Jane Smith", "Smith, Mrs J", "full_name"),
        ("Jane Smith", "Smith Jane", "surname"),  # after the surname only with a comma
        ("Jane Smith", "Mrs Smith", "surname"),
        ("Jane Smith", "John Smith", "surname"),
        ("Jane Smith", "The Smith family", "surname"),
        ("Jane Smith", "Jane Smithson", None),
        ("Jane Smith", "Jane Goldsmith", None),
        ("Jane Smith", "Jane Jones", None),
        ("Jane O'Neill", "Mrs J O'Neill", "full_name"),
        ("Jane O'Neill", "JANE ONEILL", "full_name"),
        ("Jane O'Neill", "Jane O Neill", "full_name"),
        ("Jane ONeill", "Jane O Neill", "full_name"),
        ("Jane O'Neill", "Mrs O'Neill", "surname"),
        ("Jane O'Neill", "Jane Neill", None),
        ("John McDonald", "J Mc Donald", "full_name"),
        ("John Mc Donald", "JOHN MCDONALD", "full_name"),
        ("John McDonald", "John MacDonald", None),  # Mc and Mac are different names
        ("Jane Smith-Jones", "Jane Smith-Jones", "full_name"),
        ("Jane Smith-Jones", "Jane Smith Jones", "full_name"),
        ("Jane Smith-Jones", "JANE SMITHJONES", "full_name"),
        ("Jane Smith-Jones", "Jane Smith", "surname"),  # a half is surname evidence at most
        ("Jane Smith-Jones", "Jane Jones", "surname"),
        ("Anna van der Berg", "A van der Berg", "full_name"),
        ("Anna van der Berg", "Anna Vanderberg", "full_name"),
        ("Smith", "Jane Smith", "surname"),  # no forename known: surname at most
    ],
)
def test_name_evidence(protected: str, letter: str, evidence: str | None) -> None:
    name = parse_name(protected)
    assert name is not None
    assert name_evidence(name, normalise_text(letter)) == evidence


def test_name_evidence_reads_the_plain_words_not_the_address_expansions() -> None:
    name = parse_name("Jane Drive")  # DR is an abbreviation of DRIVE in addresses, not in names
    assert name is not None
    assert name_evidence(name, normalise_text("Ms J Drive, 14 Park Dr")) == "full_name"
