"""The real transport: OAuth refresh, retries, and execution of planned calls over requests.

No ``requests`` exception escapes this module: each is mapped to leadconvert's exception tree
with ``raise ... from exc``, or recorded in the lead's result.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from attrs import evolve
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from leadconvert import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConversionError,
    ConversionResult,
    ErrorCode,
    MatchReport,
    Outcome,
    ProtocolError,
    RateLimitedError,
    RequestTimeout,
    ServerError,
    TransportError,
    UnreachableError,
    dumps_json,
)
from leadconvert.backend import (
    Client,
    PlannedCall,
    Secret,
    StepRecorder,
    backoff_delay,
    retry_after,
)
from leadconvert.http import Session

from ._answers import (
    ParsedAnswer,
    parse_body,
    read_answer,
    read_lead_states,
    read_match,
    unknown,
)
from ._wire import DATA_CENTRES, ENVIRONMENTS, api_version, endpoints, mass_convert_path

__all__ = ["DATA_CENTRES", "ENVIRONMENTS", "ZohoClient", "endpoints"]

#: Data centre -> (API domain, accounts server), production hosts.
#: Zoho allows 10 access tokens per refresh token per 10 minutes.
REFRESH_BUDGET = 10
REFRESH_WINDOW = 600.0
#: A refresh this soon after the last one backs off first (the new token was refused at once).
REFRESH_SPACING = 30.0
log = logging.getLogger("leadconvert.zoho")
_AUTH_CODES = {"INVALID_TOKEN", "AUTHENTICATION_FAILURE"}
_LOOKUP_CHUNK = 100


def _number(settings: Mapping[str, str], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"zoho setting {key} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"zoho setting {key} must not be negative")
    return value


def _secret(credentials: Mapping[str, str], key: str) -> Secret | None:
    value = credentials.get(key)
    return Secret(value) if value else None


class _Tokens:
    """The access token, shared by every thread of one client and refreshed under a lock."""

    def __init__(
        self,
        post: Callable[[str, dict[str, str]], requests.Response],
        accounts_url: str,
        client_id: Secret | None,
        client_secret: Secret | None,
        refresh_token: Secret | None,
        access_token: Secret | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 1.0,
    ) -> None:
        self._post = post
        self._sleep = sleep
        #: First wait before a refresh that follows the last one closely (doubled each time).
        self._backoff = 2.0 * backoff
        self._streak = 0
        self._accounts_url = accounts_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._clock = clock
        self._lock = threading.Lock()
        self._token = access_token
        # A ready token has no known expiry: used until Zoho refuses it.
        self._expires_at = float("inf")
        self._refreshes: deque[float] = deque()
        self.api_domain: str | None = None
        if access_token is None and refresh_token is None:
            raise ConfigurationError(
                "Zoho needs refresh_token (with client_id and client_secret) or access_token"
            )
        if refresh_token is not None and (client_id is None or client_secret is None):
            raise ConfigurationError("Zoho's refresh flow needs client_id and client_secret")

    def get(self) -> Secret:
        """A usable access token, refreshed when expired."""
        with self._lock:
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            return self._refresh()

    def invalidate(self, token: Secret) -> None:
        """Zoho refused ``token``: the next ``get`` refreshes, once for all threads."""
        with self._lock:
            if self._token is token:
                self._token = None

    def _refresh(self) -> Secret:
        if self._refresh_token is None or self._client_id is None or self._client_secret is None:
            raise AuthenticationError(
                "Zoho refused the access token and there is no refresh token to get a new one",
                backend_code="INVALID_TOKEN",
            )
        now = self._clock()
        while self._refreshes and now - self._refreshes[0] >= REFRESH_WINDOW:
            self._refreshes.popleft()
        if len(self._refreshes) >= REFRESH_BUDGET:
            wait = REFRESH_WINDOW - (now - self._refreshes[0])
            raise AuthenticationError(
                f"Zoho allows {REFRESH_BUDGET} access tokens per refresh token per 10 minutes; "
                f"not refreshing again for {wait:.0f} s"
            )
        if self._refreshes and now - self._refreshes[-1] < REFRESH_SPACING:
            # Refused again right after a refresh: back off rather than spend the budget of
            # 10 tokens in a burst (a clock skew or a revoked grant does not heal in a second).
            delay = backoff_delay(self._streak, self._backoff, cap=60.0)
            self._streak += 1
            log.info(
                "Zoho token refresh %d of %d in 10 minutes comes %.1f s after the last one; "
                "backing off %.1f s first",
                len(self._refreshes) + 1,
                REFRESH_BUDGET,
                now - self._refreshes[-1],
                delay,
            )
            self._sleep(delay)
        else:
            self._streak = 0
        log.info("refreshing the Zoho access token at %s", self._accounts_url)
        form = {
            "refresh_token": self._refresh_token.reveal(),
            "client_id": self._client_id.reveal(),
            "client_secret": self._client_secret.reveal(),
            "grant_type": "refresh_token",
        }
        url = f"{self._accounts_url}/oauth/v2/token"
        try:
            response = self._post(url, form)
        except requests.RequestException as exc:
            if UnreachableError.caused(exc):
                # Nothing reached Zoho, no token was issued: the budget is left as it was.
                raise UnreachableError.from_exception(
                    f"Zoho's accounts server {self._accounts_url}", exc
                ) from exc
            # The request may have reached Zoho and cost a token: count it.
            self._refreshes.append(now)
            if isinstance(exc, requests.Timeout):
                raise RequestTimeout(
                    f"Zoho's accounts server {self._accounts_url} did not answer in time"
                ) from exc
            raise TransportError(
                f"no answer from Zoho's accounts server {self._accounts_url}: "
                f"{TransportError.cause(exc)}"
            ) from exc
        self._refreshes.append(now)
        body = parse_body(response.content)
        if not isinstance(body, Mapping):
            raise ProtocolError(f"Zoho's token answer (HTTP {response.status_code}) is not JSON")
        # Zoho reports token errors with HTTP 200 and {"error": "invalid_code"}.
        if "error" in body or "access_token" not in body:
            code = str(body.get("error") or "no access_token")
            raise AuthenticationError(
                f"Zoho refused to refresh the access token: {code}", backend_code=code
            )
        lifetime = body.get("expires_in", body.get("expires_in_sec", 3600))
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = 3600.0
        # Refresh a little early so a token does not expire in flight.
        self._expires_at = now + max(seconds - min(60.0, seconds / 10), 0.0)
        if isinstance(body.get("api_domain"), str):
            self.api_domain = body["api_domain"]
        self._token = Secret(str(body["access_token"]))
        return self._token


class ZohoClient(Client):
    """Executes planned Zoho calls; thread-safe, one pooled session and one shared token."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        settings: Mapping[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.version = api_version(settings)
        default_api, default_accounts = endpoints(
            settings.get("data_centre", "US"), settings.get("environment", "production")
        )
        self._explicit_api = credentials.get("api_domain")
        self._default_api = default_api
        self._read_timeout = _number(settings, "timeout", 30.0)
        self._connect_timeout = min(10.0, self._read_timeout)
        self._max_retries = int(_number(settings, "max_retries", 4))
        self._backoff = _number(settings, "backoff", 1.0)
        self._poll_interval = _number(settings, "poll_interval", 2.0)
        self._poll_timeout = _number(settings, "poll_timeout", 600.0)
        self._doubt_wait = _number(settings, "doubt_wait", 60.0)
        self._sleep = sleep
        self._session = Session()
        # Only failures to connect are retried by urllib3: nothing was sent, so even a convert
        # POST is safe to repeat. Everything else is decided here, with the lead's state known.
        retry = Retry(
            total=2,
            connect=2,
            read=0,
            status=0,
            other=0,
            allowed_methods=None,
            status_forcelist=(),
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=16, max_retries=retry)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # Names the OAuth client (one Zoho account) in the org identity without showing it.
        client_id = credentials.get("client_id") or ""
        self._oauth_client = (
            hashlib.sha256(client_id.encode()).hexdigest()[:12] if client_id else ""
        )
        self._tokens = _Tokens(
            self._post_form,
            credentials.get("accounts_url") or default_accounts,
            _secret(credentials, "client_id"),
            _secret(credentials, "client_secret"),
            _secret(credentials, "refresh_token"),
            _secret(credentials, "access_token"),
            sleep=sleep,
            backoff=self._backoff,
        )

    def __repr__(self) -> str:
        return f"<ZohoClient {self.api_domain} {self.version}>"

    @property
    def api_domain(self) -> str:
        """Where API calls go: explicit, else the token answer's, else the data centre's."""
        return (self._explicit_api or self._tokens.api_domain or self._default_api).rstrip("/")

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # --- HTTP ---------------------------------------------------------------------------------

    def _post_form(self, url: str, form: dict[str, str]) -> requests.Response:
        return self._session.post(
            url, data=form, timeout=(self._connect_timeout, self._read_timeout)
        )

    def _delay(self, attempt: int, advice: float | None = None) -> float:
        return backoff_delay(attempt, self._backoff, advice=advice)

    def _http(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool,
    ) -> ParsedAnswer:
        """One request, retried where that is safe; raises TransportError when no answer came.

        429 and a refused token are retried even for a POST: Zoho refused before acting.
        5xx and dropped connections are retried only when ``idempotent``.
        """
        refreshed = False
        attempt = 0
        while True:
            token = self._tokens.get()
            headers = {"Authorization": f"Zoho-oauthtoken {token.reveal()}"}
            data = None
            if json is not None:
                headers["Content-Type"] = "application/json"
                data = dumps_json(json).encode()
            try:
                response = self._session.request(
                    method,
                    self.api_domain + path,
                    params=dict(params or {}),
                    data=data,
                    headers=headers,
                    timeout=(self._connect_timeout, self._read_timeout),
                )
                content = response.content
                answer = ParsedAnswer(
                    response.status_code, content, dict(response.headers), parse_body(content)
                )
            except requests.Timeout as exc:
                if idempotent and attempt < self._max_retries:
                    delay = self._delay(attempt)
                    log.info("retrying %s %s in %.1f s: no answer in time", method, path, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                if UnreachableError.caused(exc):
                    raise UnreachableError.from_exception(
                        f"Zoho at {self.api_domain}", exc
                    ) from exc
                raise RequestTimeout(f"Zoho did not answer {method} {path} in time") from exc
            except requests.RequestException as exc:
                if idempotent and attempt < self._max_retries:
                    delay = self._delay(attempt)
                    log.info(
                        "retrying %s %s in %.1f s: %s",
                        method,
                        path,
                        delay,
                        TransportError.cause(exc),
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                if UnreachableError.caused(exc):
                    # Nothing was sent (urllib3 already retried the connection).
                    raise UnreachableError.from_exception(
                        f"Zoho at {self.api_domain}", exc
                    ) from exc
                raise TransportError(
                    f"no answer from Zoho to {method} {path}: {TransportError.cause(exc)}"
                ) from exc
            body = answer.parsed
            code = body.get("code") if isinstance(body, Mapping) else None
            if (code in _AUTH_CODES or (answer.status == 401 and code is None)) and not refreshed:
                log.info("Zoho refused the access token (%s): refreshing it", code or answer.status)
                self._tokens.invalidate(token)
                refreshed = True
                continue
            if answer.status == 429 and attempt < self._max_retries:
                delay = self._delay(attempt, retry_after(answer.headers))
                log.info("Zoho answered 429 to %s %s: retrying in %.1f s", method, path, delay)
                self._sleep(delay)
                attempt += 1
                continue
            if answer.status >= 500 and idempotent and attempt < self._max_retries:
                delay = self._delay(attempt)
                log.info(
                    "Zoho answered HTTP %d to %s %s: retrying in %.1f s",
                    answer.status,
                    method,
                    path,
                    delay,
                )
                self._sleep(delay)
                attempt += 1
                continue
            log.debug("%s %s: HTTP %d", method, path, answer.status)
            return answer

    def _raise_for(self, answer: ParsedAnswer, what: str) -> None:
        body = answer.parsed
        if 200 <= answer.status < 300 and not (
            isinstance(body, Mapping) and body.get("status") == "error"
        ):
            return
        code = str(body.get("code")) if isinstance(body, Mapping) and body.get("code") else None
        message = body.get("message") if isinstance(body, Mapping) else None
        text = f"{what}: Zoho answered HTTP {answer.status} {code or ''} {message or ''}".strip()
        if code in _AUTH_CODES or code == "OAUTH_SCOPE_MISMATCH" or answer.status == 401:
            raise AuthenticationError(text, backend_code=code)
        if answer.status == 429 or code == "TOO_MANY_REQUESTS":
            raise RateLimitedError(text, backend_code=code, retry_after=retry_after(answer.headers))
        if answer.status >= 500 or code == "INTERNAL_ERROR":
            raise ServerError(text, backend_code=code)
        raise BackendError(text, backend_code=code)

    # --- Client ---------------------------------------------------------------------------------

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        """Each lead's state from Zoho's Get Records (converted, into what; or not).

        [I] ``GET /crm/{v}/Leads?ids=...&converted=both&fields=Last_Name``: ``converted=both``
        includes converted leads, and every record carries ``$converted`` and
        ``$converted_detail``; ``fields`` is mandatory from v8 on.
        """
        return self._lookup(lead_ids)

    def _lookup(
        self, lead_ids: Sequence[str], job_id: str | None = None, call: int | None = None
    ) -> list[ConversionResult]:
        """``lookup``, each result carrying the job and the call that asked."""
        out: list[ConversionResult] = []
        for start in range(0, len(lead_ids), _LOOKUP_CHUNK):
            chunk = list(lead_ids[start : start + _LOOKUP_CHUNK])
            answer = self._http(
                "GET",
                f"/crm/{self.version}/Leads",
                params={"ids": ",".join(chunk), "converted": "both", "fields": "Last_Name"},
                idempotent=True,
            )
            self._raise_for(answer, "reading the leads' state")
            body = answer.parsed if answer.status != 204 else None
            if answer.status != 204 and body is None:
                raise ProtocolError("Zoho's Get Records answer is not JSON")
            out.extend(read_lead_states(chunk, body, job_id, call))
        return out

    def match(self, lead_id: str) -> MatchReport:
        """Existing records matching the lead, from Lead Conversion Options."""
        answer = self._http(
            "GET", f"/crm/{self.version}/Leads/{lead_id}/__conversion_options", idempotent=True
        )
        self._raise_for(answer, f"conversion options of lead {lead_id}")
        body = answer.parsed
        if answer.status != 204 and not isinstance(body, Mapping):
            raise ProtocolError("Zoho's conversion options answer is not a JSON object")
        return read_match(lead_id, answer.status, body)

    def org_identity(self) -> str:
        """``zoho:<org id>@<API host>``; the org id from Get Organization Data.

        [I] ``GET /crm/{v}/org`` answers ``{"org": [{"id": ...}]}`` and needs the
        ``ZohoCRM.org.READ`` scope: a token without it (or an emulator without the endpoint)
        leaves the id ``?``, and the API host alone (with the OAuth client id, which belongs to
        one Zoho account) tells orgs apart.
        """
        host = self.api_domain.split("://", 1)[-1]
        org_id = ""
        try:
            answer = self._http("GET", f"/crm/{self.version}/org", idempotent=True)
        except TransportError:
            answer = None
        if answer is not None and answer.status == 200:
            body = answer.parsed
            orgs = body.get("org") if isinstance(body, Mapping) else None
            if isinstance(orgs, list) and orgs and isinstance(orgs[0], Mapping):
                org_id = str(orgs[0].get("id") or "")
        if org_id:
            return f"zoho:{org_id}@{host}"
        client = self._oauth_client
        return f"zoho:?@{host}" + (f" oauth-client {client}" if client else "")

    def execute(
        self,
        call: PlannedCall,
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Carry out one planned call; every lead ends with an outcome backed by evidence."""
        if call.kind == "mass_convert":
            return self._mass_convert(call, call_index, steps or StepRecorder())
        return self._send_checked(call, call_index, settle=self._doubt_wait)

    def resolve_in_doubt(
        self, lead_ids: Sequence[str], *, call_kind: str | None, sent_at: float | None
    ) -> list[ConversionResult]:
        """The leads' state, re-read until they show converted or ``doubt_wait`` seconds (the
        ``doubt_wait`` setting, 60 by default) have passed since the call was marked sent.

        A mass convert only schedules a job, and a single convert cut off by a read timeout may
        still be running: until that bound, a lead not yet converted is not safe to send.
        """
        settle = self._doubt_wait
        if sent_at is not None:
            settle = max(0.0, sent_at + self._doubt_wait - time.time())
        return self._settled_states(lead_ids, settle)

    def resume_job(
        self,
        job_id: str,
        lead_ids: Sequence[str],
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Poll a mass convert job an earlier run journaled to its end (``poll_timeout``), then
        read its leads: converted, failed (the job ended without them), or still scheduled."""
        return self._job_results(job_id, lead_ids, call_index, steps or StepRecorder())

    def _send_checked(
        self, call: PlannedCall, index: int | None, settle: float
    ) -> list[ConversionResult]:
        """Send a non-idempotent POST; after any doubt, read Zoho's state before resending.

        ``settle`` is how long Zoho may still act on a request whose answer was lost: a mass
        convert only schedules a job, so its leads may turn converted seconds later, and a
        convert cut off by a read timeout may still be running. Until the leads show converted
        or ``settle`` passes, nothing is re-sent. A request that never reached Zoho (no
        connection) or that Zoho answered needs no wait.
        """
        request = call.request
        doubt = ""
        for attempt in range(self._max_retries + 1):
            wait = settle
            try:
                answer = self._http(
                    request.method, request.path, json=request.json, idempotent=False
                )
            except UnreachableError:
                # No connection: nothing was sent, the leads are not attempted; the CRM cannot
                # be used, which the run, not this call, decides what to do about.
                raise
            except TransportError as exc:
                doubt = str(exc)
                if UnreachableError.caused(exc):
                    wait = 0.0
            else:
                if answer.status < 500:
                    results = read_answer(call, answer, index)
                    if all(r.outcome is not Outcome.UNKNOWN for r in results):
                        return results
                    doubt = f"unreadable answer (HTTP {answer.status})"
                else:
                    doubt = f"Zoho failed with HTTP {answer.status}"
                # Zoho answered: it is not still running the request, except behind a gateway
                # that gave up on it (502, 504) or a mass convert's job.
                if answer.status not in (502, 504) and call.kind != "mass_convert":
                    wait = 0.0
            log.info(
                "in doubt after %s %s (%s): reading the state of %d lead(s) before any resend",
                request.method,
                request.path,
                doubt,
                len(call.lead_ids),
            )
            try:
                states = self._settled_states(call.lead_ids, wait)
            except BackendError as exc:
                return unknown(call.lead_ids, f"{doubt}; and the leads' state: {exc}", index)
            if any(s.outcome is not Outcome.NOT_ATTEMPTED for s in states):
                # Converted (the request was applied) or unknowable: never send twice.
                return [
                    evolve(s, call=index)
                    if s.outcome is not Outcome.NOT_ATTEMPTED
                    else ConversionResult(
                        s.lead_id,
                        Outcome.UNKNOWN,
                        error=ConversionError(ErrorCode.UNKNOWN, doubt),
                        call=index,
                    )
                    for s in states
                ]
            if attempt < self._max_retries:
                self._sleep(self._delay(attempt))
        code = ErrorCode.SERVER_ERROR if "HTTP" in doubt else ErrorCode.NETWORK_ERROR
        error = ConversionError(code, f"{doubt}; the lead is not converted", retryable=True)
        return [
            ConversionResult(lead, Outcome.FAILED, error=error, call=index)
            for lead in call.lead_ids
        ]

    def _settled_states(self, lead_ids: Sequence[str], settle: float) -> list[ConversionResult]:
        """The leads' state, re-read until all show converted or ``settle`` seconds pass."""
        log.info(
            "checking the state of %d lead(s) in doubt (waiting up to %.0f s for them to show "
            "converted)",
            len(lead_ids),
            settle,
        )
        deadline = time.monotonic() + settle
        interval = self._poll_interval
        while True:
            states = self.lookup(lead_ids)
            done = all(s.outcome is not Outcome.NOT_ATTEMPTED for s in states)
            if done or time.monotonic() + interval > deadline:
                return states
            self._sleep(interval)
            interval = min(interval * 1.5, max(self._poll_interval * 8, 0.001))

    def _mass_convert(
        self, call: PlannedCall, index: int | None, steps: StepRecorder
    ) -> list[ConversionResult]:
        scheduled = self._send_checked(call, index, settle=self._doubt_wait)
        job_ids = {r.job_id for r in scheduled if r.outcome is Outcome.SCHEDULED and r.job_id}
        if not job_ids:
            # Refused outright (e.g. LIMIT_EXCEEDED), or established by lookup after a doubt.
            return scheduled
        job_id = next(iter(job_ids))
        # On disk before the first poll: a run killed while the job runs polls it on resume.
        steps.job_scheduled(job_id, call.lead_ids)
        return self._job_results(job_id, call.lead_ids, index, steps)

    def _job_results(
        self, job_id: str, lead_ids: Sequence[str], index: int | None, steps: StepRecorder
    ) -> list[ConversionResult]:
        status = self._wait_for_job(job_id, steps)
        try:
            states = self._lookup(lead_ids, job_id, index)
        except BackendError as exc:
            return [
                ConversionResult(
                    lead,
                    Outcome.UNKNOWN,
                    error=ConversionError(ErrorCode.UNKNOWN, f"job {job_id}: {exc}"),
                    call=index,
                    job_id=job_id,
                )
                for lead in lead_ids
            ]
        done = status in {"completed", "failed"}
        out: list[ConversionResult] = []
        for state in states:
            if state.outcome is Outcome.NOT_ATTEMPTED and done:
                error = ConversionError(
                    ErrorCode.UNKNOWN,
                    f"mass convert job {job_id} ended {status} and the lead is not converted; "
                    "Zoho gives no per-lead reason",
                    backend_code=status.upper().replace(" ", "_"),
                )
                out.append(
                    ConversionResult(
                        state.lead_id, Outcome.FAILED, error=error, call=index, job_id=job_id
                    )
                )
            elif state.outcome is Outcome.NOT_ATTEMPTED:
                # Not ended (the run is stopping, or the poll timeout passed): the next run
                # polls the journaled job again; the lead is never sent while it may run.
                error = ConversionError(
                    ErrorCode.UNKNOWN,
                    f"mass convert job {job_id} is still {status or 'unknown'}; run the same "
                    "command again later to pick it up",
                )
                out.append(
                    ConversionResult(
                        state.lead_id, Outcome.SCHEDULED, error=error, call=index, job_id=job_id
                    )
                )
            else:
                out.append(state)
        return out

    def job_status(self, job_id: str) -> Mapping[str, Any]:
        """The mass convert job's counts as Zoho reports them, with the status normalised."""
        answer = self._http(
            "GET", mass_convert_path(self.version), params={"job_id": job_id}, idempotent=True
        )
        # A refused job id is the CRM refusing what was asked (exit 1); a refused token, a 429
        # or a 5xx says the CRM cannot be used (exit 3): _raise_for tells them apart.
        self._raise_for(answer, f"Zoho refused the job id {job_id!r}")
        body = answer.parsed
        data = body.get("data") if isinstance(body, Mapping) else None
        if not (isinstance(data, list) and data and isinstance(data[0], Mapping)):
            raise ProtocolError(f"Zoho's answer about job {job_id!r} has no data")
        report = dict(data[0])
        # The documented values are lower case words, the documented sample upper case.
        report["Status"] = str(report.get("Status", "")).lower().replace("_", " ").strip()
        return {"job_id": job_id, **report}

    def _wait_for_job(self, job_id: str, steps: StepRecorder) -> str:
        """Poll the job until it ends, the poll timeout passes or the run stops; its last
        status, normalised."""
        deadline = time.monotonic() + self._poll_timeout
        interval = self._poll_interval
        status = ""
        while True:
            if steps.stopping:
                return status
            try:
                answer = self._http(
                    "GET",
                    mass_convert_path(self.version),
                    params={"job_id": job_id},
                    idempotent=True,
                )
            except TransportError:
                answer = None
            if answer is not None:
                body = answer.parsed
                data = body.get("data") if isinstance(body, Mapping) else None
                log.info("polled mass convert job %s: HTTP %d", job_id, answer.status)
                if isinstance(body, Mapping) and body.get("status") == "error":
                    return status
                if isinstance(data, list) and data and isinstance(data[0], Mapping):
                    # Documented values: completed, scheduled, in progress, failed; the sample
                    # is upper case.
                    status = str(data[0].get("Status", "")).lower().replace("_", " ").strip()
                    if status in {"completed", "failed"}:
                        return status
            if time.monotonic() + interval > deadline:
                return status
            # In slices, so a stopping run is not kept waiting for a long poll interval.
            until = time.monotonic() + interval
            while not steps.stopping and (left := until - time.monotonic()) > 0:
                self._sleep(min(left, 0.2))
            interval = min(interval * 1.5, max(self._poll_interval * 8, 0.001))
