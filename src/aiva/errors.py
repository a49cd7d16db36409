"""Exceptions shared by the whole package.

Every error caused by user input derives from :class:`AivaInputError`; the command-line
interface turns it into one clear message on stderr and exit code 2.
"""
from __future__ import annotations


class AivaInputError(ValueError):
    """Bad user input (file, column, option); the CLI exits with code 2."""


class EventFileError(AivaInputError):
    """An event file that cannot be read or fails validation.

    The message names the file, the column (when there is one), the problem and how many
    rows are affected, e.g. ``events.parquet: column 'ELep': 3 rows have ELep > Enu_true``.
    """

    def __init__(self, path: str, problem: str, column: str | None = None, n_rows: int | None = None):
        self.path = str(path)
        self.column = column
        self.n_rows = n_rows
        self.problem = problem
        where = f"{self.path}"
        if column is not None:
            where += f": column '{column}'"
        msg = f"{where}: {problem}"
        if n_rows is not None:
            msg += f" ({n_rows} row{'s' if n_rows != 1 else ''})"
        super().__init__(" ".join(msg.split()))  # one line, whatever a library's message held
