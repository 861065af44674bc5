"""How the ``nano`` client finds Core's API address and credentials."""

import json

import pytest

from nano.cli._settings import SettingsError, parse_address, resolve


def write_api_cfg(path, port=5999, api_id="nano-file", key="file-key"):
    credentials = [{"id": api_id, "key": key}]
    path.write_text(json.dumps({"port": port, "credentials": credentials}))
    return path


def test_config_file_used(tmp_path):
    """Without options or environment, api.cfg gives port and credential."""
    config = write_api_cfg(tmp_path / "api.cfg")
    settings = resolve(config=str(config), environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 5999)
    assert (settings.api_id, settings.api_key) == ("nano-file", "file-key")


def test_environment_beats_file(tmp_path):
    """NANO_API, NANO_API_ID and NANO_API_KEY win over api.cfg."""
    config = write_api_cfg(tmp_path / "api.cfg")
    environ = {
        "NANO_API": "10.213.0.5:6000",
        "NANO_API_ID": "nano-env",
        "NANO_API_KEY": "env-key",
        "NANO_CONFIG": str(config),
    }
    settings = resolve(environ=environ)
    assert (settings.host, settings.port) == ("10.213.0.5", 6000)
    assert (settings.api_id, settings.api_key) == ("nano-env", "env-key")


def test_options_beat_environment(tmp_path):
    """Command options win over the environment."""
    environ = {"NANO_API_ID": "nano-env", "NANO_API_KEY": "env-key"}
    settings = resolve(
        api="http://127.0.0.1:7000", api_id="nano-opt", environ=environ
    )
    assert settings.port == 7000
    assert settings.api_id == "nano-opt"
    assert settings.api_key == "env-key"


def test_environment_names_config(tmp_path):
    """NANO_CONFIG names the api.cfg to read."""
    config = write_api_cfg(tmp_path / "other.cfg", port=6100)
    settings = resolve(environ={"NANO_CONFIG": str(config)})
    assert settings.port == 6100


def test_missing_credentials_explained(tmp_path):
    """No credentials anywhere names every way to set them."""
    with pytest.raises(SettingsError) as raised:
        resolve(config=str(tmp_path / "absent.cfg"), environ={})
    message = str(raised.value)
    assert "NANO_API_ID" in message
    assert "NANO_API_KEY" in message
    assert str(tmp_path / "absent.cfg") in message


def test_malformed_config_named(tmp_path):
    """A config file that is not JSON is named in the error."""
    config = tmp_path / "api.cfg"
    config.write_text("{port")
    with pytest.raises(SettingsError) as raised:
        resolve(config=str(config), environ={})
    assert str(config) in str(raised.value)


def test_invalid_credentials_named(tmp_path):
    """Credentials of the wrong shape are rejected with the expected one."""
    config = tmp_path / "api.cfg"
    config.write_text(json.dumps({"credentials": ["nano-1"]}))
    with pytest.raises(SettingsError) as raised:
        resolve(config=str(config), environ={})
    assert '"id"' in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:5870", ("127.0.0.1", 5870)),
        ("http://core.example:80", ("core.example", 80)),
        ("10.213.0.1", ("10.213.0.1", 5870)),
        ("http://10.213.0.1:5870/api/v1", ("10.213.0.1", 5870)),
    ],
)
def test_address_parsed(value, expected):
    """The API address may be HOST, HOST:PORT or an http URL."""
    assert parse_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "https://127.0.0.1:5870",
        "127.0.0.1:port",
        "http://",
        ":5870",
        "127.0.0.1:0",
        "127.0.0.1:70000",
    ],
)
def test_invalid_address_named(value):
    """An address that is not HOST:PORT over http is rejected by value."""
    with pytest.raises(SettingsError) as raised:
        parse_address(value)
    assert repr(value) in str(raised.value)
