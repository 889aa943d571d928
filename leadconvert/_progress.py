"""Progress for long runs: a rich bar on a terminal, plain lines in logs and pipes.

rich is imported only for a terminal: a run whose output goes to a log or a pipe (every
scheduled migration) does not pay for it at start.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ._report import SUCCESS, side_paths
from ._results import Outcome
from ._runner import RunSummary

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PlainProgress", "RichProgress", "print_plain_summary", "print_summary"]


class RichProgress:
    """A progress bar with done, failed, rate and ETA."""

    def __init__(self, console: Console, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]converting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} not converted"),
            TextColumn("{task.fields[rate]:.1f}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("convert", total=total, failed=0, rate=0.0)
        self._failed = 0
        self._done = 0
        self._start = time.monotonic()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def advance(self, outcome: Outcome) -> None:
        self._done += 1
        if outcome not in SUCCESS:
            self._failed += 1
        rate = self._done / max(time.monotonic() - self._start, 1e-6)
        self._progress.update(self._task, advance=1, failed=self._failed, rate=rate)


class PlainProgress:
    """A line every few seconds: how many leads are done, how many not converted, the rate."""

    def __init__(self, stream: IO[str], total: int | None, every: float = 5.0) -> None:
        self._stream = stream
        self._total = total
        self._every = every
        self._counts: Counter[bool] = Counter()
        self._start = self._last = time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self._line()

    def advance(self, outcome: Outcome) -> None:
        self._counts[outcome in SUCCESS] += 1
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._line()

    def _line(self) -> None:
        done = sum(self._counts.values())
        rate = done / max(time.monotonic() - self._start, 1e-6)
        total = f"/{self._total}" if self._total else ""
        self._stream.write(
            f"progress: {done}{total} leads done, {self._counts[False]} not converted, "
            f"{rate:.1f}/s\n"
        )
        self._stream.flush()


def _outcome_rows(summary: RunSummary) -> list[tuple[str, int]]:
    rows = []
    for outcome in Outcome:
        count = summary.counts.get(outcome, 0)
        if count:
            label = outcome.value
            if outcome is Outcome.NOT_ATTEMPTED and summary.invalid:
                label += f" ({summary.invalid} invalid)"
            rows.append((label, count))
    return rows


def _code_rows(summary: RunSummary) -> list[tuple[str, int]]:
    codes = getattr(summary, "error_codes", None) or {}
    # Why leads were not converted, the first thing a migration team asks: most first.
    return sorted(codes.items(), key=lambda item: (-item[1], item[0]))


def _paths(report: str, journal: str) -> list[str]:
    success, errors = side_paths(Path(report))
    return [
        f"report:  {report}",
        f"success: {success}",
        f"errors:  {errors}",
        f"journal: {journal}",
    ]


def print_plain_summary(stream: IO[str], summary: RunSummary, report: str, journal: str) -> None:
    """The end-of-run summary as plain lines, for logs and pipes: what ``print_summary`` shows."""
    rows = [*_outcome_rows(summary), ("total", summary.total)]
    lines = ["leadconvert: summary"]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {count:>7}" for label, count in rows]
    codes = _code_rows(summary)
    if codes:
        lines.append("not converted, by error code")
        width = max(len(code) for code, _ in codes)
        lines += [f"  {code:<{width}}  {count:>7}" for code, count in codes]
    stream.write("\n".join([*lines, *_paths(report, journal)]) + "\n")
    stream.flush()


def print_summary(console: Console, summary: RunSummary, report: str, journal: str) -> None:
    """The end-of-run table: leads by outcome, and where the report and journal are."""
    from rich.table import Table

    table = Table(title="leadconvert: summary")
    table.add_column("outcome")
    table.add_column("leads", justify="right")
    for label, count in _outcome_rows(summary):
        table.add_row(label, str(count))
    table.add_row("[bold]total", f"[bold]{summary.total}")
    console.print(table)
    codes = _code_rows(summary)
    if codes:
        by_code = Table(title="not converted, by error code")
        by_code.add_column("error code")
        by_code.add_column("leads", justify="right")
        for code, count in codes:
            by_code.add_row(code, str(count))
        console.print(by_code)
    for line in _paths(report, journal):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
