"""``python -m launchgate.cli``: the same command as ``launchgate``."""

from launchgate.cli import main

main()
