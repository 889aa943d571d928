"""A stateful, in-memory Salesforce org served over HTTPS on 127.0.0.1, for tests and demos.

It speaks just enough of Salesforce for an unmodified simple-salesforce to log in (SOAP
``login``), for ``convertLead`` (SOAP), for the SOQL shapes the backend issues (REST ``query``)
and for Opportunity updates (REST ``PATCH``). Faults can be injected from Python
(``emulator.inject(...)``) or over HTTP (``POST /_emulator/faults``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
import secrets
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import trustme
from attrs import define, field
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from leadconvert.backend import Emulator

from ._ids import IdError, canonical_id, to_18
from ._wire import PARTNER_NS, SOAP_NS, XSI_NS

__all__ = ["FAULT_KINDS", "InjectedFault", "SalesforceEmulator", "load_seed"]

FAULT_NS = "urn:fault.partner.soap.sforce.com"
#: What ``inject`` can do to the next calls.
FAULT_KINDS = (
    "server_unavailable",  # HTTP 500 SOAP fault SERVER_UNAVAILABLE
    "request_limit",  # HTTP 500 SOAP fault REQUEST_LIMIT_EXCEEDED (Retry-After if given)
    "http_503",  # HTTP 503 with a plain-text body, no SOAP fault
    "drop_before",  # close the connection without applying anything
    "drop_after",  # apply the conversion, then close the connection without answering
    "malformed",  # apply the conversion, then answer HTTP 200 with a body that is not XML
    "delay",  # wait ``seconds``, then answer normally
)
_PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
_OBJECTS = {
    "Lead": "leads",
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "opportunities",
    "User": "users",
    "Group": "queues",
    "LeadStatus": "lead_statuses",
}
_SOAP_PATH = re.compile(r"^(?:/.*)?/services/Soap/u/(\d+\.\d)(?:/[A-Za-z0-9]+)?/?$")
_QUERY_PATH = re.compile(r"^/services/data/v(\d+\.\d)/query/?$")
_SOBJECT_PATH = re.compile(r"^/services/data/v(\d+\.\d)/sobjects/(\w+)/(\w+)/?$")
_OPPORTUNITY_FIELDS = {
    "Name",
    "StageName",
    "CloseDate",
    "Amount",
    "Description",
    "NextStep",
    "Probability",
    "LeadSource",
    "Type",
    "ForecastCategoryName",
}


def load_seed(path: Path | None = None) -> dict[str, Any]:
    """The seed fixture at ``path``, or the one shipped with the package."""
    if path is None:
        text = (
            resources.files(__package__ or "leadconvert_salesforce")
            .joinpath("_seed.json")
            .read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@define
class InjectedFault:
    """A fault applied to the next ``count`` matching calls."""

    kind: str
    count: int = 1
    seconds: float = 0.0
    retry_after: float | None = None
    #: ``convertLead``, ``query``, ``update`` or ``any``.
    target: str = "convertLead"


class _Drop(Exception):
    """Close the connection without an answer."""


def _canon(value: Any) -> Any:
    if isinstance(value, str) and len(value) in (15, 18):
        try:
            return canonical_id(value)
        except IdError:
            return value
    return value


@define
class _Org:
    """The org's records and sessions; every access holds ``lock``."""

    data: dict[str, dict[str, dict[str, Any]]]
    lead_statuses: list[dict[str, Any]]
    stages: list[str]
    users: dict[str, dict[str, Any]]
    org_id: str
    session_lifetime: float
    status_has_api_name: bool
    sessions: dict[str, tuple[str, float]] = field(factory=dict)
    counter: int = 0
    lock: threading.RLock = field(factory=threading.RLock)

    @classmethod
    def from_seed(cls, seed: Mapping[str, Any]) -> _Org:
        settings = seed.get("settings", {})
        data: dict[str, dict[str, dict[str, Any]]] = {}
        for obj, key in _OBJECTS.items():
            if obj == "LeadStatus":
                continue
            records = {}
            for raw in seed.get(key, []):
                record = {
                    k: _canon(v) if k == "Id" or k.endswith("Id") else v for k, v in raw.items()
                }
                records[record["Id"]] = record
            data[obj] = records
        bulk = seed.get("bulk_leads")
        if bulk:
            for i in range(int(bulk["count"])):
                lead_id = to_18(f"{bulk['id_prefix']}{i:0{15 - len(bulk['id_prefix'])}d}")
                data["Lead"][lead_id] = {
                    "Id": lead_id,
                    "FirstName": "Bulk",
                    "LastName": f"Lead {i}",
                    "Company": f"{bulk['company']} {i}",
                    "Email": f"bulk{i}@bulk.example",
                    "Status": bulk["status"],
                    "OwnerId": _canon(bulk["owner"]),
                    "LeadSource": "Web",
                }
        for lead in data["Lead"].values():
            lead.setdefault("IsConverted", False)
            for name in ("ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"):
                lead.setdefault(name, None)
        for contact in data["Contact"].values():
            contact.setdefault(
                "Name", f"{contact.get('FirstName') or ''} {contact.get('LastName') or ''}".strip()
            )
        return cls(
            data=data,
            lead_statuses=[dict(s) for s in seed.get("lead_statuses", [])],
            stages=list(seed.get("opportunity_stages", ["Prospecting"])),
            users=data["User"],
            org_id=to_18(settings.get("org_id", "00D000000000001")),
            session_lifetime=float(settings.get("session_lifetime_seconds", 7200)),
            status_has_api_name=bool(settings.get("lead_status_has_api_name", True)),
        )

    def new_id(self, obj: str) -> str:
        self.counter += 1
        return to_18(f"{_PREFIX[obj]}EM{self.counter:010d}")


# --- XML helpers --------------------------------------------------------------------------------


def _soap(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns="{PARTNER_NS}" '
        f'xmlns:xsi="{XSI_NS}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


def _fault(code: str, message: str, status: int = 500) -> Response:
    body = (
        f'<soapenv:Fault><faultcode xmlns:sf="{FAULT_NS}">sf:{code}</faultcode>'
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring><detail>"
        f'<sf:UnexpectedErrorFault xmlns:sf="{FAULT_NS}"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:UnexpectedErrorFault></detail></soapenv:Fault>"
    )
    return Response(_soap(body), status=status, content_type="text/xml; charset=utf-8")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _rest_error(code: str, message: str, status: int = 400) -> Response:
    return _json([{"errorCode": code, "message": message, "fields": []}], status)


def _id_xml(name: str, value: str | None) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    return f"<{name}>{value}</{name}>"


# --- SOQL ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<punct>[(),=])|(?P<word>[A-Za-z0-9_.\-]+))"
)
_SOQL_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


class SoqlError(ValueError):
    """A query the emulator does not understand."""


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SoqlError(f"unexpected text at {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            value = re.sub(r"\\(.)", lambda e: _SOQL_UNESCAPE.get(e.group(1), e.group(1)), raw)
            out.append(("value", value))
        elif m.group("punct") is not None:
            out.append(("punct", m.group("punct")))
        else:
            word = m.group("word")
            lowered = word.lower()
            if lowered in ("true", "false"):
                out.append(("value", lowered == "true"))
            elif lowered == "null":
                out.append(("value", None))
            else:
                out.append(("word", word))
    return out


def parse_soql(text: str) -> tuple[list[str], str, list[tuple[str, list[Any]]]]:
    """``SELECT f, ... FROM Obj [WHERE F = v AND F IN (v, ...)]`` -> fields, object, filters."""
    tokens = _tokens(text)
    pos = 0

    def take(kind: str, value: str | None = None) -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise SoqlError("the query ends early")
        k, v = tokens[pos]
        if k != kind or (value is not None and str(v).upper() != value):
            raise SoqlError(f"expected {value or kind}, got {v!r}")
        pos += 1
        return v

    take("word", "SELECT")
    fields = [take("word")]
    while pos < len(tokens) and tokens[pos] == ("punct", ","):
        pos += 1
        fields.append(take("word"))
    take("word", "FROM")
    obj = take("word")
    filters: list[tuple[str, list[Any]]] = []
    if pos < len(tokens):
        take("word", "WHERE")
        while True:
            name = take("word")
            if tokens[pos] == ("punct", "="):
                pos += 1
                filters.append((name, [take("value")]))
            else:
                take("word", "IN")
                take("punct", "(")
                values = [take("value")]
                while tokens[pos] == ("punct", ","):
                    pos += 1
                    values.append(take("value"))
                take("punct", ")")
                filters.append((name, values))
            if pos >= len(tokens):
                break
            take("word", "AND")
    return fields, obj, filters


def _matches(record: Mapping[str, Any], name: str, values: list[Any]) -> bool:
    have = record.get(name)
    for value in values:
        if isinstance(value, str) and isinstance(have, str):
            if name == "Id" or name.endswith("Id"):
                if _canon(value) == have:
                    return True
            elif value.casefold() == have.casefold():  # SOQL '=' ignores case on text
                return True
        elif value == have:
            return True
    return False


# --- the emulator ---------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass


class SalesforceEmulator(Emulator):
    """An emulated Salesforce org over HTTPS (certificate from a private trustme CA)."""

    def __init__(
        self,
        *,
        seed: Path | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        session_lifetime: float | None = None,
    ) -> None:
        data = dict(seed) if isinstance(seed, Mapping) else load_seed(seed)
        self.seed = copy.deepcopy(data)
        self.org = _Org.from_seed(data)
        #: How many convertLead rows named each lead: the proof, in tests, that no lead was sent
        #: twice.
        self.convert_requests: Counter[str] = Counter()
        if session_lifetime is not None:
            self.org.session_lifetime = session_lifetime
        self.host = host
        self.port = port
        self.faults: list[InjectedFault] = []
        #: Every call served, as (kind, path): lets tests count calls.
        self.calls: list[tuple[str, str]] = []
        self._ca = trustme.CA()
        self._dir = tempfile.TemporaryDirectory(prefix="leadconvert-sf-emulator-")
        self.ca_bundle_path = str(Path(self._dir.name) / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_bundle_path)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- Emulator -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>`` once started."""
        return f"https://{self.host}:{self.port}"

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

    def start(self) -> None:
        """Serve in a background thread (HTTPS, threaded)."""
        if self._server is not None:
            return
        context = self._ca.issue_cert(self.host, "localhost", "127.0.0.1").configure_cert
        import ssl

        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context(ssl_context)
        self._server = make_server(
            self.host,
            self.port,
            self._wsgi,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=ssl_context,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="salesforce-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and remove the CA file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop, and delete the temporary CA bundle."""
        self.stop()
        self._dir.cleanup()

    # --- test API -------------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        seconds: float = 0.0,
        retry_after: float | None = None,
        target: str = "convertLead",
    ) -> None:
        """Apply fault ``kind`` (one of ``FAULT_KINDS``) to the next ``count`` matching calls."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self.org.lock:
            self.faults.append(InjectedFault(kind, count, seconds, retry_after, target))

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self.org.lock:
            self.faults.clear()

    def expire_sessions(self) -> None:
        """End every session, as an org's session timeout would."""
        with self.org.lock:
            self.org.sessions.clear()

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        """A copy of one record (``obj`` as in SOQL, e.g. ``Lead``)."""
        with self.org.lock:
            return dict(self.org.data[obj][canonical_id(record_id)])

    def insert(self, obj: str, record: Mapping[str, Any]) -> str:
        """Add a record; returns its 18-character id."""
        with self.org.lock:
            data = {k: _canon(v) if k == "Id" or k.endswith("Id") else v for k, v in record.items()}
            data.setdefault("Id", self.org.new_id(obj))
            if obj == "Lead":
                data.setdefault("IsConverted", False)
            if obj == "Contact":
                # Contact.Name is a compound field Salesforce derives from the name parts.
                data.setdefault(
                    "Name", f"{data.get('FirstName') or ''} {data.get('LastName') or ''}".strip()
                )
            self.org.data[obj][data["Id"]] = data
            return str(data["Id"])

    def set_lead_statuses(self, statuses: Iterable[Mapping[str, Any]]) -> None:
        """Replace the org's LeadStatus values."""
        with self.org.lock:
            self.org.lead_statuses = [dict(s) for s in statuses]

    # --- WSGI -----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except _Drop:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            response = Response(b"", status=500)
        return response(environ, start_response)

    def _take_fault(self, target: str) -> InjectedFault | None:
        with self.org.lock:
            for fault in self.faults:
                if fault.target in (target, "any"):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_emulator/"):
            return self._admin(request)
        if request.method == "POST" and _SOAP_PATH.match(path):
            return self._soap(request)
        if request.method == "GET" and _QUERY_PATH.match(path):
            return self._rest(request, "query", lambda: self._query(request))
        m = _SOBJECT_PATH.match(path)
        if request.method == "PATCH" and m:
            return self._rest(
                request, "update", lambda: self._update(m.group(2), m.group(3), request)
            )
        return _rest_error("NOT_FOUND", f"the emulator does not serve {request.method} {path}", 404)

    def _admin(self, request: Request) -> Response:
        if request.path == "/_emulator/faults" and request.method == "POST":
            try:
                spec = json.loads(request.get_data() or b"{}")
                self.inject(
                    spec["kind"],
                    int(spec.get("count", 1)),
                    seconds=float(spec.get("seconds", 0)),
                    retry_after=spec.get("retry_after"),
                    target=spec.get("target", "convertLead"),
                )
            except (KeyError, TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"pending": len(self.faults)})
        if request.path == "/_emulator/faults" and request.method == "DELETE":
            self.clear_faults()
            return _json({"pending": 0})
        if request.path == "/_emulator/expire_sessions" and request.method == "POST":
            self.expire_sessions()
            return _json({"sessions": 0})
        return _json({"error": "unknown admin endpoint"}, 404)

    def _session_user(self, session_id: str | None) -> str | None:
        with self.org.lock:
            entry = self.org.sessions.get(session_id or "")
            if entry is None:
                return None
            user, expires = entry
            if time.monotonic() > expires:
                del self.org.sessions[session_id or ""]
                return None
            return user

    def _apply_fault(self, fault: InjectedFault | None) -> Response | None:
        if fault is None:
            return None
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            return None
        if fault.kind == "drop_before":
            raise _Drop
        if fault.kind == "server_unavailable":
            return _fault("SERVER_UNAVAILABLE", "server temporarily unavailable (injected)")
        if fault.kind == "request_limit":
            response = _fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded (injected)")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if fault.kind == "http_503":
            return Response("Service Unavailable (injected)", 503, content_type="text/plain")
        return None

    def _rest(self, request: Request, kind: str, handler: Any) -> Response:
        self.calls.append((kind, request.path))
        fault = self._take_fault(kind)
        early = self._apply_fault(fault)
        if early is not None:
            return early
        auth = request.headers.get("Authorization", "")
        if self._session_user(auth.removeprefix("Bearer ").strip()) is None:
            return _rest_error("INVALID_SESSION_ID", "Session expired or invalid", 401)
        response: Response = handler()
        if fault is not None and fault.kind in ("drop_after",):
            raise _Drop
        if fault is not None and fault.kind == "malformed":
            return Response(b"{not json", 200, content_type="application/json")
        return response

    # --- SOAP -----------------------------------------------------------------------------------

    def _soap(self, request: Request) -> Response:
        try:
            root: Element = SafeET.fromstring(request.get_data())
        except Exception as exc:
            return _fault("INVALID_XML", f"cannot read the request: {exc}")
        body = root.find(f"{{{SOAP_NS}}}Body")
        call = body[0] if body is not None and len(body) else None
        if call is None:
            return _fault("INVALID_OPERATION", "the envelope has no body")
        if call.tag == f"{{{PARTNER_NS}}}login":
            self.calls.append(("login", request.path))
            return self._login(request, call)
        if call.tag != f"{{{PARTNER_NS}}}convertLead":
            return _fault("INVALID_OPERATION", f"the emulator does not implement {call.tag}")
        self.calls.append(("convertLead", request.path))
        fault = self._take_fault("convertLead")
        early = self._apply_fault(fault)
        if early is not None:
            return early
        session = root.findtext(
            f"{{{SOAP_NS}}}Header/{{{PARTNER_NS}}}SessionHeader/{{{PARTNER_NS}}}sessionId"
        )
        if self._session_user(session) is None:
            return _fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: "
                "Illegal Session. Session not found, missing session hash",
            )
        converts = call.findall(f"{{{PARTNER_NS}}}leadConverts")
        if len(converts) > 100:
            return _fault(
                "EXCEEDED_LEAD_CONVERT_LIMIT",
                f"Exceeded max size limit of 100 with request size {len(converts)}",
            )
        rows = []
        for element in converts:
            row: dict[str, str] = {}
            for child in element:
                if child.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
                    continue
                row[child.tag.rpartition("}")[2]] = child.text or ""
            rows.append(row)
        with self.org.lock:
            self.convert_requests.update(_canon(row.get("leadId", "")) for row in rows)
            results = [self._convert_one(row) for row in rows]
        if fault is not None and fault.kind == "drop_after":
            raise _Drop
        if fault is not None and fault.kind == "malformed":
            return Response(b"<soapenv:Envelope><unclosed>", 200, content_type="text/xml")
        return Response(
            _soap("<convertLeadResponse>" + "".join(results) + "</convertLeadResponse>"),
            200,
            content_type="text/xml; charset=utf-8",
        )

    def _login(self, request: Request, call: Element) -> Response:
        username = call.findtext(f"{{{PARTNER_NS}}}username") or ""
        password = call.findtext(f"{{{PARTNER_NS}}}password") or ""
        with self.org.lock:
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
                return _fault(
                    "INVALID_LOGIN",
                    "Invalid username, password, security token; or user locked out.",
                )
            session_id = f"{self.org.org_id[:15]}!{secrets.token_urlsafe(24)}"
            self.org.sessions[session_id] = (
                user["Id"],
                time.monotonic() + self.org.session_lifetime,
            )
        version = _SOAP_PATH.match(request.path)
        host = request.host
        server = f"https://{host}/services/Soap/u/{version.group(1) if version else '59.0'}/"
        result = (
            f"<loginResponse><result><metadataServerUrl>{escape(server)}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{escape(server + self.org.org_id[:15])}</serverUrl>"
            f"<sessionId>{escape(session_id)}</sessionId><userId>{user['Id']}</userId>"
            f"<userInfo><organizationId>{self.org.org_id}</organizationId>"
            f"<userFullName>{escape(user.get('Name', ''))}</userFullName>"
            f"<userName>{escape(username)}</userName></userInfo></result></loginResponse>"
        )
        return Response(_soap(result), 200, content_type="text/xml; charset=utf-8")

    def _convert_one(self, row: Mapping[str, str]) -> str:
        errors: list[tuple[str, str, list[str]]] = []
        data = self.org.data

        def ref(name: str, obj: str) -> dict[str, Any] | None:
            value = row.get(name)
            if value is None:
                return None
            try:
                key = canonical_id(value)
            except IdError:
                errors.append(
                    ("MALFORMED_ID", f"{name}: id value of incorrect type: {value}", [name])
                )
                return None
            record = data[obj].get(key)
            if record is None:
                errors.append(
                    ("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name])
                )
            return record

        lead = ref("leadId", "Lead")
        account = ref("accountId", "Account")
        contact = ref("contactId", "Contact")
        opportunity = ref("opportunityId", "Opportunity")
        owner = row.get("ownerId")
        if owner is not None and _canon(owner) not in self.org.users:
            errors.append(
                ("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {owner}", ["ownerId"])
            )
        lead_id = lead["Id"] if lead else row.get("leadId")
        if lead is not None and lead.get("IsConverted"):
            errors.append(("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []))
        status = row.get("convertedStatus", "")
        converted = {s.get("ApiName") for s in self.org.lead_statuses if s.get("IsConverted")} | {
            s.get("MasterLabel") for s in self.org.lead_statuses if s.get("IsConverted")
        }
        if status not in converted:
            errors.append(
                ("INVALID_STATUS", f"invalid convertedStatus: {status}", ["convertedStatus"])
            )
        no_opportunity = row.get("doNotCreateOpportunity") == "true"
        name = row.get("opportunityName")
        if row.get("opportunityId") and name:
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "opportunityId and opportunityName are mutually exclusive",
                    ["opportunityId", "opportunityName"],
                )
            )
        if no_opportunity and (row.get("opportunityId") or name):
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "doNotCreateOpportunity is true: opportunityId and opportunityName "
                    "must be left blank",
                    ["doNotCreateOpportunity"],
                )
            )
        if name is not None and len(name) > 80:
            errors.append(
                ("STRING_TOO_LONG", "Opportunity Name: data value too large", ["opportunityName"])
            )
        if row.get("contactId") and not row.get("accountId"):
            errors.append(("REQUIRED_FIELD_MISSING", "contactId requires accountId", ["accountId"]))
        if contact is not None and account is not None:
            if account.get("IsPersonAccount"):
                errors.append(
                    (
                        "FIELD_INTEGRITY_EXCEPTION",
                        "a lead converted into a person account takes no contactId",
                        ["contactId"],
                    )
                )
            elif contact.get("AccountId") != account["Id"]:
                errors.append(
                    (
                        "INVALID_CROSS_REFERENCE_KEY",
                        "The contact isn't associated with the specified account.",
                        ["contactId"],
                    )
                )
        if row.get("overwriteLeadSource") == "true" and not row.get("contactId"):
            errors.append(
                (
                    "FIELD_INTEGRITY_EXCEPTION",
                    "overwriteLeadSource requires contactId",
                    ["overwriteLeadSource"],
                )
            )
        if lead is not None and str(lead.get("OwnerId", "")).startswith("00G") and not owner:
            errors.append(
                (
                    "REQUIRED_FIELD_MISSING",
                    "Converted objects can only be owned by users.  If the lead is not "
                    "owned by a user, you must specify a user for the Owner field.",
                    ["ownerId"],
                )
            )
        if errors:
            parts = "".join(
                "<errors>"
                + "".join(f"<fields>{escape(f)}</fields>" for f in fields)
                + f"<message>{escape(message)}</message><statusCode>{code}</statusCode></errors>"
                for code, message, fields in errors
            )
            return (
                "<result>"
                + _id_xml("accountId", None)
                + _id_xml("contactId", None)
                + parts
                + _id_xml("leadId", lead_id)
                + _id_xml("opportunityId", None)
                + "<success>false</success></result>"
            )
        assert lead is not None
        new_owner = _canon(owner) if owner else lead.get("OwnerId")
        company = lead.get("Company") or f"{lead.get('FirstName') or ''} {lead['LastName']}".strip()
        if account is None:
            account = {
                "Id": self.org.new_id("Account"),
                "Name": company,
                "Phone": lead.get("Phone"),
                "Website": lead.get("Website"),
                "OwnerId": new_owner,
            }
            data["Account"][account["Id"]] = account
        else:
            for key, value in (("Phone", lead.get("Phone")), ("Website", lead.get("Website"))):
                if account.get(key) in (None, "") and value:
                    account[key] = value
        if account.get("IsPersonAccount"):
            contact_id = account.get("PersonContactId")
        elif contact is None:
            contact = {
                "Id": self.org.new_id("Contact"),
                "FirstName": lead.get("FirstName"),
                "LastName": lead.get("LastName"),
                "Email": lead.get("Email"),
                "Phone": lead.get("Phone"),
                "LeadSource": lead.get("LeadSource"),
                "AccountId": account["Id"],
                "OwnerId": new_owner,
            }
            contact["Name"] = f"{contact['FirstName'] or ''} {contact['LastName']}".strip()
            data["Contact"][contact["Id"]] = contact
            contact_id = contact["Id"]
        else:
            for key in ("Email", "Phone", "FirstName", "LeadSource"):
                if contact.get(key) in (None, "") and lead.get(key):
                    contact[key] = lead[key]
            if row.get("overwriteLeadSource") == "true":
                contact["LeadSource"] = lead.get("LeadSource")
            contact_id = contact["Id"]
        opportunity_id: str | None = None
        if opportunity is not None:
            opportunity_id = opportunity["Id"]
            if not opportunity.get("AccountId"):
                opportunity["AccountId"] = account["Id"]
        elif not no_opportunity:
            close = dt.date.today() + dt.timedelta(days=30)
            record = {
                "Id": self.org.new_id("Opportunity"),
                "Name": name or company,
                "StageName": self.org.stages[0],
                "CloseDate": close.isoformat(),
                "Amount": None,
                "AccountId": account["Id"],
                "OwnerId": new_owner,
                "LeadSource": lead.get("LeadSource"),
            }
            data["Opportunity"][record["Id"]] = record
            opportunity_id = record["Id"]
        lead.update(
            IsConverted=True,
            Status=status,
            ConvertedAccountId=account["Id"],
            ConvertedContactId=contact_id,
            ConvertedOpportunityId=opportunity_id,
        )
        return (
            "<result>"
            + _id_xml("accountId", account["Id"])
            + _id_xml("contactId", contact_id)
            + _id_xml("leadId", lead["Id"])
            + _id_xml("opportunityId", opportunity_id)
            + "<success>true</success></result>"
        )

    # --- REST -----------------------------------------------------------------------------------

    def _query(self, request: Request) -> Response:
        try:
            fields, obj, filters = parse_soql(request.args.get("q", ""))
        except (SoqlError, IndexError) as exc:
            return _rest_error("MALFORMED_QUERY", f"the emulator cannot read this SOQL: {exc}")
        with self.org.lock:
            if obj == "LeadStatus":
                if "ApiName" in fields and not self.org.status_has_api_name:
                    return _rest_error(
                        "INVALID_FIELD", "No such column 'ApiName' on entity 'LeadStatus'."
                    )
                source: Iterable[dict[str, Any]] = self.org.lead_statuses
            elif obj in self.org.data:
                source = self.org.data[obj].values()
            else:
                return _rest_error("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
            records = [
                {"attributes": {"type": obj}, **{f: r.get(f) for f in fields}}
                for r in source
                if all(_matches(r, name, values) for name, values in filters)
            ]
        return _json({"totalSize": len(records), "done": True, "records": records})

    def _update(self, obj: str, record_id: str, request: Request) -> Response:
        if obj != "Opportunity":
            return _rest_error(
                "NOT_FOUND", f"the emulator updates only Opportunity, not {obj}", 404
            )
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _rest_error("JSON_PARSER_ERROR", "the body is not JSON")
        with self.org.lock:
            record = self.org.data["Opportunity"].get(_canon(record_id))
            if record is None:
                return _rest_error("NOT_FOUND", "The requested resource does not exist", 404)
            for key, value in body.items():
                if key not in _OPPORTUNITY_FIELDS and not key.endswith("__c"):
                    return _rest_error(
                        "INVALID_FIELD",
                        f"No such column '{key}' on sobject of type Opportunity",
                    )
                if key == "StageName" and value not in self.org.stages:
                    return _rest_error(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"Stage: bad value for restricted picklist field: {value}",
                    )
            record.update(body)
        return Response(status=204)
