"""Core's config/api.cfg: created on first start, checked on each."""

import os
import stat
from pathlib import Path

import orjson
from twisted.trial.unittest import SynchronousTestCase

from nano.config import ConfigError
from nano.core._config import DEFAULT_PORT, load_api_config


class ApiConfigTests(SynchronousTestCase):
    """load_api_config over real files."""

    def setUp(self):
        self.directory = Path(self.mktemp())
        self.path = self.directory / "api.cfg"

    def write(self, value):
        self.directory.mkdir(parents=True, exist_ok=True)
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        self.path.write_bytes(data)

    def test_created_on_first_load(self):
        """A missing api.cfg is created with one random credential,
        readable by its owner only."""
        config = load_api_config(self.directory)
        self.assertTrue(config.created)
        self.assertEqual(config.port, DEFAULT_PORT)
        self.assertEqual(len(config.credentials), 1)
        [(api_id, api_key)] = config.credentials.items()
        self.assertGreaterEqual(len(api_key), 40)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        stored = orjson.loads(self.path.read_bytes())
        self.assertEqual(
            stored,
            {"port": 5870, "credentials": [{"id": api_id, "key": api_key}]},
        )

    def test_random_each_time(self):
        """Two new files get different ids and keys."""
        first = load_api_config(self.directory).credentials
        self.path.unlink()
        second = load_api_config(self.directory).credentials
        self.assertNotEqual(first, second)
        self.assertNotEqual(list(first.values()), list(second.values()))

    def test_reloaded_unchanged(self):
        """A second load reads the same credential and creates nothing."""
        first = load_api_config(self.directory)
        second = load_api_config(self.directory)
        self.assertFalse(second.created)
        self.assertEqual(first.credentials, second.credentials)

    def test_nano_file(self):
        """A Nano 1.x api.cfg with several credentials is read."""
        self.write(
            {
                "port": 5850,
                "credentials": [
                    {"id": "a", "key": "ka"},
                    {"id": "b", "key": "kb"},
                ],
            }
        )
        config = load_api_config(self.directory)
        self.assertEqual(config.port, 5850)
        self.assertEqual(config.credentials, {"a": "ka", "b": "kb"})

    def test_invalid_files(self):
        """Each problem is named with the file and the fix, and no key
        appears in the message."""
        good = {"id": "a", "key": "secret-key"}
        cases = [
            (b"{", "invalid JSON"),
            (b"[]", "must hold a JSON object"),
            ({"port": "5870", "credentials": [good]}, "invalid port '5870'"),
            ({"port": 70000, "credentials": [good]}, "0 to 65535"),
            ({"port": 5870}, "invalid credentials"),
            ({"credentials": []}, "invalid credentials"),
            ({"credentials": [{"id": "a"}]}, "invalid credentials[0]"),
            (
                {"credentials": [good, {"id": "b", "key": ""}]},
                "invalid credentials[1]",
            ),
            (
                {"credentials": [{**good, "extra": "secret-key"}]},
                'exactly a non-empty string "id" and "key"',
            ),
            ({"credentials": [good, good]}, "duplicate API id 'a'"),
        ]
        for value, fragment in cases:
            with self.subTest(value=value):
                self.write(value)
                with self.assertRaises(ConfigError) as raised:
                    load_api_config(self.directory)
                message = str(raised.exception)
                self.assertIn(str(self.path), message)
                self.assertIn(fragment, message)
                self.assertNotIn("secret-key", message)
