"""The clients' sessions prepare every request as a plain ``requests.Session`` does.

Each reads the environment (proxies, CA bundle) and the ``.netrc`` once per host instead of once
per request; what it sends must not change: the same headers (a ``.netrc`` entry's basic auth
included), whatever the environment says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from leadconvert_dynamics._client import _Timeouts
from leadconvert_salesforce._client import _TimeoutSession

from leadconvert.http import Session

_SESSIONS = {
    "zoho": Session,
    "salesforce": lambda: _TimeoutSession(30.0),
    "dynamics": lambda: _Timeouts(30.0, True),
}

_URLS = [
    "https://www.zohoapis.com/crm/v8/Leads/1/actions/convert",
    "https://www.zohoapis.com/crm/v8/Leads?ids=1,2",
    "https://accounts.zoho.com/oauth/v2/token",
    "http://127.0.0.1:8080/crm/v8/org",
    "https://user:secret@www.zohoapis.com/crm/v8/org",
    "https://www.zohoapis.com?x=1",
]


def _prepared(session: requests.Session, url: str, **kwargs: object) -> dict[str, str]:
    request = requests.Request("POST", url, data=b"{}", headers={"X": "1"}, **kwargs)  # type: ignore[arg-type]
    before = request.auth
    prepared = session.prepare_request(request)
    assert request.auth is before
    return {"url": str(prepared.url), **dict(prepared.headers)}


@pytest.mark.parametrize("backend", sorted(_SESSIONS))
@pytest.mark.parametrize("netrc", [None, "missing", "entry"])
@pytest.mark.parametrize("trust_env", [True, False])
def test_requests_are_prepared_as_requests_prepares_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    netrc: str | None,
    trust_env: bool,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if netrc == "missing":
        monkeypatch.setenv("NETRC", str(tmp_path / "nowhere"))
    elif netrc == "entry":
        path = tmp_path / "netrc"
        path.write_text(
            "machine www.zohoapis.com login someone password pw\n"
            "machine 127.0.0.1 login other password pw2\n"
        )
        path.chmod(0o600)
        monkeypatch.setenv("NETRC", str(path))
    else:
        monkeypatch.delenv("NETRC", raising=False)
    ours, plain = _SESSIONS[backend](), requests.Session()
    ours.trust_env = plain.trust_env = trust_env
    for _ in range(2):  # the second time from what the session kept
        for url in _URLS:
            assert _prepared(ours, url) == _prepared(plain, url)
            auth = ("given", "pw")
            assert _prepared(ours, url, auth=auth) == _prepared(plain, url, auth=auth)
    if netrc == "entry" and trust_env:
        assert "Authorization" in _prepared(ours, _URLS[0])
    ours.auth = plain.auth = ("session", "pw")
    assert _prepared(ours, _URLS[0]) == _prepared(plain, _URLS[0])
