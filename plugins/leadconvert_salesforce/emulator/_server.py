"""Salesforce's wire protocol on the emulator kit: SOAP login and convertLead, REST query and
sObjects, sessions, Salesforce's faults and error shapes."""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from leadconvert import InputError
from leadconvert.emulation import CONVERT, FOLLOW_UP, Fault, HttpEmulator, json_response, read_seed

from .._wire import PARTNER_NS, SOAP_NS, XSI_NS, parse_rows
from ._org import ConvertResult, RestError, SalesforceOrg, SoqlError, canon

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from werkzeug.routing import Map
    from werkzeug.wrappers import Request, Response

# werkzeug is imported when the emulator answers, not when it is built (see leadconvert.emulation).

__all__ = ["FAULT_KINDS", "SalesforceEmulator"]


def escape(data: str) -> str:
    """``xml.sax.saxutils.escape``, imported when the emulator answers (it imports urllib.request:
    ~10 ms of building an emulator that ``plan`` only asks for its settings)."""
    from xml.sax.saxutils import escape as sax_escape

    return sax_escape(data)


FAULT_NS = "urn:fault.partner.soap.sforce.com"
#: The shorthand fault kinds ``inject`` (and ``{"kind": ...}`` on the admin API) accept.
FAULT_KINDS = (
    "server_unavailable",  # HTTP 500 SOAP fault SERVER_UNAVAILABLE
    "request_limit",  # HTTP 500 SOAP fault REQUEST_LIMIT_EXCEEDED (Retry-After if given)
    "http_503",  # HTTP 503 with a plain-text body, no SOAP fault
    "drop_before",  # close the connection without applying anything
    "drop_after",  # apply the conversion, then close the connection without answering
    "malformed",  # apply the conversion, then answer HTTP 200 with a body that is not XML
    "delay",  # wait ``seconds``, then answer normally
)
_SOAP_OPERATION = re.compile(rb"<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([A-Za-z]+)\b")
_DATA = "/services/data/<version>"


@functools.cache
def _urls() -> Map:
    from werkzeug.routing import Map, Rule

    return Map(
        [
            Rule("/services/Soap/u/<version>", endpoint="soap", methods=["POST"]),
            Rule("/services/Soap/u/<version>/<org>", endpoint="soap", methods=["POST"]),
            # simple-salesforce logs in at https://{domain}.salesforce.com/services/Soap/u/...
            Rule("/<path:domain>/services/Soap/u/<version>", endpoint="soap", methods=["POST"]),
            Rule(f"{_DATA}/query", endpoint="query", methods=["GET"]),
            Rule(f"{_DATA}/sobjects/<obj>/describe", endpoint="describe", methods=["GET"]),
            Rule(f"{_DATA}/sobjects/<obj>/<record_id>", endpoint="retrieve", methods=["GET"]),
            Rule(f"{_DATA}/sobjects/<obj>/<record_id>", endpoint="update", methods=["PATCH"]),
        ],
        strict_slashes=False,
    )


_SOAP_STATUS_CODES = {429: "REQUEST_LIMIT_EXCEEDED", 500: "SERVER_UNAVAILABLE"}
_REST_STATUS_CODES = {
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    503: "SERVER_UNAVAILABLE",
}


def _soap(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns="{PARTNER_NS}" '
        f'xmlns:xsi="{XSI_NS}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


def soap_fault(code: str, message: str, status: int = 500) -> Response:
    """A Partner API SOAP fault (``sf:<code>``), as Salesforce sends it."""
    from werkzeug.wrappers import Response

    body = (
        f'<soapenv:Fault><faultcode xmlns:sf="{FAULT_NS}">sf:{code}</faultcode>'
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring><detail>"
        f'<sf:UnexpectedErrorFault xmlns:sf="{FAULT_NS}"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:UnexpectedErrorFault></detail></soapenv:Fault>"
    )
    return Response(_soap(body), status=status, content_type="text/xml; charset=utf-8")


def rest_error(code: str, message: str, status: int = 400, fields: Iterable[str] = ()) -> Response:
    """A REST error list, as Salesforce sends it."""
    return json_response([{"errorCode": code, "message": message, "fields": list(fields)}], status)


def _id_xml(name: str, value: str | None) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    return f"<{name}>{value}</{name}>"


def _result_xml(result: ConvertResult) -> str:
    errors = "".join(
        "<errors>"
        + "".join(f"<fields>{escape(f)}</fields>" for f in fields)
        + f"<message>{escape(message)}</message><statusCode>{code}</statusCode></errors>"
        for code, message, fields in result.errors
    )
    return (
        "<result>"
        + _id_xml("accountId", result.account_id)
        + _id_xml("contactId", result.contact_id)
        + errors
        + _id_xml("leadId", result.lead_id)
        + _id_xml("opportunityId", result.opportunity_id)
        + f"<success>{'true' if result.success else 'false'}</success></result>"
    )


class SalesforceEmulator(HttpEmulator):
    """An emulated Salesforce org over HTTPS (certificate from a private trustme CA).

    It speaks what simple-salesforce and jsforce need to log in (SOAP ``login``) and what
    leadconvert and integrators do around a conversion: SOAP ``convertLead``, SOQL on Lead,
    LeadStatus, Account, Contact, Opportunity, User and Group (``WHERE`` with ``=``, ``!=``,
    ``IN``, ``AND``; ``ORDER BY``; ``LIMIT``), ``describe`` of Lead, and sObject GET and PATCH
    of Lead, Account, Contact and Opportunity records. Anything else answers ``NOT_FOUND``.
    """

    name: ClassVar[str] = "salesforce"
    sign_in_operations: ClassVar[frozenset[str]] = frozenset({"login"})

    def __init__(
        self,
        *,
        seed: Path | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        session_lifetime: float | None = None,
        quiet: bool = True,
    ) -> None:
        data = read_seed(seed, default=resources.files(__package__).joinpath("seed.json"))
        self._session_lifetime = session_lifetime
        # Sessions outlive a reset of the org, as a logged-in client's do a data change.
        self._sessions: dict[str, tuple[str, float]] = {}
        origin = "<seed>" if isinstance(seed, Mapping) else str(seed or "the shipped seed")
        super().__init__(data, origin=origin, host=host, port=port, tls=True, quiet=quiet)

    # --- the kit's hooks ------------------------------------------------------------------------

    def load(self, seed: Mapping[str, Any]) -> None:
        """The org the seed describes (see the shipped ``seed.json`` for every key)."""
        self.org = SalesforceOrg(seed)
        if self._session_lifetime is not None:
            self.org.session_lifetime = self._session_lifetime

    def state(self) -> Mapping[str, Any]:
        """Every record, the LeadStatus values and the opportunity stages."""
        return self.org.state()

    def credentials(self) -> Mapping[str, str]:
        """Username, password and token of the seed's first user, the domain, the CA bundle.

        simple-salesforce logs in at ``https://{domain}.salesforce.com/...``: the domain
        ``127.0.0.1:<port>/login`` turns that into a path on this server.
        """
        user = next(iter(self.org.users.values()))
        return {
            "username": user["Username"],
            "password": user["Password"],
            "security_token": user["SecurityToken"],
            "domain": f"{self.host}:{self.port}/login",
            "ca_bundle": self.ca_bundle_path,
        }

    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """A new open lead (Salesforce field names; LastName, Company, Status, OwnerId filled)."""
        with self.lock:
            return self.org.add_lead({**(fields or {}), **more})

    def lead(self, lead_id: str) -> dict[str, Any]:
        """A copy of one lead."""
        return self.record("Lead", lead_id)

    def canonical_lead_id(self, lead_id: str) -> str:
        """The 18-character form (15 and 18 characters name the same lead)."""
        return str(canon(lead_id))

    def expire_sessions(self) -> None:
        """End every session, as an org's session timeout would."""
        with self.lock:
            self._sessions.clear()

    def operation(self, request: Request) -> str:
        """``login``, ``convertLead``, ``query``, ``describe``, ``retrieve``, ``update``..."""
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, _ = _urls().bind_to_environ(request.environ).match()
        except HTTPException:
            return "unknown"
        if endpoint != "soap":
            return str(endpoint)
        # A look at the first element in the Body, not a parse: convertLead envelopes are parsed
        # once, by the plugin's own parse_rows.
        found = _SOAP_OPERATION.search(request.get_data())
        return found.group(1).decode("ascii") if found else "unknown"

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """A SOAP fault for SOAP calls, a REST error list otherwise, for an injected status."""
        literal = self.literal_fault_response(fault)
        if literal is not None:
            return literal
        status = fault.status or 500
        if self.operation(request) in ("login", "convertLead"):
            code = _SOAP_STATUS_CODES.get(status, "UNKNOWN_EXCEPTION")
            response = soap_fault(code, "injected fault", status)
        else:
            code = _REST_STATUS_CODES.get(status, "UNKNOWN_EXCEPTION")
            response = rest_error(code, "injected fault", status)
        response.headers.update(fault.headers)
        return response

    # --- compatibility helpers for tests ----------------------------------------------------

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        seconds: float = 0.0,
        retry_after: float | None = None,
        target: str = "convertLead",
    ) -> Fault:
        """Queue a fault by its shorthand ``kind`` (one of ``FAULT_KINDS``) for the next
        ``count`` calls of ``target`` (``convertLead``, ``query``, ``update``... or ``any``)."""
        return self.inject_fault(
            self.fault_for(
                kind, count=count, seconds=seconds, retry_after=retry_after, target=target
            )
        )

    def fault_for(self, kind: str, **options: Any) -> Fault:
        """The ``Fault`` a shorthand kind stands for; options ``count`` (1), ``seconds`` (0),
        ``retry_after`` and ``target`` (``convertLead``)."""
        unknown = set(options) - {"count", "seconds", "retry_after", "target"}
        if unknown:
            raise TypeError(f"unknown fault options {sorted(unknown)}")
        count = options.get("count", 1)
        seconds = options.get("seconds", 0.0)
        retry_after = options.get("retry_after")
        target = options.get("target", "convertLead")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        match: dict[str, Any] = {
            "count": int(count),
            "operation": None if target == "any" else target,
        }
        xml = {"Content-Type": "text/xml; charset=utf-8"}
        if kind == "server_unavailable":
            body = soap_fault("SERVER_UNAVAILABLE", "server temporarily unavailable (injected)")
            return Fault(status=500, body=body.get_data(), headers=xml, **match)
        if kind == "request_limit":
            body = soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded (injected)")
            headers = dict(xml)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            return Fault(status=500, body=body.get_data(), headers=headers, **match)
        if kind == "http_503":
            return Fault(status=503, body="Service Unavailable (injected)", **match)
        if kind == "delay":
            return Fault(delay=float(seconds), **match)
        if kind == "malformed":
            # Neither XML nor JSON: unreadable whichever the call expected.
            return Fault(status=200, when="after", body=b"<soapenv:Envelope><unclosed>{", **match)
        return Fault(drop=True, when="before" if kind == "drop_before" else "after", **match)

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        """A copy of one record (``obj`` as in SOQL, e.g. ``Lead``); ``KeyError`` if none."""
        with self.lock:
            record = self.org.record(obj, record_id)
            if record is None:
                raise KeyError(record_id)
            return copy.deepcopy(record)

    def insert(self, obj: str, record: Mapping[str, Any]) -> str:
        """Add a record; returns its 18-character id."""
        with self.lock:
            return self.org.insert(obj, record)

    def set_lead_statuses(self, statuses: Iterable[Mapping[str, Any]]) -> None:
        """Replace the org's LeadStatus values."""
        with self.lock:
            self.org.lead_statuses = [dict(s) for s in statuses]

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(operation, path) of every request received."""
        return [(r.operation, r.path) for r in self.requests]

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: Request, operation: str) -> Response:
        """SOAP or REST, as the path says; Salesforce's NOT_FOUND for anything else."""
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, args = _urls().bind_to_environ(request.environ).match()
        except HTTPException:
            return rest_error(
                "NOT_FOUND",
                f"The requested resource does not exist: {request.method} {request.path}",
                404,
            )
        if endpoint == "soap":
            return self._soap_request(request, operation)
        session = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if self._session_user(session) is None:
            return rest_error("INVALID_SESSION_ID", "Session expired or invalid", 401)
        try:
            with self.lock:
                result: Response = getattr(self, f"_{endpoint}")(request, **args)
                return result
        except RestError as exc:
            return rest_error(exc.code, exc.message, exc.status, exc.fields)

    def _session_user(self, session_id: str | None) -> str | None:
        with self.lock:
            entry = self._sessions.get(session_id or "")
            if entry is None:
                return None
            user, expires = entry
            if time.monotonic() > expires:
                del self._sessions[session_id or ""]
                return None
            return user

    # --- SOAP ---------------------------------------------------------------------------------

    def _soap_request(self, request: Request, operation: str) -> Response:
        import defusedxml.ElementTree as SafeET
        from werkzeug.wrappers import Response

        if operation != "convertLead":
            try:
                root = SafeET.fromstring(request.get_data())
            except Exception as exc:  # not XML, or refused by defusedxml (entities, DTDs)
                return soap_fault("INVALID_XML", f"cannot read the request: {exc}")
            body = root.find(f"{{{SOAP_NS}}}Body")
            call = body[0] if body is not None and len(body) else None
            if call is None:
                return soap_fault("INVALID_OPERATION", "the envelope has no body")
            if call.tag == f"{{{PARTNER_NS}}}login":
                return self._login(request, call)
            return soap_fault("INVALID_OPERATION", f"the emulator does not implement {call.tag}")
        try:
            rows, session = parse_rows(request.get_data())
        except InputError as exc:
            return soap_fault("INVALID_FIELD", str(exc))
        if self._session_user(session) is None:
            return soap_fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: "
                "Illegal Session. Session not found, missing session hash",
            )
        if len(rows) > 100:
            return soap_fault(
                "EXCEEDED_LEAD_CONVERT_LIMIT",
                f"Exceeded max size limit of 100 with request size {len(rows)}",
            )
        with self.lock:
            for row in rows:
                self.count(row.get("leadId", ""), CONVERT)
            results = [self.org.convert(row) for row in rows]
        return Response(
            _soap(
                "<convertLeadResponse>"
                + "".join(_result_xml(r) for r in results)
                + "</convertLeadResponse>"
            ),
            200,
            content_type="text/xml; charset=utf-8",
        )

    def _login(self, request: Request, call: Element) -> Response:
        from werkzeug.wrappers import Response

        username = call.findtext(f"{{{PARTNER_NS}}}username") or ""
        password = call.findtext(f"{{{PARTNER_NS}}}password") or ""
        with self.lock:
            user = next(
                (
                    u
                    for u in self.org.users.values()
                    if u.get("Username") == username
                    and password == f"{u.get('Password', '')}{u.get('SecurityToken', '')}"
                ),
                None,
            )
            if user is None:
                return soap_fault(
                    "INVALID_LOGIN",
                    "Invalid username, password, security token; or user locked out.",
                )
            org_id = self.org.org_id
            # Imported here: secrets brings hmac and OpenSSL's hashlib, which a plan that builds
            # the emulator only for its settings never needs.
            import secrets

            session_id = f"{org_id[:15]}!{secrets.token_urlsafe(24)}"
            self._sessions[session_id] = (user["Id"], time.monotonic() + self.org.session_lifetime)
        _, args = _urls().bind_to_environ(request.environ).match()
        server = f"https://{request.host}/services/Soap/u/{args.get('version', '59.0')}/"
        result = (
            f"<loginResponse><result><metadataServerUrl>{escape(server)}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{escape(server + org_id[:15])}</serverUrl>"
            f"<sessionId>{escape(session_id)}</sessionId><userId>{user['Id']}</userId>"
            f"<userInfo><organizationId>{org_id}</organizationId>"
            f"<userFullName>{escape(user.get('Name', ''))}</userFullName>"
            f"<userName>{escape(username)}</userName></userInfo></result></loginResponse>"
        )
        return Response(_soap(result), 200, content_type="text/xml; charset=utf-8")

    # --- REST (under the lock) ----------------------------------------------------------------

    def _query(self, request: Request, version: str) -> Response:
        try:
            records = self.org.query(request.args.get("q", ""))
        except (SoqlError, IndexError) as exc:
            return rest_error("MALFORMED_QUERY", f"the emulator cannot read this SOQL: {exc}")
        for record in records:
            if "Id" in record and record.get("Id"):
                obj = record["attributes"]["type"]
                record["attributes"]["url"] = (
                    f"/services/data/{version}/sobjects/{obj}/{record['Id']}"
                )
        return json_response({"totalSize": len(records), "done": True, "records": records})

    def _describe(self, request: Request, version: str, obj: str) -> Response:
        return json_response(self.org.describe(obj))

    def _retrieve(self, request: Request, version: str, obj: str, record_id: str) -> Response:
        record = self.org.record(obj, record_id)
        if record is None:
            raise RestError("NOT_FOUND", "The requested resource does not exist", 404)
        shown = {k: v for k, v in record.items() if k not in {"Password", "SecurityToken"}}
        url = f"/services/data/{version}/sobjects/{obj}/{record['Id']}"
        return json_response({"attributes": {"type": obj, "url": url}, **shown})

    def _update(self, request: Request, version: str, obj: str, record_id: str) -> Response:
        from werkzeug.wrappers import Response

        try:
            # Plain floats, as Salesforce stores numbers (not leadconvert's exact Decimals).
            changes = json.loads(request.get_data() or b"{}")
        except ValueError:
            return rest_error("JSON_PARSER_ERROR", "the body is not JSON")
        if not isinstance(changes, Mapping):
            return rest_error("JSON_PARSER_ERROR", "the body is not a JSON object")
        key = canon(record_id)
        lead = self.org.converted_from.get(key)
        if lead is not None:
            self.count(lead, FOLLOW_UP)
        self.org.update(obj, record_id, changes)
        return Response(status=204)
