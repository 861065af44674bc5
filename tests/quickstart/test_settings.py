"""The quick start's saved settings and its boot marker search."""

import json

import pytest
from click.testing import CliRunner

from nano.cli.quickstart import _main
from nano.cli.quickstart._layout import Layout, Settings, save_settings
from nano.cli.quickstart._report import QuickstartError
from nano.cli.quickstart._start import _marker_line


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


def test_marker_found_after_offset(tmp_path):
    """Only a marker written after the offset counts as a new boot."""
    console = tmp_path / "console.log"
    old = b"NANO-GUEST-BOOTED hostname=a uptime=1.0\n"
    console.write_bytes(old + b"booting\n")
    assert _marker_line(console, len(old)) is None
    with open(console, "ab") as log:
        log.write(b"NANO-GUEST-BOOTED hostname=b uptime=2.0\n")
    assert _marker_line(console, len(old)) == (
        "NANO-GUEST-BOOTED hostname=b uptime=2.0"
    )


def test_marker_missing_console(tmp_path):
    """A console log QEMU has not created yet has no marker."""
    assert _marker_line(tmp_path / "absent.log", 0) is None
