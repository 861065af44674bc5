"""Let the address tests import the helpers of ``tests/core``."""

import sys
from pathlib import Path

CORE_TESTS = str(Path(__file__).parents[1])
if CORE_TESTS not in sys.path:
    sys.path.insert(0, CORE_TESTS)
