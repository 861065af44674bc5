"""Run the quick start: ``python -m nano.cli.quickstart [start|stop]``."""

from ._main import main

main(prog_name="tools/quickstart")
