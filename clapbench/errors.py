"""One exception type for every problem a user can fix; the CLI turns it into a message and exit code 2."""


class ClapbenchError(Exception):
    """A user-facing error: the message names the file or value and what was expected."""

    exit_code = 2


class DataError(ClapbenchError):
    """A dataset folder, metadata file or audio file is missing or malformed."""


class ModelError(ClapbenchError):
    """A --model value is not a loadable CLAP checkpoint or plugin."""


class TaskError(ClapbenchError):
    """An unknown task name or a malformed task file."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries' messages run to many lines), else its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
