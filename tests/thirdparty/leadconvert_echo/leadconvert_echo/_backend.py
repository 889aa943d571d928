"""The echo backend: declarations, and the wiring of the parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from leadconvert import Conversion, Violation
from leadconvert.backend import (
    MEANINGS,
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Emulator,
    Limits,
    PlanItem,
    PlannedCall,
    Support,
    violation,
)

from . import _parse, _plan, _rules
from ._wire import MAX_BATCH, PREFIXES

__all__ = ["EchoBackend"]

_SUPPORTED = {
    "lead": Capability(Support.NATIVE, "leads[].id"),
    "account.merge": Capability(Support.NATIVE, "account_id"),
    "account.create": Capability(Support.DEFAULT, "omit account_id"),
    "contact.merge": Capability(Support.NATIVE, "contact_id", "with its account"),
    "contact.create": Capability(Support.DEFAULT, "omit contact_id"),
    "opportunity.none": Capability(Support.DEFAULT, "omit deal"),
    "opportunity.create": Capability(Support.NATIVE, "deal: {name, amount?}"),
    "owner": Capability(Support.NATIVE, "owner_id"),
}


class EchoBackend(Backend):
    """Echo CRM: a tiny fictional CRM that converts up to two leads per call."""

    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "Echo CRM (a complete small third-party example)"
    limits: ClassVar[Limits] = Limits(max_batch=MAX_BATCH, max_concurrency=2)
    capabilities: ClassVar[tuple[CapabilityColumn, ...]] = (
        CapabilityColumn(
            "Echo convert",
            {key: _SUPPORTED.get(key, Capability(Support.REJECTED)) for key in MEANINGS},
        ),
    )
    settings: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"backoff": "first retry delay in seconds after 429 or 503 (default 0.5)"}
    )
    credential_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"url": "the Echo CRM base URL", "token": "an API token"}
    )

    def check_settings(self, settings: Mapping[str, str]) -> list[Violation]:
        """``backoff`` is a number of seconds."""
        value = settings.get("backoff")
        try:
            if value is not None and float(value) < 0:
                raise ValueError(value)
        except ValueError:
            return [violation("echo.backoff", "backoff", f"not seconds: {value!r}", self.name)]
        return []

    def validate(self, conversion: Conversion) -> list[Violation]:
        """Every Echo CRM rule the conversion breaks (pure)."""
        return _rules.validate(conversion)

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        """One convert call per two leads (pure)."""
        return _plan.plan(items)

    def parse_native(self, calls: Sequence[PlannedCall]) -> list[Conversion]:
        """The conversions of Echo convert requests."""
        return _parse.parse(calls)

    def example_id(self, role: str, n: int) -> str:
        """``L1``, ``A1``... : the role's letter and ``n + 1``."""
        return f"{PREFIXES.get(role, 'L')}{n + 1}"

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        """A client on ``requests``."""
        from ._client import EchoClient

        return EchoClient(credentials, settings)

    def emulator(
        self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        """Echo CRM's emulator, on the leadconvert emulator kit."""
        from .emulator import EchoEmulator

        return EchoEmulator(seed=seed, host=host, port=port)
