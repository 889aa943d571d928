"""The convertLead wire format: the ``LeadConvert`` shape, its converter, and the SOAP envelope.

The planner builds ``LeadConvert`` objects and puts them in ``NativeRequest.content``; the
envelope is rendered from them only when a plan is shown (``render_envelope`` with the session
placeholder) or sent (with the session id). ``CONVERTER`` maps the Python names to the WSDL's
through the explicit ``RENAMES`` table, for XML rows and for JSON lists of LeadConvert objects
alike, so the planner, the client and the parser can never disagree on the wire format.

A *row* is one ``LeadConvert`` as element name -> text, holding only the elements sent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen

from leadconvert import ConfigurationError, InputError
from leadconvert.backend import trusted_constructor

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    import cattrs

__all__ = [
    "CONVERTED_STATUS_PLACEHOLDER",
    "CONVERTER",
    "CONVERT_KIND",
    "DEFAULT_API_VERSION",
    "FOLLOW_UP_KIND",
    "LEAD_CONVERT_ORDER",
    "MAX_BATCH",
    "NON_NILLABLE",
    "OPPORTUNITY_ID_PLACEHOLDER",
    "PARTNER_NS",
    "RENAMES",
    "SESSION_PLACEHOLDER",
    "SOAP_NS",
    "XSI_NS",
    "LeadConvert",
    "Row",
    "api_version",
    "build_envelope",
    "find_invalid_xml_char",
    "from_row",
    "new_lead_convert",
    "parse_rows",
    "render_envelope",
    "soap_headers",
    "substitute",
    "to_row",
]

DEFAULT_API_VERSION = "59.0"
#: Most LeadConverts one convertLead call carries (more is EXCEEDED_LEAD_CONVERT_LIMIT).
MAX_BATCH = 100
CONVERT_KIND = "convertLead"
FOLLOW_UP_KIND = "opportunityUpdate"
#: Stands in the follow-up's path for the id of the Opportunity the conversion creates.
OPPORTUNITY_ID_PLACEHOLDER = "{convertedOpportunityId}"
_VERSION = re.compile(r"^\d{2,3}\.0\Z")


def api_version(settings: Mapping[str, str]) -> str:
    """The API version a setting names (``59.0``; a leading ``v`` is accepted)."""
    version = settings.get("api_version", DEFAULT_API_VERSION).removeprefix("v")
    if not _VERSION.match(version):
        raise ConfigurationError(
            f"api_version must look like {DEFAULT_API_VERSION!r}, got {version!r}"
        )
    return version


def soap_headers() -> dict[str, str]:
    """The headers every SOAP call carries."""
    return {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}


PARTNER_NS = "urn:partner.soap.sforce.com"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Planned bodies carry this instead of the session id: a plan is printed and must hold no secret.
SESSION_PLACEHOLDER = "{{SALESFORCE_SESSION_ID}}"
#: Stands for the org's converted status, discovered when the request is sent.
CONVERTED_STATUS_PLACEHOLDER = "{{DISCOVERED_CONVERTED_STATUS}}"

#: The children of the v58 ``LeadConvert`` type, in WSDL order (order is enforced by the API).
LEAD_CONVERT_ORDER: tuple[str, ...] = (
    "accountId",
    "accountRecord",
    "bypassAccountDedupeCheck",
    "bypassContactDedupeCheck",
    "contactId",
    "contactRecord",
    "convertedStatus",
    "doNotCreateOpportunity",
    "leadId",
    "opportunityId",
    "opportunityName",
    "opportunityRecord",
    "overwriteLeadSource",
    "ownerId",
    "relatedPersonAccountId",
    "relatedPersonAccountRecord",
    "sendNotificationEmail",
)
#: The children the WSDL does not declare nillable: always sent.
NON_NILLABLE = frozenset(
    {
        "convertedStatus",
        "doNotCreateOpportunity",
        "leadId",
        "overwriteLeadSource",
        "sendNotificationEmail",
    }
)

Row = Mapping[str, str]

# Everything XML 1.0 cannot carry, even escaped (C0 controls but tab/LF/CR, surrogates, FFFE/F):
# the complement of XML's Char production, spelled as the few characters it leaves out (the
# negated class of XML's own ranges took ~5 ms to compile at every start-up).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text XML 1.0 carries as it is: nothing to escape (&, <, >, CR) and nothing it cannot carry.
_PLAIN = re.compile(
    "[\t\n\u0020-\u0025\u0027-\u003b\u003d\u003f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*"
)
_ORDER = frozenset(LEAD_CONVERT_ORDER)


def find_invalid_xml_char(value: str) -> str | None:
    """The first character of ``value`` that XML 1.0 cannot carry, if any."""
    found = _INVALID_XML.search(value)
    return found.group() if found else None


def _text(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    bad = find_invalid_xml_char(value)
    if bad is not None:
        # Validation refuses these first; this guards callers that build rows by hand.
        raise ValueError(f"U+{ord(bad):04X} cannot be carried by XML 1.0")
    # What xml.sax.saxutils.escape(value, {"\r": "&#13;"}) gives (saxutils imports urllib.request,
    # ~10 ms of every start-up): a literal CR would come back as LF after XML end-of-line
    # normalisation, so it is sent as a reference.
    return (
        value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("\r", "&#13;")
    )


def _lead_convert(row: Row) -> str:
    unknown = row.keys() - _ORDER
    if unknown:
        raise ValueError(f"not LeadConvert elements: {sorted(unknown)}")
    missing = NON_NILLABLE - row.keys()
    if missing:
        raise ValueError(f"LeadConvert needs {sorted(missing)}")
    parts = []
    for name in LEAD_CONVERT_ORDER:
        value = row.get(name)
        if value is None:
            continue
        if value == "":
            raise ValueError(f"{name} must not be an empty string: leave it out instead")
        parts.append(f"<{name}>{_text(value)}</{name}>")
    return "<leadConverts>" + "".join(parts) + "</leadConverts>"


def build_envelope(rows: Iterable[Row], session_id: str = SESSION_PLACEHOLDER) -> str:
    """The ``convertLead`` SOAP envelope for ``rows`` with ``session_id`` in its SessionHeader."""
    return _envelope("".join(_lead_convert(row) for row in rows), session_id)


def _envelope(body: str, session_id: str) -> str:
    """The SOAP envelope around ``body``, the ``<leadConverts>`` of one convertLead call."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns="{PARTNER_NS}">'
        f"<soapenv:Header><SessionHeader><sessionId>{_text(session_id)}</sessionId>"
        "</SessionHeader></soapenv:Header>"
        f"<soapenv:Body><convertLead>{body}</convertLead></soapenv:Body>"
        "</soapenv:Envelope>"
    )


def substitute(body: str, session_id: str, converted_status: str | None = None) -> str:
    """A planned body made sendable: the real session id, and the discovered status if needed."""
    out = body.replace(
        f"<sessionId>{SESSION_PLACEHOLDER}</sessionId>",
        f"<sessionId>{_text(session_id)}</sessionId>",
    )
    if converted_status is not None:
        out = out.replace(
            f"<convertedStatus>{CONVERTED_STATUS_PLACEHOLDER}</convertedStatus>",
            f"<convertedStatus>{_text(converted_status)}</convertedStatus>",
        )
    return out


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _row(element: Element) -> dict[str, str]:
    row: dict[str, str] = {}
    for child in element:
        ns, name = _local(child.tag)
        if ns != PARTNER_NS or name not in LEAD_CONVERT_ORDER:
            raise InputError(f"leadConverts holds an unknown element {child.tag!r}")
        if name in row:
            raise InputError(f"leadConverts holds {name} twice")
        if child.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
            continue
        if len(child):
            raise InputError(f"{name} holds elements (sObject records are not supported)")
        row[name] = child.text or ""
    return row


def parse_rows(payload: str | bytes) -> tuple[list[dict[str, str]], str | None]:
    """The LeadConvert rows of a convertLead envelope, and its session id (if any)."""
    import defusedxml.ElementTree as SafeET  # only when an envelope is parsed

    try:
        root = SafeET.fromstring(payload)
    except SafeET.ParseError as exc:
        raise InputError(f"not a well-formed XML document: {exc}") from exc
    except Exception as exc:  # defusedxml's refusals (entities, DTDs) share no base class
        raise InputError(f"XML refused: {exc}") from exc
    if _local(root.tag) != (SOAP_NS, "Envelope"):
        raise InputError("not a SOAP 1.1 envelope")
    call = root.find(f"{{{SOAP_NS}}}Body/{{{PARTNER_NS}}}convertLead")
    if call is None:
        raise InputError(f"the envelope's Body holds no {{{PARTNER_NS}}}convertLead")
    session = root.findtext(
        f"{{{SOAP_NS}}}Header/{{{PARTNER_NS}}}SessionHeader/{{{PARTNER_NS}}}sessionId"
    )
    rows = []
    for child in call:
        if _local(child.tag) != (PARTNER_NS, "leadConverts"):
            raise InputError(f"convertLead holds an unknown element {child.tag!r}")
        rows.append(_row(child))
    return rows, session


def rows_for(rows: Sequence[Row], lead_ids: Iterable[str]) -> list[Row]:
    """The rows of ``lead_ids`` (18-character), in their original order."""
    wanted = set(lead_ids)
    return [row for row in rows if row.get("leadId") in wanted]


# --- the LeadConvert shape ---------------------------------------------------------------------


@frozen
class LeadConvert:
    """One ``LeadConvert`` of a convertLead call (only the children the neutral form uses).

    ``None`` leaves a nillable child out. ``converted_status`` ``None`` means "discover the
    org's converted status when sending": the shown envelope holds a placeholder there.
    """

    lead_id: str
    converted_status: str | None = None
    do_not_create_opportunity: bool = False
    overwrite_lead_source: bool = False
    send_notification_email: bool = False
    account_id: str | None = None
    bypass_account_dedupe_check: bool | None = None
    bypass_contact_dedupe_check: bool | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    opportunity_name: str | None = None
    owner_id: str | None = None


#: ``LeadConvert(...)`` with every field given positionally, for the planner's hot loop: the
#: same object (LeadConvert checks nothing), built without attrs' frozen ``__setattr__`` path.
new_lead_convert: Callable[..., LeadConvert] = trusted_constructor(LeadConvert)


#: Python attribute -> WSDL element name: the explicit rename table.
RENAMES: Mapping[str, str] = {
    "lead_id": "leadId",
    "converted_status": "convertedStatus",
    "do_not_create_opportunity": "doNotCreateOpportunity",
    "overwrite_lead_source": "overwriteLeadSource",
    "send_notification_email": "sendNotificationEmail",
    "account_id": "accountId",
    "bypass_account_dedupe_check": "bypassAccountDedupeCheck",
    "bypass_contact_dedupe_check": "bypassContactDedupeCheck",
    "contact_id": "contactId",
    "opportunity_id": "opportunityId",
    "opportunity_name": "opportunityName",
    "owner_id": "ownerId",
}


def _structure_bool(value: object, _: type) -> bool:
    # XML carries xsd:boolean as text ("true", "false", "1", "0"); JSON callers send booleans
    # and, as jsforce passes them through, sometimes the same strings.
    if isinstance(value, bool):
        return value
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise TypeError(f"expected true or false, got {value!r}")


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _build() -> cattrs.Converter:
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in RENAMES.items()}
    conv.register_unstructure_hook(
        LeadConvert, make_dict_unstructure_fn(LeadConvert, conv, **overrides)
    )
    conv.register_structure_hook(
        LeadConvert,
        make_dict_structure_fn(LeadConvert, conv, _cattrs_forbid_extra_keys=True, **overrides),
    )
    return conv


#: Writes and reads every LeadConvert that is not written directly (``_lead_convert_xml``).
#: Built on first use (``__getattr__`` below), so that cattrs is imported only when needed:
#: a plan of plain rows never needs it.
CONVERTER: cattrs.Converter


@functools.cache
def _converter() -> cattrs.Converter:
    return _build()


def __getattr__(name: str) -> Any:
    if name == "CONVERTER":
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_row(convert: LeadConvert) -> dict[str, str]:
    """``convert`` as the elements it sends, by WSDL name (unset nillable children left out)."""
    row: dict[str, str] = {}
    for key, value in _converter().unstructure(convert).items():
        if value is None:
            if key == "convertedStatus":
                row[key] = CONVERTED_STATUS_PLACEHOLDER
            continue
        row[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return row


def from_row(row: Mapping[str, Any]) -> LeadConvert:
    """A LeadConvert from its elements by WSDL name (XML text, or a JSON object's values).

    JSON ``null`` means left out, as ``xsi:nil`` does in XML; the discovered-status placeholder
    reads back as ``None``. Raises ``InputError``.
    """
    data = {k: v for k, v in row.items() if v is not None}
    if data.get("convertedStatus") == CONVERTED_STATUS_PLACEHOLDER:
        del data["convertedStatus"]
    try:
        convert: LeadConvert = _converter().structure(data, LeadConvert)
    except Exception as exc:
        import cattrs

        problems = "; ".join(cattrs.transform_error(exc, path="LeadConvert"))
        raise InputError(f"not a LeadConvert: {problems}") from exc
    return convert


def _lead_convert_xml(convert: LeadConvert) -> str:
    """``convert`` as a ``<leadConverts>`` element: what ``_lead_convert(to_row(convert))``
    writes, written directly when every value is of its type and XML carries every text as it
    is (one check for the whole row); anything else takes that path, with its checks."""
    if type(convert) is not LeadConvert:
        return _lead_convert(to_row(convert))
    lead = convert.lead_id
    status = convert.converted_status
    if status is None:
        status = CONVERTED_STATUS_PLACEHOLDER
    account = convert.account_id
    contact = convert.contact_id
    opportunity = convert.opportunity_id
    name = convert.opportunity_name
    owner = convert.owner_id
    no_opportunity = convert.do_not_create_opportunity
    overwrite = convert.overwrite_lead_source
    notify = convert.send_notification_email
    bypass_account = convert.bypass_account_dedupe_check
    bypass_contact = convert.bypass_contact_dedupe_check
    # Every text is checked before any is written: the texts the row holds, then all at once.
    texts = [lead, status]
    if account is not None:
        texts.append(account)
    if contact is not None:
        texts.append(contact)
    if opportunity is not None:
        texts.append(opportunity)
    if name is not None:
        texts.append(name)
    if owner is not None:
        texts.append(owner)
    try:
        # A value that is not text makes join raise; the checked path says what is wrong.
        joined = "".join(texts)
    except TypeError:
        plain = False
    else:
        # Printable text is text XML carries as it is, once it holds none of & < > (isprintable
        # and three searches are C scans, faster than the pattern); the pattern tells the rest.
        plain = all(texts) and (
            (joined.isprintable() and "&" not in joined and "<" not in joined and ">" not in joined)
            or _PLAIN.fullmatch(joined) is not None
        )
    if (
        not plain
        or type(no_opportunity) is not bool
        or type(overwrite) is not bool
        or type(notify) is not bool
        or not (bypass_account is None or type(bypass_account) is bool)
        or not (bypass_contact is None or type(bypass_contact) is bool)
    ):
        return _lead_convert(to_row(convert))
    # Written as one string: an element left out is an empty piece.
    return (
        "<leadConverts>"
        f"{'' if account is None else f'<accountId>{account}</accountId>'}"
        f"{'' if bypass_account is None else _BYPASS_ACCOUNT[bypass_account]}"
        f"{'' if bypass_contact is None else _BYPASS_CONTACT[bypass_contact]}"
        f"{'' if contact is None else f'<contactId>{contact}</contactId>'}"
        f"<convertedStatus>{status}</convertedStatus>"
        f"{_NO_OPPORTUNITY[no_opportunity]}"
        f"<leadId>{lead}</leadId>"
        f"{'' if opportunity is None else f'<opportunityId>{opportunity}</opportunityId>'}"
        f"{'' if name is None else f'<opportunityName>{name}</opportunityName>'}"
        f"{_OVERWRITE[overwrite]}"
        f"{'' if owner is None else f'<ownerId>{owner}</ownerId>'}"
        f"{_NOTIFY[notify]}</leadConverts>"
    )


_BOOLEAN = {True: "true", False: "false"}


def _flag_elements(name: str) -> dict[bool, str]:
    return {value: f"<{name}>{text}</{name}>" for value, text in _BOOLEAN.items()}


# Each boolean element, written out once for each value.
_BYPASS_ACCOUNT = _flag_elements("bypassAccountDedupeCheck")
_BYPASS_CONTACT = _flag_elements("bypassContactDedupeCheck")
_NO_OPPORTUNITY = _flag_elements("doNotCreateOpportunity")
_OVERWRITE = _flag_elements("overwriteLeadSource")
_NOTIFY = _flag_elements("sendNotificationEmail")


def render_envelope(converts: Iterable[LeadConvert], session_id: str = SESSION_PLACEHOLDER) -> str:
    """The convertLead envelope for ``converts``, children in WSDL order."""
    return _envelope("".join([_lead_convert_xml(c) for c in converts]), session_id)
