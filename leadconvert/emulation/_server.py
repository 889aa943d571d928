"""``HttpEmulator``: lifecycle, TLS, faults, counters, the admin API; the CRM's part is abstract."""

from __future__ import annotations

import abc
import contextlib
import functools
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .._exceptions import InputError, LeadConvertError
from .._json import dumps_json, loads_json
from ..backend import Emulator
from ._faults import Fault, FaultQueue
from ._seed import seed_errors

if TYPE_CHECKING:
    from werkzeug.routing import Map
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
    from werkzeug.wrappers import Request, Response

# werkzeug is imported when an emulator starts or answers, not when one is built: `plan`
# without credentials builds the backend's emulator only to read its settings.

__all__ = [
    "ADMIN_PREFIX",
    "CONVERT",
    "FOLLOW_UP",
    "HttpEmulator",
    "RequestRecord",
    "json_response",
]

#: Where every emulator serves its admin API (never a path a CRM uses).
ADMIN_PREFIX = "/__emulator"
#: ``counts`` key: convert requests (single or batched) that named the lead and reached the org.
CONVERT = "convert"
#: ``counts`` key: follow-up requests on records the lead's conversion made.
FOLLOW_UP = "follow_up"


class RequestRecord(NamedTuple):
    """One CRM request the emulator received (admin requests are not recorded)."""

    method: str
    path: str
    operation: str
    #: When it arrived (``time.time()``): how a client paced its calls, when its first and
    #: last reached the CRM.
    received_at: float = 0.0


class _Dropped(ConnectionResetError):
    """Raised after shutting the socket: werkzeug treats it as a dropped connection."""


@functools.cache
def _quiet_handler() -> type[WSGIRequestHandler]:
    from werkzeug.serving import WSGIRequestHandler

    class _QuietHandler(WSGIRequestHandler):
        """Logs nothing per request: test runs stay readable."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

        def log_error(self, format: str, *args: Any) -> None:
            return None

    return _QuietHandler


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer (``Decimal`` written exactly)."""
    from werkzeug.wrappers import Response

    return Response(
        dumps_json(body), status, headers=dict(headers or {}), mimetype="application/json"
    )


def _admin_error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


class HttpEmulator(Emulator):
    """The kit's base: an emulated CRM over real HTTP(S) on loopback; see ``leadconvert.emulation``.

    A subclass supplies the CRM: ``handle`` (its protocol), ``operation`` (names for its
    requests), ``load`` / ``state`` (its org from and to JSON), ``add_lead`` and
    ``credentials``; optionally ``fault_response``, ``expire_sessions``, ``lead`` and
    ``canonical_lead_id``. The kit does the rest the same way for every CRM.
    """

    #: The thread's name and how messages name this emulator.
    name: ClassVar[str] = "emulator"
    #: Operations that sign a client in: a fault without ``path`` or ``operation`` spares them.
    sign_in_operations: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        seed: Mapping[str, Any],
        *,
        origin: str = "<seed>",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        quiet: bool = True,
    ) -> None:
        """Load ``seed`` (``origin`` names it in errors); serve on ``host:port`` once started.

        ``port=0`` picks a free port. ``tls=True`` serves HTTPS with a certificate from a private
        CA made for this emulator (``ca_pem``, ``ca_bundle_path``). ``quiet`` silences the
        per-request log.
        """
        self.host = host
        self.port = port
        self.tls = tls
        self.quiet = quiet
        #: Guards the org and the counters: ``handle`` takes it around every read or change.
        self.lock = threading.RLock()
        self.seed: dict[str, Any] = dict(seed)
        self._origin = origin
        self._faults = FaultQueue()
        self._tally: dict[str, Counter[str]] = {CONVERT: Counter(), FOLLOW_UP: Counter()}
        self._requests: list[RequestRecord] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ca: Any = None
        self._ca_dir: tempfile.TemporaryDirectory[str] | None = None
        self._load_checked(self.seed, origin)

    @functools.cached_property
    def _admin(self) -> Map:
        from werkzeug.routing import Map, Rule

        return Map(
            [
                Rule(
                    f"{ADMIN_PREFIX}/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]
                ),
                Rule(f"{ADMIN_PREFIX}/state", endpoint="state", methods=["GET"]),
                Rule(f"{ADMIN_PREFIX}/seed", endpoint="seed", methods=["POST"]),
                Rule(f"{ADMIN_PREFIX}/reset", endpoint="reset", methods=["POST"]),
                Rule(f"{ADMIN_PREFIX}/leads", endpoint="add_lead", methods=["POST"]),
                Rule(f"{ADMIN_PREFIX}/leads/<lead_id>", endpoint="lead", methods=["GET"]),
                Rule(f"{ADMIN_PREFIX}/counts", endpoint="counts", methods=["GET"]),
                Rule(f"{ADMIN_PREFIX}/counts/<lead_id>", endpoint="lead_counts", methods=["GET"]),
                Rule(f"{ADMIN_PREFIX}/sessions", endpoint="sessions", methods=["DELETE"]),
            ]
        )

    # --- what a CRM supplies ----------------------------------------------------------------

    @abc.abstractmethod
    def load(self, seed: Mapping[str, Any]) -> None:
        """Replace the whole org with the one ``seed`` describes (called under ``lock``).

        Read the seed plainly: a missing key or a wrong type becomes an ``InputError`` naming the
        seed; raise ``InputError`` yourself for a rule of your own.
        """

    @abc.abstractmethod
    def state(self) -> Mapping[str, Any]:
        """A JSON-ready copy of the org's records (the admin API's ``GET .../state``)."""

    @abc.abstractmethod
    def handle(self, request: Request, operation: str) -> Response:
        """Answer one CRM request, exactly as the CRM documents it (faults are the kit's job).

        Answer what you do not emulate with the CRM's own "unknown URL" error, never a made-up
        success. Call ``count`` for each lead a convert or follow-up request names.
        """

    def operation(self, request: Request) -> str:
        """This CRM's name for a request (faults match on it); default ``"METHOD /path"``."""
        return f"{request.method} {request.path}"

    def fault_response(self, request: Request, fault: Fault) -> Response:
        """The answer to a request an injected ``status`` fault strikes.

        The default sends ``fault.body`` (JSON for a mapping or a list) or, without one, a neutral
        JSON error; a CRM overrides it to write its own error document for the status.
        """
        return self.literal_fault_response(fault) or json_response(
            {"error": "injected fault"}, fault.status or 500, fault.headers
        )

    def expire_sessions(self) -> None:
        """End every session or access token, as the CRM's timeout would."""
        raise NotImplementedError(f"the {self.name} emulator has no sessions to expire")

    def lead(self, lead_id: str) -> Mapping[str, Any]:
        """A copy of one lead as the org stores it; ``KeyError`` when there is none."""
        raise KeyError(lead_id)

    def canonical_lead_id(self, lead_id: str) -> str:
        """The one spelling of a lead id under which its requests are counted."""
        return lead_id

    # --- Emulator -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:<port>`` (the port is known once started)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a background thread (threaded: one thread per connection)."""
        if self._server is not None:
            return
        ssl_context = None
        if self.tls:
            import ssl

            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._authority().issue_cert(self.host, "localhost", "127.0.0.1").configure_cert(
                ssl_context
            )
        from werkzeug.serving import make_server

        self._server = make_server(
            self.host,
            self.port,
            self._wsgi,
            threaded=True,
            request_handler=_quiet_handler() if self.quiet else None,
            ssl_context=ssl_context,
        )
        self.port = self._server.server_port
        server = self._server
        self._thread = threading.Thread(
            # A short poll: stop() waits for the loop to notice, and test suites stop many.
            target=lambda: server.serve_forever(poll_interval=0.05),
            name=f"{self.name}-emulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port (the CA, if any, stays valid for a restart)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop, and delete the CA bundle file."""
        self.stop()
        if self._ca_dir is not None:
            self._ca_dir.cleanup()
            self._ca_dir = None

    def counts(self, lead_id: str) -> Mapping[str, int]:
        """``{"convert": n, "follow_up": m}`` for one lead (see ``CONVERT``, ``FOLLOW_UP``)."""
        key = self.canonical_lead_id(lead_id)
        with self.lock:
            return {kind: tally[key] for kind, tally in self._tally.items()}

    # --- TLS ------------------------------------------------------------------------------

    def _authority(self) -> Any:
        if self._ca is None:
            import trustme

            self._ca = trustme.CA()
        return self._ca

    @property
    def ca_pem(self) -> bytes:
        """The PEM certificate of the CA that signed this emulator's certificate (TLS only)."""
        if not self.tls:
            raise RuntimeError(f"the {self.name} emulator serves plain HTTP: there is no CA")
        pem: bytes = self._authority().cert_pem.bytes()
        return pem

    @property
    def ca_bundle_path(self) -> str:
        """A file holding ``ca_pem``, for ``requests`` (``verify=``) or ``NODE_EXTRA_CA_CERTS``."""
        if self._ca_dir is None:
            self._ca_dir = tempfile.TemporaryDirectory(prefix=f"leadconvert-{self.name}-emulator-")
        path = Path(self._ca_dir.name) / "ca.pem"
        if not path.exists():
            path.write_bytes(self.ca_pem)
        return str(path)

    # --- faults, counters, records ---------------------------------------------------------

    def inject_fault(self, fault: Fault) -> Fault:
        """Queue ``fault`` (see ``Fault``); returns it, so its ``hits`` can be read later."""
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still pending, oldest first."""
        return self._faults.pending()

    def count(self, lead_id: str, kind: str = CONVERT, n: int = 1) -> None:
        """Count a request naming ``lead_id`` (``CONVERT`` or ``FOLLOW_UP``)."""
        key = self.canonical_lead_id(lead_id)
        with self.lock:
            self._tally.setdefault(kind, Counter())[key] += n

    @property
    def convert_requests(self) -> Counter[str]:
        """How many convert requests named each lead: ``counts`` for every lead at once."""
        return self.tally(CONVERT)

    def tally(self, kind: str = CONVERT) -> Counter[str]:
        """A copy of one kind of count for every lead (0 for a lead never named)."""
        with self.lock:
            return Counter(self._tally.get(kind, Counter()))

    def all_counts(self) -> dict[str, dict[str, int]]:
        """Every lead a request named, with its counts."""
        with self.lock:
            leads = {lead for tally in self._tally.values() for lead in tally}
            return {
                lead: {kind: tally[lead] for kind, tally in self._tally.items()}
                for lead in sorted(leads)
            }

    @property
    def requests(self) -> list[RequestRecord]:
        """Every CRM request received so far (admin requests aside), oldest first."""
        with self.lock:
            return list(self._requests)

    def reset(self) -> None:
        """Back to the seed: org, faults, counters and the request log."""
        with self.lock:
            self._load_checked(self.seed, self._origin)
            self._faults.clear()
            for tally in self._tally.values():
                tally.clear()
            self._requests.clear()

    def reseed(self, seed: Mapping[str, Any], origin: str = "<seed>") -> None:
        """Replace the org with ``seed`` (kept for ``reset``); a bad seed changes nothing."""
        with self.lock:
            previous = (self.seed, self._origin)
            try:
                self.seed, self._origin = dict(seed), origin
                self.reset()
            except LeadConvertError:
                self.seed, self._origin = previous
                self._load_checked(self.seed, self._origin)
                raise

    def _load_checked(self, seed: Mapping[str, Any], origin: str) -> None:
        with self.lock, seed_errors(origin):
            self.load(seed)

    def literal_fault_response(self, fault: Fault) -> Response | None:
        """The answer ``fault.body`` spells out, if it has one (JSON for a mapping or list)."""
        if fault.body is None:
            return None
        status = fault.status or 500
        if isinstance(fault.body, Mapping | list):
            return json_response(fault.body, status, fault.headers)
        headers = dict(fault.headers)
        content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        body = fault.body if isinstance(fault.body, bytes) else str(fault.body).encode()
        from werkzeug.wrappers import Response

        return Response(body, status, headers=headers, content_type=content_type or "text/plain")

    # --- WSGI -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        from werkzeug.exceptions import ClientDisconnected
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        if request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/"):
            return self._admin_answer(request)(environ, start_response)
        operation = self.operation(request)
        with self.lock:
            self._requests.append(
                RequestRecord(request.method, request.path, operation, time.time())
            )
        try:
            # The whole body, read once (``handle`` reads it from the cache).
            request.get_data()
        except ClientDisconnected:
            # The client went away before its body was whole (killed between the headers and
            # the body): a CRM acts on no part of such a request, and neither does this one.
            # It is in ``requests``; no fault is taken, nothing is counted or changed.
            return Response(status=400)(environ, start_response)
        fault = self._faults.take(
            request.method,
            request.path,
            operation,
            sign_in=operation in self.sign_in_operations,
        )
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.when == "before":
            if fault.drop:
                self._drop(environ)
            if fault.status is not None:
                return self.fault_response(request, fault)(environ, start_response)
        try:
            response = self.handle(request, operation)
        except Exception:
            # A bug in an emulator must show as one, not as a dropped connection.
            traceback.print_exc(file=sys.stderr)
            response = json_response({"error": "the emulator failed: see its stderr"}, 500)
        if fault is not None and fault.when == "after":
            if fault.drop:
                self._drop(environ)
            if fault.status is not None:
                response = self.fault_response(request, fault)
        return response(environ, start_response)

    @staticmethod
    def _drop(environ: Mapping[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise _Dropped("connection dropped by an injected fault")

    # --- the admin API --------------------------------------------------------------------

    def _admin_answer(self, request: Request) -> Response:
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, args = self._admin.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            known = sorted({f"{r.methods} {r.rule}" for r in self._admin.iter_rules()})
            return json_response(
                {"error": f"no admin endpoint {request.method} {request.path}", "endpoints": known},
                exc.code or 404,
            )
        try:
            result: Response = getattr(self, f"_admin_{endpoint}")(request, **args)
        except InputError as exc:
            return _admin_error(str(exc))
        except NotImplementedError as exc:
            return _admin_error(str(exc), 501)
        return result

    @staticmethod
    def _body(request: Request) -> Any:
        try:
            return loads_json(request.get_data() or b"null")
        except ValueError as exc:
            raise InputError(f"the body is not JSON: {exc}") from None

    def _admin_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
        elif request.method == "POST":
            fault = self.inject_fault(self.fault_from_json(self._body(request)))
            return json_response(
                {"status": "success", "fault": fault.to_json(), "pending": len(self.faults)}, 201
            )
        return json_response({"status": "success", "faults": [f.to_json() for f in self.faults]})

    def fault_for(self, kind: str, **options: Any) -> Fault:
        """The ``Fault`` a shorthand ``kind`` of this CRM stands for (``"drop_after"``...).

        An emulator that offers shorthands overrides this; the admin API then accepts
        ``{"kind": ..., ...options}`` as well as a whole ``Fault``.
        """
        raise ValueError(f"the {self.name} emulator has no fault shorthand {kind!r}")

    def fault_from_json(self, data: Any) -> Fault:
        """A fault posted to the admin API: a ``Fault`` as JSON, or a shorthand ``kind``."""
        if isinstance(data, Mapping) and "kind" in data:
            spec = dict(data)
            kind = str(spec.pop("kind"))
            try:
                return self.fault_for(kind, **spec)
            except (TypeError, ValueError) as exc:
                raise InputError(f"bad fault: {exc}") from None
        return Fault.from_json(data)

    def _admin_state(self, request: Request) -> Response:
        with self.lock:
            return json_response(self.state())

    def _admin_seed(self, request: Request) -> Response:
        data = self._body(request)
        if not isinstance(data, Mapping):
            raise InputError("a seed is a JSON object")
        self.reseed(data, "posted to /__emulator/seed")
        return json_response({"status": "success"})

    def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return json_response({"status": "success"})

    def _admin_add_lead(self, request: Request) -> Response:
        fields = self._body(request)
        if not isinstance(fields, Mapping):
            raise InputError("a lead is a JSON object of the CRM's field names")
        return json_response({"id": self.add_lead(fields)}, 201)

    def _admin_lead(self, request: Request, lead_id: str) -> Response:
        try:
            return json_response(self.lead(lead_id))
        except KeyError:
            return _admin_error(f"no lead {lead_id}", 404)

    def _admin_counts(self, request: Request) -> Response:
        return json_response({"leads": self.all_counts()})

    def _admin_lead_counts(self, request: Request, lead_id: str) -> Response:
        return json_response(dict(self.counts(lead_id)))

    def _admin_sessions(self, request: Request) -> Response:
        self.expire_sessions()
        return json_response({"status": "success"})
