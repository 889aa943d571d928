"""Echo CRM's protocol on the leadconvert emulator kit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from leadconvert.emulation import CONVERT, Fault, HttpEmulator, json_response, read_seed

from ._org import EchoOrg

__all__ = ["EchoEmulator"]


class EchoEmulator(HttpEmulator):
    """A stateful Echo CRM on 127.0.0.1."""

    name = "echo"

    def __init__(self, *, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        default = resources.files(__package__).joinpath("seed.json")
        data = read_seed(seed, default=default)
        super().__init__(data, origin=str(seed or "the shipped seed"), host=host, port=port)

    def load(self, seed: Mapping[str, Any]) -> None:
        """The org a seed describes."""
        self.org = EchoOrg(seed)

    def state(self) -> Mapping[str, Any]:
        """Every record of the org."""
        with self.lock:
            return self.org.state()

    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """A new, unconverted lead; its id."""
        with self.lock:
            return self.org.add_lead({**(fields or {}), **more})

    def lead(self, lead_id: str) -> Mapping[str, Any]:
        """One lead as stored."""
        with self.lock:
            return dict(self.org.leads[lead_id])

    def credentials(self) -> Mapping[str, str]:
        """The emulator's URL and token."""
        return {"url": self.base_url, "token": self.org.token}

    def operation(self, request: Request) -> str:
        """``convert``, ``leads``, ``matches`` or ``unknown``."""
        if request.method == "POST" and request.path == "/v1/convert":
            return "convert"
        if request.method == "GET" and request.path == "/v1/leads":
            return "leads"
        if request.method == "GET" and request.path.endswith("/matches"):
            return "matches"
        return "unknown"

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """An injected status, in Echo CRM's own error shape."""
        literal = self.literal_fault_response(fault)
        if literal is not None:
            return literal
        status = fault.status or 500
        code = {401: "UNAUTHORIZED", 429: "RATE_LIMITED"}.get(status, "UNAVAILABLE")
        return json_response({"error": code}, status, fault.headers)

    def handle(self, request: Request, operation: str) -> Response:
        """Answer one Echo CRM request."""
        if request.headers.get("Authorization") != f"Bearer {self.org.token}":
            return json_response({"error": "UNAUTHORIZED"}, 401)
        if operation == "convert":
            return self._convert(request)
        if operation == "leads":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            with self.lock:
                rows = [self.org.leads[i] for i in ids if i in self.org.leads]
                return json_response({"leads": [dict(r) for r in rows]})
        if operation == "matches":
            with self.lock:
                found = self.org.matches(request.path.split("/")[-2])
            if found is None:
                return json_response({"error": "NOT_FOUND"}, 404)
            return json_response(found)
        return json_response({"error": "NOT_FOUND", "message": "unknown URL"}, 404)

    def _convert(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
            leads = body["leads"]
            if not isinstance(leads, list) or not 1 <= len(leads) <= 2:
                raise ValueError("1 or 2 leads")
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"error": "INVALID", "message": str(exc)}, 400)
        with self.lock:
            results = []
            for entry in leads:
                self.count(str(entry.get("id")), CONVERT)
                results.append(self.org.convert(entry))
        return json_response({"results": results})
