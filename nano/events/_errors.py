"""The errors that the journal raises."""

from pathlib import Path


class JournalCorruptError(Exception):
    """
    A journal line is damaged where recovery must not guess.

    :ivar path: the segment file.
    :ivar line: the 1-based line number in that file.
    :ivar message: what is wrong with the line.
    """

    def __init__(self, path: Path, line: int, message: str):
        super().__init__(path, line, message)
        self.path = Path(path)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return (
            f"journal damaged at {self.path}, line {self.line}: "
            f"{self.message}; to cut the journal before this line, keeping "
            f"a backup, run: nano-journal repair {self.path.parent}"
        )


class JournalWriteError(Exception):
    """
    Writing or syncing a batch failed, so none of its events are
    acknowledged and the journal accepts no more appends.
    """

    def __init__(self, path: Path, error: OSError):
        super().__init__(path, error)
        self.path = Path(path)
        self.error = error

    def __str__(self) -> str:
        return (
            f"failed to write journal segment {self.path}: {self.error}; "
            "this journal accepts no more appends: restart the process, "
            "and recovery will cut any partly written line"
        )


class JournalFailedError(Exception):
    """An append after a write failed; the process must restart."""

    def __init__(self, directory: Path, cause: JournalWriteError):
        super().__init__(directory, cause)
        self.directory = directory
        self.cause = cause

    def __str__(self) -> str:
        return (
            f"journal {self.directory} accepts no more appends after an "
            f"earlier write failed ({self.cause.error}): restart the process"
        )


class JournalClosedError(Exception):
    """An append to a journal that is closing or closed."""

    def __str__(self) -> str:
        return f"journal {self.args[0]} is closed: no more appends"


class JournalLockedError(Exception):
    """
    Another process (or another Journal) has the journal open.

    :param directory: the journal directory.
    """

    def __str__(self) -> str:
        return (
            f"journal {self.args[0]} is already open in another process "
            "(the directory's lock is held): stop that process first"
        )
