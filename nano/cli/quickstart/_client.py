"""The quick start's calls of the ``nano`` client, as a child process."""

import json
import subprocess
import sys
from pathlib import Path

from ._report import QuickstartError

NANO = Path(sys.executable).parent / "nano"


class Nano:
    """
    Runs ``nano`` against the quick start's Core.

    :param api_cfg: Core's api.cfg, with the credential.
    :param port: Core's API port on 127.0.0.1.
    """

    def __init__(self, api_cfg: Path, port: int):
        self.prefix = [
            str(NANO),
            "--config",
            str(api_cfg),
            "--api",
            f"127.0.0.1:{port}",
        ]

    def command_line(self, *arguments) -> str:
        """Return how a user would type ``nano ARGUMENTS`` here."""
        return " ".join([*self.prefix, *arguments])

    def data(self, *arguments):
        """Run ``nano --json ARGUMENTS`` and return the JSON it printed."""
        completed = self._run(["--json", *arguments], capture=True)
        return json.loads(completed.stdout)

    def show(self, *arguments) -> None:
        """Run ``nano ARGUMENTS`` with its output and progress bars shown."""
        self._run(list(arguments), capture=False)

    def attempt(self, *arguments) -> subprocess.CompletedProcess:
        """Run ``nano --json ARGUMENTS``; return the result, even failed."""
        return subprocess.run(
            [*self.prefix, "--json", *arguments],
            capture_output=True,
            text=True,
        )

    def _run(self, arguments, capture):
        completed = subprocess.run(
            [*self.prefix, *arguments],
            capture_output=capture,
            text=True,
        )
        if completed.returncode != 0:
            # Without capture, nano's own error is already on the terminal.
            detail = (completed.stderr or "").strip() or "see its error above"
            raise QuickstartError(
                f"'nano {' '.join(arguments)}' failed: {detail}"
            )
        return completed
