"""Retry timing shared by the backends: Retry-After in both forms, bounded jittered backoff."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from leadconvert.backend import backoff_delay, retry_after


class TestRetryAfter:
    def test_seconds(self) -> None:
        """Delay-seconds are read, whatever the header's case."""
        assert retry_after({"retry-after": "7"}) == 7.0
        assert retry_after({"Retry-After": "0.5"}) == 0.5

    def test_http_date(self) -> None:
        """An HTTP-date is turned into the seconds left until then."""
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
        value = email.utils.format_datetime(when, usegmt=True)
        assert 25 <= (retry_after({"Retry-After": value}) or 0) <= 31

    def test_absent_or_garbage(self) -> None:
        """No header, or one that reads as neither form, gives no advice."""
        assert retry_after({}) is None
        assert retry_after({"Retry-After": "soon"}) is None

    def test_past_date_is_zero(self) -> None:
        """A date already past means: retry now."""
        assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


class TestBackoff:
    @pytest.mark.parametrize("attempt", [0, 1, 2, 5])
    def test_exponential_with_jitter(self, attempt: int) -> None:
        """Waits double per attempt, between half and all of the ceiling."""
        ceiling = 0.5 * 2**attempt
        for _ in range(50):
            assert ceiling / 2 <= backoff_delay(attempt, 0.5) <= ceiling

    def test_advice_wins_up_to_cap(self) -> None:
        """The CRM's Retry-After advice is used as given, up to the cap."""
        assert backoff_delay(0, 0.5, advice=3.0) == 3.0
        assert backoff_delay(0, 0.5, advice=1e6, cap=60) == 60

    def test_capped(self) -> None:
        """Late attempts never wait longer than the cap."""
        assert backoff_delay(40, 1.0, cap=10) <= 10
