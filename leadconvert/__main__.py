"""``python -m leadconvert`` runs the command line."""

from ._cli import main

main()
