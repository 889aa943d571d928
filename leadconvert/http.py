"""A ``requests`` session for backends' clients that asks the environment once per host.

For every request, ``requests`` reads ``os.environ`` (proxies, ``no_proxy``, the CA bundle) in
``merge_environment_settings`` and, when the request has no auth, looks for a ``.netrc`` file
(the ``NETRC`` variable, two ``stat`` calls, then the file). Measured on a 5,000-lead
``convert``, that was the clients' largest cost of their own (about 0.25 ms and 12 us a request,
with the GIL handed over at each system call); a bare ``requests`` loop that turns
``trust_env`` off pays none of it. Neither answer changes during a run, so :class:`Session`
keeps each per host: proxies, ``no_proxy``, ``REQUESTS_CA_BUNDLE`` and ``.netrc`` still apply as
they do in ``requests``. Explicit proxies, a request or session auth, a URL with its own
``user:password@`` and ``trust_env = False`` take ``requests``' own path.

A plain request is prepared here rather than by ``requests.Session.prepare_request``: a URL of
characters that need no quoting, ``str`` parameters and headers, a ``bytes`` or ``str`` body or
none, no cookies, files, hooks, auth or proxies of its own, and no cookies, hooks, auth or
default parameters on the session. It is the same ``PreparedRequest`` (method, URL, headers,
body; ``tests/core/test_client_sessions.py`` compares them for any such request), made without
parsing, re-quoting and merging it step by step, which was about 30% of the instructions of
each POST the clients send. It is sent by ``requests.Session.send`` like any other: redirects,
cookies the server sets, hooks and errors are ``requests``' own. Anything else takes
``requests``' own path.

Subclass it to adjust what the environment gives (override :meth:`Session.environment_settings`,
e.g. to let a CA bundle given as a credential win over ``REQUESTS_CA_BUNDLE``) or to put a
default timeout on every request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_netrc_auth

__all__ = ["Session"]


#: A URL ``requests`` would prepare as it is: lower-case scheme and host, a port without
#: leading zeros, a path of characters that need no quoting (no ``%``), no query or fragment.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9.\-]*(?::(?P<port>[1-9][0-9]{0,4}))?/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*"
)
#: How requests measures a body (typed ``Any``: some versions of its stubs leave it untyped).
_body_length: Any = requests.utils.super_len
#: Path segments ``requests`` would remove (``.`` and ``..``).
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")


#: Text ``urlencode`` leaves as it is, commas aside (each one ``%2C``).
_PLAIN_QUERY_TEXT = re.compile(r"[A-Za-z0-9_.\-~,]*")


def _query(params: Mapping[str, str]) -> str:
    """``urlencode(params)``: at once where every name and value is plain text (ids joined by
    commas), which ``urlencode`` would quote character by character (a 50-id Zoho lookup's
    query: 57 us)."""
    plain = _PLAIN_QUERY_TEXT.fullmatch
    if all(plain(name) and plain(value) for name, value in params.items()):
        return "&".join([f"{name}={value}" for name, value in params.items()]).replace(
            ",", "%2C"
        )
    return urlencode(list(params.items()))


def _adds_nothing(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth that leaves the request as it is (no ``.netrc`` entry for its host)."""
    return request


class Session(requests.Session):
    """A ``requests.Session`` that reads the environment and ``.netrc`` once per host."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[Any, Any] = {}
        self._netrc: dict[tuple[str, str], Any] = {}

    def environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """What ``requests.Session.merge_environment_settings`` answers; kept per host."""
        return super().merge_environment_settings(url, proxies, stream, verify, cert)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or not self.trust_env or not isinstance(url, str):
            return self.environment_settings(url, proxies, stream, verify, cert)
        key = (*url.split("/", 3)[:3], stream, verify, cert, self.verify, *self.proxies.items())
        known = self._environment.get(key)
        if known is None:
            known = self.environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = known
        return {**known, "proxies": dict(known["proxies"])}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        given = request.auth
        url = request.url
        if given or self.auth or not self.trust_env or not isinstance(url, str):
            return super().prepare_request(request)
        scheme, _, netloc = (*url.split("/", 3)[:3], "", "")[:3]
        netloc = netloc.partition("?")[0].partition("#")[0]
        if "@" in netloc:  # requests reads a URL's own credentials only on its own path
            return super().prepare_request(request)
        key = (scheme, netloc)
        try:
            found = self._netrc[key]
        except KeyError:
            found = self._netrc[key] = get_netrc_auth(url)
        # The .netrc answer for the host, or an auth that adds nothing, so requests looks no more.
        request.auth = found or _adds_nothing
        try:
            return super().prepare_request(request)
        finally:
            request.auth = given

    def request(  # type: ignore[override]
        self,
        method: str,
        url: Any,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: Any = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        prepared = None
        if (
            cookies is None
            and files is None
            and auth is None
            and not proxies
            and hooks is None
            and json is None
        ):
            prepared = self._prepare_plain(method, url, params, data, headers)
        if prepared is None:
            return super().request(
                method, url, params, data, headers, cookies, files, auth, timeout,
                allow_redirects, proxies, hooks, stream, verify, cert, json,
            )  # fmt: skip
        settings = self.merge_environment_settings(prepared.url, {}, stream, verify, cert)
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects, **settings)

    def _prepare_plain(
        self, method: Any, url: Any, params: Any, data: Any, headers: Any
    ) -> requests.PreparedRequest | None:
        """The request ``prepare_request`` would make, or None when it is not a plain one."""
        if (
            not isinstance(method, str)
            or not isinstance(url, str)
            or not (data is None or type(data) is bytes or type(data) is str)
            or self.auth
            or self.params
            or self.hooks != {"response": []}
            or len(self.cookies)
        ):
            return None
        plain = _PLAIN_URL.fullmatch(url)
        if (
            plain is None
            or _DOT_SEGMENT.search(url, url.index("/", 8)) is not None
            or int(plain["port"] or 0) > 65535
        ):
            return None
        if self.trust_env:
            scheme, _, netloc = url.split("/", 3)[:3]
            key = (scheme, netloc)
            try:
                found = self._netrc[key]
            except KeyError:
                found = self._netrc[key] = get_netrc_auth(url)
            if found:
                return None
        if params:
            if not isinstance(params, Mapping) or not all(
                type(k) is str and type(v) is str for k, v in params.items()
            ):
                return None
            url = f"{url}?{_query(params)}"
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        if headers:
            if not isinstance(headers, Mapping):
                return None
            for name, value in headers.items():
                if type(name) is not str or not (value is None or type(value) is str):
                    return None
                merged[name] = value
        sent: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in merged.items():
            if value is None:
                continue
            if type(name) is not str or type(value) is not str:
                return None
            check_header_validity((name, value))
            sent[name] = value
        method = method.upper()
        if data:
            # As requests counts it: a str is sent as UTF-8 by urllib3 2 (latin-1 by 1.x).
            sent["Content-Length"] = str(_body_length(data))
        elif method not in ("GET", "HEAD") and sent.get("Content-Length") is None:
            sent["Content-Length"] = "0"
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        prepared.headers = sent
        prepared.body = data or None
        prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        prepared.hooks = {"response": []}
        return prepared
