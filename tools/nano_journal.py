"""The ``nano-journal`` console script (the code is in tools.journal)."""

from tools.journal import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
