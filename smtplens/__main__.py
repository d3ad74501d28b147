"""``python -m smtplens``."""

from smtplens.cli import main

main()
