"""A throwaway third-party backend: proves that an outside package can plug into leadconvert.

It "converts" leads in memory, batches two leads a call, and rejects what it cannot express
exactly as the built-in backends do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

from leadconvert import Conversion, ConversionResult, MatchReport, Outcome, Violation
from leadconvert.backend import (
    MEANINGS,
    Backend,
    BackendPlan,
    Capability,
    CapabilityColumn,
    Client,
    Limits,
    NativeAnswer,
    NativeRequest,
    PlanItem,
    PlannedCall,
    Support,
    unsupported,
)
from leadconvert.hookspecs import hookimpl


class EchoClient(Client):
    def __init__(self, backend: EchoBackend) -> None:
        self.backend = backend
        self.converted: set[str] = set()

    def execute(
        self, call: PlannedCall, *, call_index: int | None = None
    ) -> list[ConversionResult]:
        body = json.dumps({"converted": list(call.lead_ids)}).encode()
        return self.backend.read_answer(call, NativeAnswer(200, body))

    def lookup(self, lead_ids: Sequence[str]) -> list[ConversionResult]:
        return [ConversionResult(lead_id, Outcome.NOT_ATTEMPTED) for lead_id in lead_ids]

    def match(self, lead_id: str) -> MatchReport:
        return MatchReport(lead_id)


class EchoBackend(Backend):
    name = "echo"
    description = "Echoes conversions back (test backend)"
    limits = Limits(max_batch=2, max_concurrency=1)
    capabilities = (
        CapabilityColumn(
            "Echo",
            {
                key: Capability(Support.REJECTED if key == "account.person" else Support.NATIVE)
                for key in MEANINGS
            },
        ),
    )

    def validate(self, conversion: Conversion) -> list[Violation]:
        from leadconvert import MergePersonAccount

        if isinstance(conversion.account, MergePersonAccount):
            return [
                unsupported(
                    "echo.person_account", "account", "echo has no person accounts", self.name
                )
            ]
        return []

    def plan(self, items: Sequence[PlanItem], settings: Mapping[str, str]) -> BackendPlan:
        calls = []
        for start in range(0, len(items), self.limits.max_batch):
            ids = tuple(item.conversion.lead_id for item in items[start : start + 2])
            calls.append(
                PlannedCall(
                    NativeRequest("POST", "/echo/convert", json={"ids": list(ids)}),
                    ids,
                    "echo",
                    "batched by two",
                )
            )
        return BackendPlan(tuple(calls))

    def read_answer(self, call: PlannedCall, answer: NativeAnswer) -> list[ConversionResult]:
        converted = json.loads(answer.body)["converted"]
        return [ConversionResult(lead_id, Outcome.CONVERTED) for lead_id in converted]

    def parse_native(self, payload: str) -> list[Conversion]:
        return [Conversion(lead_id=i) for i in json.loads(payload)["ids"]]

    def connect(self, credentials: Mapping[str, str], settings: Mapping[str, str]) -> Client:
        return EchoClient(self)


@hookimpl
def leadconvert_register_backends(register: Any) -> None:
    register(EchoBackend())


@hookimpl
def leadconvert_register_commands(cli: click.Group) -> None:
    @cli.command()
    def echo_hello() -> None:
        """Say hello from the echo plugin."""
        click.echo("hello from echo")
