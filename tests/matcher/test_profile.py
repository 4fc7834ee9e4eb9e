from __future__ import annotations

from pathlib import Path

import pytest

from config import available_profiles, load_profile, profile_data
from matcher.errors import ConfigError
from matcher.profile import MailPolicy, Profile


def test_shipped_profiles_load() -> None:
    assert {"gb", "us"} <= set(available_profiles())
    gb = load_profile(environ={})
    assert gb.region == "GB" and gb.address_format == "uk"
    assert gb.phones.dial_prefixes[0] == "1470"  # longest first
    assert "HLI" in gb.establishments
    us = load_profile(environ={"NOCONTACT_PROFILE": "us"})
    assert us.region == "US" and us.address_format == "us"


def test_default_mail_policy_matches_the_design() -> None:
    policy = load_profile(environ={}).mail_policy
    assert policy.decide({"postcode", "premise"}) == "block"
    assert policy.decide({"postcode", "house_name"}) == "block"
    assert policy.decide({"postcode", "full_name"}) == "block"
    assert policy.decide({"postcode", "premise", "other_flat"}) == "hold"
    assert policy.decide({"postcode", "number", "street"}) == "hold"
    assert policy.decide({"premise", "any_postcode"}) == "allow"
    assert policy.decide({"premise"}) == "hold"
    assert policy.decide({"contact"}) == "hold"
    assert policy.decide({"postcode", "any_postcode"}) == "allow"
    assert policy.decide({"full_name"}) == "allow"  # a name alone never blocks


def test_deployment_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'profile = "gb"\n[phones]\ndial_prefixes = ["9", "8"]\n'
        '[establishments.WDI]\nname = "HMP Wakefield"\ndial_prefixes = ["77"]\n'
        "[gateway]\nport = 8080\n"
    )
    profile = load_profile(path, environ={})
    assert profile.phones.dial_prefixes == ("8", "9")
    assert profile.establishments["WDI"].dial_prefixes == ("77",)
    assert "HLI" in profile.establishments  # merged, not replaced


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"region": "gb"}, "region"),
        ({"address_format": "fr"}, "address_format"),
        ({"phones": {"dial_prefixes": ["9x"]}}, "phones.dial_prefixes[0]"),
        ({"phones": {"dialable_after_prefix": "("}}, "phones.dialable_after_prefix"),
        ({"phones": {"min_blockable_digits": "7"}}, "phones.min_blockable_digits"),
        ({"phones": {"speed": 1}}, "phones.speed"),
        ({"mail_policy": {"block": [["postcode", "vibes"]], "hold": []}}, "mail_policy.block[0]"),
        ({"mail_policy": {"block": [["!postcode"]], "hold": []}}, "mail_policy.block[0]"),
        ({"establishments": {"hli": {}}}, "establishments.hli"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_name_the_key(patch: dict[str, object], key: str) -> None:
    data = profile_data("gb")
    data.update(patch)
    with pytest.raises(ConfigError) as info:
        Profile.from_dict(data)
    assert info.value.key == key
    assert str(info.value).startswith(f"Config '{key}' has value")


def test_unknown_profile_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile"):
        load_profile(environ={"NOCONTACT_PROFILE": "fr"})
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="Not valid TOML"):
        load_profile(bad, environ={})
    with pytest.raises(ConfigError, match="Cannot read"):
        load_profile(tmp_path / "missing.toml", environ={})


def test_negated_rule() -> None:
    policy = MailPolicy.from_dict({"block": [["postcode", "!other_flat"]], "hold": [["postcode"]]})
    assert policy.decide({"postcode"}) == "block"
    assert policy.decide({"postcode", "other_flat"}) == "hold"
