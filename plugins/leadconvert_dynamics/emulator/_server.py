"""The Dataverse Web API subset leadconvert and Microsoft's Python client use, over HTTPS on
127.0.0.1, on the emulator kit.

Served: the Microsoft Entra ID token endpoint (client credentials) with its OpenID discovery
document, so ``msal`` and ``azure-identity`` run unchanged; ``leads``, ``accounts``,
``contacts``, ``opportunities`` and ``systemusers``: one record by id (``$select``), collections
with ``$filter`` (``eq``, ``and``, ``or``), ``$select``, ``$orderby`` and ``$top``, each record
with its ``@odata.etag``; PATCH with ``@odata.bind``, the org's choice values and ``If-Match``
(``*``: the record must exist; an etag: it must still be that version, else 412); the bound
``Microsoft.Dynamics.CRM.QualifyLead`` action; ``$batch`` multipart with change sets and
``Prefer: odata.continue-on-error``; table metadata (``EntityDefinitions`` by ``LogicalName``:
entity set name, primary id and name attributes; the picklist attributes with their options; the
lead statuscode and statecode options); ``WhoAmI``. Over the concurrency limit it answers 429
with ``Retry-After`` and the service protection code, as Dataverse does.

Not emulated, and answered with Dataverse's 404 ``0x80060888`` "Resource not found for the
segment ...", never a made-up success: creating or deleting records (and a PATCH of a missing
record without ``If-Match: *``, an upsert that would create it), other tables, other
functions and actions (``UpdateMultiple``, ``CreateMultiple``...), other metadata, ``$filter``
operators and functions other than ``eq``, ``and`` and ``or``, and the query options
``$expand``, ``$count``, ``$skip``, ``$apply``, ``fetchXml`` and ``sql``.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadconvert import InputError, dumps_json, loads_json
from leadconvert.emulation import (
    CONVERT,
    FOLLOW_UP,
    Fault,
    HttpEmulator,
    json_response,
    read_seed,
)

from .._wire import ChangeSet, Part, parse_batch_request
from ._org import ENTITIES, ENTITY_METADATA, PICKLISTS, DataverseOrg, OrgError

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

# werkzeug is imported when the emulator answers, not when it is built (see leadconvert.emulation).

__all__ = ["DynamicsEmulator"]

_API = re.compile(r"^/api/data/(v\d+(?:\.\d+)?)/(.*)$")
_RECORD = re.compile(r"^(\w+)\(([^()]+)\)$")
_QUALIFY = re.compile(r"^leads\(([^()]+)\)/Microsoft\.Dynamics\.CRM\.QualifyLead$")
_ACTION_WITHOUT_NAMESPACE = re.compile(r"^leads\(([^()]+)\)/QualifyLead$")
_METADATA = re.compile(
    r"^EntityDefinitions\(LogicalName='lead'\)/Attributes\(LogicalName='(statuscode|statecode)'\)"
    r"/Microsoft\.Dynamics\.CRM\.(StatusAttributeMetadata|StateAttributeMetadata)$"
)
_DEFINITION = re.compile(
    r"^EntityDefinitions\(LogicalName='(\w+)'\)"
    r"(/Attributes/Microsoft\.Dynamics\.CRM\.PicklistAttributeMetadata)?$"
)
#: The query options the emulator serves on a collection and on one record; any other
#: ``$`` option (or fetchXml, sql, saved queries) is not emulated.
_COLLECTION_OPTIONS = frozenset({"$select", "$filter", "$top", "$orderby"})
_RECORD_OPTIONS = frozenset({"$select"})
_QUERY_OPTIONS = frozenset({"fetchXml", "sql", "savedQuery", "userQuery"})
_ORDER = re.compile(r"^\s*([a-z_][a-z0-9_]*)(?:\s+(asc|desc))?\s*$")
_TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_DISCOVERY = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
_CONDITION = re.compile(
    r"^\s*(\w+)\s+eq\s+('(?:[^']|'')*'|null|true|false|-?\d+(?:\.\d+)?|[0-9a-fA-F-]{36})\s*$"
)
_STATUS_TEXT = {200: "OK", 204: "No Content"}


def _odata_error(error: OrgError, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(error.body(), error.status, headers)


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[text]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text.lower()


def parse_filter(text: str) -> list[list[tuple[str, Any]]]:
    """``a eq 'x' and b eq 1 or c eq null`` -> OR of ANDs (the subset leadconvert sends)."""
    groups: list[list[tuple[str, Any]]] = []
    # Split outside quoted strings only.
    tokens = re.split(r"('(?:[^']|'')*')", text)
    ors: list[str] = [""]
    for n, token in enumerate(tokens):
        if n % 2:
            ors[-1] += token
            continue
        pieces = re.split(r"\s+or\s+", token)
        ors[-1] += pieces[0]
        ors.extend(pieces[1:])
    for clause in ors:
        group = []
        for condition in _split_and(clause):
            match = _CONDITION.match(condition.strip("() "))
            if match is None:
                # Valid OData the emulator does not evaluate (ne, gt, contains...): not
                # emulated, not a 400 that would tell the caller its query is wrong.
                raise _not_emulated(f"$filter={condition.strip()}")
            group.append((match.group(1), _literal(match.group(2))))
        groups.append(group)
    return groups


def _split_and(clause: str) -> list[str]:
    tokens = re.split(r"('(?:[^']|'')*')", clause)
    parts: list[str] = [""]
    for n, token in enumerate(tokens):
        if n % 2:
            parts[-1] += token
            continue
        pieces = re.split(r"\s+and\s+", token)
        parts[-1] += pieces[0]
        parts.extend(pieces[1:])
    return parts


def _not_emulated(segment: str) -> OrgError:
    """Dataverse's own answer for a resource it does not know."""
    return OrgError(404, "0x80060888", f"Resource not found for the segment '{segment}'.")


def _check_options(args: Mapping[str, str], served: frozenset[str], segment: str) -> None:
    for name in args:
        if (name.startswith("$") or name in _QUERY_OPTIONS) and name not in served:
            raise _not_emulated(f"{segment}?{name}")


def _order(text: str | None) -> list[tuple[str, bool]]:
    """``name asc,createdon desc`` -> [(property, descending)]."""
    order: list[tuple[str, bool]] = []
    if not text:
        return order
    for clause in text.split(","):
        match = _ORDER.match(clause)
        if match is None:
            raise _not_emulated(f"$orderby={clause.strip()}")
        order.append((match.group(1), match.group(2) == "desc"))
    return order


def _label(text: str) -> dict[str, Any]:
    label = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [label], "UserLocalizedLabel": dict(label)}


def _metadata_select(
    args: Mapping[str, str], known: Mapping[str, Any], type_name: str
) -> list[str]:
    wanted = [name.strip() for name in args.get("$select", "").split(",") if name.strip()]
    for name in wanted:
        if name not in known:
            raise OrgError(
                400,
                "0x80060888",
                f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM."
                f"{type_name}'.",
            )
    return wanted


def _select(record: Mapping[str, Any], key: str, select: str | None) -> dict[str, Any]:
    if not select:
        return dict(record)
    wanted = [name.strip() for name in select.split(",") if name.strip()]
    out = {key: record.get(key)}
    for name in wanted:
        out[name] = record.get(name)
    return out


class DynamicsEmulator(HttpEmulator):
    """Dataverse with Dynamics 365 Sales on 127.0.0.1 (HTTPS), for tests and the sandbox.

    ``concurrency_limit`` is how many API requests may be in flight before 429 (Microsoft's is
    52 per user); ``token_lifetime`` is how long an access token lasts, in seconds.
    """

    name = "dynamics"
    sign_in_operations = frozenset({"token", "discovery"})

    def __init__(
        self,
        *,
        seed: Path | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        concurrency_limit: int = 52,
        token_lifetime: float = 3600.0,
        quiet: bool = True,
    ) -> None:
        data = read_seed(seed, default=resources.files(__package__).joinpath("seed.json"))
        self.org = DataverseOrg()
        self.tokens: dict[str, float] = {}
        self.concurrency_limit = concurrency_limit
        self.token_lifetime = token_lifetime
        #: Retry-After (seconds) with the 429 past the concurrency limit.
        self.busy_retry_after = 1
        self._in_flight = 0
        self._flight_lock = threading.Lock()
        super().__init__(
            data,
            origin=str(seed) if isinstance(seed, Path) else "the Dynamics seed",
            host=host,
            port=port,
            tls=True,
            quiet=quiet,
        )

    # --- the kit's hooks ------------------------------------------------------------------

    def load(self, seed: Mapping[str, Any]) -> None:
        """Replace the org with the seed's."""
        for key in ("tenant_id", "client_id", "client_secret"):
            if not isinstance(seed[key], str):
                raise InputError(f"{key} must be a string, not {type(seed[key]).__name__}")
        self.org = DataverseOrg.from_seed(seed)

    def state(self) -> Mapping[str, Any]:
        """Every record of the org."""
        return self.org.snapshot()

    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """An open lead (Dataverse logical names: ``lastname``, ``emailaddress1``...)."""
        with self.lock:
            return self.org.add_lead({**(fields or {}), **more})

    def lead(self, lead_id: str) -> Mapping[str, Any]:
        """One lead as stored."""
        with self.lock:
            try:
                return dict(self.org.get("leads", lead_id))
            except OrgError:
                raise KeyError(lead_id) from None

    def canonical_lead_id(self, lead_id: str) -> str:
        """Lower case, without braces: how Dataverse spells a GUID."""
        return lead_id.strip("{}").lower()

    def expire_sessions(self) -> None:
        """Every issued access token stops working."""
        with self.lock:
            self.tokens.clear()

    def credentials(self) -> Mapping[str, str]:
        """What ``DynamicsBackend.connect`` needs to reach this emulator (TLS with its own CA)."""
        return {
            "org_url": self.base_url,
            "tenant_id": self.seed["tenant_id"],
            "client_id": self.seed["client_id"],
            "client_secret": self.seed["client_secret"],
            "authority_host": self.base_url,
            "ca_bundle": self.ca_bundle_path,
        }

    def operation(self, request: Request) -> str:
        """``token``, ``discovery``, ``qualify_batch``, ``batch``, ``qualify``, ``query``,
        ``update``, ``metadata`` or ``whoami``."""
        if _TOKEN.match(request.path):
            return "token"
        if _DISCOVERY.match(request.path):
            return "discovery"
        match = _API.match(request.path)
        if match is None:
            return "unknown"
        rest = match.group(2)
        if rest == "$batch":
            return "qualify_batch" if b"QualifyLead" in request.get_data() else "batch"
        if _QUALIFY.match(rest):
            return "qualify"
        if _METADATA.match(rest) or rest.split("(", maxsplit=1)[0] == "EntityDefinitions":
            return "metadata"
        if rest == "WhoAmI":
            return "whoami"
        return "update" if request.method == "PATCH" else "query"

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """An injected status in Dataverse's own error shape (429 with Retry-After)."""
        from werkzeug.wrappers import Response

        literal = self.literal_fault_response(fault)
        if literal is not None:
            return literal
        status = fault.status or 500
        headers = dict(fault.headers)
        if status == 429:
            headers.setdefault("Retry-After", "1")
            error = OrgError(
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            )
        elif status == 401:
            return Response(b"", 401, headers={"WWW-Authenticate": "Bearer", **headers})
        else:
            error = OrgError(status, "0x80040216", "An unexpected error occurred.")
        return _odata_error(error, headers)

    # --- protocol ---------------------------------------------------------------------------

    def handle(self, request: Request, operation: str) -> Response:
        """Answer one request as Dataverse (or Entra ID) would."""
        from werkzeug.wrappers import Response

        if operation == "discovery":
            return self._discovery(request)
        if operation == "token":
            return self._token(request)
        match = _API.match(request.path)
        if match is None:
            return json_response({"error": {"code": "", "message": "Not found"}}, 404)
        token = request.headers.get("Authorization", "")
        with self.lock:
            expiry = self.tokens.get(token.removeprefix("Bearer "))
        if not token.startswith("Bearer ") or expiry is None or expiry < time.time():
            return Response(b"", 401, headers={"WWW-Authenticate": "Bearer"})
        with self._flight_lock:
            busy = self._in_flight >= self.concurrency_limit
            if not busy:
                self._in_flight += 1
        if busy:
            return _odata_error(
                OrgError(
                    429,
                    "0x80072326",
                    "Number of concurrent requests exceeded the limit "
                    f"of {self.concurrency_limit}.",
                ),
                {"Retry-After": str(self.busy_retry_after)},
            )
        try:
            version, rest = match.group(1), match.group(2)
            if rest == "$batch" and request.method == "POST":
                return self._batch(request, version)
            body = loads_json(request.get_data()) if request.get_data() else None
            status, answer = self._one(
                request.method,
                rest,
                dict(request.args),
                body,
                version,
                if_match=request.headers.get("If-Match", "").strip(),
            )
            if answer is None:
                return Response(b"", status, headers={"OData-Version": "4.0"})
            return json_response(answer, status, {"OData-Version": "4.0"})
        except OrgError as exc:
            return _odata_error(exc)
        except ValueError as exc:
            return _odata_error(OrgError(400, "0x80040203", f"The request is malformed: {exc}"))
        finally:
            with self._flight_lock:
                self._in_flight -= 1

    def _discovery(self, request: Request) -> Response:
        match = _DISCOVERY.match(request.path)
        assert match is not None
        tenant = match.group(1)
        base = self.base_url
        return json_response(
            {
                "issuer": f"{base}/{tenant}/v2.0",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    def _token(self, request: Request) -> Response:
        match = _TOKEN.match(request.path)
        assert match is not None
        form = request.form
        seed = self.seed
        if match.group(1) != seed["tenant_id"]:
            return json_response(
                {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found"},
                400,
            )
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if (
            form.get("client_id") != seed["client_id"]
            or form.get("client_secret") != seed["client_secret"]
        ):
            return json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
                401,
            )
        scopes = form.get("scope", "").split()
        if f"{self.base_url}/.default" not in scopes:
            return json_response(
                {
                    "error": "invalid_scope",
                    "error_description": f"AADSTS70011: the scope must be {self.base_url}/.default",
                },
                400,
            )
        token = f"emu-{uuid.uuid4().hex}"
        with self.lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return json_response(
            {"token_type": "Bearer", "expires_in": int(self.token_lifetime), "access_token": token}
        )

    def _one(
        self,
        method: str,
        rest: str,
        args: Mapping[str, str],
        body: Any,
        version: str,
        *,
        if_match: str = "",
    ) -> tuple[int, Any]:
        """One Web API request (alone or a part of a batch): (status, JSON answer or None).

        ``if_match``: with ``*`` a PATCH of a missing record is Dataverse's 404 ``0x80040217``;
        without it Dataverse would create the record (an upsert), which the emulator does not
        emulate; with an ``@odata.etag`` the record must still have that row version (412
        ``0x80060882`` otherwise: optimistic concurrency).
        """
        if rest == "WhoAmI" and method == "GET":
            return 200, {
                "UserId": "e0000000-0000-0000-0000-00000000a5e1",
                "BusinessUnitId": "e0000000-0000-0000-0000-0000000000b1",
                "OrganizationId": self.seed.get(
                    "organization_id", "e0000000-0000-0000-0000-00000000000a"
                ),
            }
        if (match := _QUALIFY.match(rest)) and method == "POST":
            lead_id = match.group(1)
            with self.lock:
                self.count(lead_id, CONVERT)
                created = self.org.qualify(lead_id, body)
            context = f"{self.base_url}/api/data/{version}/$metadata#Collection("
            return 200, {
                "@odata.context": context + "Microsoft.Dynamics.CRM.crmbaseentity)",
                "value": created,
            }
        if _ACTION_WITHOUT_NAMESPACE.match(rest):
            raise OrgError(400, "0x80060888", "Request message has unresolved parameters.")
        if (match := _METADATA.match(rest)) and method == "GET":
            with self.lock:
                if not self.org.sales_installed:
                    raise OrgError(
                        404, "0x80060888", "Could not find an entity with LogicalName 'lead'."
                    )
                options = (
                    self.org.status_options()
                    if match.group(1) == "statuscode"
                    else self.org.state_options()
                )
            return 200, {
                "LogicalName": match.group(1),
                "OptionSet": {
                    "Options": [
                        {
                            **{k: v for k, v in o.items() if k != "Label"},
                            "Label": {"UserLocalizedLabel": {"Label": o["Label"]}},
                        }
                        for o in options
                    ]
                },
            }
        if rest.split("(", maxsplit=1)[0] == "EntityDefinitions" and method == "GET":
            with self.lock:
                return 200, self._definitions(rest, args, version)
        record = _RECORD.match(rest)
        entity_set = record.group(1) if record else rest
        if entity_set not in ENTITIES:
            raise _not_emulated(entity_set)
        key = ENTITIES[entity_set][1]
        if record is not None and method == "PATCH":
            if not isinstance(body, Mapping):
                raise OrgError(400, "0x80040203", "A PATCH body is a JSON object")
            with self.lock:
                if not if_match and not self.org.exists(entity_set, record.group(2)):
                    raise _not_emulated(rest)  # an upsert that would create the record
                if if_match not in ("", "*") and if_match != self.org.etag(
                    entity_set, self.org.get(entity_set, record.group(2))[key]
                ):
                    raise OrgError(
                        412,
                        "0x80060882",
                        "The version of the existing record doesn't match the RowVersion "
                        "property provided.",
                    )
                if entity_set != "leads":
                    lead = self.org.originating_lead(entity_set, record.group(2))
                    if lead is not None:
                        self.count(lead, FOLLOW_UP)
                self.org.update(entity_set, record.group(2), body)
            return 204, None
        if method != "GET":
            # Creating (POST) or deleting records is Dataverse's, not the emulator's: not
            # emulated, so neither done nor refused with an error Dataverse never gives.
            raise _not_emulated(rest)
        select = args.get("$select")
        context = f"{self.base_url}/api/data/{version}/$metadata#{entity_set}"
        if select:
            context += f"({select})"
        with self.lock:
            if record is not None:
                _check_options(args, _RECORD_OPTIONS, rest)
                found = _select(self.org.get(entity_set, record.group(2)), key, select)
                return 200, {
                    "@odata.context": context + "/$entity",
                    "@odata.etag": self.org.etag(entity_set, found[key]),
                    **found,
                }
            _check_options(args, _COLLECTION_OPTIONS, rest)
            where = parse_filter(args["$filter"]) if args.get("$filter") else []
            top = int(args["$top"]) if args.get("$top") else None
            rows = [
                {"@odata.etag": self.org.etag(entity_set, r[key]), **_select(r, key, select)}
                for r in self.org.query(entity_set, where, top, _order(args.get("$orderby")))
            ]
        return 200, {"@odata.context": context, "value": rows}

    def _definitions(self, rest: str, args: Mapping[str, str], version: str) -> dict[str, Any]:
        """``EntityDefinitions``: the emulated tables' metadata, and their picklist columns."""
        tables = {
            entity_set: metadata
            for entity_set, metadata in ENTITY_METADATA.items()
            if entity_set != "leads" or self.org.sales_installed
        }
        context = f"{self.base_url}/api/data/{version}/$metadata#EntityDefinitions"
        if rest == "EntityDefinitions":
            _check_options(args, frozenset({"$select", "$filter"}), rest)
            wanted = _metadata_select(args, ENTITY_METADATA["leads"], "EntityMetadata")
            groups = parse_filter(args["$filter"]) if args.get("$filter") else []
            for group in groups:
                _metadata_select(
                    {"$select": ",".join(p for p, _ in group)},
                    ENTITY_METADATA["leads"],
                    "EntityMetadata",
                )
            found = [
                metadata
                for metadata in tables.values()
                if not groups
                or any(
                    all(str(metadata[p]).casefold() == str(v).casefold() for p, v in group)
                    for group in groups
                )
            ]
            return {
                "@odata.context": context + (f"({','.join(wanted)})" if wanted else ""),
                "value": [_pick(metadata, wanted) for metadata in found],
            }
        match = _DEFINITION.match(rest)
        if match is None:
            raise _not_emulated(rest)
        by_name = {metadata["LogicalName"]: s for s, metadata in tables.items()}
        entity_set = by_name.get(match.group(1))
        if entity_set is None:
            raise OrgError(
                404, "0x80060888", f"Could not find an entity with LogicalName '{match.group(1)}'."
            )
        if match.group(2) is None:
            _check_options(args, frozenset({"$select"}), rest)
            wanted = _metadata_select(args, ENTITY_METADATA["leads"], "EntityMetadata")
            return {"@odata.context": context + "/$entity", **_pick(tables[entity_set], wanted)}
        _check_options(args, frozenset({"$select", "$expand"}), rest)
        expand = args.get("$expand")
        if expand not in (None, "OptionSet", "OptionSet($select=Options)"):
            raise _not_emulated(f"{rest}?$expand={expand}")
        attribute = {"LogicalName": "", "MetadataId": "", "AttributeType": ""}
        wanted = _metadata_select(args, attribute, "PicklistAttributeMetadata")
        value = []
        for name, options in PICKLISTS[entity_set].items():
            metadata_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-emulator:{rest}/{name}"))
            item: dict[str, Any] = _pick(
                {
                    "LogicalName": name,
                    "MetadataId": metadata_id,
                    "AttributeType": "Picklist",
                },
                wanted,
            )
            if expand is not None:
                item["OptionSet"] = {
                    "MetadataId": metadata_id,
                    "Options": [{"Value": v, "Label": _label(text)} for v, text in options],
                }
            value.append(item)
        return {"@odata.context": f"{context}('{match.group(1)}')/Attributes", "value": value}

    # --- $batch ---------------------------------------------------------------------------

    def _batch(self, request: Request, version: str) -> Response:
        from werkzeug.wrappers import Response

        content_type = request.headers.get("Content-Type", "")
        try:
            items = parse_batch_request(request.get_data(as_text=True), content_type)
        except ValueError as exc:
            raise OrgError(400, "0x80040203", f"The batch request is malformed: {exc}") from None
        if sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items) > 1000:
            raise OrgError(
                400, "0x80040203", "Batch requests can contain up to 1000 individual requests"
            )
        go_on = "odata.continue-on-error" in request.headers.get("Prefer", "")
        boundary = f"batchresponse_{uuid.uuid4()}"
        chunks: list[str] = []
        for item in items:
            text, failed = self._batch_item(item, version)
            chunks.append(f"--{boundary}\r\n{text}")
            if failed and not go_on:
                # "the error for that request will be returned for the batch request and more
                # requests won't be processed."
                break
        chunks.append(f"--{boundary}--\r\n")
        return Response(
            "".join(chunks),
            200,
            headers={"OData-Version": "4.0"},
            content_type=f"multipart/mixed; boundary={boundary}",
        )

    def _run_part(self, part: Part, version: str) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(part.url)
        path = url.path
        match = _API.match(path)
        rest = match.group(2) if match else path.lstrip("/")
        args = dict(urllib.parse.parse_qsl(url.query))
        return self._one(part.method, rest, args, part.json, match.group(1) if match else version)

    def _batch_item(self, item: Part | ChangeSet, version: str) -> tuple[str, bool]:
        if isinstance(item, Part):
            try:
                status, answer = self._run_part(item, version)
            except OrgError as exc:
                return _http_part(exc.status, exc.body(), item.content_id), True
            return _http_part(status, answer, item.content_id), False
        if any(part.method == "GET" for part in item.parts):
            error = OrgError(400, "0x80040203", "GET requests are not allowed within change sets")
            return _http_part(error.status, error.body(), None), True
        answers: list[tuple[int, Any, str | None]] = []
        try:
            with self.lock, self.org.transaction():
                for part in item.parts:
                    status, answer = self._run_part(part, version)
                    answers.append((status, answer, part.content_id))
        except OrgError as exc:
            # The change set is rolled back and answered by the one error.
            failed = item.parts[len(answers)]
            return _http_part(exc.status, exc.body(), failed.content_id), True
        inner = f"changesetresponse_{uuid.uuid4()}"
        text = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"
        for status, answer, content_id in answers:
            text += f"--{inner}\r\n" + _http_part(status, answer, content_id)
        text += f"--{inner}--\r\n"
        return text, False


def _pick(metadata: Mapping[str, Any], wanted: list[str]) -> dict[str, Any]:
    """A metadata entity with the selected properties (its MetadataId always, as Dataverse)."""
    if not wanted:
        return dict(metadata)
    return {"MetadataId": metadata["MetadataId"], **{name: metadata[name] for name in wanted}}


def _http_part(status: int, body: Any, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}", "OData-Version: 4.0"]
    if body is None:
        lines += ["", ""]
    else:
        lines += ["Content-Type: application/json; odata.metadata=minimal", "", dumps_json(body)]
    return "\r\n".join(lines) + "\r\n"
