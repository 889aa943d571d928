"""The capability matrix, generated from what the installed backends declare.

The docs site and ``leadconvert backends --markdown`` both print this table, so the matrix in the
documentation can never disagree with the code.
"""

from __future__ import annotations

from collections.abc import Iterable

from .backend import MEANINGS, Backend, Capability

__all__ = ["capability_matrix_markdown"]


def _cell(capability: Capability | None) -> str:
    if capability is None:
        return "?"
    parts = [f"**{capability.support.value}**"]
    if capability.wire:
        parts.append(f"`{capability.wire}`")
    if capability.note:
        parts.append(capability.note)
    return " ".join(parts).replace("|", "\\|").replace("\n", " ")


def capability_matrix_markdown(backends: Iterable[Backend]) -> str:
    """A Markdown table: one row per meaning, one column per way each backend converts."""
    columns = [column for backend in backends for column in backend.capabilities]
    lines = [
        "| meaning | " + " | ".join(column.title for column in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for key, meaning in MEANINGS.items():
        cells = [_cell(column.entries.get(key)) for column in columns]
        lines.append(f"| {meaning} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
