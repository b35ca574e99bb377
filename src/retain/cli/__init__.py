"""The ``retain`` command line: thin commands over the library.

Each command reads the settings, opens the store, calls one library
function and prints its result. Known errors become one line on stderr and
exit code 1; a usage mistake exits 2 (typer's convention).

One module per capability holds its commands; :mod:`retain.cli.base` holds
the typer apps they register on and what they share. Importing this package
registers every command, in the order ``retain --help`` lists them: the main
job and getting data in first, then each capability.
"""

# isort: off
from retain.cli import run, data, predict, recommend, segments, campaigns  # noqa: F401
from retain.cli import privacy, service, assistant, sentiment  # noqa: F401
from retain.cli.base import app, main

# isort: on

__all__ = ["app", "main"]
