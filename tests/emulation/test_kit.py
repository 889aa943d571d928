"""The emulator kit on a tiny CRM: lifecycle, TLS, faults, counters, seeding and the admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from leadconvert import InputError
from leadconvert.emulation import (
    CONVERT,
    FOLLOW_UP,
    Fault,
    HttpEmulator,
    json_response,
    read_seed,
)

SEED = {"leads": [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}]}


class TinyEmulator(HttpEmulator):
    """Leads that convert at ``POST /leads/<id>/convert``; a token at ``POST /token``."""

    name = "tiny"
    sign_in_operations = frozenset({"token"})

    def __init__(self, seed: Mapping[str, Any] = SEED, **options: Any) -> None:
        super().__init__(seed, **options)

    def load(self, seed: Mapping[str, Any]) -> None:
        self.leads = {str(lead["id"]): {**lead, "converted": False} for lead in seed["leads"]}
        self.sessions = {"s"}

    def state(self) -> Mapping[str, Any]:
        return {"leads": list(self.leads.values())}

    def add_lead(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        with self.lock:
            lead_id = str(len(self.leads) + 1)
            self.leads[lead_id] = {"name": "New", **(fields or {}), **more, "id": lead_id}
            self.leads[lead_id]["converted"] = False
            return lead_id

    def lead(self, lead_id: str) -> Mapping[str, Any]:
        with self.lock:
            return dict(self.leads[lead_id])

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def credentials(self) -> Mapping[str, str]:
        return {"base_url": self.base_url}

    def operation(self, request: Request) -> str:
        if request.path == "/token":
            return "token"
        if request.path.endswith("/convert"):
            return "convert"
        if request.path.endswith("/touch"):
            return "touch"
        return "unknown"

    def handle(self, request: Request, operation: str) -> Response:
        if operation == "token":
            return json_response({"token": "s"})
        if operation not in ("convert", "touch"):
            return json_response({"error": "NOT_FOUND"}, 404)
        lead_id = request.path.split("/")[2]
        with self.lock:
            if lead_id not in self.leads:
                return json_response({"error": "NO_SUCH_LEAD"}, 400)
            if operation == "touch":
                self.count(lead_id, FOLLOW_UP)
                return json_response({"touched": lead_id})
            self.count(lead_id, CONVERT)
            self.leads[lead_id]["converted"] = True
        return json_response({"id": lead_id, "converted": True})


@pytest.fixture
def tiny() -> Iterator[TinyEmulator]:
    with TinyEmulator() as emulator:
        yield emulator


def _post(emulator: HttpEmulator, path: str, body: Any = None) -> requests.Response:
    verify: str | bool = emulator.ca_bundle_path if emulator.tls else True
    return requests.post(emulator.base_url + path, json=body, timeout=5, verify=verify)


def test_serves_and_counts(tiny: TinyEmulator) -> None:
    """Each convert request is counted per lead; follow-ups apart; unknown leads count 0."""
    assert _post(tiny, "/leads/1/convert").json() == {"id": "1", "converted": True}
    _post(tiny, "/leads/1/convert")
    _post(tiny, "/leads/1/touch")
    assert tiny.counts("1") == {CONVERT: 2, FOLLOW_UP: 1}
    assert tiny.counts("2") == {CONVERT: 0, FOLLOW_UP: 0}
    assert [r.operation for r in tiny.requests] == ["convert", "convert", "touch"]
    assert requests.get(tiny.base_url + "/nowhere", timeout=5).status_code == 404


def test_fault_before_changes_nothing_and_is_not_counted(tiny: TinyEmulator) -> None:
    """A status fault before the org acts: the CRM's answer replaced, the lead untouched."""
    fault = tiny.inject_fault(Fault(status=503, operation="convert", count=2))
    assert _post(tiny, "/leads/1/convert").status_code == 503
    assert _post(tiny, "/leads/1/convert").status_code == 503
    assert _post(tiny, "/leads/1/convert").status_code == 200
    assert fault.hits == 2 and not tiny.faults
    assert tiny.counts("1")[CONVERT] == 1


def test_drop_after_applies_then_drops(tiny: TinyEmulator) -> None:
    """drop after: the lead converts, the client sees a dropped connection."""
    tiny.inject_fault(Fault(drop=True, when="after", path=r"/leads/\d+/convert"))
    with pytest.raises(requests.ConnectionError):
        _post(tiny, "/leads/2/convert")
    assert tiny.lead("2")["converted"] is True and tiny.counts("2")[CONVERT] == 1


def test_drop_before_changes_nothing(tiny: TinyEmulator) -> None:
    tiny.inject_fault(Fault(drop=True, method="POST", path="/convert"))
    with pytest.raises(requests.ConnectionError):
        _post(tiny, "/leads/2/convert")
    assert tiny.lead("2")["converted"] is False and tiny.counts("2")[CONVERT] == 0


def test_literal_body_and_headers(tiny: TinyEmulator) -> None:
    tiny.inject_fault(Fault(status=429, body={"code": "SLOW"}, headers={"Retry-After": "3"}))
    answer = _post(tiny, "/leads/1/convert")
    assert (answer.status_code, answer.json(), answer.headers["Retry-After"]) == (
        429,
        {"code": "SLOW"},
        "3",
    )


def test_unfiltered_fault_spares_sign_in(tiny: TinyEmulator) -> None:
    """A fault naming no path or operation leaves the token endpoint alone."""
    tiny.inject_fault(Fault(status=500))
    assert _post(tiny, "/token").status_code == 200
    assert _post(tiny, "/leads/1/convert").status_code == 500


def test_admin_api(tiny: TinyEmulator) -> None:
    """Faults, leads, counts, state, seed, reset and sessions over HTTP."""
    base = tiny.base_url + "/__emulator"
    posted = requests.post(
        base + "/faults", json={"status": 500, "operation": "convert"}, timeout=5
    )
    assert posted.status_code == 201 and posted.json()["pending"] == 1
    assert requests.get(base + "/faults", timeout=5).json()["faults"][0]["status"] == 500
    assert requests.delete(base + "/faults", timeout=5).json()["faults"] == []
    bad = requests.post(base + "/faults", json={"stauts": 500}, timeout=5)
    assert bad.status_code == 400 and "stauts" in bad.json()["error"]
    lead_id = requests.post(base + "/leads", json={"name": "Cy"}, timeout=5).json()["id"]
    assert requests.get(f"{base}/leads/{lead_id}", timeout=5).json()["name"] == "Cy"
    assert requests.get(f"{base}/leads/999", timeout=5).status_code == 404
    _post(tiny, f"/leads/{lead_id}/convert")
    assert requests.get(base + "/counts", timeout=5).json() == {
        "leads": {lead_id: {CONVERT: 1, FOLLOW_UP: 0}}
    }
    assert requests.get(f"{base}/counts/{lead_id}", timeout=5).json()[CONVERT] == 1
    assert len(requests.get(base + "/state", timeout=5).json()["leads"]) == 3
    assert requests.delete(base + "/sessions", timeout=5).ok and not tiny.sessions
    seeded = requests.post(base + "/seed", json={"leads": [{"id": "9"}]}, timeout=5)
    assert seeded.ok and list(tiny.leads) == ["9"] and tiny.counts(lead_id)[CONVERT] == 0
    broken = requests.post(base + "/seed", json={"leads": [{"name": "no id"}]}, timeout=5)
    assert broken.status_code == 400 and "'id'" in broken.json()["error"]
    assert list(tiny.leads) == ["9"]  # a bad seed changes nothing
    requests.post(base + "/leads", json={}, timeout=5)
    assert requests.post(base + "/reset", timeout=5).ok and list(tiny.leads) == ["9"]
    unknown = requests.get(base + "/nothing", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["endpoints"]


def test_tls() -> None:
    """With TLS the emulator's CA is all a client needs to trust."""
    with TinyEmulator(tls=True) as emulator:
        assert emulator.base_url.startswith("https://127.0.0.1:")
        assert b"BEGIN CERTIFICATE" in emulator.ca_pem
        assert _post(emulator, "/leads/1/convert").ok
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(emulator.base_url + "/leads/1/convert", timeout=5)
        path = emulator.ca_bundle_path
    assert not Path(path).exists()


def test_restart_keeps_state_and_port_zero_rebinds() -> None:
    emulator = TinyEmulator()
    emulator.start()
    _post(emulator, "/leads/1/convert")
    emulator.stop()
    emulator.start()
    try:
        assert emulator.lead("1")["converted"] is True
    finally:
        emulator.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("[1]", "must be a JSON object, not list"),
    ],
)
def test_read_seed_errors(tmp_path: Path, text: str, message: str) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(text)
    with pytest.raises(InputError, match=message):
        read_seed(seed, default=seed)


def test_read_seed_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        read_seed(tmp_path / "nope.json", default=tmp_path)


def test_seed_shape_error_is_an_input_error() -> None:
    with pytest.raises(InputError, match="seed my.json: the key 'id' is missing"):
        TinyEmulator({"leads": [{}]}, origin="my.json")
    with pytest.raises(InputError, match="seed <seed>: malformed"):
        TinyEmulator({"leads": 3})


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="count"):
        Fault(count=0)
    with pytest.raises(ValueError, match="both"):
        Fault(drop=True, status=500)
    with pytest.raises(InputError, match="bad fault"):
        Fault.from_json({"when": "later"})
    assert Fault.from_json(json.loads('{"status": 500, "count": null}')).count is None


def test_a_bytes_body_is_listed_as_text(tiny: TinyEmulator) -> None:
    """GET /__emulator/faults shows a fault whose body is bytes (a SOAP fault, say)."""
    tiny.inject_fault(Fault(status=500, body=b"<fault/>", headers={"Content-Type": "text/xml"}))
    listed = requests.get(tiny.base_url + "/__emulator/faults", timeout=5)
    assert listed.status_code == 200 and listed.json()["faults"][0]["body"] == "<fault/>"
    answer = _post(tiny, "/leads/1/convert")
    assert (answer.status_code, answer.text, answer.headers["Content-Type"]) == (
        500,
        "<fault/>",
        "text/xml",
    )
