"""The Salesforce emulator: a stateful Salesforce org over HTTPS on 127.0.0.1.

Built on ``leadconvert.emulation``: ``_org.py`` is the org (records, SOQL, the convertLead rules;
no HTTP), ``_server.py`` the wire (SOAP login and convertLead, REST query, describe and sObject
GET / PATCH, sessions, Salesforce's faults and error shapes). The certificate comes from a
private CA made for each emulator: trust ``ca_bundle_path`` (or ``ca_pem``). Anything not
emulated answers Salesforce's ``NOT_FOUND``.
"""

from __future__ import annotations

from leadconvert.emulation import Fault

from ._org import SalesforceOrg, SoqlError, parse_soql
from ._server import FAULT_KINDS, SalesforceEmulator

__all__ = ["FAULT_KINDS", "Fault", "SalesforceEmulator", "SalesforceOrg", "SoqlError", "parse_soql"]
