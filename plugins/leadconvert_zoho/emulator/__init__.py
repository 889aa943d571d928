"""The Zoho CRM emulator: a stateful Zoho org over real HTTP on 127.0.0.1.

Built on ``leadconvert.emulation``: ``_org.py`` is the org (records and Zoho's rules, no HTTP),
``_server.py`` the wire (OAuth, the REST paths, Zoho's answers, limits and faults). It serves
what leadconvert and Zoho's own SDK (``zohocrmsdk8-0``) need to convert leads: the OAuth token,
single convert, mass convert and its job status, conversion options, reading leads and the
converted records, the current user, the org, and the field metadata of Leads, Contacts,
Accounts and Deals. Anything else answers Zoho's ``INVALID_URL_PATTERN``.
"""

from __future__ import annotations

from leadconvert.emulation import Fault

from ._org import ZohoError, ZohoOrg
from ._server import FAULT_KINDS, ZohoEmulator

__all__ = ["FAULT_KINDS", "Fault", "ZohoEmulator", "ZohoError", "ZohoOrg"]
