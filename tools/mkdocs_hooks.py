"""mkdocs hooks: pages that are generated from the code, so they cannot drift from it.

``<!-- generated: capability-matrix -->`` becomes the matrix the installed backends declare;
``<!-- generated: csv-columns -->`` becomes the table of CSV columns the reader accepts.
"""

from __future__ import annotations

from typing import Any

import leadconvert
from leadconvert._matrix import capability_matrix_markdown


def _csv_columns() -> str:
    rows = ["| column | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {meaning} |" for name, meaning in leadconvert.CSV_COLUMNS.items()]
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- generated:" not in markdown:
        return markdown
    registry = leadconvert.load_registry()
    return markdown.replace(
        "<!-- generated: capability-matrix -->", capability_matrix_markdown(registry)
    ).replace("<!-- generated: csv-columns -->", _csv_columns())
