"""Zoho's wire protocol on the emulator kit: OAuth, the REST paths, Zoho's answers and limits."""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from leadconvert import loads_json
from leadconvert.emulation import CONVERT, Fault, HttpEmulator, json_response, read_seed

from ._org import ZohoError, ZohoOrg, error

if TYPE_CHECKING:
    from werkzeug.routing import Map
    from werkzeug.wrappers import Request, Response

# werkzeug is imported when the emulator answers, not when it is built (see leadconvert.emulation).

__all__ = ["FAULT_KINDS", "ZohoEmulator"]

#: The shorthand fault kinds ``inject`` (and ``{"kind": ...}`` on the admin API) accept.
FAULT_KINDS = ("status", "drop_before", "drop_after", "delay", "malformed")
_NOT_FOUND = ("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
_STATUS_CODES = {
    400: "INVALID_DATA",
    401: "INVALID_TOKEN",
    403: "NO_PERMISSION",
    404: _NOT_FOUND[0],
    429: "TOO_MANY_REQUESTS",
}
_LEAD = "/crm/<version>/Leads"


@functools.cache
def _urls() -> Map:
    from werkzeug.routing import Map, Rule

    return Map(
        [
            Rule("/oauth/v2/token", endpoint="token", methods=["POST"]),
            Rule("/crm/<version>/Leads", endpoint="get_leads", methods=["GET"]),
            Rule(f"{_LEAD}/actions/mass_convert", endpoint="mass_convert", methods=["POST"]),
            Rule(f"{_LEAD}/actions/mass_convert", endpoint="mass_status", methods=["GET"]),
            Rule(f"{_LEAD}/<lead_id>/actions/convert", endpoint="convert", methods=["POST"]),
            Rule(
                "/crm/<version>/Leads/<lead_id>/__conversion_options",
                endpoint="options",
                methods=["GET"],
            ),
            Rule("/crm/<version>/users", endpoint="users", methods=["GET"]),
            Rule("/crm/<version>/org", endpoint="org", methods=["GET"]),
            Rule("/crm/<version>/settings/fields", endpoint="fields", methods=["GET"]),
            Rule("/crm/<version>/<any(Leads,Contacts,Accounts,Deals):module>/<record_id>",
                 endpoint="record", methods=["GET"]),
        ]
    )  # fmt: skip


_METADATA_MODULES = ("Leads", "Contacts", "Accounts", "Deals")
#: Paths of Zoho's records API: it takes more methods there than the emulator serves.
_RECORDS_API = frozenset({"get_leads", "record"})


def _records_api(adapter: Any) -> bool:
    """Whether the path (matched for GET) is one of Zoho's records API."""
    from werkzeug.exceptions import HTTPException

    try:
        endpoint, _ = adapter.match(method="GET")
    except HTTPException:
        return False
    return endpoint in _RECORDS_API


def _zoho(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(document, status, headers)


class ZohoEmulator(HttpEmulator):
    """Zoho CRM on 127.0.0.1: conversions, mass-convert jobs, matching, metadata, OAuth, faults.

    ``token_lifetime`` (seconds) overrides the seed's; ``job_delay`` is how long a mass-convert
    job stays scheduled; ``concurrency_limit`` is how many API calls may be in flight before
    TOO_MANY_REQUESTS; ``refresh_limit`` is Zoho's 10 tokens per refresh token per 10 minutes.
    The base URL is both the API domain and the accounts server.
    """

    name: ClassVar[str] = "zoho"
    sign_in_operations: ClassVar[frozenset[str]] = frozenset({"token"})

    def __init__(
        self,
        *,
        seed: Path | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float | None = None,
        job_delay: float = 0.3,
        concurrency_limit: int = 10,
        refresh_limit: int = 10,
        quiet: bool = False,
    ) -> None:
        data = read_seed(seed, default=resources.files(__package__).joinpath("seed.json"))
        self._token_lifetime = token_lifetime
        self.job_delay = job_delay
        self.concurrency_limit = concurrency_limit
        self.refresh_limit = refresh_limit
        #: Retry-After (seconds) sent with TOO_MANY_REQUESTS past the concurrency limit.
        self.busy_retry_after = 1.0
        self._in_flight = 0
        self._refreshes: list[float] = []
        # Access tokens outlive a reset of the org, as a real client's do a data change.
        self._tokens: dict[str, float] = {}
        self._token_ids = iter(range(1, 1 << 62))
        origin = "<seed>" if isinstance(seed, Mapping) else str(seed or "the shipped Zoho seed")
        super().__init__(data, origin=origin, host=host, port=port, quiet=quiet)

    # --- the kit's hooks ------------------------------------------------------------------------

    def load(self, seed: Mapping[str, Any]) -> None:
        """The org the seed describes (see the shipped ``seed.json`` for every key)."""
        self.org = ZohoOrg(seed)
        if self._token_lifetime is not None:
            self.org.token_lifetime = float(self._token_lifetime)

    def state(self) -> Mapping[str, Any]:
        """Leads, contacts, accounts, deals, users, pipelines and jobs."""
        return self.org.state()

    @property
    def token_lifetime(self) -> float:
        """Seconds an access token lives."""
        return self.org.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        self._token_lifetime = value
        self.org.token_lifetime = value

    def credentials(self) -> Mapping[str, str]:
        """What ``ZohoBackend.connect`` needs to reach this emulator."""
        return {
            "client_id": self.org.client_id,
            "client_secret": self.org.client_secret,
            "refresh_token": self.org.refresh_token,
            "api_domain": self.base_url,
            "accounts_url": self.base_url,
        }

    def settings(self) -> dict[str, str]:
        """Settings naming this emulator's module ids (for mass-convert module references)."""
        modules = self.org.modules
        return {
            f"{name.lower()}_module_id": modules[name]
            for name in ("Contacts", "Accounts", "Deals")
            if name in modules
        }

    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """A new lead (Zoho field names; ``Last_Name`` and ``Company`` filled in if left out)."""
        with self.lock:
            return self.org.add_lead({**(fields or {}), **more})

    def lead(self, lead_id: str) -> dict[str, Any]:
        """A copy of a lead as stored (``$converted_detail`` once converted)."""
        with self.lock:
            return copy.deepcopy(self.org.leads[lead_id])

    def expire_sessions(self) -> None:
        """Make every issued access token invalid at once."""
        with self.lock:
            self._tokens.clear()

    def operation(self, request: Request) -> str:
        """The endpoint's name (``convert``, ``mass_convert``, ``token``...) or ``unknown``."""
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, _ = _urls().bind_to_environ(request.environ).match()
        except HTTPException:
            return "unknown"
        return str(endpoint)

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """Zoho's error document for an injected status (TOO_MANY_REQUESTS for 429...)."""
        literal = self.literal_fault_response(fault)
        if literal is not None:
            return literal
        status = fault.status or 500
        code = _STATUS_CODES.get(status, "INTERNAL_ERROR")
        return _zoho(error(code, "injected fault"), status, fault.headers)

    # --- compatibility helpers for tests ----------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        count: int | None = 1,
        status: int = 500,
        retry_after: float | None = None,
        delay: float = 0.0,
        path: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """Queue a fault by its shorthand kind (one of ``FAULT_KINDS``); see ``Fault``.

        ``status`` answers ``status`` (Zoho's error, ``Retry-After`` if given); ``drop_before``
        / ``drop_after`` close the connection before / after the org acts; ``delay`` waits;
        ``malformed`` acts, then answers a truncated JSON body.
        """
        return self.inject_fault(
            self.fault_for(
                kind,
                count=count,
                status=status,
                retry_after=retry_after,
                delay=delay,
                path=path,
                method=method,
            )
        )

    def fault_for(self, kind: str, **options: Any) -> Fault:
        """The ``Fault`` a shorthand kind stands for."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (one of {', '.join(FAULT_KINDS)})")
        status = int(options.pop("status", 500))
        retry_after = options.pop("retry_after", None)
        delay = float(options.pop("delay", 0.0))
        if kind == "status":
            headers = {} if retry_after is None else {"Retry-After": f"{float(retry_after):g}"}
            return Fault(status=status, headers=headers, **options)
        if kind == "delay":
            return Fault(delay=delay, **options)
        if kind == "malformed":
            return Fault(
                status=200,
                when="after",
                body=b'{"data": [{"code": "SUCC',
                headers={"Content-Type": "application/json"},
                **options,
            )
        return Fault(drop=True, when="before" if kind == "drop_before" else "after", **options)

    def expire_tokens(self) -> None:
        """Make every issued access token invalid at once (``expire_sessions``)."""
        self.expire_sessions()

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request received."""
        return [(r.method, r.path) for r in self.requests]

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: Request, operation: str) -> Response:
        """Route, limit, authenticate, then answer as Zoho does."""
        from werkzeug.exceptions import HTTPException

        adapter = _urls().bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            if exc.code == 405 and not _records_api(adapter):
                return _zoho(
                    error(
                        "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
                    ),
                    400,
                )
            # Unknown, or a records API method Zoho has but the emulator does not (inserting,
            # updating, deleting records): not emulated, so not a made-up success or refusal.
            return _zoho(error(*_NOT_FOUND), 404)
        if endpoint == "token":
            return self._token(request)
        with self.lock:
            if self._in_flight >= self.concurrency_limit:
                return _zoho(
                    error(
                        "TOO_MANY_REQUESTS",
                        "concurrency limit exceeded",
                        {"allowed": self.concurrency_limit},
                    ),
                    429,
                    {"Retry-After": f"{self.busy_retry_after:g}"},
                )
            self._in_flight += 1
        try:
            refused = self._authenticate(request)
            if refused is not None:
                return refused
            with self.lock:
                self.org.advance_jobs(time.monotonic())
                try:
                    result: Response = getattr(self, f"_{endpoint}")(request, **args)
                except ZohoError as exc:
                    return _zoho(exc.body(), exc.status)
                return result
        finally:
            with self.lock:
                self._in_flight -= 1

    def _authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Zoho-oauthtoken "):
            return _zoho(error("AUTHENTICATION_FAILURE", "Authentication failed"), 401)
        token = header.removeprefix("Zoho-oauthtoken ")
        with self.lock:
            expiry = self._tokens.get(token)
        if expiry is None or time.monotonic() >= expiry:
            return _zoho(error("INVALID_TOKEN", "invalid oauth token"), 401)
        return None

    def _token(self, request: Request) -> Response:
        form = request.form
        org = self.org
        # Zoho answers token errors with HTTP 200.
        if form.get("grant_type") != "refresh_token":
            return _zoho({"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (org.client_id, org.client_secret):
            return _zoho({"error": "invalid_client"})
        if form.get("refresh_token") != org.refresh_token:
            return _zoho({"error": "invalid_code"})
        now = time.monotonic()
        with self.lock:
            self._refreshes = [t for t in self._refreshes if now - t < 600]
            if len(self._refreshes) >= self.refresh_limit:
                # [I] Zoho's wording for too many token requests.
                return _zoho(
                    {
                        "error_description": "You have made too many requests continuously. "
                        "Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure",
                    },
                    400,
                )
            self._refreshes.append(now)
            token = f"1000.{org.new_id()}{next(self._token_ids)}.emulated"
            lifetime = org.token_lifetime
            self._tokens[token] = now + lifetime
        return _zoho(
            {
                "access_token": token,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.mass_convert.leads.CREATE "
                "ZohoCRM.settings.ALL ZohoCRM.users.READ ZohoCRM.org.READ",
                "api_domain": self.base_url,
                "token_type": "Bearer",
                "expires_in": int(lifetime) if lifetime >= 1 else 1,
            }
        )

    # --- endpoints (under the lock) -------------------------------------------------------

    def _convert(self, request: Request, version: str, lead_id: str) -> Response:
        org = self.org
        lead = org.lead(lead_id)
        self.count(lead_id, CONVERT)
        org.check_unconverted(lead)
        try:
            body = loads_json(request.get_data())
            item = body["data"][0]
            if not isinstance(item, dict) or len(body["data"]) != 1:
                raise TypeError
        except Exception:
            raise ZohoError(
                error(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "data", "json_path": "$.data", "expected_data_type": "jsonarray"},
                )
            ) from None
        details = org.convert(lead, item)
        return _zoho(
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "details": details,
                        "message": "The record has been converted successfully",
                        "status": "success",
                    }
                ]
            }
        )

    def _mass_convert(self, request: Request, version: str) -> Response:
        try:
            body = loads_json(request.get_data())
        except Exception:
            body = None
        ids = self.org.mass_convert_ids(body)
        for lead_id in ids:
            self.count(lead_id, CONVERT)
        job = self.org.schedule_mass_convert(body, ids, time.monotonic() + self.job_delay)
        return _zoho(
            {
                "code": "SCHEDULED",
                "details": {"job_id": job.id},
                "message": "Mass Convert scheduled successfully",
                "status": "success",
            }
        )

    def _mass_status(self, request: Request, version: str) -> Response:
        job_id = request.args.get("job_id")
        if not job_id:
            raise ZohoError(
                error("REQUIRED_PARAM_MISSING", "required param missing", {"param": "job_id"})
            )
        return _zoho({"data": [self.org.job_status(job_id)]})

    def _get_leads(self, request: Request, version: str) -> Response:
        from werkzeug.wrappers import Response

        if version != "v7" and not request.args.get("fields"):
            raise ZohoError(
                error("REQUIRED_PARAM_MISSING", "required param missing", {"param": "fields"})
            )
        wanted = [f for f in (request.args.get("fields") or "").split(",") if f]
        converted = request.args.get("converted", "false")
        ids = [i for i in (request.args.get("ids") or "").split(",") if i]
        leads = self.org.leads
        chosen = [leads[i] for i in ids if i in leads] if ids else list(leads.values())
        records = []
        for lead in chosen:
            is_converted = bool(lead.get("$converted"))
            if converted != "both" and is_converted != (converted == "true"):
                continue
            record = {f: lead.get(f) for f in wanted}
            record.update(
                {
                    "id": lead["id"],
                    "$converted": is_converted,
                    "$converted_detail": lead.get("$converted_detail", {}),
                }
            )
            records.append(record)
        if not records:
            return Response(status=204)
        return _zoho({"data": records, "info": {"count": len(records), "more_records": False}})

    def _options(self, request: Request, version: str, lead_id: str) -> Response:
        from werkzeug.wrappers import Response

        options = self.org.conversion_options(self.org.lead(lead_id))
        if options is None:
            return Response(status=204)
        return _zoho({"__conversion_options": options})

    def _users(self, request: Request, version: str) -> Response:
        kind = request.args.get("type", "AllUsers")
        if kind == "CurrentUser":
            users = [self.org.current_user()]
        elif kind in ("AllUsers", "ActiveUsers"):
            users = [
                {"id": u["id"], "full_name": u.get("full_name"), "status": "active"}
                for u in self.org.users.values()
            ]
        else:
            details = {"param_name": "type", "expected_data_type": "string"}
            raise ZohoError(error("INVALID_DATA", "invalid data", details))
        return _zoho(
            {
                "users": users,
                "info": {"per_page": 200, "count": len(users), "page": 1, "more_records": False},
            }
        )

    def _org(self, request: Request, version: str) -> Response:
        return _zoho({"org": [self.org.org_info()]})

    def _fields(self, request: Request, version: str) -> Response:
        module = request.args.get("module")
        if not module:
            raise ZohoError(
                error("REQUIRED_PARAM_MISSING", "required param missing", {"param": "module"})
            )
        if module not in _METADATA_MODULES:
            message = "the module name given seems to be invalid"
            raise ZohoError(error("INVALID_MODULE", message, {"param": "module"}))
        return _zoho({"fields": self.org.fields(module)})

    def _record(self, request: Request, version: str, module: str, record_id: str) -> Response:
        from werkzeug.wrappers import Response

        if not record_id.isdigit():  # /Leads/search and the like: not emulated
            raise ZohoError(error(*_NOT_FOUND), 404)
        record = self.org.table(module).get(record_id)
        if record is None:
            return Response(status=204)
        return _zoho({"data": [record]})
