"""``python -m retain.cli``: the same as the ``retain`` command."""

from retain.cli import main

main()
