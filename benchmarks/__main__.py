"""``python -m benchmarks``: run every benchmark, print the table, write the JSON."""

from .run import main

main()
