# matcher._speedups, built from matcher/_speedups*.c (one source per function; see _speedups.h).
from collections.abc import Sequence
from typing import Any

def postcodes_in_words(words: Sequence[str], /) -> set[str] | None: ...
def find_phrases(
    tokens: Sequence[str],
    lengths: dict[str, tuple[int, ...]],
    shards: tuple[dict[str, int | tuple[int, ...] | frozenset[int]], ...],
    pairs: tuple[set[str], ...],
    /,
) -> list[int | tuple[int, ...] | frozenset[int]]: ...
def phone_key(raw: str, rules: tuple[int, bytes, tuple[bytes, ...]], /) -> str | None: ...
def stored_run(
    columns: Sequence[list[Any]],
    records: list[Any],
    row: int,
    end: int,
    phone_at: int,
    email_at: int,
    entry_shards: tuple[dict[str, Any], ...],
    phone_shards: tuple[dict[str, Any], ...],
    email_shards: tuple[dict[str, Any], ...],
    compiled: type[Any],
    /,
) -> tuple[int, int, int, int, int]: ...
