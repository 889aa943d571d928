"""Dataverse's native shapes: the QualifyLead body, the lead bind, ``$batch`` multipart.

One cattrs converter writes and reads the QualifyLead parameters through an explicit rename
table (Python names on the left, Dataverse's on the right); the multipart ``$batch`` body is
rendered and read here too, for requests (the plan, the emulator) and answers (the client).
Everything is pure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from attrs import field, frozen

from leadconvert import dumps_json, loads_json

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "DEFAULT_API_VERSION",
    "ENTITY_SETS",
    "FOLLOW_UP_KIND",
    "PLACEHOLDER",
    "QUALIFY_ACTION",
    "QUALIFY_KIND",
    "RENAMES",
    "BatchItem",
    "ChangeSet",
    "EntityRef",
    "FollowUpBatch",
    "FollowUpStep",
    "HttpMessage",
    "LeadBind",
    "LeadQualify",
    "Part",
    "QualifyBatch",
    "QualifyLeadBody",
    "api_path",
    "batch_headers",
    "bind_from_wire",
    "bind_to_wire",
    "boundary_of",
    "id_placeholder",
    "parse_batch_request",
    "parse_batch_response",
    "qualify_from_wire",
    "qualify_to_wire",
    "render_batch",
    "render_follow_ups",
    "render_qualify",
]

DEFAULT_API_VERSION = "v9.2"
QUALIFY_ACTION = "Microsoft.Dynamics.CRM.QualifyLead"
#: ``PlannedCall.kind`` of a ``$batch`` of QualifyLead change sets.
QUALIFY_KIND = "qualify_batch"
#: ``PlannedCall.kind`` of a ``$batch`` of updates of the records a qualify created.
FOLLOW_UP_KIND = "follow_up_batch"
#: Entity set (URL) names of the logical names this backend touches.
ENTITY_SETS: Mapping[str, str] = MappingProxyType(
    {
        "lead": "leads",
        "account": "accounts",
        "contact": "contacts",
        "opportunity": "opportunities",
        "systemuser": "systemusers",
        "transactioncurrency": "transactioncurrencies",
        "campaign": "campaigns",
    }
)
_CRLF = "\r\n"


def api_path(version: str, rest: str) -> str:
    """``/api/data/<version>/<rest>``: the absolute path every request and part uses."""
    return f"/api/data/{version}/{rest}"


def id_placeholder(role: str, lead_id: str) -> str:
    """What a follow-up's URL holds where the id of the record the qualify created goes.

    It names the lead, so a plan read back knows whose record each update is for.
    """
    return "{" + f"{role} of lead {lead_id}" + "}"


PLACEHOLDER = re.compile(r"\{(account|contact|opportunity) of lead ([^{}()]+)\}")


# --- QualifyLead parameters ---------------------------------------------------------------------


@frozen
class EntityRef:
    """An entity-typed action parameter: ``{"@odata.type": ..., "<entity>id": id}``."""

    entity: str
    id: str


#: A status as planned: an Int32 statuscode, a status name resolved through the org's statuscode
#: metadata when sent, or None for the org's default Qualified status (read when sent).
Status: TypeAlias = int | str | None


@frozen
class QualifyLeadBody:
    """The parameters of the QualifyLead action (the four required ones always sent)."""

    create_account: bool
    create_contact: bool
    create_opportunity: bool
    status: Status = None
    opportunity_customer: EntityRef | None = None
    opportunity_currency: EntityRef | None = None
    source_campaign: EntityRef | None = None
    suppress_duplicate_detection: bool | None = None


#: Python attribute -> Dataverse parameter name, in the order they are written.
RENAMES: Mapping[str, str] = MappingProxyType(
    {
        "create_account": "CreateAccount",
        "create_contact": "CreateContact",
        "create_opportunity": "CreateOpportunity",
        "status": "Status",
        "opportunity_customer": "OpportunityCustomerId",
        "opportunity_currency": "OpportunityCurrencyId",
        "source_campaign": "SourceCampaignId",
        "suppress_duplicate_detection": "SuppressDuplicateDetection",
    }
)
_REQUIRED = ("create_account", "create_contact", "create_opportunity", "status")


def _unstructure_ref(ref: EntityRef) -> dict[str, str]:
    return {"@odata.type": f"Microsoft.Dynamics.CRM.{ref.entity}", f"{ref.entity}id": ref.id}


def _structure_ref(value: Any, _: type) -> EntityRef:
    if not isinstance(value, Mapping):
        raise TypeError(f"an entity parameter is an object, got {value!r}")
    odata_type = value.get("@odata.type")
    if not isinstance(odata_type, str) or not odata_type.startswith("Microsoft.Dynamics.CRM."):
        raise ValueError(f"an entity parameter needs @odata.type Microsoft.Dynamics.CRM.*: {value}")
    entity = odata_type.removeprefix("Microsoft.Dynamics.CRM.")
    key = f"{entity}id"
    extra = set(value) - {"@odata.type", key}
    if not isinstance(value.get(key), str) or extra:
        raise ValueError(f"an entity parameter holds @odata.type and {key} only: {value}")
    return EntityRef(entity, value[key])


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _structure_status(value: Any, _: type) -> Status:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"Status is an Int32 statuscode, got {value!r}")


@functools.cache
def _converter() -> cattrs.Converter:
    """Built on first use, so that cattrs is imported only when a body goes through it."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    conv.register_unstructure_hook(EntityRef, _unstructure_ref)
    conv.register_structure_hook(EntityRef, _structure_ref)
    conv.register_structure_hook(bool, _structure_bool)
    status_type: Any = Status
    conv.register_structure_hook_func(lambda t: t == status_type, _structure_status)
    # Typed Any: mypy reads **overrides as candidates for the functions' positional flags.
    renames: dict[str, Any] = {
        name: override(rename=wire, omit_if_default=name not in _REQUIRED)
        for name, wire in RENAMES.items()
    }
    conv.register_unstructure_hook(
        QualifyLeadBody, make_dict_unstructure_fn(QualifyLeadBody, conv, **renames)
    )
    conv.register_structure_hook(
        QualifyLeadBody,
        make_dict_structure_fn(QualifyLeadBody, conv, _cattrs_forbid_extra_keys=True, **renames),
    )
    return conv


def qualify_to_wire(body: QualifyLeadBody) -> dict[str, Any]:
    """The JSON body of QualifyLead, parameters named as Dataverse names them."""
    data: dict[str, Any] = _converter().unstructure(body)
    return data


def qualify_from_wire(data: Any) -> QualifyLeadBody:
    """A QualifyLead JSON body read back; raises ``ValueError`` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError("a QualifyLead body is a JSON object")
    missing = [RENAMES[name] for name in _REQUIRED if RENAMES[name] not in data]
    if missing:
        raise ValueError(f"QualifyLead needs {', '.join(missing)}")
    try:
        body: QualifyLeadBody = _converter().structure(dict(data), QualifyLeadBody)
    except Exception as exc:
        import cattrs

        text = "; ".join(cattrs.transform_error(exc, path="QualifyLead"))
        # Name the parameters as the user wrote them, not as Python does.
        for name, wire in RENAMES.items():
            text = text.replace(f"QualifyLead.{name}", wire)
        raise ValueError(text.replace("expected bool", "expected true or false")) from None
    return body


# --- the lead bind (merge into an existing account or contact) ----------------------------------


@frozen
class LeadBind:
    """``PATCH leads(<id>)`` binding the lead's parent account and/or contact."""

    parent_account_id: str | None = None
    parent_contact_id: str | None = None


_BIND_KEYS = {
    "parent_account_id": ("parentaccountid", "accounts"),
    "parent_contact_id": (
        "parentcontactid",
        "contacts",
    ),
}
_BIND = re.compile(r"^/(\w+)\(([^()]+)\)$")


def bind_to_wire(bind: LeadBind) -> dict[str, str]:
    """``{"parentaccountid@odata.bind": "/accounts(<id>)", ...}``."""
    out: dict[str, str] = {}
    for attr, (prop, entity_set) in _BIND_KEYS.items():
        value = getattr(bind, attr)
        if value is not None:
            out[f"{prop}@odata.bind"] = f"/{entity_set}({value})"
    return out


def bind_from_wire(data: Any) -> LeadBind:
    """A lead bind read back; anything but the two parent binds is refused."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError("a lead update is a non-empty JSON object")
    values: dict[str, str] = {}
    by_key = {
        f"{prop}@odata.bind": (attr, entity_set) for attr, (prop, entity_set) in _BIND_KEYS.items()
    }
    for key, value in data.items():
        if key not in by_key:
            raise ValueError(
                f"a lead update before QualifyLead sets only the parent account and contact "
                f"binds, not {key!r}"
            )
        attr, entity_set = by_key[key]
        match = _BIND.match(value) if isinstance(value, str) else None
        if match is None or match.group(1) != entity_set:
            raise ValueError(f"{key} must be /{entity_set}(<id>), got {value!r}")
        values[attr] = match.group(2)
    return LeadBind(**values)


# --- what a planned call carries (NativeRequest.content) ------------------------------------------


@frozen
class LeadQualify:
    """One lead's change set: the optional bind, then the qualify."""

    lead_id: str
    qualify: QualifyLeadBody
    bind: LeadBind | None = None


@frozen
class QualifyBatch:
    """A ``$batch`` of change sets, one per lead."""

    api_version: str
    #: Names the multipart boundaries, so a plan's text is the same every time.
    number: int
    leads: tuple[LeadQualify, ...]


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@frozen
class FollowUpStep:
    """An update of one record a lead's qualify created (``role``: its logical name)."""

    lead_id: str
    role: str
    body: Mapping[str, Any] = field(converter=_frozen)


@frozen
class FollowUpBatch:
    """A ``$batch`` of follow-up updates, each its own request (continue-on-error)."""

    api_version: str
    number: int
    steps: tuple[FollowUpStep, ...]


# --- multipart ------------------------------------------------------------------------------------


@frozen
class Part:
    """One request (or answer) of a batch, as ``application/http``."""

    method: str
    url: str
    json: Any = None
    content_id: str | None = None


@frozen
class ChangeSet:
    """Requests that succeed or fail together."""

    boundary: str
    parts: tuple[Part, ...]


BatchItem: TypeAlias = Part | ChangeSet


def batch_headers(boundary: str) -> dict[str, str]:
    """The headers of a ``$batch`` POST: one lead's failure never stops the others."""
    return {
        "Content-Type": f"multipart/mixed; boundary={boundary}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Prefer": "odata.continue-on-error",
    }


def _part_text(part: Part) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if part.content_id is not None:
        lines.append(f"Content-ID: {part.content_id}")
    lines += ["", f"{part.method} {part.url} HTTP/1.1"]
    if part.method == "PATCH":
        # Every PATCH here updates a record that exists (the lead, what QualifyLead created):
        # without If-Match a PATCH of a missing record would create it (an upsert).
        lines.append("If-Match: *")
    if part.json is not None:
        lines += ["Content-Type: application/json", "", dumps_json(part.json)]
    else:
        lines += [""]
    return _CRLF.join(lines)


def render_batch(boundary: str, items: Sequence[BatchItem]) -> str:
    """The multipart/mixed body of a ``$batch`` request (CRLF line ends, as MIME wants)."""
    chunks: list[str] = []
    for item in items:
        chunks.append(f"--{boundary}")
        if isinstance(item, Part):
            chunks.append(_part_text(item))
            continue
        chunks.append(f"Content-Type: multipart/mixed; boundary={item.boundary}")
        chunks.append("")
        for part in item.parts:
            chunks.append(f"--{item.boundary}")
            chunks.append(_part_text(part))
        chunks.append(f"--{item.boundary}--")
        chunks.append("")
    chunks.append(f"--{boundary}--")
    chunks.append("")
    return _CRLF.join(chunks)


def _unique_boundary(base: str, text: str) -> str:
    # A boundary must never occur in what it separates; a field value could hold ours.
    boundary, n = base, 0
    while boundary in text:
        n += 1
        boundary = f"{base}_{n}"
    return boundary


# The requests of a planned $batch are written here directly, each JSON body serialised once
# (for the boundary check and for its part alike): the same text ``render_batch`` writes from
# ``Part`` objects, and the same JSON ``dumps_json`` writes.

# Text ``dumps_json`` writes between quotes as it is: no quote, backslash or control character
# (nor, to be safe, U+2028, U+2029 or a lone surrogate).
_JSON_PLAIN = re.compile('[^"\\\\\x00-\x1f\u2028\u2029\ud800-\udfff]*')


def _json_value(value: Any) -> str:
    """``dumps_json(value)``, written here for the flat values of the bodies planned."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return f'"{value}"' if _JSON_PLAIN.fullmatch(value) else dumps_json(value)
    if kind is int:
        return int.__repr__(value)
    if kind is Decimal and value.is_finite():
        return str(value)
    return dumps_json(value)


def _object_json(data: Mapping[str, Any]) -> str:
    """``dumps_json(dict(data))``: a JSON object of flat values, keys in their order."""
    items = []
    for key, value in data.items():
        if type(key) is not str or not _JSON_PLAIN.fullmatch(key):
            return dumps_json(dict(data))
        items.append(f'"{key}": {_json_value(value)}')
    return "{" + ", ".join(items) + "}"


_QUALIFY_OPTIONAL = tuple((name, RENAMES[name]) for name in RENAMES if name not in _REQUIRED)


def _qualify_json(body: QualifyLeadBody) -> str:
    """``dumps_json(qualify_to_wire(body))``."""
    text = (
        f'{{"CreateAccount": {_json_value(body.create_account)}, '
        f'"CreateContact": {_json_value(body.create_contact)}, '
        f'"CreateOpportunity": {_json_value(body.create_opportunity)}, '
        f'"Status": {_json_value(body.status)}'
    )
    for name, wire in _QUALIFY_OPTIONAL:
        value = getattr(body, name)
        if value is None:
            continue
        if isinstance(value, EntityRef):
            text += f', "{wire}": {_object_json(_unstructure_ref(value))}'
        elif name == "suppress_duplicate_detection":
            text += f', "{wire}": {_json_value(value)}'
        else:
            # Not what the type says: written as the converter writes it.
            return dumps_json(qualify_to_wire(body))
    return text + "}"


_PART_HEAD = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: "


def render_qualify(batch: QualifyBatch) -> tuple[str, str]:
    """(boundary, body) of a qualify ``$batch``: one change set per lead."""
    number = batch.number
    leads = []
    for lead in batch.leads:
        path = api_path(batch.api_version, f"leads({lead.lead_id})")
        bind = None if lead.bind is None else _object_json(bind_to_wire(lead.bind))
        leads.append((path, bind, _qualify_json(lead.qualify)))
    payload = "".join([(bind or "") + qualify for _, bind, qualify in leads])
    boundary = _unique_boundary(f"batch_lc{number}", payload)
    chunks = []
    for n, (path, bind, qualify) in enumerate(leads, 1):
        changeset = _unique_boundary(f"changeset_lc{number}_{n}", payload)
        chunks.append(
            f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        )
        content_id = 1
        if bind is not None:
            # Every PATCH says If-Match: * (see _part_text).
            chunks.append(
                f"--{changeset}\r\n{_PART_HEAD}1\r\n\r\nPATCH {path} HTTP/1.1\r\n"
                f"If-Match: *\r\nContent-Type: application/json\r\n\r\n{bind}\r\n"
            )
            content_id = 2
        chunks.append(
            f"--{changeset}\r\n{_PART_HEAD}{content_id}\r\n\r\n"
            f"POST {path}/{QUALIFY_ACTION} HTTP/1.1\r\n"
            f"Content-Type: application/json\r\n\r\n{qualify}\r\n--{changeset}--\r\n\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return boundary, "".join(chunks)


def render_follow_ups(batch: FollowUpBatch) -> tuple[str, str]:
    """(boundary, body) of a follow-up ``$batch``: one plain request per step."""
    bodies = [_object_json(step.body) for step in batch.steps]
    boundary = _unique_boundary(f"batch_lc{batch.number}", "".join(bodies))
    chunks = []
    for n, (step, body) in enumerate(zip(batch.steps, bodies, strict=True), 1):
        path = api_path(
            batch.api_version,
            f"{ENTITY_SETS[step.role]}({id_placeholder(step.role, step.lead_id)})",
        )
        chunks.append(
            f"--{boundary}\r\n{_PART_HEAD}{n}\r\n\r\nPATCH {path} HTTP/1.1\r\n"
            f"If-Match: *\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return boundary, "".join(chunks)


# --- reading multipart --------------------------------------------------------------------------


@frozen
class HttpMessage:
    """One ``application/http`` part read: the request or status line, headers and body."""

    start: str
    headers: Mapping[str, str] = field(converter=_frozen)
    body: str
    content_id: str | None = None

    @property
    def status(self) -> int:
        """The status code of an answer (``HTTP/1.1 204 No Content``)."""
        pieces = self.start.split(" ", 2)
        if len(pieces) < 2 or not pieces[1].isdigit():
            raise ValueError(f"not a status line: {self.start!r}")
        return int(pieces[1])

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return loads_json(self.body) if self.body.strip() else None


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart content type; raises ``ValueError`` without one."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"no multipart boundary in content type {content_type!r}")
    return match.group(1).strip()


def _split_headers(text: str) -> tuple[dict[str, str], str]:
    head, sep, rest = text.partition("\r\n\r\n")
    if not sep:
        head, sep, rest = text.partition("\n\n")
    if not sep:
        head, rest = text, ""
    headers: dict[str, str] = {}
    for line in head.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"not a header line: {line!r}")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parts(body: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    if delimiter not in body:
        raise ValueError(f"the body holds no part delimited by {delimiter!r}")
    pieces = body.split(delimiter)
    out: list[str] = []
    closed = False
    for piece in pieces[1:]:
        if piece.startswith("--"):
            closed = True
            break
        out.append(piece.removeprefix("\r\n").removeprefix("\n"))
    if not closed:
        raise ValueError(f"the multipart body never closes {delimiter}--")
    return out


def _read_http(piece: str, mime: Mapping[str, str]) -> HttpMessage:
    if "application/http" not in mime.get("content-type", "application/http"):
        raise ValueError(f"a batch part is application/http, not {mime.get('content-type')!r}")
    text = piece.lstrip("\r\n")
    start, _, rest = text.partition("\n")
    headers, body = _split_headers(rest)
    body = body.rstrip("\r\n")
    return HttpMessage(start.strip(), headers, body, mime.get("content-id"))


def _read_items(body: str, boundary: str) -> list[HttpMessage | list[HttpMessage]]:
    items: list[HttpMessage | list[HttpMessage]] = []
    for piece in _parts(body, boundary):
        mime, rest = _split_headers(piece)
        content_type = mime.get("content-type", "")
        if content_type.startswith("multipart/mixed"):
            inner = boundary_of(content_type)
            group: list[HttpMessage] = []
            for sub in _parts(rest, inner):
                sub_mime, sub_rest = _split_headers(sub)
                group.append(_read_http(sub_rest, sub_mime))
            items.append(group)
        else:
            items.append(_read_http(rest, mime))
    return items


def parse_batch_response(body: str, content_type: str) -> list[HttpMessage | list[HttpMessage]]:
    """A ``$batch`` answer: each item an answer, or a change set's list of answers."""
    return _read_items(body, boundary_of(content_type))


_REQUEST_LINE = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) (.+?)(?: HTTP/1\.1)?$")


def _to_part(message: HttpMessage) -> Part:
    match = _REQUEST_LINE.match(message.start)
    if match is None:
        raise ValueError(f"not a request line: {message.start!r}")
    return Part(match.group(1), match.group(2), message.json(), message.content_id)


def parse_batch_request(body: str, content_type: str) -> list[BatchItem]:
    """A ``$batch`` request read back into parts and change sets."""
    boundary = boundary_of(content_type)
    out: list[BatchItem] = []
    for piece in _parts(body, boundary):
        mime, rest = _split_headers(piece)
        content_type_ = mime.get("content-type", "")
        if content_type_.startswith("multipart/mixed"):
            inner = boundary_of(content_type_)
            parts = []
            for sub in _parts(rest, inner):
                sub_mime, sub_rest = _split_headers(sub)
                parts.append(_to_part(_read_http(sub_rest, sub_mime)))
            out.append(ChangeSet(inner, tuple(parts)))
        else:
            out.append(_to_part(_read_http(rest, mime)))
    return out
