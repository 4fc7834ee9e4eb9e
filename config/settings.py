"""One loader for every settings dataclass (``[sync]``, ``[gateway]``, ``[cases]``...): the fields
from the deployment file's table, then the environment variables the fields declare, then what
the caller gives (command-line options). One coercion for all of them, and one error that names
what the user set, the table's key or the environment variable, with its value:
``Config 'sync.max_shrink' has value 2. Expected a share between 0 and 1.``,
``Config 'NOCONTACT_MAX_DATA_AGE' has value 'soon'. Not a valid float.``

A field declares its environment variable with ``setting(default, env="NOCONTACT_...")``; a
field only the caller gives (not in the table) is declared with ``metadata=GIVEN``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from matcher.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
S = TypeVar("S", bound="DataclassInstance")

ENV = "nocontact.env"  # field metadata: the environment variable that sets the field
GIVEN = types.MappingProxyType({"nocontact.given": True})  # field metadata: not read from the table
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def setting(default: T, *, env: str) -> T:
    """A field that the environment variable `env` may set (over the table)."""
    return dataclasses.field(default=default, metadata={ENV: env})


def load_settings(
    cls: type[S],
    table_name: str,
    table: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    **given: Any,
) -> S:
    """`cls` from `table` (the ``[table_name]`` table), the environment (``os.environ`` when
    `environ` is None; an empty variable counts as unset) and `given` (None values ignored), each
    over the one before. A ConfigError from `cls` itself (a value out of range) names the
    environment variable when that is where the value came from."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    loaded = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("nocontact.given")}
    values: dict[str, Any] = {}
    for key, value in (table or {}).items():
        if key not in loaded:
            raise ConfigError(f"{table_name}.{key}", value, f"Not a known setting; one of {sorted(loaded)}.")
        values[key] = coerce(f"{table_name}.{key}", value, hints[key])
    from_env: dict[str, str] = {}
    for name, f in loaded.items():
        var = f.metadata.get(ENV)
        if var and env.get(var):
            values[name] = coerce(var, env[var], hints[name])
            from_env[name] = var
    for name, value in given.items():
        if value is not None:
            values[name] = value
            from_env.pop(name, None)
    try:
        return cls(**values)
    except ConfigError as exc:
        var = from_env.get(exc.key.removeprefix(f"{table_name}."))
        if var is None:
            raise
        # the variable's text as set, unless the field showed it otherwise (a URL's password hidden)
        shown = exc.value if isinstance(exc.value, str) and exc.value != env[var] else env[var]
        raise ConfigError(var, shown, exc.expected) from None


def coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` as the field's type (``str``, ``int``, ``float``, ``bool``, ``Path``, or one of them
    or None): a value of that type is taken as it is, a string is parsed (the environment's values
    are strings), anything else is refused, naming `name` and the value."""
    kind = _scalar(hint)
    try:
        if isinstance(value, str) and kind is not str:
            return _parse(value, kind)
        if kind is bool and isinstance(value, bool):
            return value
        if isinstance(value, bool):
            raise TypeError
        if kind is int and isinstance(value, int):
            return value
        if kind is float and isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
        if kind is Path and isinstance(value, os.PathLike):
            return Path(value)
        raise TypeError
    except (TypeError, ValueError):
        raise ConfigError(name, value, f"Not a valid {kind.__name__}.") from None


def _parse(text: str, kind: type) -> Any:
    if kind is bool:
        word = text.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(text)
    if kind is int:
        return int(text)
    if kind is float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    return Path(text)


def _scalar(hint: Any) -> type:
    """The type a field holds: ``Path | None`` is ``Path``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            hint = args[0]
    if hint not in (str, int, float, bool, Path):
        raise TypeError(f"a setting of type {hint!r} cannot be loaded; mark it GIVEN")
    return typing.cast(type, hint)
