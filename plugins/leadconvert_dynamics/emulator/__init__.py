"""The Dynamics 365 emulator: ``_org`` (records and rules, no HTTP), ``_server`` (the protocol)."""

from ._org import DataverseOrg, OrgError
from ._server import DynamicsEmulator

__all__ = ["DataverseOrg", "DynamicsEmulator", "OrgError"]
