"""Retry timing every backend shares: Retry-After advice and exponential backoff with jitter."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Mapping

__all__ = ["backoff_delay", "retry_after"]


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` advice in seconds, or None when absent or unreadable.

    Both forms of RFC 9110 are read: delay-seconds (fractions too, as some servers send them)
    and an HTTP-date.
    """
    for key, value in headers.items():
        if key.lower() != "retry-after":
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    return None


def backoff_delay(
    attempt: int, base: float, *, advice: float | None = None, cap: float = 120.0
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based).

    The CRM's own advice wins (up to ``cap``); otherwise the wait doubles each attempt, with
    "equal jitter" (half fixed, half random) so that many clients do not retry in lockstep.
    """
    if advice is not None:
        return min(advice, cap)
    ceiling = min(base * float(2**attempt), cap)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
