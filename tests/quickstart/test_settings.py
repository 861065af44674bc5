"""The quick start's saved settings and its options."""

import json

import pytest
from click.testing import CliRunner

from nano.cli.quickstart import _main
from nano.cli.quickstart._layout import Layout, Settings, save_settings
from nano.cli.quickstart._report import QuickstartError


def test_saved_settings_kept(tmp_path):
    """Options not given keep the values saved by the last start."""
    save_settings(Layout(tmp_path), Settings(tmp_path, api_port=16000))
    settings = _main._settings(str(tmp_path), {"bridge": "nqs1"})
    assert settings.api_port == 16000
    assert settings.bridge == "nqs1"
    assert settings.group_port == 5599


def test_defaults_without_saved_settings(tmp_path):
    """A new state directory starts from the defaults."""
    settings = _main._settings(str(tmp_path), {"api_port": None})
    assert settings.api_port == 5870
    assert settings.bridge == "nanobr0"
    assert settings.address == "10.213.250.1"


def test_malformed_saved_settings(tmp_path):
    """A damaged settings file is named with the fix."""
    (tmp_path / "quickstart.json").write_text(json.dumps({"colour": 1}))
    with pytest.raises(QuickstartError) as raised:
        _main._settings(str(tmp_path), {})
    assert str(tmp_path / "quickstart.json") in str(raised.value)
    assert "delete it" in str(raised.value)


@pytest.mark.parametrize("address", ["172.16.0.1/24", "10.214.0.1/24", "x"])
def test_bridge_address_outside_test_range(address):
    """A bridge address outside 10.213.0.0/16 is a usage error."""
    result = CliRunner().invoke(
        _main.main, ["--bridge-address", address], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert "10.213.0.0/16" in result.output


def test_default_address_range(tmp_path):
    """By default the pool's range is .100-.199 of the bridge's /24."""
    settings = Settings(tmp_path, bridge_address="10.213.246.1/24")
    assert settings.address_bounds() == ("10.213.246.100", "10.213.246.199")


def test_default_range_of_small_network(tmp_path):
    """A network smaller than a /24 gives the upper half of its hosts."""
    settings = Settings(tmp_path, bridge_address="10.213.246.1/28")
    assert settings.address_bounds() == ("10.213.246.8", "10.213.246.14")


def test_address_range_option_kept(tmp_path):
    """--address-range is saved like the other options."""
    save_settings(
        Layout(tmp_path),
        Settings(tmp_path, address_range="10.213.250.10-10.213.250.20"),
    )
    settings = _main._settings(str(tmp_path), {})
    assert settings.address_bounds() == ("10.213.250.10", "10.213.250.20")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10.213.250.20-10.213.250.10", "ascending"),
        ("10.213.250.10", "START-END"),
        ("10.213.250.10-x", "START-END"),
        ("10.213.251.10-10.213.251.20", "inside the bridge's network"),
    ],
)
def test_invalid_address_range(tmp_path, text, reason):
    """An invalid --address-range is named with what is accepted."""
    with pytest.raises(QuickstartError) as raised:
        _main._settings(str(tmp_path), {"address_range": text})
    assert f"invalid --address-range {text}" in str(raised.value)
    assert reason in str(raised.value)
