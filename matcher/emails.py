"""Email keys. Two per address, match on either: the exact key (lower-cased local part @ IDNA
domain) and the canonical key (also without a +tag; for Gmail without dots, googlemail folded
into gmail), so "Jane.Doe+x@googlemail.com" and "janedoe@gmail.com" meet."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from matcher.budget import EMAIL_CANDIDATE, Budget
from matcher.errors import InvalidEmail, TooMuchToRead

NORMALISER_VERSION = "emails-2"  # 2: local parts NFKC-folded
MAX_LENGTH = 254
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

# Permissive on purpose: candidates are validated by email_keys(), misses are what matter.
_CANDIDATE = re.compile(r"[^\s<>()\[\]{},;:\"'@]{1,64}@[^\s<>()\[\]{},;:\"'@]{1,253}")
_OBFUSCATED_AT = re.compile(r"\s*[\[(]\s*at\s*[\])]\s*", re.IGNORECASE)
_BRACKETED_AT = re.compile(r"[\[(]\s*at\s*[\])]", re.IGNORECASE)  # cheap test: no leading \s*
_OBFUSCATED_DOT = re.compile(r"\s*[\[(]\s*dot\s*[\])]\s*", re.IGNORECASE)
_TRAILING = ".-_"
_SCAN_LIMIT = 200_000
# Distinct candidate addresses checked in one text: each costs email-validator ~70 us, and a letter
# of "a@b." fragments holds thousands. Past this the text is not screened automatically.
MAX_TEXT_CANDIDATES = 32


@dataclass(frozen=True, slots=True)
class EmailKeys:
    exact: str
    canonical: str

    def all(self) -> tuple[str, ...]:
        return (self.exact,) if self.exact == self.canonical else (self.exact, self.canonical)


def email_keys(raw: str, field: str = "email") -> EmailKeys:
    """Both keys of one email address; raises InvalidEmail naming `field`."""
    try:
        return _email_keys(raw.strip())
    except InvalidEmail as exc:
        raise InvalidEmail(field, exc.detail) from None


@lru_cache(maxsize=65536)
def _email_keys(raw: str) -> EmailKeys:
    text = raw
    if text.lower().startswith("mailto:"):
        text = text[7:].split("?", 1)[0]
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1 : -1]
    text = text.strip()
    if not text or len(text) > MAX_LENGTH:
        raise InvalidEmail("email", f"must be an email address of 3-{MAX_LENGTH} characters")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail("email", f"not a valid email address ({exc})") from None
    # NFKC as the phone digits and the domain (IDNA) are folded: a fullwidth or compatibility
    # form of a blocked local part (U+FF2A "Ｊ" for "J") is the same address.
    local = unicodedata.normalize("NFKC", valid.local_part).lower()
    domain = (valid.ascii_domain or valid.domain).lower()
    exact = f"{local}@{domain}"
    canonical_local = local.split("+", 1)[0] or local
    canonical_domain = domain
    if domain in GMAIL_DOMAINS:
        canonical_local = canonical_local.replace(".", "")
        canonical_domain = "gmail.com"
    return EmailKeys(exact, f"{canonical_local}@{canonical_domain}")


def find_in_text(text: str, budget: Budget | None = None) -> list[EmailKeys]:
    """Every email address written in free text (also "jane [at] example [dot] com"), in order.
    TooMuchToRead when the text holds more than MAX_TEXT_CANDIDATES distinct candidates;
    OverBudget when `budget` runs out first."""
    text = text[:_SCAN_LIMIT]
    if ("(" in text or "[" in text) and _BRACKETED_AT.search(text) is not None:
        text = _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", text))
    elif "@" not in text:
        return []
    found: list[EmailKeys] = []
    seen: set[str] = set()
    tried: set[str] = set()
    for match in _CANDIDATE.finditer(text):
        candidate = match.group(0).strip(_TRAILING)
        if candidate in tried:  # found already, or not an address (InvalidEmail is not cached)
            continue
        if len(tried) >= MAX_TEXT_CANDIDATES:
            raise TooMuchToRead("email addresses", MAX_TEXT_CANDIDATES)
        tried.add(candidate)
        if budget is not None:
            budget.spend(EMAIL_CANDIDATE, "email addresses")
        try:
            keys = _email_keys(candidate)
        except InvalidEmail:
            continue
        if keys.exact not in seen:
            seen.add(keys.exact)
            found.append(keys)
    return found
