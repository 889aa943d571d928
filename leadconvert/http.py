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

Subclass it to adjust what the environment gives (override :meth:`Session.environment_settings`,
e.g. to let a CA bundle given as a credential win over ``REQUESTS_CA_BUNDLE``) or to put a
default timeout on every request.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.utils import get_netrc_auth

__all__ = ["Session"]


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
