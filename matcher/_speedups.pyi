from collections.abc import Sequence

def postcodes_in_words(words: Sequence[str], /) -> set[str] | None: ...
def find_phrases(
    tokens: Sequence[str],
    lengths: dict[str, tuple[int, ...]],
    shards: tuple[dict[str, int | tuple[int, ...] | frozenset[int]], ...],
    pairs: tuple[set[str], ...],
    /,
) -> list[int | tuple[int, ...] | frozenset[int]]: ...
def phone_key(raw: str, rules: tuple[int, bytes, tuple[bytes, ...]], /) -> str | None: ...
