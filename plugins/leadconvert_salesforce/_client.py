"""Carrying out planned calls over a simple-salesforce connection.

simple-salesforce has no convertLead (its issue #637), so the SOAP call is posted with the
connection's own ``requests.Session``; SOQL and the opportunity update go through
simple-salesforce itself. No exception of either library crosses this module's boundary.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import xml.parsers.expat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)
from simple_salesforce.format import format_soql

from leadconvert import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConversionError,
    ConversionResult,
    ErrorCode,
    FollowUp,
    MatchCandidate,
    MatchedField,
    MatchReport,
    Module,
    Outcome,
    ProtocolError,
    RateLimitedError,
    RequestTimeout,
    ServerError,
    TransportError,
    UnreachableError,
    dumps_json,
)
from leadconvert.backend import Client, PlannedCall, Secret, StepRecorder, backoff_delay
from leadconvert.http import Session

from ._answers import matched_in_rest, read_convert_answer, with_matches
from ._ids import IdError, canonical_id
from ._wire import (
    CONVERT_KIND,
    FOLLOW_UP_KIND,
    OPPORTUNITY_ID_PLACEHOLDER,
    LeadConvert,
    api_version,
    from_row,
    parse_rows,
    render_envelope,
    soap_headers,
)

__all__ = ["SalesforceClient", "looks_like_jwt"]

log = logging.getLogger("leadconvert.salesforce")

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_MAX_RETRY_AFTER = 300.0
_LOOKUP_CHUNK = 100


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the three base64url segments of a JWT (never a session id)."""
    return bool(_JWT.match(token))


def _refuse_jwt(token: str) -> None:
    if looks_like_jwt(token):
        raise ConfigurationError(
            "the session id is a JWT: Salesforce's SOAP API takes a session id or an opaque "
            "OAuth access token, and answers INVALID_SESSION_ID to a JWT; exchange it for an "
            "access token first (OAuth JWT bearer flow) or log in with username, password and "
            "security token"
        )


def _salesforce_code(exc: SalesforceError) -> str | None:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode")
        return str(code) if code else None
    return None


def _salesforce_message(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))
    return str(exc)


def _map_error(exc: BaseException, what: str) -> BackendError:
    """The leadconvert error for a simple-salesforce or requests failure."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed | SalesforceExpiredSession):
        return AuthenticationError(f"{what}: Salesforce refused the credentials: {exc}")
    if isinstance(exc, SalesforceError):
        code = _salesforce_code(exc)
        message = f"{what}: {code or type(exc).__name__}: {_salesforce_message(exc)}"
        if code == "REQUEST_LIMIT_EXCEEDED":
            return RateLimitedError(message, backend_code=code)
        if getattr(exc, "status", 0) >= 500:
            return ServerError(message, backend_code=code)
        return BackendError(message, backend_code=code)
    if isinstance(exc, requests.RequestException) and UnreachableError.caused(exc):
        # No connection was made, so nothing was sent: name the real cause (DNS, refused...).
        return UnreachableError.from_exception(f"Salesforce ({what})", exc)
    if isinstance(exc, requests.Timeout):
        return RequestTimeout(f"{what}: Salesforce did not answer in time")
    if isinstance(exc, requests.RequestException):
        return TransportError(f"{what}: no answer from Salesforce: {TransportError.cause(exc)}")
    if isinstance(exc, xml.parsers.expat.ExpatError):
        # simple-salesforce reads the login answer with minidom: expat refuses entity bombs.
        return ProtocolError(f"{what}: Salesforce's answer is not safe, readable XML: {exc}")
    return ProtocolError(f"{what}: unreadable answer: {type(exc).__name__}: {exc}")


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    try:
        yield
    except BackendError:
        raise
    except (
        SalesforceError,
        requests.RequestException,
        ValueError,
        KeyError,
        TypeError,
        xml.parsers.expat.ExpatError,
    ) as exc:
        raise _map_error(exc, what) from exc


class _TimeoutSession(Session):
    """A session that puts a timeout on every request and whose own ``verify`` wins.

    simple-salesforce's login (``soap_login``) posts without a timeout: a login endpoint that
    never answers would hang the whole run; every other call passes its own timeout. requests
    lets the environment override ``Session.verify`` (psf/requests#3829), and the login passes
    no ``verify``: without the pin, a CA bundle given as a credential would be ignored wherever
    ``REQUESTS_CA_BUNDLE`` is set.
    """

    def __init__(self, timeout: float, verify: str | bool = True) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.verify = verify

    def environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str) and (verify is None or verify is True):
            settings["verify"] = self.verify
        return settings

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


@attrs.define
class _Attempt:
    """The state of one planned convertLead call while it is being carried out."""

    rows: list[LeadConvert]
    given: list[str]
    results: list[ConversionResult | None]


class SalesforceClient(Client):
    """Carries out Salesforce plans on a simple-salesforce ``Salesforce`` connection."""

    def __init__(
        self,
        sf: Salesforce,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        retry_base_delay: float = 1.0,
        converted_status: str | None = None,
        doubt_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = getattr(sf, "session_id", None)
        if isinstance(token, str):
            _refuse_jwt(token)
            # A Secret is remembered for redaction: the session never shows in any output.
            Secret(token)
        self.sf = sf
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self._default_status = converted_status
        self._status_cache: str | None = None
        # The calls that start together wait for one query instead of each making its own.
        self._status_lock = threading.Lock()
        #: How long after a convertLead was sent the org may still be carrying it out (a read
        #: timeout does not stop it): a lead not converted by then is safe to send again.
        self.doubt_wait = doubt_wait
        self._sleep = sleep

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_connection(cls, sf: Salesforce, **options: Any) -> SalesforceClient:
        """Wrap an existing simple-salesforce connection, built with any login it supports."""
        return cls(sf, **options)

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, str], settings: Mapping[str, str]
    ) -> SalesforceClient:
        """Log in with ``credentials`` (see ``SalesforceBackend.credential_names``)."""
        version = api_version(settings)
        try:
            options: dict[str, Any] = {
                "timeout": float(settings.get("timeout", "120")),
                "max_retries": int(settings.get("max_retries", "3")),
                "retry_base_delay": float(settings.get("retry_base_delay", "1.0")),
                "converted_status": settings.get("converted_status") or None,
                "doubt_wait": float(settings.get("doubt_wait", "120")),
            }
        except ValueError as exc:
            raise ConfigurationError(f"bad Salesforce setting: {exc}") from exc
        session = _TimeoutSession(options["timeout"], credentials.get("ca_bundle") or True)
        get = credentials.get
        with _boundary("login"):
            if get("session_id"):
                # A session id read from a file may end in CR/LF: in a header that fails, and
                # the failure would quote it.
                token = credentials["session_id"].strip()
                _refuse_jwt(token)
                if not get("instance_url"):
                    raise ConfigurationError("session_id needs instance_url")
                sf = Salesforce(
                    session_id=token,
                    instance_url=credentials["instance_url"],
                    version=version,
                    session=session,
                )
            elif get("username") and get("password") and get("security_token") is not None:
                sf = Salesforce(
                    username=credentials["username"],
                    password=credentials["password"],
                    security_token=credentials["security_token"],
                    domain=get("domain") or None,
                    version=version,
                    session=session,
                )
            else:
                raise ConfigurationError(
                    "Salesforce needs username, password and security_token (and optionally "
                    "domain), or session_id and instance_url"
                )
        return cls(sf, **options)

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _can_relogin(self) -> bool:
        # simple-salesforce keeps its login as a partial only when it logged in itself; a
        # connection built from a session id cannot log in again.
        return getattr(self.sf, "_salesforce_login_partial", None) is not None

    def _relogin(self) -> None:
        with _boundary("re-login"):
            self.sf._refresh_session()
        if isinstance(self.sf.session_id, str):
            Secret(self.sf.session_id)

    def _delay(self, attempt: int, advice: float | None) -> float:
        return backoff_delay(attempt, self.retry_base_delay, advice=advice, cap=_MAX_RETRY_AFTER)

    def _query(self, soql: str, what: str) -> list[dict[str, Any]]:
        with _boundary(what):
            answer = self.sf.query_all(soql, timeout=self.timeout)
        records = answer.get("records") if isinstance(answer, dict) else None
        if not isinstance(records, list):
            raise ProtocolError(f"{what}: the query answer holds no records")
        return [dict(r) for r in records]

    # --- converted status ---------------------------------------------------------------------

    def converted_status(self) -> str:
        """The org's one converted lead status, discovered once per connection."""
        if self._default_status:
            return self._default_status
        if self._status_cache is not None:
            return self._status_cache
        with self._status_lock:
            if self._status_cache is None:
                self._status_cache = self._discover_status()
            return self._status_cache

    def _discover_status(self) -> str:
        base = "FROM LeadStatus WHERE IsConverted = true"
        try:
            records = self._query(f"SELECT ApiName, MasterLabel {base}", "converted status")
        except BackendError as exc:
            if exc.backend_code != "INVALID_FIELD":
                raise
            # Orgs before LeadStatus.ApiName existed: the label is the value to send.
            records = self._query(f"SELECT MasterLabel {base}", "converted status")
        names: list[str] = []
        for record in records:
            name = record.get("ApiName") or record.get("MasterLabel")
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        if not names:
            raise ConfigurationError("the org has no converted lead status (LeadStatus)")
        if len(names) > 1:
            raise ConfigurationError(
                "the org has several converted lead statuses: "
                + ", ".join(repr(n) for n in names)
                + "; give converted_status per conversion or as the converted_status setting"
            )
        return names[0]

    # --- Client -------------------------------------------------------------------------------

    def org_identity(self) -> str:
        """``salesforce:<org id>@<instance host>``.

        A Salesforce session id starts with the id of its org (``00D...!...``); the instance
        host is where the API calls go. A session id without that prefix leaves the org ``?``.
        """
        session = str(getattr(self.sf, "session_id", "") or "")
        org = session.split("!", 1)[0] if "!" in session else ""
        with suppress(IdError):
            org = canonical_id(org) if org else ""
        return f"salesforce:{org or '?'}@{self.sf.sf_instance}"

    def resolve_in_doubt(
        self, lead_ids: Sequence[str], *, call_kind: str | None, sent_at: float | None
    ) -> list[ConversionResult]:
        """The leads' state, re-read until they show converted or ``doubt_wait`` seconds (the
        ``doubt_wait`` setting, 120 by default) have passed since the call was marked sent."""
        settle = self.doubt_wait
        if sent_at is not None:
            settle = max(0.0, sent_at + self.doubt_wait - time.time())
        return self._settled(lead_ids, settle)

    def _settled(self, lead_ids: Sequence[str], settle: float) -> list[ConversionResult]:
        """``lookup``, repeated until no lead shows not converted or ``settle`` passes."""
        deadline = time.monotonic() + settle
        interval = min(0.05, max(settle, 0.0))
        while True:
            found = self.lookup(lead_ids)
            if all(r.outcome is not Outcome.NOT_ATTEMPTED for r in found):
                return found
            if time.monotonic() + interval > deadline:
                return found
            self._sleep(interval)
            interval = min(interval * 2, 5.0)

    def check_follow_up(
        self, call: PlannedCall, *, sent_at: float | None = None
    ) -> FollowUp | None:
        """Whether the opportunity has every value the update sets: then the update was
        applied (or is not needed), and sending it again would change nothing. Re-read until
        ``doubt_wait`` has passed since ``sent_at``: a cut-off update may still be applied."""
        (lead,) = call.lead_ids
        known = self.lookup([lead])[0]
        if known.outcome is not Outcome.CONVERTED or known.opportunity_id is None:
            return None
        settle = self.doubt_wait
        if sent_at is not None:
            settle = max(0.0, sent_at + self.doubt_wait - time.time())
        if self._applied_within(known.opportunity_id, call.request.json or {}, settle):
            return FollowUp(_action(call), True)
        return None

    def _applied_within(
        self, opportunity_id: str, values: Mapping[str, Any], settle: float
    ) -> bool:
        """Whether the opportunity shows the values, re-read for up to ``settle`` seconds."""
        deadline = time.monotonic() + settle
        interval = min(0.05, settle)
        while True:
            if self._opportunity_has(opportunity_id, values):
                return True
            if time.monotonic() + interval > deadline:
                return False
            self._sleep(interval)
            interval = min(interval * 2, 5.0)

    def _opportunity_has(self, opportunity_id: str, values: Mapping[str, Any]) -> bool:
        if not values:
            return True
        if not all(_FIELD.fullmatch(name) for name in values):
            return False
        # Field names are checked API names from the plan, the id is quoted by format_soql.
        soql = f"SELECT Id, {', '.join(sorted(values))} FROM Opportunity WHERE Id = {{}}"  # noqa: S608
        records = self._query(format_soql(soql, opportunity_id), "opportunity check")
        if not records:
            return False
        return all(_same(records[0].get(k), v) for k, v in values.items())

    def execute(
        self,
        call: PlannedCall,
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Send one planned call; one result per lead it carried, in order."""
        if call.kind == CONVERT_KIND:
            return self._convert(call, call_index)
        if call.kind == FOLLOW_UP_KIND:
            return [self._follow_up(call, steps)]
        raise ValueError(f"the Salesforce client cannot execute {call.kind!r} calls")

    def _convert(self, call: PlannedCall, call_index: int | None) -> list[ConversionResult]:
        # The planned LeadConverts travel in ``content``; a call read back from a shown plan
        # carries its envelope instead, read once here.
        if call.request.content is not None:
            rows: list[LeadConvert] = list(call.request.content)
        elif call.request.body is not None:
            rows = [from_row(row) for row in parse_rows(call.request.body.encode("utf-8"))[0]]
        else:
            raise ValueError("a convertLead call carries LeadConverts or an XML body")
        if len(rows) != len(call.lead_ids):
            raise ValueError("the call's body and lead ids disagree")
        state = _Attempt(list(rows), list(call.lead_ids), [None] * len(rows))
        if any(row.converted_status is None for row in rows):
            try:
                status: str | None = self.converted_status()
            except ConfigurationError as exc:
                status = None
                problem = ConversionError(ErrorCode.INVALID_STATUS, str(exc))
            for i, row in enumerate(rows):
                if row.converted_status is not None:
                    continue
                if status is None:
                    state.results[i] = ConversionResult(
                        call.lead_ids[i], Outcome.NOT_ATTEMPTED, error=problem
                    )
                else:
                    state.rows[i] = attrs.evolve(row, converted_status=status)
        self._send(call, state, call_index)
        out = [r for r in state.results if r is not None]
        assert len(out) == len(rows)
        return out

    def _send(self, call: PlannedCall, state: _Attempt, call_index: int | None) -> None:
        url = f"https://{self.sf.sf_instance}{call.request.path}"
        relogged = False
        attempt = 0
        while True:
            pending = [i for i, r in enumerate(state.results) if r is None]
            if not pending:
                return
            leads = [state.given[i] for i in pending]
            body = render_envelope([state.rows[i] for i in pending], self.sf.session_id)
            try:
                response = self.sf.session.post(
                    url,
                    data=body.encode("utf-8"),
                    headers=soap_headers(),
                    timeout=self.timeout,
                )
                results = read_convert_answer(
                    leads,
                    response.status_code,
                    response.content,
                    dict(response.headers),
                    call_index,
                )
            except requests.ConnectTimeout as exc:
                # Nothing was sent: safe to send again.
                failure = _failure(ErrorCode.NETWORK_ERROR, _map_error(exc, "convertLead"))
                if attempt >= self.max_retries:
                    self._fail(state, pending, failure, call_index)
                    return
            except (requests.RequestException, ProtocolError) as exc:
                if isinstance(exc, requests.RequestException) and UnreachableError.caused(exc):
                    # No connection: nothing was sent, and the CRM cannot be used now.
                    raise _map_error(exc, "convertLead") from exc
                log.info("convertLead in doubt (%s): reading the leads' state first", exc)
                # The request may have been applied, or (cut off by a read timeout) may still
                # be running: establish each lead's state, waiting up to doubt_wait for it to
                # show converted, before sending anything again (convertLead is not idempotent).
                answered = isinstance(exc, ProtocolError)
                settle = 0.0 if answered or UnreachableError.caused(exc) else self.doubt_wait
                self._establish(state, pending, call_index, settle)
                if attempt >= self.max_retries:
                    failure = _failure(ErrorCode.NETWORK_ERROR, _map_error(exc, "convertLead"))
                    self._fail(state, pending, failure, call_index)
                    return
            except AuthenticationError:
                if relogged or not self._can_relogin:
                    raise AuthenticationError(
                        "Salesforce refused the session (INVALID_SESSION_ID)"
                        + (
                            " again after logging in anew"
                            if relogged
                            else "; this connection was built from a session id and cannot "
                            "log in again: supply a fresh session id, or username, password "
                            "and security token"
                        ),
                        backend_code="INVALID_SESSION_ID",
                    ) from None
                log.info("Salesforce refused the session (INVALID_SESSION_ID): logging in again")
                self._relogin()
                relogged = True
                continue
            except (RateLimitedError, ServerError) as exc:
                code = (
                    ErrorCode.RATE_LIMITED
                    if isinstance(exc, RateLimitedError)
                    else ErrorCode.SERVER_ERROR
                )
                if attempt >= self.max_retries:
                    self._fail(state, pending, _failure(code, exc), call_index)
                    return
                advice = exc.retry_after if isinstance(exc, RateLimitedError) else None
                delay = self._delay(attempt, advice)
                log.info("convertLead: %s; retrying in %.1f s", exc, delay)
                self._sleep(delay)
                attempt += 1
                continue
            else:
                for i, result in zip(pending, results, strict=True):
                    state.results[i] = result
                return
            self._sleep(self._delay(attempt, None))
            attempt += 1

    def _fail(
        self,
        state: _Attempt,
        pending: Sequence[int],
        error: ConversionError,
        call_index: int | None,
    ) -> None:
        for i in pending:
            if state.results[i] is None:
                state.results[i] = ConversionResult(
                    state.given[i], Outcome.FAILED, error=error, call=call_index
                )

    def _establish(
        self, state: _Attempt, pending: Sequence[int], call_index: int | None, settle: float
    ) -> None:
        leads = [state.given[i] for i in pending]
        try:
            found = self._settled(leads, settle)
        except BackendError as exc:
            error = ConversionError(
                ErrorCode.NETWORK_ERROR,
                f"the connection dropped and the lead's state could not be established: {exc}",
                retryable=False,
            )
            for i in pending:
                state.results[i] = ConversionResult(
                    state.given[i], Outcome.UNKNOWN, error=error, call=call_index
                )
            return
        for i, result in zip(pending, found, strict=True):
            if result.outcome is Outcome.CONVERTED or result.outcome is not Outcome.NOT_ATTEMPTED:
                state.results[i] = attrs.evolve(result, call=call_index)

    def _follow_up(self, call: PlannedCall, steps: StepRecorder | None) -> ConversionResult:
        (lead,) = call.lead_ids
        action = _action(call)
        # The run holds the conversion this update follows (its opportunity id); outside a run
        # the org says which opportunity the lead became.
        known = steps.converted(lead) if steps is not None else None
        if known is None:
            try:
                known = self.lookup([lead])[0]
            except BackendError as exc:
                error = ConversionError(ErrorCode.UNKNOWN, f"cannot find the opportunity: {exc}")
                return ConversionResult(
                    lead, Outcome.UNKNOWN, error=error, follow_ups=(FollowUp(action, False, error),)
                )
        if known.outcome is not Outcome.CONVERTED or known.opportunity_id is None:
            error = ConversionError(
                ErrorCode.UNKNOWN, "the conversion created no opportunity to update"
            )
            return attrs.evolve(
                known, follow_ups=(*known.follow_ups, FollowUp(action, False, error))
            )
        path = call.request.path.replace(OPPORTUNITY_ID_PLACEHOLDER, known.opportunity_id)
        relative = path.split(f"/v{self.sf.sf_version}/", 1)[-1]
        step: FollowUp
        try:
            with _boundary("opportunity update"):
                self.sf.restful(
                    relative,
                    method="PATCH",
                    data=dumps_json(call.request.json),
                    timeout=self.timeout,
                )
        except TransportError as exc:
            # Cut off: the update may have been applied, or may still be (a read timeout does
            # not stop it): the opportunity itself says whether it was, within doubt_wait.
            values = call.request.json or {}
            try:
                applied = self._applied_within(known.opportunity_id, values, self.doubt_wait)
            except BackendError:
                applied = False
            error = ConversionError(
                ErrorCode.NETWORK_ERROR, str(exc), backend_code=exc.backend_code
            )
            step = FollowUp(action, applied, None if applied else error)
        except BackendError as exc:
            code = ErrorCode.INVALID_DATA if exc.backend_code else ErrorCode.UNKNOWN
            if isinstance(exc, ServerError):
                code = ErrorCode.SERVER_ERROR
            elif isinstance(exc, TransportError):
                code = ErrorCode.NETWORK_ERROR
            # A duplicate rule's matches come in the REST body's duplicateResut.
            matched = tuple(matched_in_rest(getattr(exc.__cause__, "content", None)))
            if exc.backend_code == "DUPLICATES_DETECTED":
                code = ErrorCode.DUPLICATE
            step = FollowUp(
                action,
                False,
                ConversionError(
                    code,
                    with_matches(str(exc), matched),
                    backend_code=exc.backend_code,
                    matched_ids=matched,
                ),
            )
        else:
            step = FollowUp(action, True)
        return attrs.evolve(known, follow_ups=(*known.follow_ups, step))

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        """Whether each lead is converted, and into what, from the org's Lead records."""
        canonical: dict[str, str] = {}
        for lead in lead_ids:
            with suppress(IdError):
                canonical[lead] = canonical_id(lead, "Lead")
        wanted = sorted(set(canonical.values()))
        records: dict[str, dict[str, Any]] = {}
        record: dict[str, Any] | None
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            soql = format_soql(
                "SELECT Id, IsConverted, ConvertedAccountId, ConvertedContactId, "
                "ConvertedOpportunityId FROM Lead WHERE Id IN {}",
                wanted[start : start + _LOOKUP_CHUNK],
            )
            for record in self._query(soql, "lead lookup"):
                records[canonical_id(str(record.get("Id")))] = record
        out = []
        for lead in lead_ids:
            key = canonical.get(lead)
            record = records.get(key) if key else None
            if record is None:
                out.append(
                    ConversionResult(
                        lead,
                        Outcome.FAILED,
                        error=ConversionError(
                            ErrorCode.INVALID_REFERENCE, "no such lead", "ENTITY_IS_DELETED"
                        ),
                    )
                )
            elif record.get("IsConverted"):
                out.append(
                    ConversionResult(
                        lead,
                        Outcome.CONVERTED,
                        account_id=record.get("ConvertedAccountId"),
                        contact_id=record.get("ConvertedContactId"),
                        opportunity_id=record.get("ConvertedOpportunityId"),
                    )
                )
            else:
                out.append(ConversionResult(lead, Outcome.NOT_ATTEMPTED))
        return out

    def match(self, lead_id: str) -> MatchReport:
        """Existing contacts and accounts matching a lead, in Zoho's order of preference.

        Lead email against contacts' Email first, then company against account Name, then
        the lead's name against contacts' names.
        """
        try:
            key = canonical_id(lead_id, "Lead")
        except IdError as exc:
            raise ConfigurationError(str(exc)) from exc
        leads = self._query(
            format_soql(
                "SELECT Id, FirstName, LastName, Email, Company FROM Lead WHERE Id = {}", key
            ),
            "match",
        )
        if not leads:
            raise BackendError(f"no lead {lead_id}", backend_code="INVALID_CROSS_REFERENCE_KEY")
        lead = leads[0]
        contacts: dict[str, MatchCandidate] = {}
        accounts: dict[str, MatchCandidate] = {}
        preferred: Module | None = None
        contact_fields = "SELECT Id, Name, Email, AccountId FROM Contact WHERE "

        def add_contacts(records: list[dict[str, Any]], matched: MatchedField, rank: int) -> None:
            for r in records:
                cid = str(r["Id"])
                old = contacts.get(cid)
                fields = (*(old.matched_fields if old else ()), matched)
                contacts[cid] = MatchCandidate(
                    Module.CONTACTS,
                    cid,
                    r.get("Name"),
                    fields,
                    account_id=r.get("AccountId"),
                    rank=min(old.rank, rank) if old else rank,
                )

        email = lead.get("Email")
        if email:
            found = self._query(format_soql(contact_fields + "Email = {}", email), "match")
            add_contacts(found, MatchedField("Email", email), 0)
            if found:
                preferred = Module.CONTACTS
        company = lead.get("Company")
        if company:
            found = self._query(
                format_soql("SELECT Id, Name FROM Account WHERE Name = {}", company), "match"
            )
            for r in found:
                accounts[str(r["Id"])] = MatchCandidate(
                    Module.ACCOUNTS, str(r["Id"]), r.get("Name"), (MatchedField("Name", company),)
                )
            if found and preferred is None:
                preferred = Module.ACCOUNTS
        first, last = lead.get("FirstName"), lead.get("LastName")
        if last:
            if first:
                soql = format_soql(contact_fields + "FirstName = {} AND LastName = {}", first, last)
            else:
                soql = format_soql(contact_fields + "LastName = {}", last)
            found = self._query(soql, "match")
            name = f"{first} {last}" if first else str(last)
            add_contacts(found, MatchedField("Name", name), 1)
            if found and preferred is None:
                preferred = Module.CONTACTS
        return MatchReport(
            lead_id,
            preferred_module=preferred,
            contacts=tuple(contacts.values()),
            accounts=tuple(accounts.values()),
        )

    def close(self) -> None:
        """Close the connection's HTTP session."""
        self.sf.session.close()


def _failure(code: ErrorCode, exc: BackendError) -> ConversionError:
    return ConversionError(code, str(exc), backend_code=exc.backend_code, retryable=True)


def _action(call: PlannedCall) -> str:
    return f"update Opportunity ({', '.join(call.request.json or {})})"


def _same(actual: Any, wanted: Any) -> bool:
    """Whether a field read back from the org holds the value an update sets."""
    if actual == wanted:
        return True
    if actual is None or wanted is None:
        return False
    try:
        return Decimal(str(actual)) == Decimal(str(wanted))
    except InvalidOperation:
        return str(actual) == str(wanted)
