"""The clients' sessions prepare every request as a plain ``requests.Session`` does.

Each reads the environment (proxies, CA bundle) and the ``.netrc`` once per host instead of once
per request; what it sends must not change: the same headers (a ``.netrc`` entry's basic auth
included), whatever the environment says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadconvert_dynamics._client import _Timeouts
from leadconvert_salesforce._client import _TimeoutSession

from leadconvert.http import Session, _query

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


# --- plain requests, prepared by the session itself ------------------------------------------

#: Characters of paths: plain ones, and ones requests quotes or normalises.
_PLAIN_PATH = "aZ09-._~!$&'()*+,;=:@/"
_ANY_PATH = _PLAIN_PATH + "%?# é\u00a0"


@st.composite
def _plain_or_not(draw: st.DrawFn) -> tuple[str, str, Any, Any, Any]:
    """Requests, most of them plain (the session prepares them), some not quite."""
    odd = draw(st.integers(0, 3)) == 0  # one in four may hold anything below
    scheme = draw(st.sampled_from(["https", "http", "HTTPS", "ftp"] if odd else ["https", "http"]))
    host = draw(
        st.sampled_from(["www.zohoapis.com", "127.0.0.1", "EXAMPLE.com", "a-b.c", ".x"])
        if odd
        else st.sampled_from(["www.zohoapis.com", "127.0.0.1", "a-b.c"])
    )
    port = draw(st.sampled_from(["", ":8080", ":443", ":080", ":99999", ":65536"] if odd else ["", ":8443", ":38011", ":65535"]))
    path = draw(st.text(_ANY_PATH if odd else _PLAIN_PATH, max_size=12).map(lambda p: "/" + p))
    method = draw(st.sampled_from(["GET", "post", "PATCH", "HEAD", "DELETE"]))
    text = st.text(max_size=8)
    value = st.one_of(text, st.none(), st.integers()) if odd else text
    params = draw(st.one_of(st.none(), st.dictionaries(text, value, max_size=3)))
    header_value = st.one_of(
        st.none(), st.sampled_from(["application/json", " lead", "a\r\nb", "x"]), text
    )
    headers = draw(
        st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["Authorization", "content-type", "Content-Length", "X-Y"]),
                header_value,
                max_size=3,
            ),
        )
    )
    data = draw(st.one_of(st.none(), st.binary(max_size=4), text, st.just({"form": "x"})))
    return method, f"{scheme}://{host}{port}{path}", params, headers, data


@given(
    st.dictionaries(
        st.text("ab_.-~,Z9 %&=é", max_size=6),
        st.text("0123456789,ab_.-~ %&=+é/", max_size=40),
        max_size=4,
    )
)
def test_a_query_of_plain_text_is_what_urlencode_writes(params: dict[str, str]) -> None:
    """The query of ids joined by commas, written at once, is urlencode's to the byte (and
    anything that needs quoting is urlencode's own)."""
    assert _query(params) == urlencode(list(params.items()))


def _as_prepared(prepared: requests.PreparedRequest) -> tuple[Any, ...]:
    return (prepared.method, prepared.url, list(prepared.headers.items()), prepared.body)


@given(_plain_or_not(), st.booleans(), st.sampled_from(["", "params", "hook", "cookie", "auth"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_plain_request_is_prepared_as_requests_prepares_it(
    request_: tuple[str, str, Any, Any, Any], trust_env: bool, session_has: str
) -> None:
    """Whatever the session prepares itself is exactly what ``requests`` prepares, whatever
    the session itself carries (default parameters, hooks, cookies, auth)."""
    method, url, params, headers, data = request_
    ours, plain = Session(), requests.Session()
    ours.trust_env = plain.trust_env = trust_env
    for session in (ours, plain):
        if session_has == "params":
            session.params = {"lang": "en"}
        elif session_has == "hook":
            session.hooks["response"].append(lambda r, *a, **k: r)
        elif session_has == "cookie":
            session.cookies.set("sid", "1")
        elif session_has == "auth":
            session.auth = ("user", "pw")
    try:
        got: Any = ours._prepare_plain(method, url, params, data, headers)
    except requests.RequestException as exc:
        got = type(exc)
    if got is None:  # not a plain request: requests' own path
        return
    try:
        expected: Any = plain.prepare_request(
            requests.Request(
                method.upper(), url, headers=headers, data=data or {}, params=params or {}
            )
        )
    except requests.RequestException as exc:
        expected = type(exc)
    if isinstance(got, requests.PreparedRequest):
        got = _as_prepared(got)
    if isinstance(expected, requests.PreparedRequest):
        expected = _as_prepared(expected)
    assert got == expected


@pytest.mark.parametrize(
    ("method", "url", "params"),
    [
        ("POST", "https://www.zohoapis.com/crm/v8/Leads/5725767000000524157/actions/convert", None),
        ("GET", "https://www.zohoapis.com/crm/v8/Leads", {"ids": "1,2", "converted": "both"}),
        ("POST", "https://na1.salesforce.com/services/Soap/u/59.0", None),
        ("PATCH", "https://na1.salesforce.com/services/data/v59.0/sobjects/Opportunity/006x", None),
        ("POST", "https://org.crm.dynamics.com/api/data/v9.2/$batch", None),
        ("GET", "https://org.crm.dynamics.com/api/data/v9.2/leads(1a2b)", {"$select": "statecode"}),
        ("GET", "http://127.0.0.1:8443/crm/v8/org", None),
    ],
)
def test_the_clients_requests_are_plain(method: str, url: str, params: Any) -> None:
    """The built-in clients' requests take the session's own preparation (a change that sent
    them all back to requests' would pass every other test and lose the time it saves)."""
    prepared = Session()._prepare_plain(method, url, params, b"{}", {"Authorization": "x"})
    assert prepared is not None
    assert _as_prepared(prepared) == _as_prepared(
        requests.Session().prepare_request(
            requests.Request(
                method, url, headers={"Authorization": "x"}, data=b"{}", params=params or {}
            )
        )
    )


def test_a_netrc_entry_sends_the_request_down_requests_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests adds a .netrc entry's basic auth while preparing: such a request is not plain."""
    path = tmp_path / "netrc"
    path.write_text("machine www.zohoapis.com login someone password pw\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    session = Session()
    url = "https://www.zohoapis.com/crm/v8/org"
    assert session._prepare_plain("GET", url, None, None, None) is None
    assert session._prepare_plain("GET", "https://accounts.zoho.com/x", None, None, None)
    session.trust_env = False  # requests reads no .netrc then: plain again
    assert session._prepare_plain("GET", url, None, None, None) is not None


@pytest.mark.parametrize("session", [Session, requests.Session])
def test_a_plain_request_still_goes_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, session: type[requests.Session]
) -> None:
    """Prepared by the session or by requests, the request is sent as requests sends it: here
    to the proxy named by HTTP_PROXY (which refuses the connection), never straight on."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = session()
    url = "http://crm.example.invalid/crm/v8/org"
    if isinstance(client, Session):
        assert client._prepare_plain("GET", url, None, None, None) is not None
    with pytest.raises(requests.exceptions.ProxyError):
        client.request("GET", url, timeout=5)
