"""Carrying out Dynamics 365 plans over the Dataverse Web API with ``requests``.

Authentication is OAuth 2.0 client credentials against Microsoft Entra ID through ``msal``
(token endpoint ``{authority}/{tenant}/oauth2/v2.0/token``, scope ``{org url}/.default``; msal
caches the token and this client drops it on a 401 to get a fresh one), or a ready access token.

Safety rules, in the order they apply:

* every HTTP call has a timeout, and at most ``max_concurrency`` (below Microsoft's 52
  concurrent requests per user) are in flight at once, across threads;
* a request Dataverse refused before acting (429 or a service protection code, 401) is sent
  again after ``Retry-After`` (or a fresh token); reads are retried after any failure;
* a qualify ``$batch`` whose answer was lost (dropped connection, read timeout, 5xx, an answer
  that does not read) is never sent again before each lead's state has been read: a qualified
  lead is closed, and a second qualify is an error, not a second set of records;
* follow-ups are PATCHes of known records: sending one again does no harm.

No exception of ``requests`` or ``msal`` crosses this module's boundary.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import requests

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
    loads_json,
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
    NOT_INSTALLED_MESSAGE,
    RATE_LIMIT_CODES,
    error_body,
    error_from,
    follow_up_outcome,
    is_not_installed,
    qualify_results,
)
from ._ids import IdError, canonical_guid
from ._parse import parse_follow_up_batch, parse_qualify_batch
from ._plan import api_version
from ._wire import (
    ENTITY_SETS,
    FOLLOW_UP_KIND,
    QUALIFY_KIND,
    FollowUpBatch,
    FollowUpStep,
    HttpMessage,
    LeadQualify,
    Part,
    QualifyBatch,
    api_path,
    batch_headers,
    parse_batch_response,
    render_batch,
    render_qualify,
)

__all__ = ["DynamicsClient", "MsalTokens", "StaticToken", "TokenSource"]

log = logging.getLogger("leadconvert.dynamics")

_MAX_RETRY_AFTER = 300.0
_LOOKUP_CHUNK = 50
_LEAD_STATE = (
    "leadid,statecode,statuscode,_parentaccountid_value,_parentcontactid_value,"
    "_qualifyingopportunityid_value"
)
_STATUS_METADATA = (
    "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='{0}')/Microsoft.Dynamics.CRM.{1}"
)


class TokenSource:
    """Where access tokens come from; ``refresh`` drops a token Dataverse refused."""

    def token(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def refresh(self) -> bool:
        """Forget the cached token; False when no fresh one can be had."""
        return False


class StaticToken(TokenSource):
    """A ready access token (it cannot be refreshed)."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def token(self) -> str:
        """The token."""
        return self._token.reveal()


class MsalTokens(TokenSource):
    """Client credentials through ``msal`` (its in-memory cache, refreshed before expiry)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: Secret,
        scope: str,
        authority_host: str,
        session: requests.Session,
        timeout: float,
    ) -> None:
        self._args = {
            "tenant_id": tenant_id,
            "client_id": client_id,
            "authority_host": authority_host.rstrip("/"),
        }
        self._secret = client_secret
        self._scope = scope
        self._session = session
        self._timeout = timeout
        self._app: Any = None
        self._lock = threading.Lock()

    def _application(self) -> Any:
        import msal

        if self._app is None:
            authority = f"{self._args['authority_host']}/{self._args['tenant_id']}"
            known = self._args["authority_host"] == "https://login.microsoftonline.com"
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._args["client_id"],
                    client_credential=self._secret.reveal(),
                    authority=authority,
                    # A sovereign cloud or an emulator is not in msal's list of known hosts:
                    # trust the configured one rather than ask login.microsoftonline.com.
                    validate_authority=known,
                    instance_discovery=known,
                    http_client=self._session,
                    timeout=self._timeout,
                )
            except ValueError as exc:
                raise AuthenticationError(
                    f"Microsoft Entra ID authority {authority} cannot be used: {exc}"
                ) from exc
            except requests.RequestException as exc:
                # Tenant discovery failed: no lead was sent.
                raise UnreachableError.from_exception(
                    f"Microsoft Entra ID at {self._args['authority_host']}", exc
                ) from exc
        return self._app

    def token(self) -> str:
        """A valid access token for ``{org url}/.default`` (from msal's cache when it can)."""
        with self._lock:
            try:
                result = self._application().acquire_token_for_client(scopes=[self._scope])
            except requests.RequestException as exc:
                # No lead was sent: whatever failed, the call's leads are not attempted.
                if UnreachableError.caused(exc):
                    raise UnreachableError.from_exception("Microsoft Entra ID", exc) from exc
                raise UnreachableError(f"no access token from Microsoft Entra ID: {exc}") from exc
        if not isinstance(result, Mapping) or "access_token" not in result:
            error = result.get("error") if isinstance(result, Mapping) else None
            text = result.get("error_description") if isinstance(result, Mapping) else None
            raise AuthenticationError(
                f"Microsoft Entra ID refused the client credentials: {error}: {text}",
                backend_code=str(error) if error else None,
            )
        return str(result["access_token"])

    def refresh(self) -> bool:
        """Drop the cached access tokens, so the next ``token`` asks Entra ID again."""
        with self._lock:
            if self._app is None:
                return True
            cache = self._app.token_cache
            for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        return True


class _Timeouts(Session):
    """A session that puts a timeout on every request (msal's included) and pins ``verify``."""

    def __init__(self, timeout: float, verify: str | bool) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.verify = verify

    def environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):
            # A CA bundle given as a credential wins over REQUESTS_CA_BUNDLE (psf/requests#3829).
            settings["verify"] = self.verify
        return settings

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


@attrs.define
class _Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json_or_none(self) -> Any:
        return _quiet_json(self.text)

    def json(self) -> Any:
        try:
            return loads_json(self.text) if self.text.strip() else None
        except ValueError as exc:
            raise ProtocolError(f"Dataverse's answer is not JSON: {exc}") from exc


class _InDoubt(Exception):
    """The request may have reached Dataverse and acted, but no answer proves it."""

    def __init__(self, cause: BackendError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _failure(lead: str, error: ConversionError, call: int | None) -> ConversionResult:
    return ConversionResult(lead, Outcome.FAILED, error=error, call=call)


def _odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DynamicsClient(Client):
    """Carries out Dynamics 365 plans on one org (``org_url``)."""

    def __init__(
        self,
        *,
        org_url: str,
        tokens: TokenSource,
        session: requests.Session,
        api_version: str = "v9.2",
        timeout: float = 120.0,
        max_retries: int = 3,
        retry_base_delay: float = 1.0,
        max_concurrency: int = 8,
        status: str | None = None,
        doubt_wait: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= max_concurrency < 52:
            raise ConfigurationError(
                "max_concurrency must be from 1 to 51: Dataverse allows 52 concurrent requests "
                "per user"
            )
        self.org_url = org_url.rstrip("/")
        self.tokens = tokens
        self.session = session
        self.version = api_version
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.default_status = status
        self.doubt_wait = doubt_wait
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._statuses: list[dict[str, Any]] | None = None
        self._status_lock = threading.Lock()
        self._default_qualified: int | None = None
        self._identity: str | None = None
        self._host = urllib.parse.urlsplit(self.org_url).netloc

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, str], settings: Mapping[str, str]
    ) -> DynamicsClient:
        """A client from ``credentials`` (see ``DynamicsBackend.credential_names``)."""
        get = credentials.get
        org_url = (get("org_url") or "").rstrip("/")
        if not org_url:
            raise ConfigurationError(
                "Dynamics 365 needs org_url (e.g. https://contoso.crm.dynamics.com)"
            )
        parsed = urllib.parse.urlsplit(org_url)
        if parsed.scheme != "https" or not parsed.netloc:
            raise ConfigurationError(f"org_url must be an https:// URL, got {org_url!r}")
        try:
            timeout = float(settings.get("timeout") or 120)
            options: dict[str, Any] = {
                "timeout": timeout,
                "max_retries": int(settings.get("max_retries") or 3),
                "retry_base_delay": float(settings.get("retry_base_delay") or 1.0),
                "max_concurrency": int(settings.get("max_concurrency") or 8),
                "doubt_wait": float(settings.get("doubt_wait") or timeout),
            }
        except ValueError as exc:
            raise ConfigurationError(f"bad Dynamics setting: {exc}") from exc
        session = _Timeouts(timeout, get("ca_bundle") or True)
        tokens: TokenSource
        if get("access_token"):
            tokens = StaticToken(Secret(credentials["access_token"]))
        elif get("tenant_id") and get("client_id") and get("client_secret"):
            tokens = MsalTokens(
                tenant_id=credentials["tenant_id"],
                client_id=credentials["client_id"],
                client_secret=Secret(credentials["client_secret"]),
                scope=f"{org_url}/.default",
                authority_host=get("authority_host") or "https://login.microsoftonline.com",
                session=session,
                timeout=timeout,
            )
        else:
            raise ConfigurationError(
                "Dynamics 365 needs org_url with tenant_id, client_id and client_secret (OAuth "
                "client credentials), or org_url with access_token"
            )
        return cls(
            org_url=org_url,
            tokens=tokens,
            session=session,
            api_version=api_version(settings),
            status=settings.get("status") or None,
            **options,
        )

    # --- transport ------------------------------------------------------------------------------

    def _delay(self, attempt: int, advice: float | None) -> float:
        return backoff_delay(attempt, self.retry_base_delay, advice=advice, cap=_MAX_RETRY_AFTER)

    def _send(
        self,
        method: str,
        rest: str,
        *,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        safe: bool,
        what: str,
    ) -> _Answer:
        """One request; retried where that is safe. ``safe``: sending it twice does no harm.

        Raises ``_InDoubt`` when an unsafe request may have acted without an answer.
        """
        url = f"{self.org_url}{api_path(self.version, rest)}"
        refreshed = False
        attempt = 0
        while True:
            token = self.tokens.token()
            sent_headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                **(headers or {}),
            }
            if body is not None and "Content-Type" not in sent_headers:
                sent_headers["Content-Type"] = "application/json; charset=utf-8"
            try:
                with self._slots:
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        data=body.encode("utf-8") if body is not None else None,
                        headers=sent_headers,
                        timeout=self.timeout,
                    )
                    answer = _Answer(response.status_code, dict(response.headers), response.text)
            except requests.RequestException as exc:
                if UnreachableError.caused(exc):
                    # No connection was made (DNS, refused, connect timeout, TLS): nothing was
                    # sent, so trying again is safe, and giving up leaves the leads unattempted.
                    if attempt >= self.max_retries:
                        raise UnreachableError.from_exception(
                            f"Dataverse at {self._host}", exc
                        ) from exc
                    delay = self._delay(attempt, None)
                    log.info("%s: retrying in %.1f s: %s", what, delay, TransportError.cause(exc))
                    self._sleep(delay)
                    attempt += 1
                    continue
                error: BackendError = (
                    RequestTimeout(f"{what}: Dataverse did not answer in time: {exc}")
                    if isinstance(exc, requests.Timeout)
                    else TransportError(f"{what}: the connection to Dataverse failed: {exc}")
                )
                if not safe:
                    raise _InDoubt(error) from exc
                if attempt >= self.max_retries:
                    raise error from exc
            else:
                code, message = error_body(answer.status, _quiet_json(answer.text))
                if answer.status == 401:
                    if refreshed or not self.tokens.refresh():
                        raise AuthenticationError(
                            f"{what}: Dataverse refused the access token (HTTP 401)"
                            + ("" if refreshed else "; a ready access_token cannot be renewed"),
                            backend_code="401",
                        )
                    log.info("%s: Dataverse refused the access token (401): got a new one", what)
                    refreshed = True
                    continue
                limited = answer.status == 429 or code in RATE_LIMIT_CODES
                if limited:
                    # Refused before it ran: safe to send again, after the advised wait.
                    advice = retry_after(answer.headers)
                    if attempt >= self.max_retries:
                        raise RateLimitedError(
                            f"{what}: Dataverse service protection: {message}",
                            backend_code=code or "429",
                            retry_after=advice,
                        )
                    delay = self._delay(attempt, advice)
                    log.info(
                        "%s: Dataverse service protection (%s): retrying in %.1f s",
                        what,
                        code or answer.status,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                definite = not error_from(answer.status, answer.json_or_none()).retryable
                if answer.status >= 500 and definite:
                    # A definite refusal keyed by its code (the duplicate error is documented as
                    # 500 too): Dataverse ran the request and said no.
                    return answer
                if answer.status >= 500:
                    server = ServerError(
                        f"{what}: Dataverse failed (HTTP {answer.status}): {message}",
                        backend_code=code,
                    )
                    if not safe:
                        raise _InDoubt(server)
                    if attempt >= self.max_retries:
                        raise server
                else:
                    return answer
            self._sleep(self._delay(attempt, None))
            attempt += 1

    def _get(self, rest: str, params: Mapping[str, str], what: str) -> Any:
        answer = self._send("GET", rest, params=params, safe=True, what=what)
        body = answer.json()
        if answer.status >= 400:
            code, message = error_body(answer.status, body)
            if is_not_installed(code, message):
                raise BackendError(f"{what}: {NOT_INSTALLED_MESSAGE}", backend_code=code)
            if answer.status == 403:
                raise AuthenticationError(f"{what}: {message}", backend_code=code)
            raise BackendError(f"{what}: {message} (HTTP {answer.status})", backend_code=code)
        return body

    def _records(self, entity_set: str, select: str, where: str, what: str) -> list[dict[str, Any]]:
        body = self._get(entity_set, {"$select": select, "$filter": where}, what)
        value = body.get("value") if isinstance(body, Mapping) else None
        if not isinstance(value, list):
            raise ProtocolError(f"{what}: the answer holds no value[]")
        return [dict(r) for r in value if isinstance(r, Mapping)]

    # --- org identity and statuses --------------------------------------------------------------

    def org_identity(self) -> str:
        """``<OrganizationId>@<host>`` from WhoAmI."""
        if self._identity is None:
            body = self._get("WhoAmI", {}, "WhoAmI")
            org = body.get("OrganizationId") if isinstance(body, Mapping) else None
            if not isinstance(org, str):
                raise ProtocolError("WhoAmI's answer has no OrganizationId")
            self._identity = f"{org}@{urllib.parse.urlsplit(self.org_url).netloc}"
        return self._identity

    def _status_options(self) -> list[dict[str, Any]]:
        if self._statuses is None:
            # The calls that start together wait for one read of the metadata.
            with self._status_lock:
                if self._statuses is None:
                    self._read_status_options()
        assert self._statuses is not None
        return self._statuses

    def _read_status_options(self) -> None:
        body = self._get(
            _STATUS_METADATA.format("statuscode", "StatusAttributeMetadata"),
            {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
            "lead statuscode metadata",
        )
        options = body.get("OptionSet", {}).get("Options") if isinstance(body, Mapping) else None
        if not isinstance(options, list):
            raise ProtocolError("the statuscode metadata holds no OptionSet.Options")
        states = self._get(
            _STATUS_METADATA.format("statecode", "StateAttributeMetadata"),
            {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
            "lead statecode metadata",
        )
        state_options = (
            states.get("OptionSet", {}).get("Options") if isinstance(states, Mapping) else None
        )
        default = next(
            (
                o.get("DefaultStatus")
                for o in state_options or []
                if isinstance(o, Mapping) and o.get("Value") == 1
            ),
            None,
        )
        with self._lock:
            self._default_qualified = default if isinstance(default, int) else None
            self._statuses = [dict(o) for o in options if isinstance(o, Mapping)]

    def resolve_status(self, status: int | str | None) -> int:
        """A planned Status as the Int32 statuscode to send.

        A number is sent as given (Dataverse checks it); a name is looked up among the lead's
        statuscode options of the Qualified state; None is the org's default Qualified status.
        Raises ``ConfigurationError`` when the org has no such Qualified status.
        """
        if isinstance(status, int):
            return status
        if status is None and self.default_status:
            status = self.default_status
            if status.strip().isdigit():
                return int(status)
        options = self._status_options()
        qualified = [o for o in options if o.get("State") == 1]
        if status is None:
            if self._default_qualified is not None:
                return self._default_qualified
            if len(qualified) == 1 and isinstance(qualified[0].get("Value"), int):
                return int(qualified[0]["Value"])
            raise ConfigurationError("the org names no default Qualified status for leads")
        wanted = status.strip().casefold()
        found = [
            int(o["Value"])
            for o in qualified
            if isinstance(o.get("Value"), int) and _label(o).casefold() == wanted
        ]
        if len(found) != 1:
            names = ", ".join(f"{_label(o)} ({o.get('Value')})" for o in qualified)
            raise ConfigurationError(
                f"the org has {'no' if not found else 'several'} Qualified lead status named "
                f"{status!r} (Qualified statuses: {names})"
            )
        return found[0]

    # --- execute --------------------------------------------------------------------------------

    def execute(
        self,
        call: PlannedCall,
        *,
        call_index: int | None = None,
        steps: StepRecorder | None = None,
    ) -> list[ConversionResult]:
        """Send one planned ``$batch``; one result per lead it carried, in order."""
        if call.kind == QUALIFY_KIND:
            return self._qualify(call, call_index)
        if call.kind == FOLLOW_UP_KIND:
            return self._follow_up(call, call_index, steps)
        raise ValueError(f"the Dynamics client cannot execute {call.kind!r} calls")

    def _qualify(self, call: PlannedCall, call_index: int | None) -> list[ConversionResult]:
        content = call.request.content
        batch = content if isinstance(content, QualifyBatch) else parse_qualify_batch(call)
        leads = list(batch.leads)
        results: list[ConversionResult | None] = [None] * len(leads)
        for i, lead in enumerate(leads):
            try:
                status = self.resolve_status(lead.qualify.status)
            except ConfigurationError as exc:
                results[i] = _failure(
                    lead.lead_id, ConversionError(ErrorCode.INVALID_STATUS, str(exc)), call_index
                )
                continue
            except BackendError as exc:
                results[i] = _failure(lead.lead_id, _error_of(exc), call_index)
                continue
            leads[i] = attrs.evolve(lead, qualify=attrs.evolve(lead.qualify, status=status))
        self._check_memberships(leads, results, call_index)
        attempt = 0
        while True:
            pending = [i for i, r in enumerate(results) if r is None]
            if not pending:
                break
            sending = QualifyBatch(
                batch.api_version, batch.number, tuple(leads[i] for i in pending)
            )
            boundary, body = render_qualify(sending)
            sent_at = time.time()
            try:
                answer = self._send(
                    "POST",
                    "$batch",
                    body=body,
                    headers=batch_headers(boundary),
                    safe=False,
                    what="QualifyLead $batch",
                )
                got, part_advice = self._read_qualify(
                    answer, [leads[i] for i in pending], call_index
                )
            except _InDoubt as doubt:
                # The batch may have qualified some leads: read them before anything else.
                log.info("QualifyLead batch in doubt (%s): reading the leads' state", doubt.cause)
                self._establish(leads, results, pending, doubt.cause, call_index, sent_at)
                if attempt >= self.max_retries:
                    error = _error_of(doubt.cause)
                    for i in pending:
                        if results[i] is None:
                            results[i] = _failure(leads[i].lead_id, error, call_index)
                    break
                self._sleep(self._delay(attempt, None))
                attempt += 1
                continue
            except RateLimitedError as exc:
                error = ConversionError(
                    ErrorCode.RATE_LIMITED, str(exc), exc.backend_code, retryable=True
                )
                for i in pending:
                    results[i] = _failure(leads[i].lead_id, error, call_index)
                break
            retry: list[int] = []
            advice: float | None = None
            for i, result in zip(pending, got, strict=True):
                if (
                    result.error is not None
                    and result.error.code is ErrorCode.RATE_LIMITED
                    and attempt < self.max_retries
                ):
                    # That change set was refused before it ran: send it again.
                    retry.append(i)
                    advice = part_advice or retry_after(answer.headers)
                    continue
                results[i] = result
            if not retry:
                break
            self._sleep(self._delay(attempt, advice))
            attempt += 1
        out = [r for r in results if r is not None]
        assert len(out) == len(leads)
        return self._complete(leads, out)

    def _read_qualify(
        self, answer: _Answer, leads: Sequence[LeadQualify], call_index: int | None
    ) -> tuple[list[ConversionResult], float | None]:
        """One result per lead, and the longest Retry-After of a throttled change set."""
        content_type = next(
            (v for k, v in answer.headers.items() if k.lower() == "content-type"), ""
        )
        if answer.status >= 400 or not content_type.startswith("multipart/"):
            # The whole batch was refused (nothing in it ran).
            error = error_from(answer.status, _quiet_json(answer.text))
            if answer.status < 400:
                raise _InDoubt(
                    ProtocolError(f"a $batch answer that is not multipart: {content_type}")
                )
            return [_failure(lead.lead_id, error, call_index) for lead in leads], None
        try:
            items = parse_batch_response(answer.text, content_type)
            results = qualify_results(leads, items, call_index)
        except (ValueError, ProtocolError) as exc:
            raise _InDoubt(ProtocolError(f"the $batch answer does not read: {exc}")) from exc
        # A change set throttled on its own carries its own Retry-After.
        advice = [
            seconds
            for item in items
            for message in (item if isinstance(item, list) else [item])
            if message.status >= 400 and (seconds := retry_after(message.headers)) is not None
        ]
        return results, (max(advice) if advice else None)

    def _check_memberships(
        self,
        leads: Sequence[LeadQualify],
        results: list[ConversionResult | None],
        call_index: int | None,
    ) -> None:
        """A contact merged with an account must be that account's (read before sending)."""
        both = [
            i
            for i, lead in enumerate(leads)
            if results[i] is None
            and lead.bind is not None
            and lead.bind.parent_account_id
            and lead.bind.parent_contact_id
        ]
        if not both:
            return
        contact_ids = sorted(
            {_key(str(bind.parent_contact_id)) for i in both if (bind := leads[i].bind)}
        )
        records: list[dict[str, Any]] = []
        try:
            for start in range(0, len(contact_ids), _LOOKUP_CHUNK):
                chunk = contact_ids[start : start + _LOOKUP_CHUNK]
                records += self._records(
                    "contacts",
                    "contactid,_parentcustomerid_value",
                    " or ".join(f"contactid eq {c}" for c in chunk),
                    "contact check",
                )
        except BackendError:
            return  # Dataverse checks the merge itself; the pre-check only saves a call.
        parents = {_key(str(r.get("contactid"))): r.get("_parentcustomerid_value") for r in records}
        for i in both:
            bind = leads[i].bind
            assert bind is not None and bind.parent_contact_id and bind.parent_account_id
            contact = _key(bind.parent_contact_id)
            if contact not in parents:
                message = f"no contact {bind.parent_contact_id}"
            elif parents[contact] is not None and _key(str(parents[contact])) != _key(
                bind.parent_account_id
            ):
                message = (
                    f"contact {bind.parent_contact_id} belongs to account {parents[contact]}, "
                    f"not {bind.parent_account_id}"
                )
            else:
                continue
            results[i] = ConversionResult(
                leads[i].lead_id,
                Outcome.FAILED,
                error=ConversionError(ErrorCode.INVALID_REFERENCE, message, "contact_check"),
                call=call_index,
            )

    def _establish(
        self,
        leads: Sequence[LeadQualify],
        results: list[ConversionResult | None],
        pending: Sequence[int],
        cause: BackendError,
        call_index: int | None,
        sent_at: float,
    ) -> None:
        ids = [leads[i].lead_id for i in pending]
        try:
            if isinstance(cause, RequestTimeout):
                # After a read timeout Dataverse may still be running the batch: an open lead
                # proves nothing until doubt_wait has passed since it was sent.
                found = self.resolve_in_doubt(ids, call_kind=QUALIFY_KIND, sent_at=sent_at)
            else:
                # The server ended the request (dropped, 5xx, garbled): what reads open is open.
                found = self.lookup(ids)
        except BackendError as exc:
            error = ConversionError(
                ErrorCode.NETWORK_ERROR,
                f"{cause}; the lead's state could not be read afterwards: {exc}",
            )
            for i in pending:
                results[i] = ConversionResult(
                    leads[i].lead_id, Outcome.UNKNOWN, error=error, call=call_index
                )
            return
        for i, result in zip(pending, found, strict=True):
            if result.outcome is Outcome.NOT_ATTEMPTED:
                continue  # The server ended the request and the lead is open: safe to resend.
            if result.outcome in (Outcome.CONVERTED, Outcome.ALREADY_CONVERTED):
                # Qualified by the call whose answer was lost.
                results[i] = attrs.evolve(result, outcome=Outcome.CONVERTED, call=call_index)
            else:
                results[i] = attrs.evolve(result, call=call_index)

    def _complete(
        self, leads: Sequence[LeadQualify], results: list[ConversionResult]
    ) -> list[ConversionResult]:
        """Ids QualifyLead did not list (it lists only what it created) read from the lead."""
        wanted = [
            i
            for i, (lead, r) in enumerate(zip(leads, results, strict=True))
            if (r.outcome is Outcome.ALREADY_CONVERTED)
            or (
                r.outcome is Outcome.CONVERTED
                and (
                    (r.account_id is None and lead.qualify.create_account)
                    or (r.contact_id is None)
                    or (r.opportunity_id is None and lead.qualify.create_opportunity)
                )
            )
        ]
        if not wanted:
            return results
        try:
            found = self.lookup([results[i].lead_id for i in wanted])
        except BackendError:
            return results
        out = list(results)
        for i, state in zip(wanted, found, strict=True):
            r = out[i]
            out[i] = attrs.evolve(
                r,
                account_id=r.account_id or state.account_id,
                contact_id=r.contact_id or state.contact_id,
                opportunity_id=r.opportunity_id or state.opportunity_id,
            )
        return out

    # --- follow-ups -------------------------------------------------------------------------------

    def _follow_up(
        self, call: PlannedCall, call_index: int | None, steps: StepRecorder | None
    ) -> list[ConversionResult]:
        content = call.request.content
        batch = content if isinstance(content, FollowUpBatch) else parse_follow_up_batch(call)
        known: dict[str, ConversionResult] = {}
        missing: list[str] = []
        for lead in call.lead_ids:
            # The run holds the qualify this follows (what it created); else the org says.
            found = steps.converted(lead) if steps is not None else None
            if found is None:
                missing.append(lead)
            else:
                known[_key(lead)] = found
        if missing:
            try:
                for result in self.lookup(missing):
                    known[_key(result.lead_id)] = result
            except BackendError as exc:
                error = ConversionError(ErrorCode.UNKNOWN, f"cannot read the lead: {exc}")
                for lead in missing:
                    known[_key(lead)] = ConversionResult(lead, Outcome.UNKNOWN, error=error)
        parts: list[Part] = []
        sent: list[tuple[FollowUpStep, str]] = []
        outcomes: dict[str, list[FollowUp]] = {_key(lead): [] for lead in call.lead_ids}
        for step in batch.steps:
            lead_key = _key(step.lead_id)
            state = known.get(lead_key)
            action = _action(step)
            record_id = _record_of(state, step.role) if state is not None else None
            if state is None or state.outcome not in (Outcome.CONVERTED,):
                error = ConversionError(ErrorCode.UNKNOWN, "the lead was not qualified by this run")
                outcomes.setdefault(lead_key, []).append(FollowUp(action, False, error))
                continue
            if record_id is None:
                if step.role == "opportunity":
                    error = ConversionError(
                        ErrorCode.UNKNOWN, "QualifyLead created no opportunity to update"
                    )
                    outcomes.setdefault(lead_key, []).append(FollowUp(action, False, error))
                # No account created (the lead had no company): there is nothing to assign.
                continue
            url = api_path(self.version, f"{ENTITY_SETS[step.role]}({record_id})")
            parts.append(Part("PATCH", url, dict(step.body), str(len(parts) + 1)))
            sent.append((step, action))
        if parts:
            boundary = f"batch_lc{batch.number}"
            body = render_batch(boundary, parts)
            while boundary in "".join(dumps_json(p.json) for p in parts):
                boundary += "_"
                body = render_batch(boundary, parts)
            try:
                answer = self._send(
                    "POST",
                    "$batch",
                    body=body,
                    headers=batch_headers(boundary),
                    safe=True,  # PATCHes of known records: applying one twice changes nothing.
                    what="follow-up $batch",
                )
                messages = self._read_follow_ups(answer, len(parts))
            except BackendError as exc:
                error = _error_of(exc)
                for step, action in sent:
                    outcomes.setdefault(_key(step.lead_id), []).append(
                        FollowUp(action, False, error)
                    )
            else:
                for (step, action), message in zip(sent, messages, strict=True):
                    outcomes.setdefault(_key(step.lead_id), []).append(
                        follow_up_outcome(action, message)
                    )
        out = []
        for lead in call.lead_ids:
            base = known.get(_key(lead)) or ConversionResult(lead, Outcome.UNKNOWN)
            # One FollowUp per lead and follow-up call, as the runner folds them: the steps
            # of this call for the lead, all named, failed if any failed.
            result = attrs.evolve(
                base,
                lead_id=lead,
                follow_ups=(*base.follow_ups, _fold(outcomes.get(_key(lead), []))),
                call=base.call if base.call is not None else call_index,
            )
            out.append(result)
        return out

    def _read_follow_ups(self, answer: _Answer, count: int) -> list[HttpMessage]:
        content_type = next(
            (v for k, v in answer.headers.items() if k.lower() == "content-type"), ""
        )
        if answer.status >= 400 or not content_type.startswith("multipart/"):
            error = error_from(answer.status, _quiet_json(answer.text))
            raise BackendError(error.message, backend_code=error.backend_code)
        try:
            items = parse_batch_response(answer.text, content_type)
        except ValueError as exc:
            raise ProtocolError(f"the follow-up $batch answer does not read: {exc}") from exc
        messages = [m for item in items for m in (item if isinstance(item, list) else [item])]
        if len(messages) != count:
            raise ProtocolError(
                f"the follow-up $batch answer holds {len(messages)} answers for {count} requests"
            )
        return messages

    def check_follow_up(
        self, call: PlannedCall, *, sent_at: float | None = None
    ) -> FollowUp | None:
        """Whether a follow-up batch whose send was cut off was applied: every step's values
        read back from its record, re-read until they all match or ``doubt_wait`` seconds have
        passed since ``sent_at`` (the cut-off batch may still be running). None (send again)
        when any still differs then."""
        deadline = (sent_at if sent_at is not None else time.time()) + self.doubt_wait
        while True:
            applied = self._follow_up_applied(call)
            left = deadline - time.time()
            if applied is not None or left <= 0:
                return applied
            self._sleep(min(0.5, left))

    def _follow_up_applied(self, call: PlannedCall) -> FollowUp | None:
        content = call.request.content
        batch = content if isinstance(content, FollowUpBatch) else parse_follow_up_batch(call)
        states = {_key(r.lead_id): r for r in self.lookup(list(call.lead_ids))}
        for step in batch.steps:
            state = states.get(_key(step.lead_id))
            record_id = _record_of(state, step.role) if state else None
            if record_id is None:
                continue
            record = self._get(f"{ENTITY_SETS[step.role]}({record_id})", {}, "follow-up check")
            for key, value in step.body.items():
                if key == "ownerid@odata.bind":
                    owner = str(value).rsplit("(", 1)[-1].rstrip(")")
                    if _key(str(record.get("_ownerid_value"))) != _key(owner):
                        return None
                elif not _same(record.get(key), value):
                    return None
        return FollowUp(call.kind, True)

    # --- lookup and match -------------------------------------------------------------------------

    def resolve_in_doubt(
        self, lead_ids: Sequence[str], *, call_kind: str | None, sent_at: float | None
    ) -> list[ConversionResult]:
        """The leads' state, re-read until none reads open or ``doubt_wait`` seconds (the
        ``doubt_wait`` setting, by default the HTTP timeout) have passed since the send.

        A qualify cut off by a read timeout may still be running in Dataverse: until that bound
        a lead that reads open is not safe to send again.
        """
        deadline = (sent_at if sent_at is not None else time.time()) + self.doubt_wait
        log.info("checking the state of %d lead(s) in doubt", len(lead_ids))
        while True:
            found = self.lookup(lead_ids)
            left = deadline - time.time()
            if left <= 0 or all(r.outcome is not Outcome.NOT_ATTEMPTED for r in found):
                return found
            self._sleep(min(0.5, left))

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        """Whether each lead is qualified, and into what, from its lead record."""
        canonical: dict[str, str] = {}
        for lead in lead_ids:
            with suppress(IdError):
                canonical[lead] = canonical_guid(lead)
        wanted = sorted(set(canonical.values()))
        records: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            where = " or ".join(f"leadid eq {i}" for i in chunk)
            for record in self._records("leads", _LEAD_STATE, where, "lead lookup"):
                records[_key(str(record.get("leadid")))] = record
        out = []
        for lead in lead_ids:
            key = canonical.get(lead)
            found = records.get(key) if key else None
            if found is None:
                out.append(
                    ConversionResult(
                        lead,
                        Outcome.FAILED,
                        error=ConversionError(
                            ErrorCode.INVALID_REFERENCE, "no such lead", "0x80040217"
                        ),
                    )
                )
            elif found.get("statecode") == 1:
                out.append(
                    ConversionResult(
                        lead,
                        Outcome.CONVERTED,
                        account_id=_optional(found.get("_parentaccountid_value")),
                        contact_id=_optional(found.get("_parentcontactid_value")),
                        opportunity_id=_optional(found.get("_qualifyingopportunityid_value")),
                    )
                )
            elif found.get("statecode") == 2:
                out.append(
                    ConversionResult(
                        lead,
                        Outcome.FAILED,
                        error=ConversionError(
                            ErrorCode.INVALID_DATA,
                            "the lead is disqualified (closed); it cannot be qualified",
                            "0x80040519",
                        ),
                    )
                )
            else:
                out.append(ConversionResult(lead, Outcome.NOT_ATTEMPTED))
        return out

    def match(self, lead_id: str) -> MatchReport:
        """Existing contacts (e-mail, then phone) and accounts (name) matching a lead."""
        try:
            key = canonical_guid(lead_id)
        except IdError as exc:
            raise ConfigurationError(str(exc)) from exc
        lead = self._get(
            f"leads({key})",
            {"$select": "leadid,fullname,emailaddress1,telephone1,mobilephone,companyname"},
            "match",
        )
        contacts: dict[str, MatchCandidate] = {}
        accounts: dict[str, MatchCandidate] = {}
        preferred: Module | None = None
        contact_select = (
            "contactid,fullname,emailaddress1,telephone1,_parentcustomerid_value,statecode"
        )

        def add(records: list[dict[str, Any]], matched: MatchedField, rank: int) -> None:
            for r in records:
                cid = _key(str(r["contactid"]))
                old = contacts.get(cid)
                contacts[cid] = MatchCandidate(
                    Module.CONTACTS,
                    cid,
                    r.get("fullname"),
                    (*(old.matched_fields if old else ()), matched),
                    account_id=_optional(r.get("_parentcustomerid_value")),
                    editable=r.get("statecode", 0) == 0,
                    rank=min(old.rank, rank) if old else rank,
                )

        email = lead.get("emailaddress1")
        if isinstance(email, str) and email:
            found = self._records(
                "contacts", contact_select, f"emailaddress1 eq {_odata_literal(email)}", "match"
            )
            add(found, MatchedField("emailaddress1", email), 0)
            if found:
                preferred = Module.CONTACTS
        for field in ("telephone1", "mobilephone"):
            phone = lead.get(field)
            if not isinstance(phone, str) or not phone:
                continue
            found = self._records(
                "contacts",
                contact_select,
                f"telephone1 eq {_odata_literal(phone)} or mobilephone eq {_odata_literal(phone)}",
                "match",
            )
            add(found, MatchedField(field, phone), 1)
            if found and preferred is None:
                preferred = Module.CONTACTS
        company = lead.get("companyname")
        if isinstance(company, str) and company:
            found = self._records(
                "accounts",
                "accountid,name,statecode",
                f"name eq {_odata_literal(company)}",
                "match",
            )
            for r in found:
                aid = _key(str(r["accountid"]))
                accounts[aid] = MatchCandidate(
                    Module.ACCOUNTS,
                    aid,
                    r.get("name"),
                    (MatchedField("name", company),),
                    editable=r.get("statecode", 0) == 0,
                )
            if found and preferred is None:
                preferred = Module.ACCOUNTS
        return MatchReport(
            lead_id,
            preferred_module=preferred,
            contacts=tuple(contacts.values()),
            accounts=tuple(accounts.values()),
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


def _key(record_id: str) -> str:
    try:
        return canonical_guid(record_id)
    except IdError:
        return record_id


def _optional(value: Any) -> str | None:
    return _key(str(value)) if value else None


def _label(option: Mapping[str, Any]) -> str:
    label = option.get("Label")
    if isinstance(label, Mapping):
        local = label.get("UserLocalizedLabel")
        if isinstance(local, Mapping) and isinstance(local.get("Label"), str):
            return str(local["Label"])
    return str(label or "")


def _quiet_json(text: str) -> Any:
    try:
        return loads_json(text) if text.strip() else None
    except ValueError:
        return None


def _error_of(exc: BackendError) -> ConversionError:
    if isinstance(exc, RateLimitedError):
        code = ErrorCode.RATE_LIMITED
    elif isinstance(exc, AuthenticationError):
        code = ErrorCode.AUTH_FAILED
    elif isinstance(exc, ServerError):
        code = ErrorCode.SERVER_ERROR
    elif isinstance(exc, TransportError | ProtocolError):
        code = ErrorCode.NETWORK_ERROR
    else:
        code = ErrorCode.UNKNOWN
    return ConversionError(code, str(exc), backend_code=exc.backend_code, retryable=True)


def _record_of(state: ConversionResult, role: str) -> str | None:
    return {
        "account": state.account_id,
        "contact": state.contact_id,
        "opportunity": state.opportunity_id,
    }[role]


def _same(actual: Any, wanted: Any) -> bool:
    """Whether a value read back from a record is the one a follow-up set (``12500.0`` is
    ``"12500.00"``; a date may come back as a timestamp of that day)."""
    if actual == wanted or str(actual) == str(wanted):
        return True
    if actual is None or wanted is None:
        return False
    try:
        return Decimal(str(actual)) == Decimal(str(wanted))
    except InvalidOperation:
        return str(actual).startswith(f"{wanted}T")


def _fold(steps: Sequence[FollowUp]) -> FollowUp:
    if not steps:
        # Only owner assignments of records QualifyLead did not create (no company, no account).
        return FollowUp("nothing to update: QualifyLead created none of those records", True)
    if len(steps) == 1:
        return steps[0]
    action = "; ".join(step.action for step in steps)
    failed = [step for step in steps if not step.succeeded]
    if not failed:
        return FollowUp(action, True)
    first = failed[0].error or ConversionError(ErrorCode.UNKNOWN, "failed")
    message = "; ".join(
        f"{step.action}: {step.error.message if step.error else 'failed'}" for step in failed
    )
    return FollowUp(action, False, attrs.evolve(first, message=message))


def _action(step: FollowUpStep) -> str:
    keys = [k for k in step.body if k != "ownerid@odata.bind"]
    if step.role == "opportunity":
        what = ", ".join(keys + (["owner"] if "ownerid@odata.bind" in step.body else []))
        return f"update opportunity ({what})"
    return f"assign {step.role} owner"
