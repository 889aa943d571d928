"""The plan document: the JSON that ``leadconvert plan`` prints, written and read here only.

A plan document is::

    {"backend": "zoho",
     "requests": [{"method": ..., "path": ..., "query": {...}, "json": ... | "body": "...",
                   "kind": ..., "leads": [...], "reason": ..., "after": 0?, "merges": {...}?}],
     "calls": 1,
     "warnings": [{"line", "lead_id", "rule", "path", "message", "backend"}]}

Requests are rendered (``Backend.render``) only here, when the plan is shown; ``after`` numbers
the request a follow-up waits for across the whole document. ``read_plan`` turns a document
back into ``PlannedCall`` objects for ``Backend.parse_native``; ``read_native`` also accepts
one request of a document, or a bare native body (JSON or XML) as a CRM's own client sends it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Any

from attrs import frozen

from ._exceptions import InputError
from ._json import dumps_json, json_writer, loads_json
from .backend import Backend, BackendPlan, NativeRequest, PlannedCall

__all__ = [
    "PlanDocument",
    "PlanDocumentWriter",
    "call_document",
    "plan_document",
    "read_native",
    "read_plan",
]


def call_document(
    backend: Backend,
    call: PlannedCall,
    *,
    offset: int = 0,
    merges: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One call as the plan shows it; ``offset`` is the number of calls before its plan."""
    out = backend.render(call.request).to_dict()
    out.update(kind=call.kind, leads=list(call.lead_ids), reason=call.reason)
    if call.after is not None:
        out["after"] = offset + call.after
    if merges:
        out["merges"] = dict(merges)
    return out


def plan_document(
    backend: Backend, plan: BackendPlan, notes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A whole plan as the JSON document ``leadconvert plan`` prints."""
    requests = [
        call_document(backend, call, merges=_merges(backend, call, notes)) for call in plan.calls
    ]
    return {
        "backend": backend.name,
        "requests": requests,
        "calls": len(requests),
        "warnings": [w.to_dict() for w in plan.warnings],
    }


def _merges(
    backend: Backend, call: PlannedCall, notes: Mapping[str, str] | None
) -> dict[str, str] | None:
    if not notes:
        return None
    found = {
        lead: notes[key] for lead in call.lead_ids if (key := backend.canonical_id(lead)) in notes
    }
    return found or None


class PlanDocumentWriter:
    """Writes a plan document window by window, all or nothing.

    Requests and warnings are spooled to temporary files as they are planned (memory stays flat
    whatever the input size); ``finish`` copies the whole document to ``out``. A run that fails
    before ``finish`` writes nothing, so ``plan > plan.json`` never leaves half a document.
    """

    def __init__(self, backend: Backend, out: IO[str]) -> None:
        self.backend = backend
        self.out = out
        self.calls = 0
        self.warnings = 0
        self._requests = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._warnings = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        # One encoder for the whole document (dumps_json sets one up per value).
        self._dumps = json_writer()

    def add(self, plan: BackendPlan, notes: Mapping[str, str] | None = None) -> None:
        """Add one window's plan; its ``after`` indexes are renumbered for the whole plan."""
        backend, dumps, base = self.backend, self._dumps, self.calls
        write = self._requests.write
        for call in plan.calls:
            merges = _merges(backend, call, notes)
            request = call_document(backend, call, offset=base, merges=merges)
            write(("\n  " if self.calls == 0 else ",\n  ") + dumps(request))
            self.calls += 1
        for warning in plan.warnings:
            self._warnings.write(("" if self.warnings == 0 else ", ") + dumps(warning.to_dict()))
            self.warnings += 1

    def finish(self) -> None:
        """Write the whole document to ``out``."""
        out = self.out
        out.write(f'{{"backend": {dumps_json(self.backend.name)},\n "requests": [')
        self._requests.seek(0)
        shutil.copyfileobj(self._requests, out)
        out.write(f'\n ],\n "calls": {self.calls},\n "warnings": [')
        self._warnings.seek(0)
        shutil.copyfileobj(self._warnings, out)
        out.write("]}\n")
        out.flush()
        self.close()

    def close(self) -> None:
        """Drop the spooled parts."""
        self._requests.close()
        self._warnings.close()

    def __enter__(self) -> PlanDocumentWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@frozen
class PlanDocument:
    """A plan document read back: its backend (if it names one) and its calls, in order."""

    backend: str | None
    calls: tuple[PlannedCall, ...]
    warnings: tuple[Mapping[str, Any], ...] = ()


_REQUEST_KEYS = frozenset(
    {"method", "path", "query", "json", "body", "headers", "kind", "leads", "reason", "after"}
)


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError(f"{what} must be an object of strings")
    return dict(value)


def _call(data: Any, number: int) -> PlannedCall:
    where = f"request {number}"
    if not isinstance(data, Mapping):
        raise InputError(f"{where} is not an object")
    method, path = data.get("method", "POST"), data.get("path", "")
    if not isinstance(method, str) or not isinstance(path, str):
        raise InputError(f"{where}: method and path are strings")
    body = data.get("body")
    if body is not None and not isinstance(body, str):
        raise InputError(f"{where}: body is text (a JSON body goes in json)")
    if body is not None and data.get("json") is not None:
        raise InputError(f"{where}: a request carries json or body, not both")
    leads = data.get("leads", [])
    if not isinstance(leads, list) or not all(isinstance(i, str) for i in leads):
        raise InputError(f"{where}: leads is a list of lead ids")
    after = data.get("after")
    if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        raise InputError(f"{where}: after is the index of an earlier request")
    kind, reason = data.get("kind", ""), data.get("reason", "")
    if not isinstance(kind, str) or not isinstance(reason, str):
        raise InputError(f"{where}: kind and reason are strings")
    request = NativeRequest(
        method,
        path,
        query=_strings(data.get("query"), f"{where}: query"),
        json=data.get("json"),
        body=body,
        headers=_strings(data.get("headers"), f"{where}: headers"),
    )
    return PlannedCall(request, tuple(leads), kind, reason, after)


def _document(data: Mapping[str, Any]) -> PlanDocument:
    requests = data["requests"]
    if not isinstance(requests, list):
        raise InputError('"requests" of a plan is a list')
    calls = tuple(_call(r, n) for n, r in enumerate(requests, 1))
    for index, call in enumerate(calls):
        if call.after is not None and call.after >= index:
            raise InputError(f"request {index + 1}: after names a request that does not precede it")
    backend = data.get("backend")
    warnings = data.get("warnings") or []
    return PlanDocument(
        backend if isinstance(backend, str) else None,
        calls,
        tuple(w for w in warnings if isinstance(w, Mapping)) if isinstance(warnings, list) else (),
    )


def read_plan(text: str) -> PlanDocument:
    """A plan document (what ``leadconvert plan`` prints) read back into calls."""
    try:
        data = loads_json(text)
    except ValueError as exc:
        raise InputError(f"a plan is JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputError("a plan nests too deeply to be read") from exc
    if not isinstance(data, Mapping) or "requests" not in data:
        raise InputError('a plan is a JSON object with "requests"')
    return _document(data)


def read_native(text: str) -> Sequence[PlannedCall]:
    """Calls from a file given to ``parse`` or ``translate``.

    Accepted: a plan document; one request of a plan (an object with ``path`` and ``json`` or
    ``body``); or a bare native body: JSON (as ``json``, integers exact, other numbers
    ``Decimal``) or text such as a SOAP envelope (as ``body``), in a request whose path is ``""``.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise InputError("the payload is empty")
    if stripped[0] not in "{[":
        return (PlannedCall(NativeRequest("POST", "", body=text), (), ""),)
    try:
        data = loads_json(stripped)
    except ValueError as exc:
        raise InputError(f"the payload is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputError("the payload nests too deeply to be read") from exc
    if isinstance(data, Mapping) and "requests" in data:
        return _document(data).calls
    if isinstance(data, Mapping) and "path" in data and set(data) <= _REQUEST_KEYS | {"merges"}:
        return (_call(data, 1),)
    return (PlannedCall(NativeRequest("POST", "", json=data), (), ""),)
