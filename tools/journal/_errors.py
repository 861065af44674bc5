"""The errors a command reports as one line on stderr."""


class CommandError(Exception):
    """A command failed or found problems, so ``nano-journal`` exits 1."""

    status = 1


class UsageError(CommandError):
    """The arguments are invalid, so ``nano-journal`` exits 2."""

    status = 2
