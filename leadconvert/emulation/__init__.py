"""The emulator kit: build a stateful, offline stand-in for a CRM in two small files.

Every emulator leadconvert ships (Zoho, Salesforce, Dynamics 365) is built on this kit, and a
third-party backend's can be too. The kit owns everything that is the same for every CRM:

* **lifecycle**: a real HTTP server on 127.0.0.1 in a background thread (werkzeug, threaded),
  ``start`` / ``stop`` / ``close``, ``with emulator: ...``, ``port=0`` for a free port;
* **TLS** (``tls=True``): a certificate from a private CA made for this emulator;
  ``ca_pem`` / ``ca_bundle_path`` are what a client must trust;
* **faults**: one ``Fault`` model (a status, a body, headers, a dropped connection before or
  after the CRM acts, a delay), matched by method, path pattern and operation, counted;
* **counters**: ``counts(lead_id)`` says how many convert requests and follow-ups named a lead,
  so tests assert exact numbers ("sent once, not twice");
* **seeding**: ``read_seed`` reads a JSON seed file, and every error a bad seed causes is an
  ``InputError`` naming the file, never a traceback;
* **the admin API**, the same on every emulator, under ``ADMIN_PREFIX`` (``/__emulator``):

  ====================================  ===============================================
  ``POST   /__emulator/faults``         queue a fault (a ``Fault`` as JSON) -> 201
  ``GET    /__emulator/faults``         the pending faults, with their ``hits``
  ``DELETE /__emulator/faults``         clear every fault
  ``GET    /__emulator/state``          the org's records, as JSON
  ``POST   /__emulator/seed``           replace the org with a seed document
  ``POST   /__emulator/reset``          back to the seed; faults, counters, log cleared
  ``POST   /__emulator/leads``          add a lead (the CRM's field names) -> ``{"id"}``
  ``GET    /__emulator/leads/<id>``     one lead as stored
  ``GET    /__emulator/counts``         ``{"leads": {id: {"convert": n, "follow_up": m}}}``
  ``GET    /__emulator/counts/<id>``    one lead's counts
  ``DELETE /__emulator/sessions``       expire every session / access token
  ====================================  ===============================================

  Answers carry ``"status": "success"``; admin errors are ``{"error": message}`` with status
  400 (bad input), 404 or 501.

Building an emulator
--------------------

Split it in two, like the built-in ones (``plugins/leadconvert_<crm>/emulator/``):

* ``_org.py``: the emulated org, **no HTTP**: its records, loaded from a seed, and the CRM's
  rules as plain methods that return records or the CRM's documented errors;
* ``_server.py``: the protocol, a ``HttpEmulator`` subclass that reads requests, calls the org
  and writes the CRM's documented answers.

A minimal one::

    from collections.abc import Mapping
    from importlib import resources
    from pathlib import Path
    from typing import Any

    from werkzeug.wrappers import Request, Response

    from leadconvert.emulation import CONVERT, HttpEmulator, json_response, read_seed


    class EchoEmulator(HttpEmulator):
        name = "echo"

        def __init__(self, *, seed: Path | None = None, port: int = 0) -> None:
            data = read_seed(seed, default=resources.files(__package__).joinpath("seed.json"))
            super().__init__(data, origin=str(seed or "the shipped seed"), port=port)

        def load(self, seed: Mapping[str, Any]) -> None:          # under self.lock
            self.leads = {lead["id"]: dict(lead) for lead in seed["leads"]}

        def state(self) -> Mapping[str, Any]:
            return {"leads": list(self.leads.values())}

        def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
            with self.lock:
                lead_id = str(len(self.leads) + 1)
                self.leads[lead_id] = {"id": lead_id, "converted": False, **(fields or {}), **more}
                return lead_id

        def credentials(self) -> Mapping[str, str]:
            return {"base_url": self.base_url}

        def operation(self, request: Request) -> str:             # names faults can match
            return "convert" if request.path.endswith("/convert") else "unknown"

        def handle(self, request: Request, operation: str) -> Response:
            if operation != "convert":                            # the CRM's own "unknown URL"
                return json_response({"error": "NOT_FOUND"}, 404)
            lead_id = request.path.split("/")[-2]
            with self.lock:
                self.count(lead_id, CONVERT)
                self.leads[lead_id]["converted"] = True
            return json_response({"id": lead_id, "converted": True})

Then ``Backend.emulator`` returns ``EchoEmulator(seed=seed, port=port)``, and
``leadconvert sandbox echo``, ``convert`` without credentials and the ``leadconvert.testing``
fixtures use it. Inject faults from Python with
``emulator.inject_fault(Fault(status=503, operation="convert", count=2))`` or over HTTP
with ``POST /__emulator/faults``; override ``fault_response`` so an injected status answers
in the CRM's own error shape. ``handle`` runs outside ``lock``: take it around every read or
change of the org (faults and delays run before it, so a delayed request holds no lock).
"""

from __future__ import annotations

from ._faults import Fault, FaultQueue
from ._seed import read_seed, seed_errors
from ._server import (
    ADMIN_PREFIX,
    CONVERT,
    FOLLOW_UP,
    HttpEmulator,
    RequestRecord,
    json_response,
)

__all__ = [
    "ADMIN_PREFIX",
    "CONVERT",
    "FOLLOW_UP",
    "Fault",
    "FaultQueue",
    "HttpEmulator",
    "RequestRecord",
    "json_response",
    "read_seed",
    "seed_errors",
]
