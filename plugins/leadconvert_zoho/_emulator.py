"""A stateful, in-memory Zoho CRM served over real HTTP on loopback, with fault injection.

Same paths, bodies, status codes and error shapes as Zoho's documents; plus the OAuth token
endpoint and an admin endpoint (``/__emulator/...``) to inject faults from outside Python.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from attrs import define, field
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from leadconvert import dumps_json, loads_json
from leadconvert.backend import Emulator

__all__ = ["FAULT_KINDS", "Fault", "ZohoEmulator"]

FAULT_KINDS = ("status", "drop_before", "drop_after", "delay", "malformed")
_DEAL_MANDATORY = ("Deal_Name", "Closing_Date", "Stage", "Pipeline")


@define
class Fault:
    """One injected fault, applied to the next ``count`` matching API calls."""

    kind: str
    count: int = 1
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    #: Only calls whose path contains this (e.g. ``/actions/convert``); None = any API call.
    path: str | None = None
    method: str | None = None


class _QuietHandler(WSGIRequestHandler):
    """Logs nothing per request (tests); the sandbox keeps werkzeug's request log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:
        return None


class _Dropped(ConnectionResetError):
    """Raised after shutting the socket: werkzeug treats it as a dropped connection."""


@define
class _Job:
    id: str
    ids: list[str]
    body: dict[str, Any]
    due: float
    status: str = "SCHEDULED"
    converted: int = 0
    failed: int = 0


def _error(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": dict(details or {}), "message": message, "status": "error"}


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        dumps_json(body), status, headers=dict(headers or {}), mimetype="application/json"
    )


@define
class _State:
    leads: dict[str, dict[str, Any]] = field(factory=dict)
    contacts: dict[str, dict[str, Any]] = field(factory=dict)
    accounts: dict[str, dict[str, Any]] = field(factory=dict)
    deals: dict[str, dict[str, Any]] = field(factory=dict)
    users: dict[str, dict[str, Any]] = field(factory=dict)
    pipelines: dict[str, list[str]] = field(factory=dict)
    unique: dict[str, list[str]] = field(factory=dict)
    modules: dict[str, str] = field(factory=dict)
    jobs: dict[str, _Job] = field(factory=dict)
    tokens: dict[str, float] = field(factory=dict)


class ZohoEmulator(Emulator):
    """Zoho CRM on 127.0.0.1: conversions, mass-convert jobs, matching, OAuth and faults.

    ``token_lifetime`` (seconds) overrides the seed's; ``job_delay`` is how long a mass-convert
    job stays scheduled; ``concurrency_limit`` is how many API calls may be in flight before
    TOO_MANY_REQUESTS; ``refresh_limit`` is Zoho's 10 tokens per refresh token per 10 minutes.
    """

    def __init__(
        self,
        *,
        seed: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float | None = None,
        job_delay: float = 0.3,
        concurrency_limit: int = 10,
        refresh_limit: int = 10,
        quiet: bool = False,
    ) -> None:
        text = (
            seed.read_text(encoding="utf-8")
            if seed is not None
            else resources.files(__package__).joinpath("seed.json").read_text(encoding="utf-8")
        )
        self._seed: dict[str, Any] = loads_json(text)
        self._host = host
        self._port = port
        self.token_lifetime = float(
            token_lifetime if token_lifetime is not None else self._seed.get("token_lifetime", 3600)
        )
        self.job_delay = job_delay
        self.concurrency_limit = concurrency_limit
        self.refresh_limit = refresh_limit
        self._quiet = quiet
        #: Retry-After (seconds) sent with TOO_MANY_REQUESTS past the concurrency limit.
        self.busy_retry_after = 1.0
        self._lock = threading.RLock()
        #: How many convert and mass-convert requests named each lead: the proof, in tests,
        #: that no lead was sent twice.
        self.convert_requests: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._in_flight = 0
        self._refreshes: list[float] = []
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        self.calls: list[tuple[str, str]] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._state = self._load()
        self._urls = Map(
            [
                Rule("/oauth/v2/token", endpoint="token", methods=["POST"]),
                Rule("/crm/<version>/Leads", endpoint="get_leads", methods=["GET"]),
                Rule(
                    "/crm/<version>/Leads/actions/mass_convert",
                    endpoint="mass_convert",
                    methods=["POST"],
                ),
                Rule(
                    "/crm/<version>/Leads/actions/mass_convert",
                    endpoint="mass_status",
                    methods=["GET"],
                ),
                Rule(
                    "/crm/<version>/Leads/<lead_id>/actions/convert",
                    endpoint="convert",
                    methods=["POST"],
                ),
                Rule(
                    "/crm/<version>/Leads/<lead_id>/__conversion_options",
                    endpoint="options",
                    methods=["GET"],
                ),
                Rule("/__emulator/faults", endpoint="admin_faults", methods=["POST", "DELETE"]),
                Rule("/__emulator/leads/<lead_id>", endpoint="admin_lead", methods=["GET"]),
            ]
        )

    # --- lifecycle --------------------------------------------------------------------------

    def _load(self) -> _State:
        seed = copy.deepcopy(self._seed)
        state = _State(
            users={u["id"]: u for u in seed.get("users", [])},
            pipelines=dict(seed.get("pipelines", {})),
            unique={k: list(v) for k, v in seed.get("unique_fields", {}).items()},
            modules=dict(seed.get("modules", {})),
        )
        for lead in seed.get("leads", []):
            state.leads[lead["id"]] = {"Locked__s": False, "$approval_state": "approved", **lead}
        generated = seed.get("generated_leads") or {}
        first = int(generated.get("first_id", 5000000000000001000))
        for n in range(int(generated.get("count", 0))):
            lead_id = str(first + n)
            state.leads[lead_id] = {
                "id": lead_id,
                "First_Name": "Lead",
                "Last_Name": f"Number {n}",
                "Email": f"lead{n}@bulk.example",
                "Phone": f"7{n:09d}",
                "Company": f"Bulk Company {n}",
                "Locked__s": False,
                "$approval_state": "approved",
            }
        for contact in seed.get("contacts", []):
            state.contacts[contact["id"]] = {"Locked__s": False, **contact}
        for account in seed.get("accounts", []):
            state.accounts[account["id"]] = {"Locked__s": False, **account}
        return state

    def reset(self) -> None:
        """Back to the seed's state; faults cleared, tokens kept."""
        with self._lock:
            tokens = self._state.tokens
            self._state = self._load()
            self._state.tokens = tokens
            self._faults.clear()
            self.calls.clear()
            self.convert_requests.clear()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: both the API domain and the accounts server."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def credentials(self) -> Mapping[str, str]:
        """What ``ZohoBackend.connect`` needs to reach this emulator."""
        return {
            "client_id": self._seed["client_id"],
            "client_secret": self._seed["client_secret"],
            "refresh_token": self._seed["refresh_token"],
            "api_domain": self.base_url,
            "accounts_url": self.base_url,
        }

    def settings(self) -> dict[str, str]:
        """Settings naming this emulator's module ids (for mass-convert module references)."""
        modules = self._state.modules
        return {
            f"{name.lower()}_module_id": modules[name]
            for name in ("Contacts", "Accounts", "Deals")
            if name in modules
        }

    def start(self) -> None:
        """Serve on a background thread."""
        if self._server is not None:
            return
        handler = _QuietHandler if self._quiet else None
        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=handler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="zoho-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    # --- test API ---------------------------------------------------------------------------

    def inject(self, kind: str, **options: Any) -> Fault:
        """Fail the next ``count`` API calls: ``status`` (5xx/429, ``retry_after``),
        ``drop_before`` / ``drop_after`` (close the socket before / after applying),
        ``delay`` (seconds) or ``malformed`` (apply, then answer garbage)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (one of {', '.join(FAULT_KINDS)})")
        fault = Fault(kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def expire_tokens(self) -> None:
        """Make every issued access token invalid at once."""
        with self._lock:
            self._state.tokens.clear()

    def lead(self, lead_id: str) -> dict[str, Any]:
        """A copy of a lead as stored (``$converted_detail`` once converted)."""
        with self._lock:
            return copy.deepcopy(self._state.leads[lead_id])

    def add_lead(self, **fields: Any) -> str:
        """Create a lead; returns its id."""
        with self._lock:
            lead_id = fields.pop("id", None) or self._new_id()
            self._state.leads[lead_id] = {
                "id": lead_id,
                "Locked__s": False,
                "$approval_state": "approved",
                **fields,
            }
            return str(lead_id)

    def _new_id(self) -> str:
        return str(next(self._ids))

    # --- HTTP -------------------------------------------------------------------------------

    def _take_fault(self, request: Request) -> Fault | None:
        if not request.path.startswith("/crm/"):
            return None
        with self._lock:
            for fault in self._faults:
                if fault.path is not None and fault.path not in request.path:
                    continue
                if fault.method is not None and fault.method != request.method:
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self.calls.append((request.method, request.path))
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "drop_before":
            request.get_data()  # consumed, so the server does not read it as a next request
            self._drop(environ)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            code = "TOO_MANY_REQUESTS" if fault.status == 429 else "INTERNAL_ERROR"
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            response = _json(_error(code, "injected fault"), fault.status, headers)
            return response(environ, start_response)
        response = self._dispatch(request)
        if fault is not None and fault.kind == "drop_after":
            self._drop(environ)
        if fault is not None and fault.kind == "malformed":
            response = Response(b'{"data": [{"code": "SUCC', 200, mimetype="application/json")
        return response(environ, start_response)

    @staticmethod
    def _drop(environ: Mapping[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise _Dropped("connection dropped by fault injection")

    def _dispatch(self, request: Request) -> Response:
        adapter = self._urls.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            if exc.code == 405:
                return _json(
                    _error(
                        "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
                    ),
                    400,
                )
            return _json(
                _error(
                    "INVALID_URL_PATTERN",
                    "Please check if the URL trying to access is a correct one",
                ),
                404,
            )
        if endpoint == "token":
            return self._token(request)
        if endpoint.startswith("admin_"):
            return self._admin(endpoint, request, args)
        with self._lock:
            if self._in_flight >= self.concurrency_limit:
                return _json(
                    _error(
                        "TOO_MANY_REQUESTS",
                        "concurrency limit exceeded",
                        {"allowed": self.concurrency_limit},
                    ),
                    429,
                    {"Retry-After": f"{self.busy_retry_after:g}"},
                )
            self._in_flight += 1
        try:
            auth = self._authenticate(request)
            if auth is not None:
                return auth
            with self._lock:
                self._advance_jobs()
                handler = getattr(self, f"_{endpoint}")
                result: Response = handler(request, **args)
                return result
        finally:
            with self._lock:
                self._in_flight -= 1

    def _authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Zoho-oauthtoken "):
            return _json(_error("AUTHENTICATION_FAILURE", "Authentication failed"), 401)
        token = header.removeprefix("Zoho-oauthtoken ")
        with self._lock:
            expiry = self._state.tokens.get(token)
        if expiry is None or time.monotonic() >= expiry:
            return _json(_error("INVALID_TOKEN", "invalid oauth token"), 401)
        return None

    def _token(self, request: Request) -> Response:
        form = request.form
        seed = self._seed
        # Zoho answers token errors with HTTP 200.
        if form.get("grant_type") != "refresh_token":
            return _json({"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (
            seed["client_id"],
            seed["client_secret"],
        ):
            return _json({"error": "invalid_client"})
        if form.get("refresh_token") != seed["refresh_token"]:
            return _json({"error": "invalid_code"})
        now = time.monotonic()
        with self._lock:
            self._refreshes = [t for t in self._refreshes if now - t < 600]
            if len(self._refreshes) >= self.refresh_limit:
                # [I] Zoho's wording for too many token requests.
                return _json(
                    {
                        "error_description": "You have made too many requests continuously. "
                        "Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure",
                    },
                    400,
                )
            self._refreshes.append(now)
            token = f"1000.{self._new_id()}.emulated"
            self._state.tokens[token] = now + self.token_lifetime
        return _json(
            {
                "access_token": token,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.mass_convert.leads.CREATE",
                "api_domain": self.base_url,
                "token_type": "Bearer",
                "expires_in": int(self.token_lifetime) if self.token_lifetime >= 1 else 1,
            }
        )

    def _admin(self, endpoint: str, request: Request, args: Mapping[str, str]) -> Response:
        if endpoint == "admin_lead":
            try:
                return _json(self.lead(args["lead_id"]))
            except KeyError:
                return _json(_error("INVALID_DATA", "no such lead"), 404)
        if request.method == "DELETE":
            self.clear_faults()
            return _json({"status": "success", "faults": 0})
        try:
            spec = loads_json(request.get_data())
            kind = spec.pop("kind")
            fault = self.inject(kind, **spec)
        except Exception as exc:
            return _json(_error("INVALID_DATA", f"bad fault: {exc}"), 400)
        return _json({"status": "success", "fault": {"kind": fault.kind, "count": fault.count}})

    # --- CRM logic (called under the lock) ----------------------------------------------------

    def _lead_guard(self, lead_id: str) -> tuple[dict[str, Any] | None, Response | None]:
        lead = self._state.leads.get(lead_id)
        if lead is None:
            return None, _json(
                _error("INVALID_DATA", "invalid data", {"resource_path_index": 1}), 400
            )
        return lead, None

    def _record_error(self, lead: Mapping[str, Any]) -> dict[str, Any] | None:
        if lead.get("Locked__s"):
            return _error(
                "RECORD_LOCKED", "You cannot perform this operation as the record is locked."
            )
        if lead.get("$approval_state", "approved") != "approved":
            return _error("NOT_APPROVED", "cannot convert record that is not approved yet")
        return None

    def _deal_error(self, deals: Any, prefix: str) -> dict[str, Any] | None:
        if not isinstance(deals, Mapping):
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "Deals", "json_path": prefix, "expected_data_type": "jsonobject"},
            )
        for key in _DEAL_MANDATORY:
            if deals.get(key) in (None, ""):
                return _error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": key, "json_path": f"{prefix}.{key}"},
                )
        stages = self._state.pipelines.get(str(deals["Pipeline"]))
        if stages is None:
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "Pipeline", "json_path": f"{prefix}.Pipeline"},
            )
        if deals["Stage"] not in stages:
            return _error(
                "MAPPING_MISMATCH",
                "Pipeline doesn`t contain the Stage",
                {"mapped_field": "Pipeline", "api_name": "Stage", "json_path": f"{prefix}.Stage"},
            )
        return None

    def _user_error(self, assign_to: Any, path: str) -> dict[str, Any] | None:
        user_id = assign_to.get("id") if isinstance(assign_to, Mapping) else None
        if user_id not in self._state.users:
            return _error(
                "INVALID_DATA", "invalid data", {"api_name": "assign_to", "json_path": path}
            )
        return None

    def _duplicate(self, lead: Mapping[str, Any]) -> dict[str, Any] | None:
        for field_name in self._state.unique.get("Contacts", []):
            value = lead.get(field_name)
            if value in (None, ""):
                continue
            for contact in self._state.contacts.values():
                if contact.get(field_name) == value:
                    return _error(
                        "DUPLICATE_DATA",
                        "duplicate data",
                        {
                            "api_name": field_name,
                            "json_path": "$.data[0]",
                            "duplicate_record": {
                                "id": contact["id"],
                                "module": {"api_name": "Contacts"},
                            },
                        },
                    )
        return None

    def _apply(
        self,
        lead: dict[str, Any],
        *,
        account_id: str | None,
        contact_id: str | None,
        deals: Mapping[str, Any] | None,
        overwrite: bool,
    ) -> dict[str, Any]:
        state = self._state
        if contact_id is None:
            contact_id = self._new_id()
            first, last = lead.get("First_Name"), lead.get("Last_Name")
            state.contacts[contact_id] = {
                "id": contact_id,
                "First_Name": first,
                "Last_Name": last,
                "Full_Name": " ".join(p for p in (first, last) if p),
                "Email": lead.get("Email"),
                "Phone": lead.get("Phone"),
                "Account_Name": None,
                "Locked__s": False,
            }
        contact = state.contacts[contact_id]
        if account_id is None and isinstance(contact.get("Account_Name"), Mapping):
            # A contact linked to an account brings that account.
            account_id = contact["Account_Name"]["id"]
        company = lead.get("Company")
        if account_id is None and company:
            # An account is created only when the lead has a Company.
            account_id = self._new_id()
            state.accounts[account_id] = {
                "id": account_id,
                "Account_Name": company,
                "Locked__s": False,
            }
        if account_id is not None:
            account = state.accounts[account_id]
            if overwrite and company:
                account["Account_Name"] = company
            if contact.get("Account_Name") is None:
                contact["Account_Name"] = {"id": account_id, "name": account["Account_Name"]}
        deal_id = None
        if deals is not None:
            deal_id = self._new_id()
            state.deals[deal_id] = {"id": deal_id, **deals, "Account_Name": account_id}
        lead["$converted"] = True
        lead["$converted_detail"] = {
            "account": account_id,
            "contact": contact_id,
            "deal": deal_id,
            "convert_date": time.strftime("%Y-%m-%d"),
        }

        def ref(module: dict[str, dict[str, Any]], rid: str | None, key: str) -> Any:
            return None if rid is None else {"name": module[rid].get(key), "id": rid}

        return {
            "Contacts": ref(state.contacts, contact_id, "Full_Name"),
            "Deals": ref(state.deals, deal_id, "Deal_Name"),
            "Accounts": ref(state.accounts, account_id, "Account_Name"),
        }

    def _convert(self, request: Request, version: str, lead_id: str) -> Response:
        lead, guard = self._lead_guard(lead_id)
        if guard is not None or lead is None:
            return guard or _json({}, 500)
        self.convert_requests[lead_id] += 1
        if lead.get("$converted"):
            return _json(
                _error("ID_ALREADY_CONVERTED", "id already converted", {"resource_path_index": 1}),
                400,
            )
        try:
            body = loads_json(request.get_data())
            item = body["data"][0]
            if not isinstance(item, dict) or len(body["data"]) != 1:
                raise TypeError
        except Exception:
            return _json(
                _error(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "data", "json_path": "$.data", "expected_data_type": "jsonarray"},
                ),
                400,
            )

        def fail(error: dict[str, Any]) -> Response:
            return _json({"data": [error]}, 400)

        if (error := self._record_error(lead)) is not None:
            return fail(error)
        state = self._state
        account_id = (item.get("Accounts") or {}).get("id")
        contact_id = (item.get("Contacts") or {}).get("id")
        for key, rid, table in (
            ("Accounts", account_id, state.accounts),
            ("Contacts", contact_id, state.contacts),
        ):
            if rid is None:
                continue
            if rid not in table:
                return fail(
                    _error(
                        "INVALID_DATA",
                        "invalid data",
                        {"api_name": key, "json_path": f"$.data[0].{key}"},
                    )
                )
            if table[rid].get("Locked__s"):
                return fail(
                    _error(
                        "RECORD_LOCKED",
                        "You cannot perform this operation as the record is locked.",
                    )
                )
        if contact_id is not None and account_id is not None:
            linked = state.contacts[contact_id].get("Account_Name")
            if not isinstance(linked, Mapping) or linked.get("id") != account_id:
                return fail(
                    _error(
                        "INVALID_DATA",
                        "the contact is not associated with the given account",
                        {"api_name": "Contacts", "json_path": "$.data[0].Contacts"},
                    )
                )
        if "assign_to" in item and (
            error := self._user_error(item["assign_to"], "$.data[0].assign_to")
        ):
            return fail(error)
        deals = item.get("Deals")
        if deals is not None and (error := self._deal_error(deals, "$.data[0].Deals")):
            return fail(error)
        if contact_id is None and (error := self._duplicate(lead)) is not None:
            return fail(error)
        details = self._apply(
            lead,
            account_id=account_id,
            contact_id=contact_id,
            deals=deals,
            overwrite=item.get("overwrite") is True,
        )
        return _json(
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
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or not body["ids"]:
            return _json(
                _error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "ids", "json_path": "$.ids"},
                ),
                400,
            )
        ids = [str(i) for i in body["ids"]]
        self.convert_requests.update(ids)
        if len(ids) > 50:
            return _json(
                _error(
                    "LIMIT_EXCEEDED", "you are trying to convert more than 50 leads.", {"limit": 50}
                ),
                400,
            )
        if any(i not in self._state.leads for i in ids):
            return _json(
                _error("INVALID_DATA", "invalid data", {"api_name": "ids", "json_path": "$.ids"}),
                400,
            )
        if "assign_to" not in body:
            return _json(
                _error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "assign_to", "json_path": "$.assign_to"},
                ),
                400,
            )
        if (error := self._user_error(body["assign_to"], "$.assign_to")) is not None:
            return _json(error, 400)
        if "Deals" in body and (error := self._deal_error(body["Deals"], "$.Deals")) is not None:
            return _json(error, 400)
        modules = self._state.modules
        for ref in [*(body.get("related_modules") or []), *(body.get("carry_over_tags") or [])]:
            if not isinstance(ref, Mapping) or modules.get(str(ref.get("api_name"))) != ref.get(
                "id"
            ):
                return _json(
                    _error(
                        "AMBIGUITY_DURING_PROCESSING",
                        "the api_name and id do not belong to each other",
                    ),
                    400,
                )
        job = _Job(self._new_id(), ids, body, time.monotonic() + self.job_delay)
        self._state.jobs[job.id] = job
        return _json(
            {
                "code": "SCHEDULED",
                "details": {"job_id": job.id},
                "message": "Mass Convert scheduled successfully",
                "status": "success",
            }
        )

    def _advance_jobs(self) -> None:
        now = time.monotonic()
        for job in self._state.jobs.values():
            if job.status != "SCHEDULED" or now < job.due:
                continue
            for lead_id in job.ids:
                lead = self._state.leads[lead_id]
                if lead.get("$converted") or self._record_error(lead) or self._duplicate(lead):
                    job.failed += 1
                    continue
                self._apply(
                    lead,
                    account_id=None,
                    contact_id=None,
                    deals=job.body.get("Deals"),
                    overwrite=False,
                )
                job.converted += 1
            job.status = "COMPLETED"

    def _mass_status(self, request: Request, version: str) -> Response:
        job_id = request.args.get("job_id")
        if not job_id:
            return _json(
                _error("REQUIRED_PARAM_MISSING", "required param missing", {"param": "job_id"}), 400
            )
        job = self._state.jobs.get(job_id)
        if job is None:
            return _json(_error("INVALID_DATA", "invalid data", {"param_name": "job_id"}), 400)
        total = len(job.ids)
        return _json(
            {
                "data": [
                    {
                        "Status": job.status,
                        "Total_Count": total,
                        "Converted_Count": job.converted,
                        "Not_Converted_Count": total - job.converted - job.failed,
                        "Failed_Count": job.failed,
                    }
                ]
            }
        )

    def _get_leads(self, request: Request, version: str) -> Response:
        if version != "v7" and not request.args.get("fields"):
            return _json(
                _error("REQUIRED_PARAM_MISSING", "required param missing", {"param": "fields"}), 400
            )
        wanted = [f for f in (request.args.get("fields") or "").split(",") if f]
        converted = request.args.get("converted", "false")
        ids = [i for i in (request.args.get("ids") or "").split(",") if i]
        leads = (
            [self._state.leads[i] for i in ids if i in self._state.leads]
            if ids
            else list(self._state.leads.values())
        )
        records = []
        for lead in leads:
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
        return _json({"data": records, "info": {"count": len(records), "more_records": False}})

    def _options(self, request: Request, version: str, lead_id: str) -> Response:
        lead, guard = self._lead_guard(lead_id)
        if guard is not None or lead is None:
            return guard or _json({}, 500)
        if (error := self._record_error(lead)) is not None:
            return _json(error, 400)
        state = self._state
        contacts: dict[str, dict[str, Any]] = {}
        contact_matches: list[dict[str, Any]] = []
        # Order of preference: unique fields, then Email; name only when nothing is unique.
        keys = [*state.unique.get("Contacts", []), "Email"]
        if not state.unique.get("Contacts"):
            keys.append("Full_Name")
        lead_name = " ".join(p for p in (lead.get("First_Name"), lead.get("Last_Name")) if p)
        for key in keys:
            value = lead_name if key == "Full_Name" else lead.get(key)
            if value in (None, ""):
                continue
            hits = [c for c in state.contacts.values() if c.get(key) == value]
            if hits:
                contact_matches.append(
                    {
                        "field": {"api_name": key, "id": self._field_id(key)},
                        "matched_lead_value": value,
                    }
                )
            for c in hits:
                contacts.setdefault(c["id"], c)
        accounts: dict[str, dict[str, Any]] = {}
        account_matches: list[dict[str, Any]] = []
        for key in [*state.unique.get("Accounts", []), "Account_Name"]:
            value = lead.get("Company") if key == "Account_Name" else lead.get(key)
            if value in (None, ""):
                continue
            hits = [a for a in state.accounts.values() if a.get(key) == value]
            if hits:
                account_matches.append(
                    {
                        "field": {"api_name": key, "id": self._field_id(key)},
                        "matched_lead_value": value,
                    }
                )
            for a in hits:
                accounts.setdefault(a["id"], a)
        if not contacts and not accounts:
            return Response(status=204)
        preference = "Contacts" if contacts else "Accounts"

        def shape(record: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in record.items() if k not in {"First_Name", "Last_Name"}}
            out.update(
                {
                    "$editable": True,
                    "$approval_state": "approved",
                    "Locked__s": bool(record.get("Locked__s")),
                }
            )
            return out

        return _json(
            {
                "__conversion_options": {
                    "module_preference": {
                        "api_name": preference,
                        "id": state.modules.get(preference, ""),
                    },
                    "Contacts": [shape(c) for c in contacts.values()] or None,
                    "preference_field_matched_value": {
                        "Contacts": contact_matches or None,
                        "Accounts": account_matches or None,
                    },
                    "Accounts": [
                        {"Layout": {"name": "Standard", "id": "1"}, **shape(a)}
                        for a in accounts.values()
                    ]
                    or None,
                }
            }
        )

    @staticmethod
    def _field_id(api_name: str) -> str:
        return str(4876876000000002000 + sum(map(ord, api_name)))
