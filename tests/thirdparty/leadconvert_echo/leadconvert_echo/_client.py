"""The transport: requests, a bearer token, timeouts, safe retries, in-doubt answers."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from leadconvert import (
    ConfigurationError,
    ConversionError,
    ConversionResult,
    ErrorCode,
    MatchReport,
    Outcome,
    RequestTimeout,
    ServerError,
    TransportError,
)
from leadconvert.backend import (
    Client,
    NativeAnswer,
    PlannedCall,
    Secret,
    StepRecorder,
    backoff_delay,
    retry_after,
)

from ._answers import read_convert, read_leads, read_matches

__all__ = ["EchoClient"]

_TIMEOUT = (5.0, 30.0)
_RETRIES = 3


class EchoClient(Client):
    """Carries out planned calls on Echo CRM."""

    def __init__(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> None:
        url, token = credentials.get("url"), credentials.get("token")
        if not url or not token:
            raise ConfigurationError("Echo CRM needs the url and token credentials")
        self.base_url = url.rstrip("/")
        self._token = Secret(token)
        self.backoff = float(settings.get("backoff", "0.5"))
        self.session = requests.Session()

    def _send(self, method: str, path: str, **kwargs: Any) -> NativeAnswer:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        try:
            response = self.session.request(
                method, self.base_url + path, headers=headers, timeout=_TIMEOUT, **kwargs
            )
        except requests.Timeout as exc:
            raise RequestTimeout(f"Echo CRM did not answer {method} {path} in time") from exc
        except requests.RequestException as exc:
            # The message of a connection error never holds the token (it is a header).
            raise TransportError(f"cannot reach Echo CRM at {self.base_url}: {exc}") from exc
        return NativeAnswer(response.status_code, response.content, dict(response.headers))

    def _retrying(self, method: str, path: str, **kwargs: Any) -> NativeAnswer:
        """Retry 429 and 503: Echo CRM answers them before doing anything, so a retry is safe."""
        for attempt in range(_RETRIES + 1):
            answer = self._send(method, path, **kwargs)
            if answer.status not in (429, 503) or attempt == _RETRIES:
                return answer
            time.sleep(backoff_delay(attempt, self.backoff, advice=retry_after(answer.headers)))
        raise AssertionError("unreachable")

    def org_identity(self) -> str:
        """Echo CRM has one org per URL."""
        return f"echo:{self.base_url}"

    def execute(
        self,
        call: PlannedCall,
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Send one convert call; a lost answer leaves its leads in doubt (``UNKNOWN``)."""
        request = call.request
        try:
            answer = self._retrying(request.method, request.path, json=request.json)
        except (TransportError, ServerError) as exc:
            # The CRM may have acted: never guess, let the runner ask lookup() first.
            error = ConversionError(ErrorCode.NETWORK_ERROR, str(exc), retryable=True)
            return [
                ConversionResult(lead, Outcome.UNKNOWN, error=error, call=call_index)
                for lead in call.lead_ids
            ]
        return read_convert(call.lead_ids, answer, call_index)

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        """Each lead's state from ``GET /v1/leads``."""
        answer = self._retrying("GET", "/v1/leads", params={"ids": ",".join(lead_ids)})
        return read_leads(lead_ids, answer)

    def match(self, lead_id: str) -> MatchReport:
        """Existing contacts and accounts that match the lead."""
        return read_matches(lead_id, self._retrying("GET", f"/v1/leads/{lead_id}/matches"))

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()

    def __repr__(self) -> str:
        return f"<EchoClient {self.base_url}>"
