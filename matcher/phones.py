"""Phone numbers to canonical E.164 keys.

phonenumbers is the authority (``slow_key``); ``fast_key`` handles the common GB and NANP shapes
by hand and must agree with it wherever it answers (tests/matcher/test_phone_corpus.py).

Before parsing, a dial string is reduced to its *compact* form: digits (any script, as ASCII),
a leading ``+``, ``*`` and ``#``, and ``,`` for every pause or extension marker (``,`` ``;``
``p`` ``w`` ``x`` ``ext`` ``extension``...). Dialler and site prefixes are stripped from the
compact form, then everything from the first pause/extension marker on is dropped, and what is
left goes to phonenumbers.

Letters other than those markers make a number unreadable: phonenumbers would read three or
more of them as keypad letters ("07911 123456 (home)" becomes +4479111234564663), a silently
wrong key. So does ``*`` or ``#`` left after prefix stripping (a feature code this profile does
not know, e.g. "*67" in GB): dropping it would key a different number.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from matcher.budget import PHONE_CANDIDATE, PHONE_SLOW, Budget
from matcher.errors import ConfigError, InvalidNumber, TooMuchToRead, UnblockableNumber
from matcher.profile import PhoneRules

NORMALISER_VERSION = "phones-1"

MAX_INPUT_CHARS = 64
MAX_E164_DIGITS = 15
# A stack deeper than this ("1470 9 141 ...") is not a dial string anyone uses.
MAX_PREFIX_DEPTH = 4
MAX_REREADS = 4

# find_in_text: a written number has at most this many digit groups and digits
# ("1470 9 00 44 (0) 7911 123 456"); one text costs at most TEXT_MAX_CANDIDATES candidate
# strings, of which at most TEXT_SLOW_BUDGET may miss the fast path (each a phonenumbers parse).
# A text that needs more is TooMuchToRead (held for a person), never screened in part.
TEXT_MAX_GROUPS = 8
TEXT_MAX_DIGITS = 22
TEXT_MAX_CANDIDATES = 10_000
TEXT_SLOW_BUDGET = 2_000

_FAST_SEPARATORS = b" -./()\t"
_REGION_CODES = {"GB": 1, "US": 2}  # the national shapes matcher._speedups.phone_key knows

# ``python_fast_key`` compiled (matcher/_speedups_phones.c), for profiles whose dialable numbers start
# with one of a set of bytes; tests/matcher/test_speedups.py holds the two equal.
_compiled_key: Callable[[str, tuple[int, bytes, tuple[bytes, ...]]], str | None] | None
try:
    from matcher._speedups import phone_key as _compiled_key
except ImportError:  # pragma: no cover - a build without the C extension
    _compiled_key = None
_E164 = PhoneNumberFormat.E164
_0, _1, _2 = b"012"  # byte values; a NANP area code (so a ten-digit national number) starts 2-9

# After NFKC, characters that only lay a number out (dashes, spaces and format characters are
# recognised by their Unicode category).
_LAYOUT = frozenset(".()[]/~:=\"'\u2053\u223c\u30fc\u2212")
_EXTENSION_WORDS = ("extension", "extn", "ext", "x", "p", "w")  # longest first
_LETTER = re.compile(r"[^\W\d_]")
_NUMBER_IN_TEXT = re.compile(r"(?:[+\uff0b][\s(\[]*)?[(\[]?\d(?:[\d\s\-./()\[\]\u2010-\u2015\u2212]*\d)?")
_DIGIT_GROUP = re.compile(r"\d+")
# A run of _NUMBER_IN_TEXT's characters holding N digits; one C-level search rules a text out.
_SEPARATED_DIGITS = r"\d(?:[\d\s\-./()\[\]\u2010-\u2015\u2212]*?\d){%d}"
# The same test for ASCII text in two C passes and no backtracking (a tenth of the regex's cost
# on an envelope): each digit becomes "0", the separators that run allows are deleted, anything
# else becomes "x"; the text holds such a run of N digits iff N zeros stand together.
_RUN_SEPARATORS = bytes(i for i in range(128) if re.fullmatch(r"[\s\-./()\[\]]", chr(i)))
_RUN_DIGITS = bytes(ord("0") if chr(i).isdigit() and i < 128 else ord("x") for i in range(256))
_PREFIX = re.compile(r"[0-9*#]{1,6}")


class _TextToAscii(dict[int, str]):
    """str.translate table for a span of _NUMBER_IN_TEXT: digits of any script to ASCII, the
    full-width plus to "+", whitespace and non-ASCII dashes to a space. _compact reads them all
    alike, so the key is unchanged; the fast path then takes them."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        value = unicodedata.decimal(ch, None)
        if ch.isspace():
            out = " "
        elif code < 128:
            out = ch
        else:
            out = "+" if ch == "\uff0b" else " " if value is None else str(value)
        self[code] = out
        return out


_TEXT_TO_ASCII = _TextToAscii()


class _Unreadable:
    """A slow-path failure, as a value so that the cache keeps it too."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


class PhoneNormaliser:
    """Dial strings to E.164 keys under one region profile, plus an establishment's own prefixes.
    Immutable after construction apart from its bounded slow-path cache; safe to share."""

    def __init__(self, rules: PhoneRules, extra_prefixes: Sequence[str] = ()) -> None:
        for prefix in extra_prefixes:
            # a prefix holding "+" or "," would break the fast path's reasoning
            if not _PREFIX.fullmatch(prefix):
                raise ConfigError("dial_prefixes", prefix, "Expected 1-6 digits, * or #.")
        self.rules = rules
        self.region = rules.region
        self.prefixes: tuple[str, ...] = tuple(
            sorted(set(rules.dial_prefixes) | set(extra_prefixes), key=lambda p: (-len(p), p))
        )
        # Prefix stripping works on the (ASCII) compact form as bytes: the fast path never decodes.
        by_head: dict[int, list[bytes]] = {}
        for prefix in self.prefixes:
            by_head.setdefault(ord(prefix[0]), []).append(prefix.encode())
        self._prefixes_by_head = {head: tuple(group) for head, group in by_head.items()}
        self._lone_heads = frozenset(h for h, group in by_head.items() if group == [bytes([h])])
        try:
            self._dialable_match = re.compile(rules.dialable_after_prefix.encode("ascii")).match
        except UnicodeEncodeError:
            raise ConfigError(
                "phones.dialable_after_prefix", rules.dialable_after_prefix, "Expected an ASCII regex."
            ) from None
        starts = _literal_starts(rules.dialable_after_prefix)
        self._dialable_starts = None if starts is None else tuple(s.encode() for s in starts)
        # the usual ^(\+|0): a set of first bytes, the cheapest check there is
        self._dialable_heads = (
            frozenset(s[0] for s in self._dialable_starts)
            if self._dialable_starts is not None and all(len(s) == 1 for s in self._dialable_starts)
            else None
        )
        self._national: Callable[[bytes], str | None] | None = _NATIONAL_SHAPES.get(rules.region)
        # phone_key's rules: None sends every string through python_fast_key
        self._compiled_rules: tuple[int, bytes, tuple[bytes, ...]] | None = None
        if _compiled_key is not None and self._dialable_heads is not None:
            region = _REGION_CODES.get(rules.region, 0) if self._national is not None else 0
            heads = bytes(sorted(self._dialable_heads))
            self._compiled_rules = (region, heads, tuple(p.encode() for p in self.prefixes))
        self._cached_slow: Callable[[str], str | _Unreadable] = functools.lru_cache(maxsize=rules.cache_size)(
            self._slow_result
        )
        self._own_prefix = f"+{phonenumbers.country_code_for_region(rules.region)}"
        self._enough_digits = re.compile(_SEPARATED_DIGITS % (rules.min_blockable_digits - 1))
        protected: set[str] = set()
        for number in rules.protected_numbers:
            try:
                protected.add(self.key(number))
            except InvalidNumber as exc:
                detail = f"Not a readable number: {exc.detail}."
                raise ConfigError("phones.protected", number, detail) from None
        self._protected = frozenset(protected)

    # -- public -------------------------------------------------------------------------------

    def key(self, raw: str) -> str:
        rules = self._compiled_rules
        if rules is not None and _compiled_key is not None:
            found = _compiled_key(raw, rules)
        else:
            found = self.python_fast_key(raw)
        if found is not None:
            return found
        if len(raw) > MAX_INPUT_CHARS:  # not worth a place in the cache
            raise InvalidNumber("number", f"is longer than {MAX_INPUT_CHARS} characters")
        result = self._cached_slow(raw)
        if isinstance(result, str):
            return result
        raise InvalidNumber("number", result.detail)

    def fast_key(self, raw: str) -> str | None:
        """The key of a dial string in one of the common shapes, or None (then ``slow_key``)."""
        rules = self._compiled_rules
        if rules is not None and _compiled_key is not None:
            return _compiled_key(raw, rules)
        return self.python_fast_key(raw)

    def python_fast_key(self, raw: str) -> str | None:
        """``fast_key`` in Python: the reference for the compiled one, and the fallback."""
        if len(raw) > MAX_INPUT_CHARS or not raw.isascii():
            return None
        c = raw.encode()
        if not c.isdigit():  # bytes.isdigit: ASCII digits only
            c = c.translate(None, _FAST_SEPARATORS)
            if not c.isdigit():
                if c[:1] == b"+" and c[1:].isdigit():
                    # never stripped: dial prefixes are digits, * and #, so none matches a leading +
                    return _international_shape(c)
                return None
        national = self._national
        if national is None:
            return None
        # _strip_prefixes, inlined: a dialable c stays; a lone one-digit prefix ("9 0...") is
        # handled here; anything else goes to _strip_stack
        heads = self._dialable_heads
        stripped = None
        if heads is None:
            if self._dialable_match(c) is None:
                stripped = self._strip_stack(c, True, MAX_PREFIX_DEPTH)
        elif c[0] not in heads:
            if c[0] in self._lone_heads and len(c) > 1 and c[1] in heads:
                stripped = c[1:]
            elif c[0] in self._prefixes_by_head:
                stripped = self._strip_stack(c, True, MAX_PREFIX_DEPTH)
        return national(c if stripped is None else stripped)

    def slow_key(self, raw: str) -> str:
        result = self._slow_result(raw)
        if isinstance(result, str):
            return result
        raise InvalidNumber("number", result.detail)

    def blockable_key(self, raw: str, field: str) -> str:
        try:
            key = self.key(raw)
        except InvalidNumber as exc:
            raise InvalidNumber(field, exc.detail) from None
        if key in self._protected:
            raise UnblockableNumber(
                field, "is an emergency, helpline or legal-advice number and can never be blocked"
            )
        if len(key) - 1 > MAX_E164_DIGITS:
            raise InvalidNumber(field, f"has more than {MAX_E164_DIGITS} digits, too long for E.164")
        # leading zeros kept by phonenumbers ("0800 123" -> +44 0800123) do not make a number longer.
        # E.164 is "+" country code + national number and country codes are prefix-free, so the
        # region's own numbers need no second parse (a build parses every blocked number).
        own = self._own_prefix
        if key.startswith(own):
            nsn = key[len(own) :].lstrip("0")
        else:
            nsn = phonenumbers.national_significant_number(phonenumbers.parse(key, None)).lstrip("0")
        if len(nsn) < self.rules.min_blockable_digits:
            raise UnblockableNumber(
                field,
                f"is a short code ({len(nsn)} digits, fewer than {self.rules.min_blockable_digits}) "
                "and can never be blocked",
            )
        return key

    def is_protected(self, key: str) -> bool:
        return key in self._protected

    def find_in_text(self, text: str, budget: Budget | None = None) -> list[str]:
        """Keys of the numbers written in `text`. Every run of digits and layout characters is
        cut into candidates at its group boundaries (up to TEXT_MAX_GROUPS groups and between
        min_blockable_digits and TEXT_MAX_DIGITS digits), so a number survives neighbours such as
        "ring 07911 123456 2 times"; keys that read no real number are harmless lookups.
        TooMuchToRead when the text holds more than TEXT_MAX_CANDIDATES candidates, or more than
        TEXT_SLOW_BUDGET that only phonenumbers reads: a number past either would go unread.
        OverBudget when `budget` runs out first."""
        if not self.has_enough_digits(text):  # most envelopes and many letters
            return []
        keys: dict[str, None] = {}
        tried: set[str] = set()
        slow_left = TEXT_SLOW_BUDGET
        min_digits = self.rules.min_blockable_digits
        for span_match in _NUMBER_IN_TEXT.finditer(text):
            span = span_match.group()
            if len(span) < min_digits:  # house numbers, postcode digits: cannot hold a number
                continue
            if not span.isascii() or "\n" in span:  # "07911\u00a0123456": same key, fast path
                span = span.translate(_TEXT_TO_ASCII)
            groups = [(m.start(), m.end()) for m in _DIGIT_GROUP.finditer(span)]
            for i, (first_start, _) in enumerate(groups):
                digits = 0
                for start, end in groups[i : i + TEXT_MAX_GROUPS]:
                    digits += end - start
                    if digits > TEXT_MAX_DIGITS:
                        break
                    if digits < min_digits:
                        continue
                    # the span's first group is tried with and without what leads it ("+", "(")
                    for begin in (0, first_start) if i == 0 and first_start else (first_start,):
                        candidate = span[begin:end]
                        if candidate in tried:
                            continue
                        if len(tried) >= TEXT_MAX_CANDIDATES:
                            raise TooMuchToRead("numbers", TEXT_MAX_CANDIDATES)
                        tried.add(candidate)
                        if budget is not None:
                            budget.spend(PHONE_CANDIDATE, "numbers")
                        found = self.fast_key(candidate)
                        if found is None:
                            if not slow_left:
                                raise TooMuchToRead("numbers only phonenumbers reads", TEXT_SLOW_BUDGET)
                            if budget is not None:
                                budget.spend(PHONE_SLOW, "numbers only phonenumbers reads")
                            slow_left -= 1
                            result = self._cached_slow(candidate)
                            if isinstance(result, str):
                                found = result
                        if found is not None:
                            keys[found] = None
        return list(keys)

    def has_enough_digits(self, text: str) -> bool:
        """Whether `text` holds min_blockable_digits digits separated only by layout characters
        (the only texts where find_in_text can find a number)."""
        if text.isascii():
            run = text.encode("ascii").translate(_RUN_DIGITS, _RUN_SEPARATORS)
            return b"0" * self.rules.min_blockable_digits in run
        return self._enough_digits.search(text) is not None

    # -- internals ----------------------------------------------------------------------------

    def _dialable(self, c: bytes) -> bool:
        if self._dialable_starts is not None:
            return c.startswith(self._dialable_starts)
        return self._dialable_match(c) is not None

    def _strip_prefixes(self, c: bytes, plain: bool) -> bytes:
        """`c` without the dialler/site prefixes in front of it; `c` itself when it is dialable
        already or no stack of prefixes leaves something dialable. `plain`: `c` holds no pause or
        extension marker, so the dialable check needs no cutting."""
        if self._dialable(c if plain else _before_extension(c)):
            return c
        stripped = self._strip_stack(c, plain, MAX_PREFIX_DEPTH)
        return c if stripped is None else stripped

    def _strip_stack(self, c: bytes, plain: bool, depth: int) -> bytes | None:
        for prefix in self._prefixes_by_head.get(c[0], ()) if c else ():
            if not c.startswith(prefix):
                continue
            rest = c[len(prefix) :].lstrip(b",")  # "9,,0207...": pauses for the outside line
            if self._dialable(rest if plain else _before_extension(rest)):
                return rest
            if depth > 1:
                deeper = self._strip_stack(rest, plain, depth - 1)
                if deeper is not None:
                    return deeper
        return None

    def _slow_result(self, raw: str) -> str | _Unreadable:
        try:
            compact = _compact(raw)
        except ValueError as exc:
            return _Unreadable(str(exc))
        number = _before_extension(self._strip_prefixes(compact.lstrip(b","), plain=False))
        if b"*" in number or b"#" in number:
            return _Unreadable("holds * or # that is not part of a known dial prefix")
        if b"+" in number[1:]:
            return _Unreadable("has a + that is not at the start")
        if not any(_0 <= byte <= _0 + 9 for byte in number):
            return _Unreadable("holds no digits before the extension")
        text = number.decode()
        try:
            # phonenumbers is not idempotent on some leading-zero numbers: "000447 000 000000"
            # reads as +4400447000000000, which reads as +440447000000000. Keys must be fixed
            # points (a key is looked up as it is), so read again until the answer stays put.
            for _ in range(MAX_REREADS):
                key = phonenumbers.format_number(phonenumbers.parse(text, self.region), _E164)
                if key == text or _international_shape(key.encode()) == key:  # known fixed points
                    return key
                text = key
        except NumberParseException as exc:
            return _Unreadable(f"is not a telephone number ({exc})")
        return _Unreadable("has no stable reading as a telephone number")


def _compact(raw: str) -> bytes:
    """Digits (as ASCII), + * #, and "," for each pause or extension marker; ValueError if the
    string holds anything else that is not layout."""
    if len(raw) > MAX_INPUT_CHARS:
        raise ValueError(f"is longer than {MAX_INPUT_CHARS} characters")
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if text.startswith("tel:"):
        text = text[4:].split(";", 1)[0]  # RFC 3966 parameters: ext=, phone-context=, isub=...
    for word in _EXTENSION_WORDS:
        if word in text:
            text = text.replace(word, ",")
    letter = _LETTER.search(text)
    if letter is not None:
        raise ValueError(f"holds letters ({letter.group()!r}...); write the number in digits")
    out: list[str] = []
    for ch in text:
        if "0" <= ch <= "9" or ch in "*#,":
            out.append(ch)
        elif ch == "+":
            if not out or out[-1] != "+":
                out.append("+")
        elif ch == ";":  # a "wait" in a dial string, or a parameter after the number
            out.append(",")
        elif ch in _LAYOUT or ch.isspace() or unicodedata.category(ch) in ("Pd", "Zs", "Cf"):
            continue
        else:
            value = unicodedata.decimal(ch, None)
            if value is None:
                raise ValueError(f"holds {ch!r}, which has no place in a telephone number")
            out.append(str(value))
    compact = "".join(out)
    if not any(ch.isdigit() for ch in compact):
        raise ValueError("holds no digits")
    return compact.encode()


def _before_extension(c: bytes) -> bytes:
    """`c` up to its first pause/extension marker: "," or a "#" that follows a digit."""
    cut = c.find(b",")
    end = len(c) if cut < 0 else cut
    hash_at = c.find(b"#", 1, end)
    while hash_at > 0:
        if _0 <= c[hash_at - 1] <= _0 + 9:
            return c[:hash_at]
        hash_at = c.find(b"#", hash_at + 1, end)
    return c[:end]


def _literal_starts(pattern: str) -> tuple[str, ...] | None:
    """``^(\\+|0)`` -> ("+", "0"): a dialable pattern made only of literal starts is checked
    with startswith, several times cheaper than a regex match."""
    literal = r"(?:\\[+*#]|[0-9])+"
    m = re.fullmatch(rf"\^\((?:\?:)?({literal}(?:\|{literal})*)\)", pattern)
    if m is None:
        return None
    return tuple(alt.replace("\\", "") for alt in m.group(1).split("|"))


# -- fast shapes ------------------------------------------------------------------------------
# Each maps a compact, prefix-stripped number to what phonenumbers.parse(c, region) formats as
# E.164, or None where unsure. Why they hold (phonenumbers 8.13-9.x metadata): GB national
# numbers match [1-357-9]\d{9}|[18]\d{8}|8\d{6}, possible lengths 7, 9, 10, trunk prefix
# "0|180020", international prefix 00. Ten digits are always a possible length, so a trunk 0
# before ten digits (not starting 0) is always stripped, and "44" + ten digits is too long to be
# national, so the 44 is the country code. NANP: [2-9]\d{9}|3\d{6}, length 10, trunk 1, IDD 011.
# The corpus test checks every claim against phonenumbers.


def _international_shape(c: bytes) -> str | None:
    n = len(c)
    if n == 13 and c[1:3] == b"44" and c[3] != _0:
        return c.decode()
    if n == 14 and c[1:4] == b"440" and c[4] != _0:  # +44 (0) 7911 ...
        return "+44" + c[4:].decode()
    if n == 12 and c[1] == _1 and c[2] >= _2:
        return c.decode()
    return None


def _gb_national(c: bytes) -> str | None:
    n = len(c)
    if n < 10:
        return None
    if c[0] == _0:
        if n == 11 and c[1] != _0:
            return "+44" + c[1:].decode()
        if c[1] == _0:  # international prefix 00
            if n == 14 and c[2:4] == b"44" and c[4] != _0:
                return "+44" + c[4:].decode()
            if n == 15 and c[2:5] == b"440" and c[5] != _0:
                return "+44" + c[5:].decode()
            if n == 13 and c[2] == _1 and c[3] >= _2:
                return "+1" + c[3:].decode()
        return None
    if c[:2] == b"44":
        if n == 12 and c[2] != _0:
            return "+" + c.decode()
        if n == 13 and c[2] == _0 and c[3] != _0:
            return "+44" + c[3:].decode()
        return None  # ten digits "44 0800 1234" read as +44 800 1234
    if n == 10:
        return "+44" + c.decode()
    return None


def _us_national(c: bytes) -> str | None:
    n = len(c)
    if n == 10 and c[0] >= _2:
        return "+1" + c.decode()
    if n == 11 and c[0] == _1 and c[1] >= _2:
        return "+" + c.decode()
    if c[:3] == b"011":  # international prefix
        if n == 14 and c[3] == _1 and c[4] >= _2:
            return "+1" + c[4:].decode()
        if n == 15 and c[3:5] == b"44" and c[5] != _0:
            return "+44" + c[5:].decode()
        if n == 16 and c[3:6] == b"440" and c[6] != _0:
            return "+44" + c[6:].decode()
    return None


_NATIONAL_SHAPES: dict[str, Callable[[bytes], str | None]] = {"GB": _gb_national, "US": _us_national}
