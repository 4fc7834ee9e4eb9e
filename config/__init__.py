"""Region profiles and deployment configuration.

Profiles ship as TOML beside this module (``profiles/gb.toml``, ``profiles/us.toml``). A deployment
file (``--config`` or ``NOCONTACT_CONFIG``) may name a profile and override any of its tables;
``NOCONTACT_PROFILE`` picks the profile when no file does.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matcher.errors import ConfigError
from matcher.profile import Profile

PROFILES_DIR = Path(__file__).with_name("profiles")
EXAMPLES_DIR = Path(__file__).with_name("examples")
# Tables of a deployment file that override the profile; other tables belong to sync and gateway.
PROFILE_TABLES = frozenset({"phones", "mail_policy", "establishments", "prisoners"})


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def profile_data(name: str) -> dict[str, Any]:
    path = PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError("profile", name, f"Not a known profile; one of {available_profiles()}.")
    with path.open("rb") as fh:
        return tomllib.load(fh)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the base's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_deployment(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The deployment file (`config_file`, else NOCONTACT_CONFIG) as a dict; {} when there is none."""
    env = os.environ if environ is None else environ
    path = config_file if config_file is not None else env.get("NOCONTACT_CONFIG")
    if not path:
        return {}
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError("config", str(path), f"Cannot read the file: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), f"Not valid TOML: {exc}.") from exc


def deployment_table(
    config_file: str | Path | None, table: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One table (``[sync]``, ``[gateway]``, ``[cases]``...) of the deployment file; {} when absent."""
    return table_of(read_deployment(config_file, environ), table)


def table_of(document: Mapping[str, Any], table: str) -> dict[str, Any]:
    """One table of a deployment file read with `read_deployment`; {} when absent."""
    value = document.get(table, {})
    if not isinstance(value, Mapping):
        raise ConfigError(table, value, "Expected a table.")
    return dict(value)


def load_profile(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Profile:
    env = os.environ if environ is None else environ
    overrides = read_deployment(config_file, env)
    profile_section = overrides.pop("profile", None)
    name = profile_section if isinstance(profile_section, str) else env.get("NOCONTACT_PROFILE", "gb")
    picked = {key: value for key, value in overrides.items() if key in PROFILE_TABLES}
    return Profile.from_dict(merge(profile_data(name), picked))
